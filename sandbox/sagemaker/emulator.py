"""SageMakerEmulator: the training, model and batch transform APIs for the built-in XGBoost algorithm.

Details: sandbox/sagemaker/README.md, "emulator.py".
"""

from __future__ import annotations

import copy
import math
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from sandbox.aws import iam_enforcement
from sandbox.sagemaker import (
    channel_data,
    container,
    listing,
    runner,
    s3io,
    script_hosts,
    script_mode,
    sharding,
    training,
    transform,
)
from sandbox.sagemaker.endpoints import CloudWatchLike, Endpoints, InvokeResult
from sandbox.sagemaker.errors import JobFailure, SageMakerError, client_error, validation_error
from sandbox.sagemaker.faults import FaultPlan, JobFault
from sandbox.sagemaker.tuning import TuningJobs
from sandbox.sagemaker.validation import (
    max_runtime,
    validate_model,
    validate_training,
    validate_transform,
)

TERMINAL = frozenset({"Completed", "Failed", "Stopped"})
# ASSUMPTION: managed spot training saves about 70 % of on-demand training (AWS quotes "up to 90 %"):
# the emulator bills a spot job's training time this much less, and sandbox.cost assumes the same.
SPOT_SAVING_ASSUMED = 0.70
MODEL_ARTIFACT = "model.tar.gz"
OUTPUT_ARTIFACT = "output.tar.gz"
_MESSAGES = {
    "Starting": "Launching requested ML instances",
    "Downloading": "Downloading input data",
    "Training": "Downloading the training image completed. Training in progress.",
    "Uploading": "Uploading generated training model",
    "Completed": "Training job completed",
    "Failed": "Training job failed",
    "Stopping": "Stopping the training job",
    "Stopped": "Training job stopped",
    "MaxRuntimeExceeded": "Training job stopped because it exceeded MaxRuntimeInSeconds",
}


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class _Job:
    kind: str  # "training" | "transform"
    name: str
    record: dict[str, Any]
    fault: JobFault | None
    started: float = 0.0
    stop_requested: bool = False
    stop_file: str | None = None  # the running worker's stop flag (training)
    early_stop: dict[str, Any] | None = None  # a tuning trial's early stopping rule (tuning.py)
    log: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(
        default_factory=lambda: {"read_seconds": 0.0, "compute_seconds": 0.0, "write_seconds": 0.0}
    )

    @property
    def status_key(self) -> str:
        return "TrainingJobStatus" if self.kind == "training" else "TransformJobStatus"

    @property
    def status(self) -> str:
        return str(self.record[self.status_key])


class SageMakerEmulator:
    """A thread-safe stand-in for SageMaker CreateTrainingJob / CreateModel / CreateTransformJob."""

    def __init__(
        self,
        s3_client: Any,
        *,
        region: str = "us-east-1",
        account_id: str = "123456789012",
        background: bool = True,
        endpoint_url: str | None = None,
        cloudwatch: CloudWatchLike | None = None,
    ) -> None:
        """``endpoint_url``: the sandbox's AWS endpoint, which a job's processes reach S3 through (the
        toolkit's download of ``sagemaker_submit_directory``, a script's own boto3 calls);
        ``cloudwatch``: where endpoint metrics go and rollback alarms are evaluated (endpoints.py)."""
        self.s3 = s3_client
        self.endpoint_url = endpoint_url
        self.region = region
        self.account_id = account_id
        self.background = background
        self.faults = FaultPlan()
        self.nthread = os.cpu_count() or 1
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._training: dict[str, _Job] = {}
        self._transforms: dict[str, _Job] = {}
        self._models: dict[str, dict[str, Any]] = {}
        self._tuning = TuningJobs(self)
        self.endpoints = Endpoints(self, cloudwatch)

    def _arn(self, kind: str, name: str) -> str:
        return f"arn:aws:sagemaker:{self.region}:{self.account_id}:{kind}/{name.lower()}"

    # ---- training -------------------------------------------------------------------------------

    def create_training_job(
        self,
        request: dict[str, Any],
        *,
        tuning_job_arn: str | None = None,
        early_stop: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """``tuning_job_arn``: a tuning job's trial (DescribeTrainingJob then names it as TuningJobArn);
        ``early_stop``: its tuning job's early stopping rule, which the built-in algorithm's rounds
        are checked against (tuning.py)."""
        self.faults.check_create("create_training_job", str(request.get("TrainingJobName", "")))
        validate_training(request)
        name = str(request["TrainingJobName"])
        arn = self._arn("training-job", name)
        now = _now()
        record: dict[str, Any] = {
            "TrainingJobName": name,
            "TrainingJobArn": arn,
            "TrainingJobStatus": "InProgress",
            "SecondaryStatus": "Starting",
            "HyperParameters": dict(request.get("HyperParameters") or {}),
            "AlgorithmSpecification": copy.deepcopy(request["AlgorithmSpecification"]),
            "RoleArn": request["RoleArn"],
            "InputDataConfig": copy.deepcopy(request["InputDataConfig"]),
            "OutputDataConfig": copy.deepcopy(request["OutputDataConfig"]),
            "ResourceConfig": copy.deepcopy(request["ResourceConfig"]),
            "StoppingCondition": copy.deepcopy(request["StoppingCondition"]),
            "EnableNetworkIsolation": bool(request.get("EnableNetworkIsolation", False)),
            "EnableInterContainerTrafficEncryption": False,
            "EnableManagedSpotTraining": bool(request.get("EnableManagedSpotTraining", False)),
            "CreationTime": now,
            "LastModifiedTime": now,
            "SecondaryStatusTransitions": [
                {"Status": "Starting", "StartTime": now, "StatusMessage": _MESSAGES["Starting"]}
            ],
        }
        if "CheckpointConfig" in request:
            record["CheckpointConfig"] = copy.deepcopy(request["CheckpointConfig"])
        if request.get("Environment"):  # API_CreateTrainingJob: "variables to set in the Docker container"
            record["Environment"] = dict(request["Environment"])
        if tuning_job_arn is not None:
            record["TuningJobArn"] = tuning_job_arn
        with self._lock:
            if name.lower() in self._training:
                raise SageMakerError(
                    "ResourceInUse",
                    f"Training job names must be unique within an AWS account and region, and a training "
                    f"job with this name already exists ({arn})",
                )
            job = _Job("training", name, record, self.faults.take_training(name), early_stop=early_stop)
            self._training[name.lower()] = job
        self._start(
            job, lambda: self._run_training(job, max_runtime(request)), role_arn=str(request["RoleArn"])
        )
        return {"TrainingJobArn": arn}

    def describe_training_job(self, name: str) -> dict[str, Any]:
        return self._describe(self._find_training(name))

    def stop_training_job(self, name: str) -> None:
        with self._lock:
            job = self._training.get(name.lower())
            if job is None:
                raise SageMakerError("ResourceNotFound", f'Could not find training job "{name}".')
            self._request_stop(job, "training job")
            self._secondary(job, "Stopping")
            if job.stop_file is not None:
                with open(job.stop_file, "w", encoding="utf-8") as flag:
                    flag.write("Stopped")

    def training_log(self, name: str) -> list[str]:
        """The algorithm's round log lines (``[i]\\ttrain-<m>:<v>\\tvalidation-<m>:<v>``).

        Written when training ends (stopped or failed included): empty while a job is still training.
        """
        with self._lock:
            return list(self._find_training(name).log)

    def _run_training(self, job: _Job, runtime_limit: int) -> None:
        self._begin(job, "TrainingStartTime")
        if job.fault is not None:
            if job.fault.kind == "stop":
                self._finish(job, "Stopped", secondary="MaxRuntimeExceeded")
            else:
                self._finish(job, "Failed", reason=job.fault.reason)
            return
        request = job.record
        algorithm = request["AlgorithmSpecification"]
        version = runner.xgboost_version(algorithm["TrainingImage"])
        runner.environment_python(version)
        command = _container_command(request)
        with tempfile.TemporaryDirectory(prefix="sagemaker-job-") as root:
            if command is not None:
                self._run_container(job, version, command, runtime_limit, Path(root))
            else:
                self._run_algorithm(job, version, runtime_limit, Path(root))

    def _run_algorithm(self, job: _Job, version: str, runtime_limit: int, root: Path) -> None:
        """The image's own ``train`` without ``sagemaker_program``: the built-in algorithm, reading its
        channels from the job's /opt/ml layout (every host's share: it trains one model across them)
        and leaving the model in algo-1's /opt/ml/model."""
        request = job.record
        algorithm = request["AlgorithmSpecification"]
        self._secondary(job, "Downloading")
        read_started = time.perf_counter()
        hosts = self._lay_out(job, root)
        # The container's order: hyperparameters, channels, data (algorithm_mode/train.py lines 121-200).
        config = training.parse_hyperparameters(request["HyperParameters"])
        plan = training.validate_channels(request["InputDataConfig"], algorithm["TrainingInputMode"])
        train_set, validation_set = channel_data.read_channels(
            {
                channel["ChannelName"]: _channel_files(hosts, channel)
                for channel in request["InputDataConfig"]
            },
            plan.file_type,
            pipe=plan.pipe,
            csv_weights=config.csv_weights,
        )
        nthread = training.threads_for(train_set.cells, self.nthread)
        job.timings["read_seconds"] = time.perf_counter() - read_started
        with runner.POOL.borrow(version) as worker:
            self._train_in(job, worker, config, train_set, validation_set, nthread, runtime_limit, hosts[0])

    def _train_in(  # noqa: PLR0917
        self,
        job: _Job,
        worker: runner.Worker,
        config: training.TrainingConfig,
        train_set: channel_data.ChannelData,
        validation_set: channel_data.ChannelData | None,
        nthread: int,
        runtime_limit: int,
        host: script_hosts.Host,
    ) -> None:
        self._secondary(job, "Training")
        with self._lock:
            job.stop_file = worker.path("stop")
        try:
            if job.stop_requested:
                self._finish(job, "Stopped", secondary="Stopped")
                return
            seconds_left = job.started + runtime_limit - time.monotonic()
            if seconds_left <= 0:
                self._finish(job, "Stopped", secondary="MaxRuntimeExceeded")
                return
            outcome = training.train(
                config,
                train_set,
                validation_set,
                worker=worker,
                log=job.log,
                stop_file=job.stop_file,
                seconds_left=seconds_left,
                nthread=nthread,
                early_stop=job.early_stop,
            )
            job.timings["compute_seconds"] = outcome.compute_seconds
            extra: dict[str, Any] = {}
            stamp = _now()
            if outcome.final_metrics:
                extra["FinalMetricDataList"] = [
                    {"MetricName": metric, "Value": value, "Timestamp": stamp}
                    for metric, value in outcome.final_metrics
                ]
            if outcome.model_files:
                if outcome.stopped is None:
                    self._secondary(job, "Uploading")
                # train.py: bst.save_model(<model_dir>/xgboost-model), model_dir being /opt/ml/model;
                # _kfold's predictions.csv goes to /opt/ml/output/data (xgb/prediction_utils.py)
                _move_into(outcome.model_files, host.layout.model)
                _move_into(outcome.output_files, host.layout.output_data)
                extra["ModelArtifacts"] = {
                    "S3ModelArtifacts": self._write_model_files(job, container.model_files(host.layout))
                }
                outputs = container.output_files(host.layout)
                if outputs:  # SageMaker uploads /opt/ml/output/data as output.tar.gz beside the model
                    self._write_model_files(job, outputs, OUTPUT_ARTIFACT)
            if outcome.stopped is not None:
                self._finish(job, "Stopped", secondary=outcome.stopped, extra=extra)
            else:
                self._finish(job, "Completed", extra=extra)
        finally:
            with self._lock:
                job.stop_file = None

    def _write_model_files(self, job: _Job, files: list[tuple[str, Path]], name: str = MODEL_ARTIFACT) -> str:
        """``<S3OutputPath>/<job>/output/<name>`` of the files (``name`` inside the archive, local path)."""
        started = time.perf_counter()
        uri = s3io.join_uri(job.record["OutputDataConfig"]["S3OutputPath"], job.name, "output", name)
        s3io.put_bytes(self.s3, uri, container.archive(files), "application/x-gzip")
        job.timings["write_seconds"] += time.perf_counter() - started
        return uri

    def _channel_shares(self, job: _Job) -> dict[str, list[list[s3io.S3Object]]]:
        """Per channel, the objects each instance reads (its S3DataDistributionType: sharding.py)."""
        count = int(job.record["ResourceConfig"]["InstanceCount"])
        shares: dict[str, list[list[s3io.S3Object]]] = {}
        for channel in job.record["InputDataConfig"]:
            source = channel["DataSource"]["S3DataSource"]
            objects = {o.uri: o for o in s3io.list_objects(self.s3, source["S3Uri"])}
            distribution = source.get("S3DataDistributionType", "FullyReplicated")
            shares[channel["ChannelName"]] = [
                [objects[uri] for uri in share]
                for share in sharding.channel_shares(list(objects), distribution, count)
            ]
        return shares

    def _record_instances(self, job: _Job) -> dict[str, list[list[s3io.S3Object]]]:
        """Describe's ``EmulatorInstances``: what each instance reads. The built-in algorithm trains
        across its instances as one model (Rabit), which the emulator computes from all their shares."""
        shares = self._channel_shares(job)
        hosts = sharding.hosts(int(job.record["ResourceConfig"]["InstanceCount"]))
        with self._lock:
            job.record[INSTANCES] = [
                {
                    "Host": host,
                    "Channels": {name: [o.uri for o in per_host[index]] for name, per_host in shares.items()},
                }
                for index, host in enumerate(hosts)
            ]
        return shares

    def _lay_out(self, job: _Job, root: Path) -> list[script_hosts.Host]:
        """Every host's /opt/ml under ``root``: its config and its share of each channel (File mode)."""
        request = job.record
        shares = self._record_instances(job)
        names = sharding.hosts(int(request["ResourceConfig"]["InstanceCount"]))
        hosts = script_hosts.prepare(
            root, request=request, names=names, channels=self._channel_contents(request, shares)
        )
        for host, share in zip(hosts, self.describe_training_job(job.name)[INSTANCES], strict=True):
            host.objects = share["Channels"]
        return hosts

    def _run_container(
        self, job: _Job, version: str, command: list[str], runtime_limit: int, root: Path
    ) -> None:
        """The job's command on every host, each in its own namespace with its own /opt/ml
        (container.py, script_hosts.py): ContainerEntrypoint + ContainerArguments, or the image's
        ``train`` (the training toolkit) in script mode."""
        if not self.endpoint_url:
            raise JobFailure(
                "EmulatorError: this emulator has no AWS endpoint for the job's processes "
                "(SageMakerEmulator(endpoint_url=...)): the sandbox gives it its moto server"
            )
        request = job.record
        self._secondary(job, "Downloading")
        read_started = time.perf_counter()
        hosts = self._lay_out(job, root)
        job.timings["read_seconds"] = time.perf_counter() - read_started
        self._secondary(job, "Training")
        # The container's AWS calls (the toolkit's download, the user's code) carry the job role's
        # credentials, as SageMaker gives a container its role's (sagemaker-roles).
        session = job_session(str(request.get("RoleArn") or ""), request, self.region)
        credentials = {} if session is None else session.environment()
        started = time.perf_counter()
        outcome = script_hosts.run(
            command,
            hosts,
            variables=lambda host: {
                **container.environment(
                    version,
                    endpoint_url=self.endpoint_url,
                    region=self.region,
                    packages=root / f"{host.name}.packages",
                ),
                **credentials,
                # docs: your-algorithms-training-algo-running-container: SageMaker sets these two
                "TRAINING_JOB_NAME": job.name,
                "TRAINING_JOB_ARN": str(request["TrainingJobArn"]),
                **request.get("Environment", {}),
            },
            workdir="/",
            parallel=self.nthread,
            seconds_left=job.started + runtime_limit - time.monotonic(),
            should_stop=lambda: job.stop_requested,
        )
        job.timings["compute_seconds"] = time.perf_counter() - started
        job.log.extend(outcome.log)
        definitions = request["AlgorithmSpecification"].get("MetricDefinitions") or []
        stamp = _now()
        extra: dict[str, Any] = {}
        metrics = script_mode.final_metrics(outcome.metrics_log, definitions)
        if metrics:
            extra["FinalMetricDataList"] = [
                {"MetricName": name, "Value": value, "Timestamp": stamp} for name, value in metrics
            ]
        failure = outcome.first_failure
        if failure is not None:
            self._finish(job, "Failed", reason=container.failure_reason(failure), extra=extra)
            return
        if outcome.stopped is not None:
            self._finish(job, "Stopped", secondary=outcome.stopped, extra=extra)
            return
        files = script_hosts.model_files(hosts)
        outputs = script_hosts.output_files(hosts)
        self._secondary(job, "Uploading")
        if outputs:  # SageMaker uploads /opt/ml/output/data as output.tar.gz beside the model
            self._write_model_files(job, outputs, OUTPUT_ARTIFACT)
        extra["ModelArtifacts"] = {"S3ModelArtifacts": self._write_model_files(job, files)}
        self._finish(job, "Completed", extra=extra)

    def _channel_contents(
        self, request: dict[str, Any], shares: dict[str, list[list[s3io.S3Object]]]
    ) -> dict[str, list[list[tuple[str, bytes]]]]:
        """Per channel, per host: (path in the channel's folder, bytes); each object read once."""
        channels: dict[str, list[list[tuple[str, bytes]]]] = {}
        for channel in request["InputDataConfig"]:
            name = channel["ChannelName"]
            prefix = s3io.parse_s3_uri(channel["DataSource"]["S3DataSource"]["S3Uri"])[1]
            data = {o.uri: s3io.get_bytes(self.s3, o.bucket, o.key) for share in shares[name] for o in share}
            channels[name] = [
                [(_channel_path(prefix, o.key), data[o.uri]) for o in share] for share in shares[name]
            ]
        return channels

    # ---- hyperparameter tuning (sandbox/sagemaker/tuning.py) ---------------------------------

    def create_hyper_parameter_tuning_job(self, request: dict[str, Any]) -> dict[str, Any]:
        self.faults.check_create(
            "create_hyper_parameter_tuning_job", str(request.get("HyperParameterTuningJobName", ""))
        )
        return self._tuning.create(request)

    def describe_hyper_parameter_tuning_job(self, name: str) -> dict[str, Any]:
        return self._tuning.describe(name)

    def stop_hyper_parameter_tuning_job(self, name: str) -> None:
        self._tuning.stop(name)

    def list_training_jobs_for_hyper_parameter_tuning_job(self, request: dict[str, Any]) -> dict[str, Any]:
        return self._tuning.list_trials(request)

    def wait_tuning(self, name: str, timeout: float = 600) -> dict[str, Any]:
        """Block until the tuning job ``name`` has ended; return its Describe dict."""
        with self._lock:
            if not self._changed.wait_for(
                lambda: self._tuning.describe(name)["HyperParameterTuningJobStatus"] in TERMINAL,
                timeout=timeout,
            ):
                raise TimeoutError(f"tuning job {name} did not end within {timeout} s")
            return self._tuning.describe(name)

    # ---- List* (listing.py) --------------------------------------------------------------------

    def list_training_jobs(self, request: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            records = [job.record for job in self._training.values()]
            return copy.deepcopy(listing.list_records(records, request, listing.TRAINING_JOBS))

    def list_transform_jobs(self, request: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            records = [job.record for job in self._transforms.values()]
            return copy.deepcopy(listing.list_records(records, request, listing.TRANSFORM_JOBS))

    def list_hyper_parameter_tuning_jobs(self, request: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            records = []
            for name in self._tuning.names():
                record = self._tuning.describe(name)
                config = record.get("HyperParameterTuningJobConfig") or {}
                records.append(
                    {
                        **record,
                        "Strategy": config.get("Strategy"),
                        "ResourceLimits": config.get("ResourceLimits"),
                    }
                )
            return listing.list_records(records, request, listing.TUNING_JOBS)

    def list_models(self, request: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(listing.list_records(list(self._models.values()), request, listing.MODELS))

    # ---- models -------------------------------------------------------------------------------

    def create_model(self, request: dict[str, Any]) -> dict[str, Any]:
        self.faults.check_create("create_model", str(request.get("ModelName", "")))
        validate_model(request)
        name = str(request["ModelName"])
        arn = self._arn("model", name)
        container = copy.deepcopy(request["PrimaryContainer"])
        with self._lock:
            if name.lower() in self._models:
                raise validation_error(f'Cannot create already existing model "{arn}".')
        with iam_enforcement.acting_as(
            job_principal(str(request["ExecutionRoleArn"]), {"ModelArn": arn}, self.region)
        ):
            readable = s3io.object_exists(self.s3, container["ModelDataUrl"])
        if not readable:
            raise validation_error(
                f"Could not access model data at {container['ModelDataUrl']}. Please ensure that the role "
                f'"{request["ExecutionRoleArn"]}" exists and that its trust relationship policy allows the '
                'action "sts:AssumeRole" for the service principal "sagemaker.amazonaws.com". '
                'Also ensure that the role has "s3:GetObject" permissions and that the object is located in '
                f"{self.region}."
            )
        container.setdefault("Mode", "SingleModel")
        record = {
            "ModelName": name,
            "ModelArn": arn,
            "PrimaryContainer": container,
            "ExecutionRoleArn": request["ExecutionRoleArn"],
            "CreationTime": _now(),
            "EnableNetworkIsolation": bool(request.get("EnableNetworkIsolation", False)),
        }
        with self._lock:
            if name.lower() in self._models:
                raise validation_error(f'Cannot create already existing model "{arn}".')
            self._models[name.lower()] = record
        return {"ModelArn": arn}

    def describe_model(self, name: str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._find_model(name))

    def delete_model(self, name: str) -> None:
        with self._lock:
            self._find_model(name)
            del self._models[name.lower()]

    def _find_model(self, name: str) -> dict[str, Any]:
        record = self._models.get(name.lower())
        if record is None:
            raise validation_error(f'Could not find model "{self._arn("model", name)}".')
        return record

    # ---- real-time endpoints (sandbox/sagemaker/endpoints.py) --------------------------------

    def create_endpoint_config(self, request: dict[str, Any]) -> dict[str, Any]:
        return self.endpoints.create_endpoint_config(request)

    def describe_endpoint_config(self, name: str) -> dict[str, Any]:
        return self.endpoints.describe_endpoint_config(name)

    def delete_endpoint_config(self, name: str) -> None:
        self.endpoints.delete_endpoint_config(name)

    def list_endpoint_configs(self, request: dict[str, Any]) -> dict[str, Any]:
        return self.endpoints.list_endpoint_configs(request)

    def create_endpoint(self, request: dict[str, Any]) -> dict[str, Any]:
        return self.endpoints.create_endpoint(request)

    def describe_endpoint(self, name: str) -> dict[str, Any]:
        return self.endpoints.describe_endpoint(name)

    def update_endpoint(self, request: dict[str, Any]) -> dict[str, Any]:
        return self.endpoints.update_endpoint(request)

    def delete_endpoint(self, name: str) -> None:
        self.endpoints.delete_endpoint(name)

    def list_endpoints(self, request: dict[str, Any]) -> dict[str, Any]:
        return self.endpoints.list_endpoints(request)

    def invoke_endpoint(
        self, name: str, body: bytes, content_type: str | None = None, accept: str | None = None
    ) -> InvokeResult:
        return self.endpoints.invoke_endpoint(name, body, content_type, accept)

    def as_model_role(self, model: dict[str, Any]) -> Any:
        """A context in which S3 is read as the model's ExecutionRoleArn (an endpoint's fleet
        downloading the artifact: sagemaker-roles, "CreateModel API: Execution Role Permissions")."""
        return iam_enforcement.acting_as(
            job_principal(str(model["ExecutionRoleArn"]), {"ModelArn": model["ModelArn"]}, self.region)
        )

    def list_endpoint_tags(self, arn: str) -> dict[str, Any] | None:
        """ListTags of an endpoint or endpoint config (None: the ARN is not one of the emulator's)."""
        return self.endpoints.list_tags(arn)

    # ---- transform ----------------------------------------------------------------------------

    def create_transform_job(self, request: dict[str, Any]) -> dict[str, Any]:
        self.faults.check_create("create_transform_job", str(request.get("TransformJobName", "")))
        spec = validate_transform(request)
        name = str(request["TransformJobName"])
        arn = self._arn("transform-job", name)
        now = _now()
        transform_input = copy.deepcopy(request["TransformInput"])
        transform_input.setdefault("CompressionType", "None")
        transform_input.setdefault("SplitType", "None")
        processing = {"InputFilter": "$", "OutputFilter": "$", "JoinSource": "None"}
        processing.update(request.get("DataProcessing") or {})
        record: dict[str, Any] = {
            "TransformJobName": name,
            "TransformJobArn": arn,
            "TransformJobStatus": "InProgress",
            "ModelName": request["ModelName"],
            "MaxConcurrentTransforms": request.get("MaxConcurrentTransforms", 1),
            "MaxPayloadInMB": request.get("MaxPayloadInMB", 6),
            "BatchStrategy": request.get("BatchStrategy", "MultiRecord"),
            "Environment": dict(request.get("Environment") or {}),
            "TransformInput": transform_input,
            "TransformOutput": copy.deepcopy(request["TransformOutput"]),
            "TransformResources": copy.deepcopy(request["TransformResources"]),
            "DataProcessing": processing,
            "CreationTime": now,
        }
        with self._lock:
            model = copy.deepcopy(self._find_model(str(request["ModelName"])))
            if name.lower() in self._transforms:
                raise SageMakerError(
                    "ResourceInUse",
                    f"Transform job names must be unique within an AWS account and region, and a transform "
                    f"job with this name already exists ({arn})",
                )
            job = _Job("transform", name, record, self.faults.take_transform(name))
            self._transforms[name.lower()] = job
        container = model["PrimaryContainer"]
        environment = {**(container.get("Environment") or {}), **(request.get("Environment") or {})}
        try:
            spec = transform.with_environment(spec, environment, container["Image"])
        except ValueError as exc:
            raise validation_error(str(exc)) from None
        self._start(
            job,
            lambda: self._run_transform(job, spec, container["ModelDataUrl"], container["Image"]),
            role_arn=str(model["ExecutionRoleArn"]),
        )
        return {"TransformJobArn": arn}

    def describe_transform_job(self, name: str) -> dict[str, Any]:
        return self._describe(self._find_transform(name))

    def stop_transform_job(self, name: str) -> None:
        with self._lock:
            job = self._transforms.get(name.lower())
            if job is None:
                raise SageMakerError("ResourceNotFound", f'Could not find transform job "{name}".')
            self._request_stop(job, "transform job")

    def _run_transform(
        self, job: _Job, spec: transform.TransformSpec, model_data_url: str, image: str
    ) -> None:
        self._begin(job, "TransformStartTime")
        if job.fault is not None:
            self._finish(job, "Failed", reason=job.fault.reason)
            return
        version = runner.xgboost_version(image)
        runner.environment_python(version)
        with runner.POOL.borrow(version) as worker:
            self._transform_in(job, worker, spec, model_data_url)

    def _transform_in(
        self, job: _Job, worker: runner.Worker, spec: transform.TransformSpec, model_data_url: str
    ) -> None:
        source = job.record["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"]
        output_path = job.record["TransformOutput"]["S3OutputPath"]
        started = time.perf_counter()
        scorer = self._load_scorer(worker, model_data_url, spec.ensemble)
        objects = s3io.list_objects(self.s3, source)
        if not objects:
            raise client_error(f"No S3 objects found under S3 URL {source}")
        job.timings["read_seconds"] += time.perf_counter() - started
        count = int(job.record["TransformResources"]["InstanceCount"])
        with self._lock:  # each object goes to one instance (sharding.py); the emulator scores them all
            job.record[INSTANCES] = [
                {"Host": host, "Objects": share}
                for host, share in zip(
                    sharding.hosts(count), sharding.deal([o.uri for o in objects], count), strict=True
                )
            ]
        _, prefix = s3io.parse_s3_uri(source)
        base = prefix[: prefix.rfind("/") + 1]
        failures: list[str] = []
        for batch in _small_object_batches(objects):
            if job.stop_requested:
                self._finish(job, "Stopped")
                return
            if len(batch) == 1:
                obj = batch[0]
                failure = self._transform_one(
                    job, scorer, spec, obj, s3io.join_uri(output_path, obj.key[len(base) :])
                )
                failures.extend([failure] if failure else [])
                continue
            failures.extend(
                self._transform_batch(job, scorer, spec, batch, output_path=output_path, base=base)
            )
        if failures:
            more = f" ({len(failures) - 1} more object(s) failed)" if len(failures) > 1 else ""
            self._finish(
                job, "Failed", reason=f"ClientError: See job logs for more information. {failures[0]}{more}"
            )
        else:
            self._finish(job, "Completed")

    def _transform_one(
        self,
        job: _Job,
        scorer: transform.Scorer,
        spec: transform.TransformSpec,
        obj: s3io.S3Object,
        target: str,
    ) -> str | None:
        """Transform one object into ``<target>.out``; return a failure message or None."""
        started = time.perf_counter()
        data = s3io.get_bytes(self.s3, obj.bucket, obj.key)
        fetched = time.perf_counter() - started
        timings = transform.ObjectTimings()
        try:
            content = transform.transform_object(scorer, data, spec, timings, cpu_count=self.nthread)
        except transform.TransformError as exc:
            return f"Failed to transform {obj.uri}: {exc}"
        write_started = time.perf_counter()
        s3io.put_bytes(self.s3, f"{target}.out", content, "text/csv")
        job.timings["read_seconds"] += fetched + timings.parse_seconds
        job.timings["compute_seconds"] += timings.compute_seconds
        job.timings["write_seconds"] += timings.format_seconds + (time.perf_counter() - write_started)
        return None

    def _transform_batch(
        self,
        job: _Job,
        scorer: transform.Scorer,
        spec: transform.TransformSpec,
        batch: list[s3io.S3Object],
        *,
        output_path: str,
        base: str,
    ) -> list[str]:
        """Small objects predicted in one worker request; each still gets its own ``.out`` (or failure)."""
        started = time.perf_counter()
        blobs = [s3io.get_bytes(self.s3, obj.bucket, obj.key) for obj in batch]
        fetched = time.perf_counter() - started
        timings = transform.ObjectTimings()
        contents = transform.transform_objects(scorer, blobs, spec, timings, cpu_count=self.nthread)
        write_started = time.perf_counter()
        failures: list[str] = []
        for obj, content in zip(batch, contents, strict=True):
            if isinstance(content, transform.TransformError):
                failures.append(f"Failed to transform {obj.uri}: {content}")
                continue
            target = s3io.join_uri(output_path, obj.key[len(base) :])
            s3io.put_bytes(self.s3, f"{target}.out", content, "text/csv")
        job.timings["read_seconds"] += fetched + timings.parse_seconds
        job.timings["compute_seconds"] += timings.compute_seconds
        job.timings["write_seconds"] += timings.format_seconds + (time.perf_counter() - write_started)
        return failures

    def _load_scorer(self, worker: runner.Worker, model_data_url: str, ensemble: bool) -> transform.Scorer:
        bucket, key = s3io.parse_s3_uri(model_data_url)
        try:
            artifact = s3io.get_bytes(self.s3, bucket, key)
            return transform.Scorer.load(worker, artifact, ensemble)
        except transform.TransformError as exc:
            raise client_error(f"Cannot load the model at {model_data_url}: {exc}") from None
        except Exception as exc:
            raise client_error(f"Cannot read the model at {model_data_url}: {exc}") from None

    # ---- shared -------------------------------------------------------------------------------

    def wait(self, name: str, timeout: float = 300) -> dict[str, Any]:
        """Block until the training or transform job ``name`` has ended; return its Describe dict."""
        with self._lock:
            job = self._training.get(name.lower()) or self._find_transform(name)
            if not self._changed.wait_for(lambda: job.status in TERMINAL, timeout=timeout):
                raise TimeoutError(
                    f"{job.kind} job {name} did not end within {timeout} s (status {job.status})"
                )
            return self._describe(job)

    def _find_training(self, name: str) -> _Job:
        job = self._training.get(name.lower())
        if job is None:
            raise validation_error(f'Could not find training job "{name}".')
        return job

    def _find_transform(self, name: str) -> _Job:
        job = self._transforms.get(name.lower())
        if job is None:
            raise validation_error(f'Could not find transform job "{name}".')
        return job

    def _describe(self, job: _Job) -> dict[str, Any]:
        with self._lock:
            # EmulatorInstances lists every object (100,000 in the largest benchmarked export) and
            # Step Functions' .sync polls Describe* every 50 ms: its lists of URIs (immutable
            # strings) are copied as lists, not element by element.
            result = copy.deepcopy({key: value for key, value in job.record.items() if key != INSTANCES})
            if INSTANCES in job.record:
                result[INSTANCES] = _copied_instances(job.record[INSTANCES])
            if job.status in TERMINAL:
                result["EmulatorTimings"] = dict(job.timings)
            return result

    def _start(self, job: _Job, body: Callable[[], None], role_arn: str | None = None) -> None:
        def run() -> None:
            try:
                # The job reads and writes S3 as its role (sagemaker-roles; sandbox/aws/moto_s3.py).
                with iam_enforcement.acting_as(job_principal(role_arn, job.record, self.region)):
                    body()
            except iam_enforcement.AccessDenied as denied:
                self._finish(job, "Failed", reason=f"ClientError: {denied.message}")
            except ClientError as error:  # S3 refused the role: the job's error, not the algorithm's
                if error.response.get("Error", {}).get("Code") != "AccessDenied":
                    self._finish(job, "Failed", reason=f"AlgorithmError: {type(error).__name__}: {error}")
                else:
                    self._finish(job, "Failed", reason=f"ClientError: {error.response['Error']['Message']}")
            except JobFailure as failure:
                self._finish(job, "Failed", reason=failure.reason)
            except Exception as exc:
                self._finish(job, "Failed", reason=f"AlgorithmError: {type(exc).__name__}: {exc}")

        if self.background:
            threading.Thread(target=run, name=f"sagemaker-{job.kind}-{job.name}", daemon=True).start()
        else:
            run()

    def _request_stop(self, job: _Job, what: str) -> None:
        if job.status in TERMINAL:
            raise validation_error(f"The request was rejected because the {what} is in status {job.status}.")
        job.stop_requested = True
        job.record[job.status_key] = "Stopping"
        if job.kind == "training":
            job.record["LastModifiedTime"] = _now()
        self._changed.notify_all()

    def _begin(self, job: _Job, start_key: str) -> None:
        with self._lock:
            job.started = time.monotonic()
            job.record[start_key] = _now()

    def _secondary(self, job: _Job, status: str) -> None:
        """Move a training job to a new SecondaryStatus, closing the previous transition."""
        with self._lock:
            if job.kind != "training" or job.status in TERMINAL:
                return
            now = _now()
            transitions = job.record["SecondaryStatusTransitions"]
            if transitions and transitions[-1]["Status"] == status:
                return
            if transitions:
                transitions[-1]["EndTime"] = now
            transitions.append({"Status": status, "StartTime": now, "StatusMessage": _MESSAGES[status]})
            job.record["SecondaryStatus"] = status
            job.record["LastModifiedTime"] = now

    def _finish(
        self,
        job: _Job,
        status: str,
        *,
        secondary: str | None = None,
        reason: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        with self._lock:
            if job.status in TERMINAL:
                return
            if job.stop_requested and status == "Completed":
                status = "Stopped"
            now = _now()
            if job.kind == "training":
                self._secondary(job, secondary or status)
                job.record["SecondaryStatusTransitions"][-1]["EndTime"] = now
                start = job.record.get("TrainingStartTime") or job.record["CreationTime"]
                seconds = max(1, math.ceil((now - start).total_seconds()))
                job.record["TrainingEndTime"] = now
                job.record["LastModifiedTime"] = now
                job.record["TrainingTimeInSeconds"] = seconds
                spot = job.record["EnableManagedSpotTraining"]
                job.record["BillableTimeInSeconds"] = (
                    max(1, math.ceil(seconds * (1 - SPOT_SAVING_ASSUMED))) if spot else seconds
                )
            else:
                job.record.setdefault("TransformStartTime", now)
                job.record["TransformEndTime"] = now
            if reason is not None:
                job.record["FailureReason"] = reason
            job.record.update(extra or {})
            job.record[job.status_key] = status
            self._changed.notify_all()


INSTANCES = "EmulatorInstances"


def job_session(role_arn: str | None, record: dict[str, Any], region: str) -> Any:
    """SageMaker's session of the job's role (trust: sagemaker.amazonaws.com, aws:SourceAccount and
    aws:SourceArn the job's); None outside IAM enforcement (the stand-in acts as the administrator)."""
    if not role_arn or not iam_enforcement.installed():
        return None
    source = next((str(v) for k, v in record.items() if k.endswith("Arn") and ":sagemaker:" in str(v)), None)
    return iam_enforcement.service_assumes(
        role_arn, "sagemaker.amazonaws.com", "SageMaker", source_arn=source, region=region
    )


def job_principal(role_arn: str | None, record: dict[str, Any], region: str) -> Any:
    session = job_session(role_arn, record, region)
    return None if session is None else session.principal


def _container_command(request: dict[str, Any]) -> list[str] | None:
    """What the job's hosts run: ContainerEntrypoint + ContainerArguments when given
    (API_AlgorithmSpecification), else the image's ``train``: the training toolkit when
    ``sagemaker_program`` is set, or None for the built-in algorithm, which the emulator runs itself."""
    algorithm = request["AlgorithmSpecification"]
    entrypoint = list(algorithm.get("ContainerEntrypoint") or [])
    arguments = list(algorithm.get("ContainerArguments") or [])
    scripted = script_mode.is_script_mode(request.get("HyperParameters") or {})
    command = [*entrypoint, *arguments] if entrypoint else [script_mode.TRAIN_COMMAND, *arguments]
    if command == [script_mode.TRAIN_COMMAND] and not scripted:
        return None
    return command


def _channel_path(prefix: str, key: str) -> str:
    """Where File mode puts an object in its channel's folder: its key after the S3Prefix (SDK v3 relies
    on it: its ``sm_drivers`` prefix has no trailing ``/`` and ContainerArguments name
    ``/opt/ml/input/data/sm_drivers/sm_train.sh``); an S3Uri naming the object itself gives its name."""
    return key[len(prefix) :].lstrip("/") or key.rsplit("/", 1)[-1]


def _channel_files(
    hosts: list[script_hosts.Host], channel: Mapping[str, Any]
) -> list[channel_data.ChannelFile]:
    """A channel's files across the hosts' /opt/ml (a replicated file once), by path, each with its S3
    URI (the hosts' ``EmulatorInstances`` name the objects each was given)."""
    name = str(channel["ChannelName"])
    _, prefix = s3io.parse_s3_uri(channel["DataSource"]["S3DataSource"]["S3Uri"])
    found: dict[str, channel_data.ChannelFile] = {}
    for host in hosts:
        folder = host.layout.channel(name)
        for object_uri in host.objects.get(name, []):
            relative = _channel_path(prefix, s3io.parse_s3_uri(object_uri)[1])
            found.setdefault(relative, channel_data.ChannelFile(object_uri, relative, folder / relative))
    return [found[relative] for relative in sorted(found)]


def _move_into(files: list[tuple[str, str]], folder: Path) -> None:
    """The worker's files (name, path) into a folder of the job's /opt/ml."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, path in files:
        shutil.move(path, folder / name)


def _copied_instances(instances: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A copy of ``EmulatorInstances``: per host, ``Objects`` (a list of URIs) or ``Channels`` (URIs by
    channel)."""
    copied: list[dict[str, Any]] = []
    for host in instances:
        entry = dict(host)
        if "Objects" in entry:
            entry["Objects"] = list(entry["Objects"])
        if "Channels" in entry:
            entry["Channels"] = {name: list(uris) for name, uris in entry["Channels"].items()}
        copied.append(entry)
    return copied


# Objects this small share one request to the xgboost worker (transform.transform_objects); a
# batch holds at most SMALL_BATCH_OBJECTS of them and SMALL_BATCH_BYTES in all. Larger objects
# go alone, as before.
SMALL_OBJECT_BYTES = 64 * 1024
SMALL_BATCH_OBJECTS = 500
SMALL_BATCH_BYTES = 4 * 1024 * 1024


def _small_object_batches(objects: list[s3io.S3Object]) -> Iterator[list[s3io.S3Object]]:
    """The objects in listing order: runs of small ones batched, any other alone."""
    batch: list[s3io.S3Object] = []
    size = 0
    for obj in objects:
        small = obj.size <= SMALL_OBJECT_BYTES
        if batch and (not small or len(batch) == SMALL_BATCH_OBJECTS or size + obj.size > SMALL_BATCH_BYTES):
            yield batch
            batch, size = [], 0
        if not small:
            yield [obj]
            continue
        batch.append(obj)
        size += obj.size
    if batch:
        yield batch
