"""The campaign's fault kinds: what each does to one run, at which state.

Each kind is a ``Fault`` (sandbox/chaos/injection.py) armed for one execution. The data faults
that change S3 do it from a thread of their own: the invoking thread carries the function's
environment and credentials, which the sandbox's own clients must not borrow.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any, ClassVar

from moto.sns.exceptions import InternalError

from sandbox import pipeline_run
from sandbox.aws.executions import wait_for_execution_named
from sandbox.chaos.injection import (
    Fault,
    Invocation,
    Reply,
    lambda_error,
    read_timeout,
    refused_connection,
    statement_canceled,
    statement_timeout,
)
from sandbox.services import Sandbox
from sandbox.snowflake.export import section_keys
from snowsage.names import execution_name


def _aside(action: Callable[[], None]) -> None:
    """Run ``action`` on a fresh thread (the process's environment, not the function's) and wait."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            action()
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=run, name="chaos-aside")
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


# --- AWS: Lambda ---------------------------------------------------------------------------------


class LambdaServiceError(Fault):
    """The Lambda service answers the state's invocation with an error (a throttle, a 5xx) and no
    handler runs; the ASL retries every Lambda.* service error."""

    kind = "lambda_service_error"

    def __init__(self, state: str, function: str, error_type: str, times: int) -> None:
        super().__init__(state, times)
        self.function = function
        self.error_type = error_type

    def before_invoke(self, sb: Sandbox, call: Invocation) -> Reply | None:
        if call.function == self.function and self._take():
            return lambda_error(self.error_type, "injected: Rate Exceeded.")
        return None


class LambdaTimeout(Fault):
    """The function runs out of time. ``after`` the handler did its work (the reply is lost: the
    timeout struck between its last write and its return), or before it did any."""

    kind = "lambda_timeout"

    def __init__(self, state: str, function: str, after: bool) -> None:
        super().__init__(state, 1)
        self.function = function
        self.after = after

    def _reply(self) -> Reply:
        # Lambda's own error for a function past its Timeout (Step Functions names it so).
        return lambda_error("Sandbox.Timedout", "Task timed out after 900.00 seconds")

    def before_invoke(self, sb: Sandbox, call: Invocation) -> Reply | None:
        if not self.after and call.function == self.function and self._take():
            return self._reply()
        return None

    def after_invoke(self, sb: Sandbox, call: Invocation, reply: Reply) -> Reply:
        if self.after and call.function == self.function and self._take():
            return self._reply()
        return reply


class StopExecution(Fault):
    """An operator presses "Stop execution" while the state's function runs."""

    kind = "stop_execution"

    def __init__(self, state: str, function: str) -> None:
        super().__init__(state, 1)
        self.function = function

    def before_invoke(self, sb: Sandbox, call: Invocation) -> Reply | None:
        if call.function == self.function and self._take():
            arn = f"{sb.state_machine_arn.replace(':stateMachine:', ':execution:')}:{call.execution}"
            _aside(
                lambda: sb.client("stepfunctions").stop_execution(
                    executionArn=arn, error="Chaos.Stopped", cause="stopped by the chaos campaign"
                )
            )
        return None


# --- AWS: SageMaker ------------------------------------------------------------------------------

SAGEMAKER_APIS = {
    "Train": "create_training_job",
    "Tune": "create_hyper_parameter_tuning_job",
    "CreateModel": "create_model",
    "Score": "create_transform_job",
}
SAGEMAKER_SUFFIXES = {"Train": "-train-", "CreateModel": "-model-", "Score": "-score-"}


def _plan(reply: Reply) -> dict[str, Any] | None:
    """PrepareRun's answer: the run plan (the ASL puts it at $.plan)."""
    payload, errored, _ = reply
    plan = None if errored else json.loads(payload)
    return plan if isinstance(plan, dict) and "name_base" in plan else None


def _prefix(plan: dict[str, Any], state: str) -> str:
    """The names SageMaker gets in ``state`` for this run (the ASL's States.Format)."""
    if state == "Tune" or (state == "Train" and plan.get("tuning")):
        return str(plan["tuning"]["job_name_base"])  # the tuning job and its trials
    return f"{plan['name_base']}{SAGEMAKER_SUFFIXES[state]}"


class SageMakerFault(Fault):
    """Armed in the emulator once PrepareRun has named the run's jobs: a create-time error
    (``ThrottlingException``, ``ResourceLimitExceeded``) or a job that ends Failed or Stopped."""

    kind = "sagemaker"

    def __init__(self, state: str, kind: str, times: int = 1, code: str = "") -> None:
        super().__init__(state, times)
        self.kind = kind
        self.code = code
        self.prefix = ""

    def after_invoke(self, sb: Sandbox, call: Invocation, reply: Reply) -> Reply:
        plan = _plan(reply) if call.function == "PrepareRunFunction" and not self.prefix else None
        if plan is None or (self.state == "Tune" and not plan.get("tuning")):
            return reply
        assert sb.emulator is not None
        faults = sb.emulator.faults
        self.prefix = _prefix(plan, self.state)
        if self.kind == "sagemaker_create_error":
            faults.fail_create(
                SAGEMAKER_APIS[self.state], self.code, times=self.times, name_prefix=self.prefix
            )
        elif self.kind == "job_failed" and self.state == "Score":
            faults.fail_next_transform("ClientError: injected by the chaos campaign", name_prefix=self.prefix)
        elif self.kind == "job_failed":
            faults.fail_next_training(
                "AlgorithmError: injected by the chaos campaign", name_prefix=self.prefix
            )
        else:
            faults.stop_next_training(name_prefix=self.prefix)
        return reply

    def settle(self, sb: Sandbox) -> None:
        if self.prefix and sb.emulator is not None:
            self.fired = self.times - sb.emulator.faults.discard(self.prefix)


# --- AWS: SNS ------------------------------------------------------------------------------------


class SnsPublishFailure(Fault):
    """SNS refuses the run's notice (an InternalError, 500) ``times`` times; Notify retries 3."""

    kind = "sns_publish_failure"

    def on_publish(self, subject: str, message: str) -> None:
        if self._take():
            raise InternalError("injected: SNS could not publish")


# --- Snowflake -----------------------------------------------------------------------------------


class SnowflakeRefused(Fault):
    """The account is unreachable for the function's next ``times`` connects."""

    kind = "snowflake_refused"

    def __init__(self, state: str, function: str, times: int) -> None:
        super().__init__(state, times)
        self.function = function

    def on_connect(self, function: str) -> None:
        if function == self.function and self._take():
            raise refused_connection()


class SnowflakeStatementError(Fault):
    """A statement of the function fails ``times`` times: the connection drops under it (the
    session is lost between DELETE and INSERT), it reaches its statement timeout (000630), or its
    warehouse is suspended under it (000604)."""

    ERRORS: ClassVar[dict[str, Callable[[], Exception]]] = {
        "snowflake_session_lost": read_timeout,
        "snowflake_statement_timeout": statement_timeout,
        "warehouse_suspended": statement_canceled,
    }

    def __init__(self, state: str, function: str, kind: str, starts_with: str, times: int) -> None:
        super().__init__(state, times)
        self.function = function
        self.kind = kind
        self.starts_with = starts_with

    def on_statement(self, function: str, command: str) -> None:
        ours = function == self.function and command.lstrip().upper().startswith(self.starts_with)
        if ours and self._take():
            raise self.ERRORS[self.kind]()


# --- data ----------------------------------------------------------------------------------------


class ExportFileLost(Fault):
    """One file of the export's score section is gone when PrepareRun reads the manifest: the
    export has fewer files than its manifest says."""

    kind = "fewer_files_than_manifest"

    def before_invoke(self, sb: Sandbox, call: Invocation) -> Reply | None:
        if call.function == "PrepareRunFunction" and self._take():
            manifest_uri = str(call.event["input"]["manifest"])
            bucket, key = manifest_uri.removeprefix("s3://").split("/", 1)

            def lose() -> None:
                s3 = sb.client("s3")
                manifest = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
                section = manifest.get("score") or manifest["validation"]
                s3.delete_object(Bucket=bucket, Key=section_keys(s3, bucket, section)[0])

            _aside(lose)
        return None


class PredictionFileVanished(Fault):
    """One transform output file is gone when LoadPredictions' COPY reads the stage."""

    kind = "copy_of_vanished_file"

    def before_invoke(self, sb: Sandbox, call: Invocation) -> Reply | None:
        if call.function == "LoadPredictionsFunction" and self._take():
            output = str(call.event["plan"]["scoring"]["output_uri"])
            bucket, prefix = output.removeprefix("s3://").split("/", 1)

            def vanish() -> None:
                s3 = sb.client("s3")
                listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix.rstrip("/") + "/")
                keys = [item["Key"] for item in listed.get("Contents", []) if item["Key"].endswith(".out")]
                if keys:
                    s3.delete_object(Bucket=bucket, Key=keys[0])

            _aside(vanish)
        return None


class AtState(Fault):
    """Run an action (deliver the manifest's event again, write the export again) when the run
    reaches ``state``: what arrives while the first run is still going."""

    def __init__(self, state: str, function: str, kind: str, action: Callable[[], None]) -> None:
        super().__init__(state, 1)
        self.function = function
        self.kind = kind
        self.action = action

    def before_invoke(self, sb: Sandbox, call: Invocation) -> Reply | None:
        if call.function == self.function and self._take():
            _aside(self.action)
        return None


class EventOutOfOrder(Fault):
    """A later export of the same dataset (``later``) is made and its run started before this
    run's manifest event reaches StartPipeline: the two events arrive out of order."""

    kind = "event_out_of_order"

    def __init__(self, state: str, dataset: str, later: str) -> None:
        super().__init__(state, 1)
        self.dataset = dataset
        self.later = later

    def before_invoke(self, sb: Sandbox, call: Invocation) -> Reply | None:
        if call.function == "StartPipelineFunction" and self._take():

            def overtake() -> None:
                pipeline_run.export(sb, self.dataset, self.later)
                wait_for_execution_named(
                    sb.client("stepfunctions"), sb.state_machine_arn, execution_name(self.dataset, self.later)
                )

            _aside(overtake)
        return None
