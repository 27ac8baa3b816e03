"""Request validation for the emulated APIs: each problem is a ValidationException with a specific message."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sandbox.sagemaker.errors import SageMakerError, validation_error
from sandbox.sagemaker.jsonpath_filter import parse_filter
from sandbox.sagemaker.runner import xgboost_version
from sandbox.sagemaker.s3io import parse_s3_uri
from sandbox.sagemaker.transform import TransformSpec

NAME_PATTERN = r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"
_NAME = re.compile(NAME_PATTERN + r"$")
ROLE_PATTERN = r"^arn:aws[a-z\-]*:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+$"
_ROLE = re.compile(ROLE_PATTERN)
XGBOOST_REPOSITORY = "sagemaker-xgboost"
DEFAULT_MAX_RUNTIME = 86400
DEFAULT_MAX_PAYLOAD_MB = 6
PAYLOAD_LIMIT_MB = 100


def _constraint(value: object, field: str, constraint: str) -> SageMakerError:
    shown = "null" if value is None else f"'{value}'"
    return validation_error(
        f"1 validation error detected: Value {shown} at '{field}' failed to satisfy constraint: {constraint}"
    )


def require(mapping: Mapping[str, Any], key: str, field: str) -> Any:
    value = mapping.get(key)
    if value is None or value == "":
        raise _constraint(None, field, "Member must not be null")
    return value


def _section(mapping: Mapping[str, Any], key: str, field: str) -> Mapping[str, Any]:
    value = require(mapping, key, field)
    if not isinstance(value, Mapping):
        raise _constraint(value, field, "Member must be a structure")
    return value


def check_name(name: object, field: str) -> str:
    if name is None or name == "":
        raise _constraint(None, field, "Member must not be null")
    if not isinstance(name, str) or not _NAME.match(name):
        raise _constraint(name, field, f"Member must satisfy regular expression pattern: {NAME_PATTERN}")
    return name


def check_role(role: object, field: str) -> None:
    if not isinstance(role, str) or not _ROLE.match(role):
        raise _constraint(
            role,
            field,
            f"Member must satisfy regular expression pattern: {ROLE_PATTERN}",
        )


def check_s3_uri(uri: object, field: str) -> str:
    if not isinstance(uri, str):
        raise _constraint(uri, field, "Member must not be null")
    try:
        parse_s3_uri(uri)
    except ValueError:
        raise _constraint(
            uri, field, "Member must satisfy regular expression pattern: ^(https|s3)://([^/]+)/?(.*)$"
        ) from None
    return uri


def check_image(image: object, field: str) -> None:
    """Only the built-in XGBoost image (ECR repository ``sagemaker-xgboost``) can run here."""
    if not isinstance(image, str) or not image:
        raise _constraint(None, field, "Member must not be null")
    repository = re.split(r"[:@]", image.rsplit("/", 1)[-1], maxsplit=1)[0]
    if repository != XGBOOST_REPOSITORY or "/" not in image:
        raise validation_error(
            f"Image {image!r} is not supported: the SageMaker emulator only runs the built-in XGBoost "
            f"algorithm (an image of the ECR repository '{XGBOOST_REPOSITORY}', e.g. "
            "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1)"
        )
    try:
        xgboost_version(image)
    except ValueError as exc:
        raise validation_error(f"Image {image!r}: {exc} (the emulator runs each tag's own xgboost)") from None


def validate_training(request: Mapping[str, Any]) -> None:
    """The API's checks. Hyperparameters, channel names and content types are the algorithm's: the
    container checks them inside the job (``training.parse_hyperparameters``, ``validate_channels``)."""
    check_name(request.get("TrainingJobName"), "trainingJobName")
    algorithm = _section(request, "AlgorithmSpecification", "algorithmSpecification")
    if algorithm.get("AlgorithmName"):
        raise validation_error(
            "AlgorithmName is not supported: the SageMaker emulator only runs the built-in XGBoost algorithm "
            "given as TrainingImage"
        )
    check_image(algorithm.get("TrainingImage"), "algorithmSpecification.trainingImage")
    _validate_metric_definitions(algorithm.get("MetricDefinitions"))
    mode = require(algorithm, "TrainingInputMode", "algorithmSpecification.trainingInputMode")
    if mode not in {"File", "Pipe", "FastFile"}:
        raise _constraint(
            mode,
            "algorithmSpecification.trainingInputMode",
            "Member must satisfy enum value set: [Pipe, File, FastFile]",
        )
    check_role(require(request, "RoleArn", "roleArn"), "roleArn")
    output = _section(request, "OutputDataConfig", "outputDataConfig")
    check_s3_uri(
        require(output, "S3OutputPath", "outputDataConfig.s3OutputPath"), "outputDataConfig.s3OutputPath"
    )
    resources = _section(request, "ResourceConfig", "resourceConfig")
    require(resources, "InstanceType", "resourceConfig.instanceType")
    for key in ("InstanceCount", "VolumeSizeInGB"):
        value = require(resources, key, f"resourceConfig.{key[0].lower()}{key[1:]}")
        if not isinstance(value, int) or value < 1:
            raise _constraint(
                value,
                f"resourceConfig.{key[0].lower()}{key[1:]}",
                "Member must have value greater than or equal to 1",
            )
    _validate_stopping(request)
    _validate_channels(request.get("InputDataConfig"))
    checkpoint = request.get("CheckpointConfig")
    if checkpoint is not None:
        check_s3_uri(require(checkpoint, "S3Uri", "checkpointConfig.s3Uri"), "checkpointConfig.s3Uri")
    hyperparameters = request.get("HyperParameters") or {}
    # API_CreateTrainingJob: HyperParameters is a map of string (max 256) to string (max 2500), 100 entries.
    if not isinstance(hyperparameters, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) and len(k) <= 256 and len(v) <= 2500
        for k, v in hyperparameters.items()
    ):
        raise validation_error("HyperParameters must be a map of strings (max 256) to strings (max 2500)")
    if len(hyperparameters) > 100:
        raise _constraint(
            len(hyperparameters), "hyperParameters", "Member must have length less than or equal to 100"
        )


def _validate_metric_definitions(definitions: Any) -> None:
    """API_MetricDefinition: at most 40, Name 1-255 and Regex 1-500 characters."""
    if definitions is None:
        return
    if not isinstance(definitions, list) or len(definitions) > 40:
        raise _constraint(
            definitions,
            "algorithmSpecification.metricDefinitions",
            "Member must have length less than or equal to 40",
        )
    for index, definition in enumerate(definitions, start=1):
        for key, limit in (("Name", 255), ("Regex", 500)):
            value = definition.get(key) if isinstance(definition, Mapping) else None
            if not isinstance(value, str) or not 1 <= len(value) <= limit:
                raise _constraint(
                    value,
                    f"algorithmSpecification.metricDefinitions.{index}.member.{key[0].lower()}{key[1:]}",
                    f"Member must have length between 1 and {limit}",
                )


def max_runtime(request: Mapping[str, Any]) -> int:
    stopping = request.get("StoppingCondition") or {}
    return int(stopping.get("MaxRuntimeInSeconds", DEFAULT_MAX_RUNTIME))


def _validate_stopping(request: Mapping[str, Any]) -> None:
    stopping = _section(request, "StoppingCondition", "stoppingCondition")
    runtime = stopping.get("MaxRuntimeInSeconds", DEFAULT_MAX_RUNTIME)
    if not isinstance(runtime, int) or runtime < 1:
        raise _constraint(
            runtime,
            "stoppingCondition.maxRuntimeInSeconds",
            "Member must have value greater than or equal to 1",
        )
    wait = stopping.get("MaxWaitTimeInSeconds")
    if request.get("EnableManagedSpotTraining"):
        if wait is None:
            raise validation_error(
                "Invalid MaxWaitTimeInSeconds. It is required when EnableManagedSpotTraining is set to true"
            )
        if not isinstance(wait, int) or wait < runtime:
            raise validation_error(
                f"Invalid MaxWaitTimeInSeconds ({wait}). It must be present and be greater than or equal to "
                f"MaxRuntimeInSeconds ({runtime})"
            )
    elif wait is not None:
        raise validation_error(
            "Invalid MaxWaitTimeInSeconds. It is only supported when EnableManagedSpotTraining is set to true"
        )


CHANNEL_NAME_PATTERN = r"[A-Za-z0-9\.\-_]+"
_CHANNEL_NAME = re.compile(CHANNEL_NAME_PATTERN)


def _validate_channels(channels: object) -> None:
    """API_Channel: names (pattern, max 64, unique), S3 sources. The algorithm checks which channels."""
    if channels is None:
        return
    if not isinstance(channels, list) or not 1 <= len(channels) <= 20:
        raise _constraint(channels, "inputDataConfig", "Member must have length between 1 and 20")
    seen: set[str] = set()
    for position, channel in enumerate(channels, start=1):
        field = f"inputDataConfig.{position}.member"
        name = require(channel, "ChannelName", f"{field}.channelName")
        if not isinstance(name, str) or len(name) > 64 or not _CHANNEL_NAME.fullmatch(name):
            raise _constraint(
                name,
                f"{field}.channelName",
                f"Member must satisfy regular expression pattern: {CHANNEL_NAME_PATTERN}",
            )
        if name in seen:
            raise validation_error(f"Channel names must be unique: '{name}' appears more than once")
        seen.add(name)
        source = _section(
            _section(channel, "DataSource", f"{field}.dataSource"),
            "S3DataSource",
            f"{field}.dataSource.s3DataSource",
        )
        data_type = require(source, "S3DataType", f"{field}.dataSource.s3DataSource.s3DataType")
        if data_type != "S3Prefix":
            raise validation_error(
                f"Channel '{name}': S3DataType {data_type} is not supported by the emulator: use S3Prefix"
            )
        check_s3_uri(
            require(source, "S3Uri", f"{field}.dataSource.s3DataSource.s3Uri"),
            f"{field}.dataSource.s3DataSource.s3Uri",
        )
        if channel.get("CompressionType", "None") != "None":
            raise validation_error(
                f"Channel '{name}': CompressionType {channel.get('CompressionType')} is not supported"
            )


def validate_model(request: Mapping[str, Any]) -> None:
    check_name(request.get("ModelName"), "modelName")
    if request.get("Containers"):
        raise validation_error("Containers is not supported by the emulator: give one PrimaryContainer")
    check_role(require(request, "ExecutionRoleArn", "executionRoleArn"), "executionRoleArn")
    container = _section(request, "PrimaryContainer", "primaryContainer")
    check_image(container.get("Image"), "primaryContainer.image")
    check_s3_uri(
        require(container, "ModelDataUrl", "primaryContainer.modelDataUrl"), "primaryContainer.modelDataUrl"
    )


def validate_transform(request: Mapping[str, Any]) -> TransformSpec:
    check_name(request.get("TransformJobName"), "transformJobName")
    check_name(request.get("ModelName"), "modelName")
    payload = _validate_limits(request)
    split = _validate_transform_io(request)
    resources = _section(request, "TransformResources", "transformResources")
    require(resources, "InstanceType", "transformResources.instanceType")
    count = require(resources, "InstanceCount", "transformResources.instanceCount")
    if not isinstance(count, int) or count < 1:
        raise _constraint(
            count, "transformResources.instanceCount", "Member must have value greater than or equal to 1"
        )
    processing = request.get("DataProcessing") or {}
    join = processing.get("JoinSource", "None")
    if join not in {"Input", "None"}:
        raise _constraint(
            join, "dataProcessing.joinSource", "Member must satisfy enum value set: [Input, None]"
        )
    try:
        input_filter = parse_filter(processing.get("InputFilter"))
        output_filter = parse_filter(processing.get("OutputFilter"))
    except ValueError as exc:
        raise validation_error(str(exc)) from None
    return TransformSpec(
        input_filter=input_filter,
        output_filter=output_filter,
        join_input=join == "Input",
        split_lines=split == "Line",
        max_payload_bytes=(payload or PAYLOAD_LIMIT_MB) << 20,
        content_type=request["TransformInput"].get("ContentType"),
        accept=request["TransformOutput"].get("Accept"),
        split_records=split == "RecordIO",
    )


def _validate_limits(request: Mapping[str, Any]) -> int:
    payload = request.get("MaxPayloadInMB", DEFAULT_MAX_PAYLOAD_MB)
    if not isinstance(payload, int) or not 0 <= payload <= PAYLOAD_LIMIT_MB:
        raise _constraint(
            payload, "maxPayloadInMB", f"Member must have value less than or equal to {PAYLOAD_LIMIT_MB}"
        )
    concurrency = request.get("MaxConcurrentTransforms", 1)
    if not isinstance(concurrency, int) or concurrency < 0:
        raise _constraint(
            concurrency, "maxConcurrentTransforms", "Member must have value greater than or equal to 0"
        )
    if concurrency * payload > PAYLOAD_LIMIT_MB:
        raise validation_error(
            f"MaxConcurrentTransforms ({concurrency}) x MaxPayloadInMB ({payload}) must not exceed "
            f"{PAYLOAD_LIMIT_MB} MB"
        )
    strategy = request.get("BatchStrategy", "MultiRecord")
    if strategy not in {"MultiRecord", "SingleRecord"}:
        raise _constraint(
            strategy, "batchStrategy", "Member must satisfy enum value set: [MultiRecord, SingleRecord]"
        )
    return int(payload)


def _validate_transform_io(request: Mapping[str, Any]) -> str:
    transform_input = _section(request, "TransformInput", "transformInput")
    source = _section(
        _section(transform_input, "DataSource", "transformInput.dataSource"),
        "S3DataSource",
        "transformInput.dataSource.s3DataSource",
    )
    data_type = require(source, "S3DataType", "transformInput.dataSource.s3DataSource.s3DataType")
    if data_type != "S3Prefix":
        raise validation_error(f"S3DataType {data_type} is not supported by the emulator: use S3Prefix")
    check_s3_uri(
        require(source, "S3Uri", "transformInput.dataSource.s3DataSource.s3Uri"),
        "transformInput.dataSource.s3DataSource.s3Uri",
    )
    # ContentType and Accept are the container's business: it answers 415 / 406 inside the job
    # (transform.parse_object, render_object).
    split = transform_input.get("SplitType", "None")
    if split not in {"Line", "None", "RecordIO"}:
        raise validation_error(f"SplitType {split} is not supported by the emulator: use Line or RecordIO")
    if transform_input.get("CompressionType", "None") != "None":
        raise validation_error(
            f"CompressionType {transform_input.get('CompressionType')} is not supported by the emulator"
        )
    output = _section(request, "TransformOutput", "transformOutput")
    check_s3_uri(
        require(output, "S3OutputPath", "transformOutput.s3OutputPath"), "transformOutput.s3OutputPath"
    )
    if output.get("AssembleWith", "None") not in {"Line", "None"}:
        raise _constraint(
            output.get("AssembleWith"),
            "transformOutput.assembleWith",
            "Member must satisfy enum value set: [Line, None]",
        )
    return str(split)
