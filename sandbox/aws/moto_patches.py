"""The one module of the sandbox that touches moto internals (moto 5.2.5, pinned): each patch
replaces a named moto attribute and ``uninstall()`` puts it back. sandbox/README.md ("moto patches")
lists what each patch changes, the AWS page it follows and its contract test."""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import functools
import json
import logging
import os
import threading
import time
import urllib.parse
import urllib.request
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Final, Protocol

import boto3
import botocore.loaders
import botocore.session
import moto
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError
from jsonpath_ng import jsonpath as jp
from jsonpath_ng.ext.parser import parse as jsonpath_parse
from moto import mock_aws
from moto.awslambda import models as lambda_models
from moto.awslambda.utils import get_backend as get_lambda_backend
from moto.cloudformation import parsing as cfn_parsing
from moto.cloudwatch import models as cloudwatch_models
from moto.core.config import default_user_config
from moto.core.models import botocore_stubber
from moto.core.responses import ActionResult, EmptyResult
from moto.events import models as events_models
from moto.events.utils import _BASE_EVENT_MESSAGE, EventTemplateParser
from moto.iam import models as iam_models
from moto.iam.responses import IamResponse
from moto.s3 import models as s3_models
from moto.s3 import responses as s3_responses
from moto.sagemaker import models as sagemaker_models
from moto.sagemaker import responses as sagemaker_responses
from moto.sagemaker.exceptions import SagemakerClientError, ValidationError
from moto.sagemakerruntime import responses as sagemakerruntime_responses
from moto.settings import moto_server_port
from moto.sns import models as sns_models
from moto.stepfunctions import models as sfn_models
from moto.stepfunctions.parser import models as sfn_parser_models
from moto.stepfunctions.parser.api import (
    HistoryEventType,
    LambdaFunctionFailedEventDetails,
    StateMachineType,
    TaskFailedEventDetails,
)
from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
    StatesErrorNameType,
)
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import TimeoutSeconds
from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task_factory
from moto.stepfunctions.parser.asl.component.state.exec.state_task.credentials import StateCredentials
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_callback as callback_module,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import (
    ResourceCondition,
    ResourceRuntimePart,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service import (
    StateTaskService,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk import (
    StateTaskServiceAwsSdk,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda import StateTaskLambda
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.utils import boto_client as boto_client_module
from moto.stepfunctions.parser.asl.utils import json_path
from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication, Execution
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
from moto.stepfunctions.responses import get_backend as get_sfn_backend
from moto.utilities.arns import parse_arn

from sandbox.aws import aws_validation, iam_enforcement, moto_s3

__all__ = [
    "EXECUTE_STATE_MACHINES_CONFIG",
    "MOTO_VERSION",
    "AlarmActionDelivery",
    "EventDelivery",
    "RetrySleepRecorder",
    "SageMakerTaskService",
    "alarm_action_deliveries",
    "deliver_alarm_actions",
    "enable_state_machine_execution",
    "event_deliveries",
    "execute_state_machines_in_process",
    "execution_status_change_event",
    "install",
    "installed",
    "installed_patches",
    "iso_timestamp",
    "set_sleep_hook",
    "uninstall",
    "wait_for_event_deliveries",
]

MOTO_VERSION: Final = "5.2.5"
EXECUTE_STATE_MACHINES_CONFIG: Final[dict[str, dict[str, bool]]] = {
    "stepfunctions": {"execute_state_machine": True}
}

LOG = logging.getLogger(__name__)

# How often a .sync SageMaker task polls the emulator's Describe* (moto polls other services
# every 0.5 s; AWS every minute or so).
SYNC_POLL_SECONDS: Final = 0.05
# AWS returns the last 4 KB of the log in x-amz-log-result; a header far larger than that also
# breaks http.client (65536-byte header line limit).
_LOG_TAIL_BYTES: Final = 4096


class SageMakerEmulatorLike(Protocol):
    """The interface of ``sandbox.sagemaker.SageMakerEmulator`` these patches use."""

    def create_training_job(self, request: dict[str, Any]) -> dict[str, Any]: ...
    def describe_training_job(self, name: str) -> dict[str, Any]: ...
    def stop_training_job(self, name: str) -> Any: ...
    def create_model(self, request: dict[str, Any]) -> dict[str, Any]: ...
    def describe_model(self, name: str) -> dict[str, Any]: ...
    def delete_model(self, name: str) -> Any: ...
    def create_transform_job(self, request: dict[str, Any]) -> dict[str, Any]: ...
    def describe_transform_job(self, name: str) -> dict[str, Any]: ...
    def stop_transform_job(self, name: str) -> Any: ...
    def create_hyper_parameter_tuning_job(self, request: dict[str, Any]) -> dict[str, Any]: ...
    def describe_hyper_parameter_tuning_job(self, name: str) -> dict[str, Any]: ...
    def stop_hyper_parameter_tuning_job(self, name: str) -> Any: ...
    def list_endpoint_tags(self, arn: str) -> dict[str, Any] | None: ...
    def invoke_endpoint(
        self, name: str, body: bytes, content_type: str | None = None, accept: str | None = None
    ) -> Any: ...
    def list_training_jobs_for_hyper_parameter_tuning_job(
        self, request: dict[str, Any]
    ) -> dict[str, Any]: ...
    def list_training_jobs(self, request: dict[str, Any]) -> dict[str, Any]: ...
    def list_transform_jobs(self, request: dict[str, Any]) -> dict[str, Any]: ...
    def list_hyper_parameter_tuning_jobs(self, request: dict[str, Any]) -> dict[str, Any]: ...
    def list_models(self, request: dict[str, Any]) -> dict[str, Any]: ...


class LambdaRuntimeLike(Protocol):
    """The interface of ``sandbox.aws.lambda_runtime.LambdaRuntime`` these patches use."""

    def invoke(self, fn: Any, event: Any) -> tuple[str, bool, str]: ...


# --------------------------------------------------------------------------------------------
# State
# --------------------------------------------------------------------------------------------

_MISSING: Final = object()


@dataclass
class _State:
    emulator: SageMakerEmulatorLike | None = None
    runtime: LambdaRuntimeLike | None = None
    installed: bool = False
    # (owner, attribute name, original value or _MISSING)
    originals: list[tuple[Any, str, Any]] = field(default_factory=list)
    log_filter: logging.Filter | None = None


_STATE = _State()
_INSTALL_LOCK = threading.Lock()


def installed() -> bool:
    return _STATE.installed


def _emulator() -> SageMakerEmulatorLike:
    if _STATE.emulator is None:
        raise RuntimeError("sandbox.aws.moto_patches: no SageMaker emulator installed")
    return _STATE.emulator


def _replace(owner: Any, name: str, value: Any) -> None:
    original = (
        owner.__dict__.get(name, _MISSING) if isinstance(owner, type) else getattr(owner, name, _MISSING)
    )
    _STATE.originals.append((owner, name, original))
    setattr(owner, name, value)


# --------------------------------------------------------------------------------------------
# JSON-safe conversions
# --------------------------------------------------------------------------------------------


def _as_utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def iso_timestamp(value: dt.datetime) -> str:
    """The context object's format: ``2019-03-26T20:14:13.192Z``."""
    value = _as_utc(value)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _convert_datetimes(value: Any, convert: Callable[[dt.datetime], Any]) -> Any:
    if isinstance(value, dt.datetime):
        return convert(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _convert_datetimes(v, convert) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_convert_datetimes(v, convert) for v in value]
    return value


def _epoch_millis(value: dt.datetime) -> int:
    return int(_as_utc(value).timestamp() * 1000)


def _sagemaker_error(exc: BaseException) -> tuple[str, str] | None:
    """``(code, message)`` of the emulator's ``SageMakerError`` (matched by name: no import cycle)
    or of a request ``aws_validation`` refused."""
    if isinstance(exc, aws_validation.AwsRequestRefused):
        return exc.code, exc.message
    if not any(cls.__name__ == "SageMakerError" for cls in type(exc).__mro__):
        return None
    code = getattr(exc, "code", None)
    message = getattr(exc, "message", None)
    return str(code), str(message if message is not None else exc)


# --------------------------------------------------------------------------------------------
# Retry / Wait sleeps
# --------------------------------------------------------------------------------------------

SleepHook = Callable[[str, float], None]
_sleep_hook: SleepHook | None = None


def set_sleep_hook(hook: SleepHook | None) -> SleepHook | None:
    """Route Retry ("retry") and Wait ("wait") sleeps to ``hook(kind, seconds)``; None: sleep for real."""
    global _sleep_hook
    previous, _sleep_hook = _sleep_hook, hook
    return previous


class RetrySleepRecorder:
    """A sleep hook recording the delays the interpreter computed (``scale`` > 0 also sleeps, scaled).

    ``with RetrySleepRecorder() as sleeps: ...`` then ``sleeps.retry_delays == [1.0, 2.0, 3]``.
    The hook is process-wide: every execution running meanwhile records into it.
    """

    def __init__(self, *, scale: float = 0.0) -> None:
        self.scale = scale
        self.calls: list[tuple[str, float]] = []
        self._lock = threading.Lock()
        self._previous: SleepHook | None = None

    def __call__(self, kind: str, seconds: float) -> None:
        with self._lock:
            self.calls.append((kind, seconds))
        if self.scale > 0 and seconds > 0:
            time.sleep(seconds * self.scale)

    @property
    def retry_delays(self) -> list[float]:
        return [s for k, s in self.calls if k == "retry"]

    @property
    def wait_delays(self) -> list[float]:
        return [s for k, s in self.calls if k == "wait"]

    def __enter__(self) -> RetrySleepRecorder:
        self._previous = set_sleep_hook(self)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        set_sleep_hook(self._previous)


class _RetrierTime:
    """Replaces the ``time`` module name inside ``retrier_decl`` (it calls ``time.sleep(interval)``)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)

    @staticmethod
    def sleep(seconds: float) -> None:
        hook = _sleep_hook
        if hook is None:
            time.sleep(seconds)
        else:
            hook("retry", seconds)


_ORIGINAL_WAIT_INTERVAL: Final = WaitFunction._wait_interval


def _wait_interval(self: WaitFunction, env: Environment, wait_seconds: int) -> None:
    hook = _sleep_hook
    if hook is None:
        _ORIGINAL_WAIT_INTERVAL(self, env, wait_seconds)
    else:
        hook("wait", float(wait_seconds))


# --------------------------------------------------------------------------------------------
# a. Lambda
# --------------------------------------------------------------------------------------------


def _invoke_lambda(self: Any, event: Any = None) -> tuple[str, bool, str]:
    runtime = _STATE.runtime
    if runtime is None:
        raise RuntimeError("sandbox.aws.moto_patches: no Lambda runtime installed")
    payload, errored, logs = runtime.invoke(self, event)
    if logs:
        with contextlib.suppress(Exception):  # the CloudWatch Logs copy is best effort
            self.logs_backend.ensure_log_group(self.logs_group_name)
            self.save_logs(logs)
    tail = logs.encode("utf-8")[-_LOG_TAIL_BYTES:].decode("utf-8", errors="ignore")
    return payload, errored, tail


# --------------------------------------------------------------------------------------------
# b. SageMaker optimized integration in Step Functions
# --------------------------------------------------------------------------------------------

_SAGEMAKER_ACTIONS: Final[dict[str, tuple[str, str | None, str | None]]] = {
    # api action (lower) -> (emulator create method, emulator describe method, request name key)
    "createtrainingjob": ("create_training_job", "describe_training_job", "TrainingJobName"),
    "createhyperparametertuningjob": (
        "create_hyper_parameter_tuning_job",
        "describe_hyper_parameter_tuning_job",
        "HyperParameterTuningJobName",
    ),
    "createtransformjob": ("create_transform_job", "describe_transform_job", "TransformJobName"),
    "createmodel": ("create_model", None, "ModelName"),
}
_STOP_METHODS: Final = {
    "describe_training_job": "stop_training_job",
    "describe_transform_job": "stop_transform_job",
    "describe_hyper_parameter_tuning_job": "stop_hyper_parameter_tuning_job",
}
# The Describe* output's status member, by describe method.
_STATUS_KEYS: Final = {
    "describe_training_job": "TrainingJobStatus",
    "describe_transform_job": "TransformJobStatus",
    "describe_hyper_parameter_tuning_job": "HyperParameterTuningJobStatus",
}
_TERMINAL_FAILURES: Final = {"Failed", "Stopped"}


class SageMakerTaskService(callback_module.StateTaskServiceCallback):
    """``arn:aws:states:::sagemaker:<action>[.sync|.waitForTaskToken]`` against the emulator."""

    def __init__(self) -> None:
        patterns: set[Any] = {ResourceCondition.WaitForTaskToken, ResourceCondition.Sync}
        super().__init__(supported_integration_patterns=patterns)

    def _validate_service_integration_is_supported(self) -> None:
        action = self.resource.api_action.lower()
        if action not in _SAGEMAKER_ACTIONS:
            raise ValueError(
                f"The resource provided {self.resource.resource_arn} not recognized by the sandbox: "
                f"supported SageMaker actions are {sorted(_SAGEMAKER_ACTIONS)}"
            )
        if self.resource.condition == ResourceCondition.Sync and _SAGEMAKER_ACTIONS[action][1] is None:
            raise ValueError(f"The resource provided {self.resource.resource_arn} does not support .sync")

    def _get_sfn_resource_type(self) -> str:
        return "sagemaker"

    def _failure(self, env: Environment, error_name: Any, error: str, cause: str) -> FailureEvent:
        return FailureEvent(
            env=env,
            error_name=error_name,
            event_type=HistoryEventType.TaskFailed,
            event_details=EventDetails(  # type: ignore[typeddict-item]
                taskFailedEventDetails=TaskFailedEventDetails(
                    resource=self._get_sfn_resource(),
                    resourceType=self._get_sfn_resource_type(),
                    error=error,
                    cause=cause,
                )
            ),
        )

    def _from_error(self, env: Environment, ex: Exception) -> FailureEvent:
        sm_error = _sagemaker_error(ex)
        if sm_error is not None:
            code, message = sm_error
            # AWS names every create-time error of the optimized SageMaker integration this way
            # (connect-sagemaker, measured on AWS); the service's own code is only in the cause.
            error = "SageMaker.AmazonSageMakerException"
            cause = (
                f"{message} (Service: AmazonSageMaker; Status Code: 400; Error Code: {code}; "
                f"Request ID: {uuid.uuid4()}; Proxy: null)"
            )
            return self._failure(env, CustomErrorName(error), error, cause)
        return super()._from_error(env=env, ex=ex)

    def _eval_service_task(
        self,
        env: Environment,
        resource_runtime_part: ResourceRuntimePart,
        normalised_parameters: dict[str, Any],
        state_credentials: StateCredentials,
    ) -> None:
        create_method = _SAGEMAKER_ACTIONS[self.resource.api_action.lower()][0]
        request = json.loads(json.dumps(normalised_parameters))
        _authorize_integration(state_credentials, resource_runtime_part, self.resource.api_action, request)
        # v. The integration sends these parameters to SageMaker's API, which checks them
        # against its model (API_CreateTrainingJob, API_CreateTransformJob, API_CreateModel).
        operation = aws_validation.operation_name("sagemaker", self.resource.api_action)
        if aws_validation.installed() and operation is not None:
            refused = aws_validation.check_request("sagemaker", operation, request, wire=True)
            if refused is not None:
                raise refused
        response = getattr(_emulator(), create_method)(request)
        env.stack.append(_convert_datetimes(dict(response), _epoch_millis))

    def _build_sync_resolver(
        self,
        env: Environment,
        resource_runtime_part: ResourceRuntimePart,
        normalised_parameters: dict[str, Any],
        state_credentials: StateCredentials,
    ) -> Callable[[], Any] | None:
        _, describe_method, name_key = _SAGEMAKER_ACTIONS[self.resource.api_action.lower()]
        assert describe_method is not None
        assert name_key is not None
        env.stack.pop()  # the Create* output: the Describe* output replaces it
        job_name = str(normalised_parameters[name_key])
        emulator = _emulator()
        describe = getattr(emulator, describe_method)
        status_key = _STATUS_KEYS[describe_method]
        _authorize_sync_rule(self, env, state_credentials, resource_runtime_part, describe_method)
        describe_call = _pascal(describe_method)
        stop_call = _pascal(_STOP_METHODS[describe_method])

        def _resolve() -> dict[str, Any] | None:
            # Blocks until the job ends (or the execution/state stops: then it stops the job, as
            # AWS does for a .sync task that is aborted, and returns None).
            while env.is_running():
                _authorize_integration(
                    state_credentials, resource_runtime_part, describe_call, {name_key: job_name}
                )
                description = _convert_datetimes(aws_description(describe(job_name)), _epoch_millis)
                status = description.get(status_key)
                if status == "Completed":
                    return description  # type: ignore[no-any-return]
                if status in _TERMINAL_FAILURES:
                    error = StatesErrorNameType.StatesTaskFailed.to_name()
                    raise FailureEventException(
                        self._failure(
                            env,
                            StatesErrorName(typ=StatesErrorNameType.StatesTaskFailed),
                            error,
                            json.dumps(description, separators=(",", ":")),
                        )
                    )
                time.sleep(SYNC_POLL_SECONDS)
            with contextlib.suppress(Exception):  # a Stop the role may not make leaves the job running
                _authorize_integration(
                    state_credentials, resource_runtime_part, stop_call, {name_key: job_name}
                )
                getattr(emulator, _STOP_METHODS[describe_method])(job_name)
            return None

        return _resolve


def _pascal(method: str) -> str:
    return "".join(part.capitalize() for part in method.split("_"))


def state_machine_session(role_arn: str, region: str = "us-east-1") -> iam_enforcement.Session:
    """Step Functions' credentials for a state machine's role (trust: ``states.amazonaws.com``)."""
    return iam_enforcement.service_assumes(role_arn, "states.amazonaws.com", "StepFunctions", region=region)


def _authorize_integration(
    state_credentials: StateCredentials, part: ResourceRuntimePart, operation: str, request: dict[str, Any]
) -> None:
    """An optimized-integration call to SageMaker, authorized as the state machine's role."""
    if not iam_enforcement.installed():
        return
    operation = aws_validation.operation_name("sagemaker", operation) or operation
    principal = state_machine_session(state_credentials.role_arn, part.region).principal
    resource = iam_enforcement.resource_for("sagemaker", operation, request, part.region, part.account)
    checks: list[tuple[str, str, dict[str, Any]]] = [(f"sagemaker:{operation}", resource, {})]
    checks += [
        (extra.action, extra.resource, extra.context)
        for extra in iam_enforcement.implied(
            "sagemaker", operation, request, resource=resource, principal=principal, region=part.region
        )
    ]
    for action, target, context in checks:
        try:
            iam_enforcement.authorize(principal, action, target, context, region=part.region)
        except iam_enforcement.AccessDenied as denied:
            raise aws_validation.AwsRequestRefused("AccessDeniedException", denied.message) from None


# The managed rules .sync integrations keep in EventBridge (sagemaker-iam; the tuning one from the
# sample-hyper-tuning IAM example): Step Functions creates them on first use, as the role.
_SYNC_RULES: Final = {
    "describe_training_job": "StepFunctionsGetEventsForSageMakerTrainingJobsRule",
    "describe_transform_job": "StepFunctionsGetEventsForSageMakerTransformJobsRule",
    "describe_hyper_parameter_tuning_job": "StepFunctionsGetEventsForSageMakerTuningJobsRule",
}


def _authorize_sync_rule(
    service: SageMakerTaskService,
    env: Environment,
    state_credentials: StateCredentials,
    part: ResourceRuntimePart,
    describe_method: str,
) -> None:
    if not iam_enforcement.installed():
        return
    principal = state_machine_session(state_credentials.role_arn, part.region).principal
    rule = f"arn:aws:events:{part.region}:{part.account}:rule/{_SYNC_RULES[describe_method]}"
    for action in ("events:PutTargets", "events:PutRule", "events:DescribeRule"):
        try:
            iam_enforcement.authorize(principal, action, rule, region=part.region)
        except iam_enforcement.AccessDenied:
            # What Step Functions answers when it may not keep the managed rule (sagemaker-iam).
            cause = f"'{state_credentials.role_arn}' is not authorized to create managed-rule."
            error = StatesErrorNameType.StatesTaskFailed.to_name()
            raise FailureEventException(
                service._failure(env, StatesErrorName(typ=StatesErrorNameType.StatesTaskFailed), error, cause)
            ) from None


# The emulator's own Describe* members (sandbox/sagemaker/README.md, "Emulator-only additions"):
# EmulatorInstances lists every object each instance reads, 400 KB at 10,000 files, which the
# state's result would carry into the 256 KB state limit (States.DataLimitExceeded). AWS's
# Describe* has no such member (API_DescribeTrainingJob, API_DescribeTransformJob).
EMULATOR_ONLY_PREFIX = "Emulator"


def aws_description(description: dict[str, Any]) -> dict[str, Any]:
    """A Describe* output as AWS answers it: the emulator's own members left out."""
    return {key: value for key, value in description.items() if not key.startswith(EMULATOR_ONLY_PREFIX)}


_ORIGINAL_STATE_TASK_SERVICE_FOR: Final = state_task_factory.state_task_service_for  # type: ignore[attr-defined]


def _state_task_service_for(service_name: str) -> StateTaskService:
    if service_name == "sagemaker":
        return SageMakerTaskService()
    return _ORIGINAL_STATE_TASK_SERVICE_FOR(service_name)


# --------------------------------------------------------------------------------------------
# c. SageMaker HTTP API -> emulator
# --------------------------------------------------------------------------------------------

_HTTP_OPERATIONS: Final[dict[str, str | None]] = {
    # SageMakerResponse method -> request key holding the name (None: whole request)
    "create_training_job": None,
    "describe_training_job": "TrainingJobName",
    "stop_training_job": "TrainingJobName",
    "create_transform_job": None,
    "describe_transform_job": "TransformJobName",
    "stop_transform_job": "TransformJobName",
    "create_model": None,
    "describe_model": "ModelName",
    "delete_model": "ModelName",
    "create_hyper_parameter_tuning_job": None,
    "describe_hyper_parameter_tuning_job": "HyperParameterTuningJobName",
    "stop_hyper_parameter_tuning_job": "HyperParameterTuningJobName",
    "list_training_jobs_for_hyper_parameter_tuning_job": None,
    "create_endpoint_config": None,
    "describe_endpoint_config": "EndpointConfigName",
    "delete_endpoint_config": "EndpointConfigName",
    "list_endpoint_configs": None,
    "create_endpoint": None,
    "describe_endpoint": "EndpointName",
    "update_endpoint": None,
    "delete_endpoint": "EndpointName",
    "list_endpoints": None,
    "list_training_jobs": None,
    "list_transform_jobs": None,
    "list_hyper_parameter_tuning_jobs": None,
    "list_models": None,
}


def _http_operation(operation: str, name_key: str | None) -> Callable[[Any], Any]:
    def method(self: Any) -> Any:
        request = json.loads(json.dumps(dict(self.params or {}), default=str))
        emulator_method = getattr(_emulator(), operation)
        try:
            result = emulator_method(request) if name_key is None else emulator_method(request.get(name_key))
        except Exception as exc:
            sm_error = _sagemaker_error(exc)
            if sm_error is None:
                raise
            raise SagemakerClientError(*sm_error) from exc
        return ActionResult(dict(result)) if result else EmptyResult()

    method.__name__ = operation
    method.__qualname__ = f"SageMakerResponse.{operation}"
    return method


_ORIGINAL_LIST_TAGS: Final = sagemaker_responses.SageMakerResponse.list_tags


def _list_tags(self: Any) -> Any:
    """ListTags of the emulator's endpoints and endpoint configs; any other ARN is moto's."""
    arn = str((self.params or {}).get("ResourceArn") or "")
    found = _emulator().list_endpoint_tags(arn)
    return _ORIGINAL_LIST_TAGS(self) if found is None else ActionResult(found)


def _invoke_endpoint(self: Any) -> tuple[int, dict[str, str], bytes | str]:
    """POST /endpoints/<name>/invocations -> the emulator (API_runtime_InvokeEndpoint)."""
    name = urllib.parse.unquote(self.path.split("?", 1)[0].split("/")[2])
    body = self.raw_body if isinstance(self.raw_body, bytes) else str(self.raw_body or "").encode()
    try:
        result = _emulator().invoke_endpoint(
            name, body, self.headers.get("Content-Type"), self.headers.get("Accept")
        )
    except Exception as exc:
        if type(exc).__name__ != "InvokeError":
            raise
        code, message = exc.code, exc.message  # type: ignore[attr-defined]
        document = {"message": message, **exc.fields}  # type: ignore[attr-defined]
        # moto's call_action takes the status from the headers' "status" (else 200)
        headers = {"x-amzn-ErrorType": code, "Content-Type": "application/json", "status": str(exc.status)}  # type: ignore[attr-defined]
        return int(exc.status), headers, json.dumps(document)  # type: ignore[attr-defined]
    headers = {"Content-Type": result.content_type, "x-Amzn-Invoked-Production-Variant": result.variant}
    return 200, headers, result.body


_ORIGINAL_CREATE_MODEL_PACKAGE_GROUP: Final = (
    sagemaker_models.SageMakerModelBackend.create_model_package_group
)


def _create_model_package_group(self: Any, model_package_group_name: str, *args: Any, **kwargs: Any) -> str:
    existing = self.model_package_groups.get(model_package_group_name)
    if existing is not None:
        raise ValidationError(message=f"Model Package Group already exists: {existing.arn}")
    return _ORIGINAL_CREATE_MODEL_PACKAGE_GROUP(self, model_package_group_name, *args, **kwargs)


_ORIGINAL_CREATE_MODEL_PACKAGE: Final = sagemaker_models.SageMakerModelBackend.create_model_package


def _create_model_package(self: Any, *args: Any, **kwargs: Any) -> str:
    token = kwargs.get("client_token")
    group = kwargs.get("model_package_group_name")
    if token:
        for package in self.model_packages.values():
            if package.client_token == token and package.model_package_group_name == group:
                return str(package.arn)
    return str(_ORIGINAL_CREATE_MODEL_PACKAGE(self, *args, **kwargs))


_ORIGINAL_UPDATE_MODEL_PACKAGE: Final = sagemaker_models.SageMakerModelBackend.update_model_package


def _update_model_package(
    self: Any,
    model_package_arn: str,
    model_approval_status: str | None,
    approval_description: str | None,
    customer_metadata_properties: dict[str, str] | None,
    *args: Any,
    **kwargs: Any,
) -> str:
    """API_UpdateModelPackage changes only what the request names: moto sets the metadata and the
    approval description to None when absent, so an approval alone erased the package's metadata."""
    package = self.model_packages.get(
        self.model_package_name_mapping.get(model_package_arn, model_package_arn)
    )
    kept = dict(package.customer_metadata_properties or {}) if package is not None else {}
    description = package.approval_description if package is not None else None
    arn = _ORIGINAL_UPDATE_MODEL_PACKAGE(
        self,
        model_package_arn,
        model_approval_status,
        approval_description if approval_description is not None else description,
        {**kept, **(customer_metadata_properties or {})} or None,
        *args,
        **kwargs,
    )
    return str(arn)


# --------------------------------------------------------------------------------------------
# d. EventBridge targets
# --------------------------------------------------------------------------------------------


@dataclass
class EventDelivery:
    """One delivery of an event to a lambda or states target (``event_deliveries()``)."""

    rule_arn: str
    target_arn: str
    event: Any
    outcome: str = "pending"  # pending | delivered | failed
    detail: str = ""


_DELIVERIES: list[EventDelivery] = []
_DELIVERY_THREADS: list[threading.Thread] = []
_DELIVERY_LOCK = threading.Lock()
_ORIGINAL_SEND_TO_TARGETS: Final = events_models.Rule.send_to_targets


def event_deliveries() -> list[EventDelivery]:
    with _DELIVERY_LOCK:
        return list(_DELIVERIES)


def wait_for_event_deliveries(timeout: float = 300.0) -> None:
    """Block until every EventBridge -> Lambda/Step Functions delivery started so far is done.

    Executions that end meanwhile add their status change events (k), so this also waits for
    the runs still going: the bound is the Lambda runtime's lock timeout, not an expected time.
    Threads are listed only once started (``_start_delivery``), so one that is not alive is done.
    """
    deadline = time.monotonic() + timeout
    while True:
        with _DELIVERY_LOCK:
            pending = [t for t in _DELIVERY_THREADS if t.is_alive()]
            _DELIVERY_THREADS[:] = pending
        if not pending:
            return
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"{len(pending)} EventBridge deliveries still running after {timeout}s")
        pending[0].join(remaining)


def _start_delivery(thread: threading.Thread) -> None:
    """Start ``thread``, then list it for ``wait_for_event_deliveries``: listed before its start,
    a wait running in between dropped it as done (not alive) and returned without it."""
    thread.start()
    with _DELIVERY_LOCK:
        _DELIVERY_THREADS.append(thread)


def _target_input(target: dict[str, Any], original_event: dict[str, Any], transform_input: bool) -> Any:
    if transform_input and "InputTransformer" in target:
        transformer = target["InputTransformer"]
        return EventTemplateParser.parse(
            input_template=transformer.get("InputTemplate"),
            input_paths_map=transformer.get("InputPathsMap", {}),
            event=original_event,  # type: ignore[arg-type]
        )
    if transform_input and target.get("Input"):
        return json.loads(target["Input"])
    event = copy.deepcopy(original_event)
    event.pop("ingestion-time", None)
    if isinstance(event.get("time"), (int, float)):
        event["time"] = dt.datetime.fromtimestamp(event["time"], tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if transform_input and target.get("InputPath"):
        matches = jsonpath_parse(target["InputPath"]).find(event)
        return matches[0].value if matches else None
    return event


def _deliver(delivery: EventDelivery, service: str, account: str, region: str) -> None:
    try:
        if service == "lambda":
            # EventBridge invokes as events.amazonaws.com: the function's resource policy must
            # allow it (eventbridge userguide, eb-use-resource-based, "Lambda permissions").
            iam_enforcement.authorize(
                iam_enforcement.service_principal("events.amazonaws.com"),
                "lambda:InvokeFunction",
                delivery.target_arn,
                {"aws:SourceArn": delivery.rule_arn, "aws:SourceAccount": account},
                code="AccessDeniedException",
                region=region,
            )
            response_headers: dict[str, Any] = {}
            get_lambda_backend(account, region).invoke(
                delivery.target_arn,
                None,
                json.dumps(delivery.event),
                {"x-amz-invocation-type": "Event"},
                response_headers,
            )
            delivery.detail = "function error" if "x-amz-function-error" in response_headers else ""
        else:
            name = str(uuid.uuid4())
            execution = get_sfn_backend(account, region).start_execution(
                delivery.target_arn, name=name, execution_input=json.dumps(delivery.event)
            )
            delivery.detail = str(getattr(execution, "execution_arn", getattr(execution, "exec_arn", name)))
        delivery.outcome = "delivered"
    except Exception as exc:  # AWS drops (and retries) failed async deliveries; record it
        delivery.outcome = "failed"
        delivery.detail = f"{type(exc).__name__}: {exc}"
        LOG.warning("EventBridge delivery to %s failed: %s", delivery.target_arn, delivery.detail)


def _send_to_targets(self: Any, original_event: Any, transform_input: bool = True) -> None:
    # A rule with a schedule and no pattern runs on its schedule only; moto's empty pattern would
    # match every event (eventbridge/latest/userguide/eb-create-rule-schedule).
    if self.scheduled_expression and not self.event_pattern._raw_pattern:
        return
    if not self.event_pattern.matches_event(original_event):
        return
    if getattr(self, "state", "ENABLED") == "DISABLED":
        return
    # moto gives every S3 event the same id; AWS ids are unique per event. The same dict goes to
    # every rule, so the first rule's replacement is seen by the others.
    if original_event.get("id") == _BASE_EVENT_MESSAGE["id"]:
        original_event["id"] = str(uuid.uuid4())
    others = []
    for target in self.targets:
        arn = parse_arn(target["Arn"])
        if arn.service not in ("lambda", "states"):
            others.append(target)
            continue
        delivery = EventDelivery(
            rule_arn=self.arn,
            target_arn=target["Arn"],
            event=_target_input(target, original_event, transform_input),
        )
        thread = threading.Thread(
            target=_deliver,
            args=(delivery, arn.service, arn.account, arn.region),
            name=f"eventbridge-{self.name}-{target.get('Id', '')}",
            daemon=True,
        )
        with _DELIVERY_LOCK:
            _DELIVERIES.append(delivery)
        _start_delivery(thread)
    if others:
        rule = copy.copy(self)
        rule.targets = others
        _ORIGINAL_SEND_TO_TARGETS(rule, original_event, transform_input)


# --------------------------------------------------------------------------------------------
# e. ASL interpreter deviations
# --------------------------------------------------------------------------------------------

_ORIGINAL_EXTRACT_JSON: Final = json_path.extract_json
_EXTRACT_JSON_IMPORTERS: Final = (
    "moto.stepfunctions.parser.asl.component.intrinsic.argument.argument",
    "moto.stepfunctions.parser.asl.component.state.choice.comparison.operator.implementations.timestamp_operators",
    "moto.stepfunctions.parser.asl.component.state.choice.comparison.operator.implementations.boolean_equals",
    "moto.stepfunctions.parser.asl.component.state.choice.comparison.operator.implementations.numeric",
    "moto.stepfunctions.parser.asl.component.state.choice.comparison.operator.implementations.string_operators",
    "moto.stepfunctions.parser.asl.eval.states",
    "moto.stepfunctions.parser.asl.component.common.string.string_expression",
)


def _is_definite(node: Any) -> bool:
    """A path of fields and single indexes only: AWS returns its value, never a list."""
    if isinstance(node, (jp.Root, jp.This)):
        return True
    if isinstance(node, jp.Child):
        return _is_definite(node.left) and _is_definite(node.right)
    if isinstance(node, jp.Fields):
        return len(node.fields) == 1 and node.fields[0] != "*"
    if isinstance(node, jp.Index):
        return len(node.indices) == 1
    return False


def _extract_json(path: str, data: Any) -> Any:
    expression = jsonpath_parse(path)
    if not _is_definite(expression):
        return _ORIGINAL_EXTRACT_JSON(path, data)
    matches = expression.find(data)
    if not matches:
        raise json_path.NoSuchJsonPathError(json_path=path, data=data)
    return matches[0].value


_ORIGINAL_AWS_SDK_FROM_ERROR: Final = StateTaskServiceAwsSdk._from_error
_ORIGINAL_AWS_SDK_EVAL_SERVICE_TASK: Final = StateTaskServiceAwsSdk._eval_service_task
_AWS_SDK_SERVICE_NAMES: Final = {"sagemaker": "SageMaker"}


def _aws_sdk_from_error(self: StateTaskServiceAwsSdk, env: Environment, ex: Exception) -> FailureEvent:
    service = _AWS_SDK_SERVICE_NAMES.get(self.resource.api_name.lower())
    if service is None or not isinstance(ex, ClientError):
        return _ORIGINAL_AWS_SDK_FROM_ERROR(self, env, ex)
    code = ex.response.get("Error", {}).get("Code", "UnknownError")
    message = ex.response.get("Error", {}).get("Message", "")
    metadata = ex.response.get("ResponseMetadata", {})
    cause = (
        f"{message} (Service: {service}, Status Code: {metadata.get('HTTPStatusCode', 400)}, "
        f"Request ID: {metadata.get('RequestId', '')})"
    )
    return self._get_task_failure_event(env=env, error=f"{service}.{code}", cause=cause)


def _aws_sdk_eval_service_task(
    self: StateTaskServiceAwsSdk, env: Environment, *args: Any, **kwargs: Any
) -> None:
    _ORIGINAL_AWS_SDK_EVAL_SERVICE_TASK(self, env, *args, **kwargs)
    env.stack[-1] = _convert_datetimes(env.stack[-1], iso_timestamp)


_ORIGINAL_GET_EVALUATION_ENVIRONMENT: Final = ExecutionWorker._get_evaluation_environment


def _get_evaluation_environment(self: ExecutionWorker) -> Environment:
    env = _ORIGINAL_GET_EVALUATION_ENVIRONMENT(self)
    execution = env.states.context_object.context_object_data["Execution"]
    start_time = execution.get("StartTime")
    if isinstance(start_time, dt.datetime):
        execution["StartTime"] = iso_timestamp(start_time)
    return env


# --------------------------------------------------------------------------------------------
# f. Logging
# --------------------------------------------------------------------------------------------

_EVAL_COMPONENT_LOGGER: Final = "moto.stepfunctions.parser.asl.component.eval_component"


class _DemoteFailureLogs(logging.Filter):
    """moto logs every failure event (a Fail state, a caught error) at ERROR with the state's repr."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR and record.msg == "%s at '%s'":
            record.levelno = logging.DEBUG
            record.levelname = "DEBUG"
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        return True


# --------------------------------------------------------------------------------------------
# g. Turning state machine execution on
# --------------------------------------------------------------------------------------------


def execute_state_machines_in_process() -> Any:
    """``mock_aws`` (decorator or context manager) that executes state machines."""
    config: Any = copy.deepcopy(EXECUTE_STATE_MACHINES_CONFIG)
    return mock_aws(config=config)


def enable_state_machine_execution(endpoint_url: str, *, timeout: float = 10.0) -> None:
    """Server mode: POST the config to ``/moto-api/config`` and point the interpreter at the server.

    moto's interpreter calls Lambda, SNS, aws-sdk services… through ``http://localhost:$MOTO_PORT``;
    this sets ``MOTO_PORT`` to the endpoint's port (the server must run in this process).
    """
    url = endpoint_url.rstrip("/") + "/moto-api/config"
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise ValueError(f"Not an http(s) endpoint: {endpoint_url!r}")
    request = urllib.request.Request(  # noqa: S310 - scheme checked above
        url,
        data=json.dumps(EXECUTE_STATE_MACHINES_CONFIG).encode("utf-8"),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        response.read()  # moto's GET/POST answer omits "stepfunctions": check in-process instead
    if not default_user_config.get("stepfunctions", {}).get("execute_state_machine"):
        LOG.warning("moto at %s is not served by this process: its patches do not apply there", endpoint_url)
    port = urllib.parse.urlsplit(endpoint_url).port
    if port is not None:
        os.environ["MOTO_PORT"] = str(port)


# --------------------------------------------------------------------------------------------
# j. StartExecution, one at a time
# --------------------------------------------------------------------------------------------

_START_EXECUTION_LOCK = threading.RLock()


def _serialised_start_execution(original: Any) -> Any:
    def start_execution(self: Any, *args: Any, **kwargs: Any) -> Any:
        with _START_EXECUTION_LOCK:
            return original(self, *args, **kwargs)

    return start_execution


# --------------------------------------------------------------------------------------------
# k. Step Functions execution status change events
# --------------------------------------------------------------------------------------------

STATUS_CHANGE_DETAIL_TYPE: Final = "Step Functions Execution Status Change"
# cw-events: "If the combined escaped input and escaped output sent to EventBridge exceeds 248KB,
# then the input will be excluded. Similarly, if the escaped output exceeds 248KB, then the output
# will be excluded."
_STATUS_CHANGE_PAYLOAD_LIMIT: Final = 248 * 1024
_ORIGINAL_TERMINATED: Final = BaseExecutionWorkerCommunication.terminated


def _json_text(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def execution_status_change_event(execution: Execution) -> dict[str, Any]:
    """The EventBridge event AWS sends for ``execution``'s current status (cw-events examples)."""
    status = execution.exec_status.value if execution.exec_status else "RUNNING"
    item = execution.to_execution_list_item()  # stateMachineArn: the state machine, not a version
    text_input = _json_text(execution.input_data)
    text_output = _json_text(execution.output) if status == "SUCCEEDED" else None
    output_fits = text_output is None or len(json.dumps(text_output)) <= _STATUS_CHANGE_PAYLOAD_LIMIT
    input_fits = (
        len(json.dumps(text_input))
        + (len(json.dumps(text_output)) if text_output is not None and output_fits else 0)
        <= _STATUS_CHANGE_PAYLOAD_LIMIT
    )
    detail = {
        "executionArn": execution.exec_arn,
        "stateMachineArn": item["stateMachineArn"],
        "name": execution.name,
        "status": status,
        "startDate": _epoch_millis(execution.start_date),
        "stopDate": _epoch_millis(execution.stop_date) if execution.stop_date else None,
        "input": text_input if input_fits else None,
        "inputDetails": {"included": input_fits},
        "output": text_output if output_fits else None,
        "outputDetails": None if text_output is None else {"included": output_fits},
        "error": execution.error,
        "cause": execution.cause,
    }
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": STATUS_CHANGE_DETAIL_TYPE,
        "source": "aws.states",
        "account": execution.account_id,
        "time": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": execution.region_name,
        "resources": [execution.exec_arn],
        "detail": detail,
    }


def _send_status_change(execution: Execution, ended: threading.Event) -> None:
    ended.wait()
    try:
        event = execution_status_change_event(execution)
        bus = events_models.events_backends[execution.account_id][execution.region_name].event_buses[
            "default"
        ]
        for rule in list(bus.rules.values()):
            rule.send_to_targets(event)  # type: ignore[arg-type]  # an event of AWS's shape
    except Exception:  # AWS delivers these best effort; a failure here must not break the execution
        LOG.exception("the status change event of %s was not sent", execution.exec_arn)


_ENDED_EXECUTIONS: set[str] = set()
_EXECUTION_ENDED = threading.Condition()


def wait_for_execution_end(execution_arn: str, timeout: float = 300.0) -> None:
    """Block until the execution has ended (its status is final), at most ``timeout`` seconds."""
    with _EXECUTION_ENDED:
        if not _EXECUTION_ENDED.wait_for(lambda: execution_arn in _ENDED_EXECUTIONS, timeout):
            raise TimeoutError(f"execution {execution_arn} still running after {timeout:.0f} s")


def _ended(execution_arn: str) -> None:
    with _EXECUTION_ENDED:
        _ENDED_EXECUTIONS.add(execution_arn)
        _EXECUTION_ENDED.notify_all()


def _terminated(self: BaseExecutionWorkerCommunication) -> None:
    execution = self.execution
    if execution.sm_type != StateMachineType.STANDARD:  # Express workflows send no events (cw-events)
        _ORIGINAL_TERMINATED(self)
        _ended(execution.exec_arn)
        return
    ended = threading.Event()
    sender = threading.Thread(
        target=_send_status_change, args=(execution, ended), name="stepfunctions-status-change", daemon=True
    )
    _start_delivery(sender)
    try:
        _ORIGINAL_TERMINATED(self)
    finally:
        ended.set()
        _ended(execution.exec_arn)


# --------------------------------------------------------------------------------------------
# i. IAM: the interpreter's clients, Lambda errors, SNS -> SQS, SimulatePrincipalPolicy
# --------------------------------------------------------------------------------------------

_BOTO_CLIENT_IMPORTERS: Final = (
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sns",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sqs",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sfn",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_events",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_unsupported",
)
_ORIGINAL_BOTO_CLIENT_FOR: Final = boto_client_module.boto_client_for


def _boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
    """moto's client for a service integration, with the credentials of the state machine's role."""
    role_arn = getattr(state_credentials, "role_arn", None)
    if not role_arn or not iam_enforcement.installed():
        return _ORIGINAL_BOTO_CLIENT_FOR(region, service, state_credentials)
    session = state_machine_session(str(role_arn), region)
    kwargs: dict[str, Any] = {}
    if not botocore_stubber.enabled:
        kwargs["endpoint_url"] = f"http://localhost:{moto_server_port()}"
    client: Any = boto3.client(
        service_name=service,  # type: ignore[call-overload]
        region_name=region,
        aws_access_key_id=session.access_key_id,
        aws_secret_access_key=session.secret_access_key,
        aws_session_token=session.session_token,
        config=BotoConfig(
            parameter_validation=False,
            retries={"max_attempts": 0, "total_max_attempts": 1},
            connect_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
            read_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
        ),
        **kwargs,
    )
    return client


_ORIGINAL_LAMBDA_FROM_ERROR: Final = StateTaskLambda._from_error


@functools.cache
def _lambda_invoke_errors() -> frozenset[str]:
    model = botocore.session.get_session().get_service_model("lambda")
    return frozenset(shape.name for shape in model.operation_model("Invoke").error_shapes)


def _lambda_from_error(self: StateTaskLambda, env: Environment, ex: Exception) -> FailureEvent:
    """A Lambda API error (not the function's own) as Step Functions names it: ``Lambda.<modeled
    exception>``, else the SDK's base ``Lambda.AWSLambdaException`` (concepts-error-handling,
    "Handling Lambda service exceptions"), the cause in the SDK's words."""
    if not isinstance(ex, ClientError):
        return _ORIGINAL_LAMBDA_FROM_ERROR(self, env, ex)
    code = ex.response.get("Error", {}).get("Code", "")
    name = f"Lambda.{code}" if code in _lambda_invoke_errors() else "Lambda.AWSLambdaException"
    metadata = ex.response.get("ResponseMetadata", {})
    cause = (
        f"{ex.response.get('Error', {}).get('Message', '')} (Service: AWSLambda; Status Code: "
        f"{metadata.get('HTTPStatusCode', 400)}; Error Code: {code}; "
        f"Request ID: {metadata.get('RequestId', '')}; Proxy: null)"
    )
    return FailureEvent(
        env=env,
        error_name=CustomErrorName(name),
        event_type=HistoryEventType.LambdaFunctionFailed,
        event_details=EventDetails(  # type: ignore[typeddict-item]
            lambdaFunctionFailedEventDetails=LambdaFunctionFailedEventDetails(error=name, cause=cause)
        ),
    )


@dataclass
class SqsDelivery:
    topic_arn: str
    queue_arn: str
    outcome: str
    detail: str = ""


_SQS_DELIVERIES: list[SqsDelivery] = []
_ORIGINAL_SUBSCRIPTION_PUBLISH: Final = sns_models.Subscription.publish


def _subscription_publish(self: Any, message: str, message_id: str, *args: Any, **kwargs: Any) -> None:
    """SNS delivers to an SQS queue as ``sns.amazonaws.com``: the queue policy must allow
    ``sqs:SendMessage`` (sns subscribe-sqs-queue-to-sns-topic, "Give permission to the Amazon SNS
    topic to send messages to the Amazon SQS queue"). A refused delivery is dropped, as SNS drops it."""
    if self.protocol == "sqs" and iam_enforcement.installed():
        try:
            iam_enforcement.authorize(
                iam_enforcement.service_principal("sns.amazonaws.com"),
                "sqs:SendMessage",
                self.endpoint,
                {"aws:SourceArn": self.topic.arn, "aws:SourceAccount": self.account_id},
            )
        except iam_enforcement.AccessDenied as denied:
            LOG.warning("SNS could not deliver to %s: %s", self.endpoint, denied.message)
            _SQS_DELIVERIES.append(SqsDelivery(self.topic.arn, self.endpoint, "failed", denied.message))
            return
    _ORIGINAL_SUBSCRIPTION_PUBLISH(self, message, message_id, *args, **kwargs)


def _simulate_principal_policy(self: Any) -> ActionResult:
    """API_SimulatePrincipalPolicy from the sandbox's evaluator (sandbox/aws/iam_enforcement.py)."""
    read = aws_validation.read_request(self)
    params = read[2] if read else {}
    return ActionResult(iam_enforcement.simulate_principal_policy(params, str(self.current_account)))


# --------------------------------------------------------------------------------------------
# l. CloudWatch alarm actions
# --------------------------------------------------------------------------------------------


@dataclass
class AlarmActionDelivery:
    """One alarm action run on a change of state (``alarm_action_deliveries()``)."""

    alarm_arn: str
    state: str
    action: str
    outcome: str  # delivered | failed
    detail: str = ""


_ALARM_DELIVERIES: list[AlarmActionDelivery] = []
_ORIGINAL_SET_ALARM_STATE: Final = cloudwatch_models.CloudWatchBackend.set_alarm_state


def alarm_action_deliveries() -> list[AlarmActionDelivery]:
    with _DELIVERY_LOCK:
        return list(_ALARM_DELIVERIES)


@functools.cache
def _region_names() -> dict[str, str]:
    endpoints = botocore.loaders.Loader().load_data("endpoints")
    return {
        region: details.get("description", region)
        for partition in endpoints["partitions"]
        for region, details in partition["regions"].items()
    }


def alarm_notice(alarm: Any, old_state: str, account: str, region: str) -> tuple[str, str]:
    """(subject, message) of the SNS notice a CloudWatch alarm sends (AlarmThatSendsEmail,
    "Amazon SNS notification format"; the subject under SNS's 100 characters)."""
    region_name = _region_names().get(region, region)
    subject = f'{alarm.state_value}: "{alarm.name}" in {region_name}'[:99]
    message = {
        "AlarmName": alarm.name,
        "AlarmDescription": alarm.description,
        "AWSAccountId": account,
        "AlarmConfigurationUpdatedTimestamp": iso_timestamp(alarm.configuration_updated_timestamp),
        "NewStateValue": alarm.state_value,
        "NewStateReason": alarm.state_reason,
        "StateChangeTime": iso_timestamp(alarm.state_updated_timestamp),
        "Region": region_name,
        "AlarmArn": alarm.alarm_arn,
        "OldStateValue": old_state,
        "OKActions": list(alarm.ok_actions),
        "AlarmActions": list(alarm.alarm_actions),
        "InsufficientDataActions": list(alarm.insufficient_data_actions),
        "Trigger": {
            "MetricName": alarm.metric_name,
            "Namespace": alarm.namespace,
            "StatisticType": "Statistic",
            "Statistic": str(alarm.statistic or "").upper(),
            "Unit": alarm.unit,
            "Dimensions": [{"value": d.value, "name": d.name} for d in alarm.dimensions],
            "Period": alarm.period,
            "EvaluationPeriods": alarm.evaluation_periods,
            "ComparisonOperator": alarm.comparison_operator,
            "Threshold": alarm.threshold,
            "TreatMissingData": alarm.treat_missing_data,
            "EvaluateLowSampleCountPercentile": alarm.evaluate_low_sample_count_percentile or "",
        },
    }
    return subject, json.dumps(message)


def deliver_alarm_actions(alarm: Any, old_state: str, account: str, region: str) -> list[AlarmActionDelivery]:
    """Run the SNS actions of the alarm's new state, as CloudWatch does on a change of state."""
    if not alarm.actions_enabled or alarm.state_value == old_state:
        return []
    actions = {
        "ALARM": alarm.alarm_actions,
        "OK": alarm.ok_actions,
        "INSUFFICIENT_DATA": alarm.insufficient_data_actions,
    }.get(alarm.state_value, [])
    cloudwatch = iam_enforcement.service_principal("cloudwatch.amazonaws.com")
    context = {"aws:SourceArn": alarm.alarm_arn, "aws:SourceAccount": account, "AWS:SourceOwner": account}
    delivered = []
    for action in actions:
        arn = parse_arn(action)
        if arn.service != "sns":
            continue  # Auto Scaling, EC2 and Systems Manager actions: not used by this project
        delivery = AlarmActionDelivery(alarm.alarm_arn, alarm.state_value, action, "delivered")
        try:
            iam_enforcement.authorize(
                cloudwatch, "sns:Publish", action, context, code="AuthorizationError", region=region
            )
            for use in iam_enforcement.sns_key_use(action, cloudwatch, region):
                iam_enforcement.authorize(
                    cloudwatch,
                    use.action,
                    use.resource,
                    {**context, **use.context},
                    code=use.code,
                    region=region,
                )
            subject, message = alarm_notice(alarm, old_state, account, region)
            topic = sns_models.sns_backends[arn.account][arn.region].get_topic(action)
            delivery.detail = topic.publish(message, subject=subject)
        except iam_enforcement.AccessDenied as denied:
            # CloudWatch records "Failed to execute action" in the alarm's history; nothing is sent.
            delivery.outcome, delivery.detail = "failed", f"{denied.code}: {denied.message}"
            LOG.warning("alarm %s could not publish to %s: %s", alarm.name, action, denied.message)
        except Exception as exc:
            delivery.outcome, delivery.detail = "failed", f"{type(exc).__name__}: {exc}"
        with _DELIVERY_LOCK:
            _ALARM_DELIVERIES.append(delivery)
        delivered.append(delivery)
    return delivered


def _set_alarm_state(self: Any, alarm_name: str, reason: str, reason_data: str, state_value: str) -> None:
    alarm = self.alarms.get(alarm_name)
    old_state = alarm.state_value if alarm is not None else None
    _ORIGINAL_SET_ALARM_STATE(self, alarm_name, reason, reason_data, state_value)
    if old_state is not None:
        deliver_alarm_actions(self.alarms[alarm_name], old_state, self.account_id, self.region_name)


# --------------------------------------------------------------------------------------------
# install / uninstall
# --------------------------------------------------------------------------------------------


_ORIGINAL_CLEAN_JSON = cfn_parsing.clean_json
_ORIGINAL_GENERATE_RESOURCE_NAME = cfn_parsing.generate_resource_name
_ORIGINAL_DELETE_ROLE_FROM_CFN = iam_models.Role.__dict__["delete_from_cloudformation_json"].__func__
_STACK_ATTACHMENTS: dict[tuple[str, str], set[str]] = {}


def record_stack_attachment(account: str, role_name: str, policy_arn: str) -> None:
    """A policy a stack's ``ManagedPolicyArns`` attached to its role (patch n)."""
    _STACK_ATTACHMENTS.setdefault((account, role_name), set()).add(policy_arn)


def _delete_role_from_cloudformation(
    cls: Any, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str
) -> None:
    backend = iam_models.iam_backends[account_id]["aws"]
    for arn in sorted(_STACK_ATTACHMENTS.pop((account_id, resource_name), set())):
        with contextlib.suppress(Exception):  # already detached: nothing to do
            backend.detach_role_policy(arn, resource_name)
    _ORIGINAL_DELETE_ROLE_FROM_CFN(cls, resource_name, cloudformation_json, account_id, region_name)


ROLE_NAME_MAX: Final = 64


def _generate_resource_name(resource_type: str, stack_name: str, logical_id: str) -> str:
    """moto's generated name, except that a role's fits IAM's 64 characters as CloudFormation's does."""
    name: str = _ORIGINAL_GENERATE_RESOURCE_NAME(resource_type, stack_name, logical_id)
    if resource_type != "AWS::IAM::Role" or len(name) <= ROLE_NAME_MAX:
        return name
    suffix = name.rsplit("-", 1)[-1]
    room = ROLE_NAME_MAX - len(suffix) - 2  # two dashes
    stack_part = stack_name[: max(room - len(logical_id), room // 2)]
    logical_part = logical_id[: room - len(stack_part)]
    return f"{stack_part}-{logical_part}-{suffix}"


def _clean_json(resource_json: Any, resources_map: Any) -> Any:
    """moto's clean_json, except that a list drops the elements AWS::NoValue resolved to."""
    if isinstance(resource_json, list):
        cleaned = (_clean_json(item, resources_map) for item in resource_json)
        return [item for item in cleaned if item is not None]
    return _ORIGINAL_CLEAN_JSON(resource_json, resources_map)


def install(*, emulator: SageMakerEmulatorLike, lambda_runtime: LambdaRuntimeLike) -> None:
    """Apply every patch (idempotent: a second call only swaps the emulator/runtime)."""
    with _INSTALL_LOCK:
        _STATE.emulator = emulator
        _STATE.runtime = lambda_runtime
        if _STATE.installed:
            return
        if moto.__version__ != MOTO_VERSION:
            LOG.warning(
                "sandbox.aws.moto_patches was verified against moto %s, found %s: "
                "run tests/sandbox/test_moto_contract.py",
                MOTO_VERSION,
                moto.__version__,
            )
        # a. Lambda
        _replace(lambda_models.LambdaFunction, "_invoke_lambda", _invoke_lambda)
        # b. SageMaker tasks
        _replace(state_task_factory, "state_task_service_for", _state_task_service_for)
        # c. SageMaker HTTP API
        for operation, name_key in _HTTP_OPERATIONS.items():
            _replace(sagemaker_responses.SageMakerResponse, operation, _http_operation(operation, name_key))
        _replace(sagemaker_responses.SageMakerResponse, "list_tags", _list_tags)
        _replace(sagemakerruntime_responses.SageMakerRuntimeResponse, "invoke_endpoint", _invoke_endpoint)
        _replace(
            sagemaker_models.SageMakerModelBackend, "create_model_package_group", _create_model_package_group
        )
        _replace(sagemaker_models.SageMakerModelBackend, "create_model_package", _create_model_package)
        _replace(sagemaker_models.SageMakerModelBackend, "update_model_package", _update_model_package)
        # d. EventBridge
        _replace(events_models.Rule, "send_to_targets", _send_to_targets)
        # j. StartExecution: one name, one execution, however concurrent the callers
        for backend in (sfn_models.StepFunctionBackend, sfn_parser_models.StepFunctionsParserBackend):
            _replace(
                backend, "start_execution", _serialised_start_execution(backend.__dict__["start_execution"])
            )
        # k. Step Functions execution status change events (delivered by d)
        _replace(BaseExecutionWorkerCommunication, "terminated", _terminated)
        # h. CloudFormation AWS::NoValue in lists
        _replace(cfn_parsing, "clean_json", _clean_json)
        # m. CloudFormation's generated role names fit IAM's limit
        _replace(cfn_parsing, "generate_resource_name", _generate_resource_name)
        # n. DeleteStack detaches what the stack's ManagedPolicyArns attached
        _replace(
            iam_models.Role, "delete_from_cloudformation_json", classmethod(_delete_role_from_cloudformation)
        )
        # s. S3 ListObjectsV2 rendered without moto's generic serializer (sandbox/aws/moto_s3.py)
        _replace(s3_responses.S3Response, "serialized", moto_s3.listing_serialized)
        _replace(s3_models.S3Backend, "list_objects_v2", moto_s3.paged_list_objects_v2)
        # e. interpreter deviations
        _replace(json_path, "extract_json", _extract_json)
        for module_name in _EXTRACT_JSON_IMPORTERS:
            module = __import__(module_name, fromlist=["extract_json"])
            if getattr(module, "extract_json", None) is not _ORIGINAL_EXTRACT_JSON:
                raise RuntimeError(
                    f"{module_name}.extract_json is not moto's: re-run the moto contract tests"
                )
            _replace(module, "extract_json", _extract_json)
        _replace(StateTaskServiceAwsSdk, "_from_error", _aws_sdk_from_error)
        _replace(StateTaskServiceAwsSdk, "_eval_service_task", _aws_sdk_eval_service_task)
        _replace(ExecutionWorker, "_get_evaluation_environment", _get_evaluation_environment)
        _replace(retrier_decl, "time", _RetrierTime())
        _replace(WaitFunction, "_wait_interval", _wait_interval)
        # c. moto's serializer warns for error codes SageMaker's model does not list
        # (ThrottlingException): AWS sends them all the same.
        warnings.filterwarnings(
            "ignore", message=r"Exception\(SagemakerClientError\) with code", category=UserWarning
        )
        # v. requests checked against the service models
        aws_validation.install()
        # i. IAM: every request authorized for its principal (wraps v's call_action)
        iam_enforcement.install()
        for module_name in _BOTO_CLIENT_IMPORTERS:
            module = __import__(module_name, fromlist=["boto_client_for"])
            if getattr(module, "boto_client_for", None) is not _ORIGINAL_BOTO_CLIENT_FOR:
                raise RuntimeError(
                    f"{module_name}.boto_client_for is not moto's: re-run the moto contract tests"
                )
            _replace(module, "boto_client_for", _boto_client_for)
        _replace(StateTaskLambda, "_from_error", _lambda_from_error)
        _replace(sns_models.Subscription, "publish", _subscription_publish)
        _replace(IamResponse, "simulate_principal_policy", _simulate_principal_policy)
        # l. CloudWatch alarm actions
        _replace(cloudwatch_models.CloudWatchBackend, "set_alarm_state", _set_alarm_state)
        # f. logging
        _STATE.log_filter = _DemoteFailureLogs()
        logging.getLogger(_EVAL_COMPONENT_LOGGER).addFilter(_STATE.log_filter)
        _STATE.installed = True


def uninstall() -> None:
    """Restore every patched attribute (in reverse order) and forget the emulator/runtime."""
    with _INSTALL_LOCK:
        iam_enforcement.uninstall()
        aws_validation.uninstall()
        for owner, name, original in reversed(_STATE.originals):
            if original is _MISSING:
                with contextlib.suppress(AttributeError):
                    delattr(owner, name)
            else:
                setattr(owner, name, original)
        _STATE.originals.clear()
        if _STATE.log_filter is not None:
            logging.getLogger(_EVAL_COMPONENT_LOGGER).removeFilter(_STATE.log_filter)
            _STATE.log_filter = None
        _STATE.emulator = None
        _STATE.runtime = None
        _STATE.installed = False


@contextlib.contextmanager
def installed_patches(
    *, emulator: SageMakerEmulatorLike, lambda_runtime: LambdaRuntimeLike
) -> Iterator[None]:
    """``install`` for the duration of a ``with`` block."""
    install(emulator=emulator, lambda_runtime=lambda_runtime)
    try:
        yield
    finally:
        uninstall()
