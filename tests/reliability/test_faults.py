"""Faults in Lambda, SageMaker and SNS, injected into a whole run in the sandbox.

Each test: the fault; the execution retries where the ASL says so (counted from the execution
history) and otherwise ends FAILED; ML_RUNS holds the failing state, error and cause; the failed
run loaded no predictions; once the fault is gone, re-running the export (a hand start with a new
name) succeeds and leaves exactly one copy of its predictions.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sandbox.aws import moto_patches
from sandbox.chaos.injection import LambdaFaults
from sandbox.sagemaker.faults import FaultPlan
from sandbox.services import Sandbox
from snowsage.states import RECORD_FAILURE
from tests.reliability.helpers import (
    assert_failed_cleanly,
    assert_one_copy,
    export_quietly,
    failures_in,
    first_file,
    ml_run,
    prediction_count,
    rerun,
    start,
    task_failures,
)

pytestmark = pytest.mark.e2e


def _full_jitter_caps(
    interval: float, rate: float, count: int, max_delay: float | None = None
) -> list[float]:
    caps = [interval * rate**attempt for attempt in range(count)]
    return [min(cap, max_delay) if max_delay else cap for cap in caps]


def _assert_backoff(delays: list[float], caps: list[float]) -> None:
    """FULL jitter: each delay is drawn from [0, cap]; the caps grow by BackoffRate."""
    assert len(delays) == len(caps), delays
    for delay, cap in zip(delays, caps, strict=True):
        assert 0 <= delay <= cap, (delays, caps)


# --- Lambda ----------------------------------------------------------------------------------------


def test_lambda_throttle_is_retried_then_succeeds(
    sb: Sandbox, monkeypatch: pytest.MonkeyPatch, retry_sleeps: moto_patches.RetrySleepRecorder
) -> None:
    export_quietly(sb, "lambda-throttle")
    LambdaFaults(sb, monkeypatch).fail(
        "PrepareRunFunction", "Lambda.TooManyRequestsException", "Rate Exceeded.", times=2
    )

    result = start(sb, "lambda-throttle")

    assert_one_copy(sb, result, "lambda-throttle")
    assert task_failures(sb, result.execution.arn) == [("PrepareRun", "Lambda.TooManyRequestsException")] * 2
    _assert_backoff(retry_sleeps.retry_delays, _full_jitter_caps(2.0, 2.0, 2, 30.0))


def test_permanent_error_fails_fast_then_a_rerun_succeeds(
    sb: Sandbox, retry_sleeps: moto_patches.RetrySleepRecorder
) -> None:
    manifest = export_quietly(sb, "permanent")
    lost = first_file(sb, manifest, "score")
    sb.client("s3").delete_object(Bucket=sb.bucket, Key=lost)

    failed = start(sb, "permanent")

    assert_failed_cleanly(
        sb,
        failed,
        state="PrepareRun",
        error="ExportFileMissing",
        message="score: the manifest counts",
        export_id="permanent",
    )
    assert failures_in(sb, failed.execution.arn, "PrepareRun") == ["ExportFileMissing"]  # no retry
    assert retry_sleeps.retry_delays == []
    assert failed.execution.span("Train") is None

    export_quietly(sb, "permanent")  # the export is made again: the file is back
    assert_one_copy(sb, rerun(sb, "permanent"), "permanent")


# --- SageMaker ---------------------------------------------------------------------------------------


def test_training_create_throttled_is_retried_under_a_new_job_name(
    sb: Sandbox, retry_sleeps: moto_patches.RetrySleepRecorder
) -> None:
    export_quietly(sb, "train-throttle")
    assert sb.emulator is not None
    sb.emulator.faults.fail_create("create_training_job", "ThrottlingException", times=1)

    result = start(sb, "train-throttle")

    assert_one_copy(sb, result, "train-throttle")
    assert failures_in(sb, result.execution.arn, "Train") == ["SageMaker.AmazonSageMakerException"]
    # $$.State.RetryCount in the name: the retry never collides with the failed attempt's name.
    assert (result.execution.output or {})["training"]["job_name"].endswith("-train-1")
    _assert_backoff(retry_sleeps.retry_delays, _full_jitter_caps(30.0, 2.0, 1, 60.0))


@pytest.mark.parametrize(
    ("export_id", "arm", "state", "message"),
    [
        pytest.param(
            "training-failed",
            lambda faults: faults.fail_next_training("AlgorithmError: injected failure"),
            "Train",
            "AlgorithmError: injected failure",
            id="training-failed",
        ),
        pytest.param(
            "training-stopped",
            lambda faults: faults.stop_next_training(),
            "Train",
            "MaxRuntimeExceeded",
            id="training-stopped-max-runtime",
        ),
        pytest.param(
            "transform-failed",
            lambda faults: faults.fail_next_transform("ClientError: injected failure"),
            "Score",
            "ClientError: injected failure",
            id="transform-failed",
        ),
    ],
)
def test_sagemaker_job_that_ends_badly_fails_the_run_without_retry(
    sb: Sandbox, export_id: str, arm: Callable[[FaultPlan], None], state: str, message: str
) -> None:
    export_quietly(sb, export_id)
    assert sb.emulator is not None
    arm(sb.emulator.faults)

    failed = start(sb, export_id)

    assert_failed_cleanly(
        sb, failed, state=state, error="States.TaskFailed", message=message, export_id=export_id
    )
    # A job that ran and failed is not retried: a second identical job would fail the same way.
    assert failures_in(sb, failed.execution.arn, state) == ["States.TaskFailed"]
    assert prediction_count(sb, export_id) == 0

    assert_one_copy(sb, rerun(sb, export_id), export_id)


# --- SNS ------------------------------------------------------------------------------------------


def test_notification_failure_keeps_the_recorded_run(
    sb: Sandbox, retry_sleeps: moto_patches.RetrySleepRecorder
) -> None:
    export_quietly(sb, "notify-fails")
    sns = sb.client("sns")
    topic_name = sb.topic_arn.rsplit(":", 1)[1]
    sns.delete_topic(TopicArn=sb.topic_arn)
    try:
        result = start(sb, "notify-fails")
    finally:
        assert sns.create_topic(Name=topic_name)["TopicArn"] == sb.topic_arn

    # Documented design: the run is complete and recorded; only the notice failed.
    assert result.status == "FAILED"
    assert result.execution.error == "NotificationFailed"
    assert "Endpoint does not exist" in str(result.execution.cause)
    assert failures_in(sb, result.execution.arn, "Notify") == ["SNS.NotFoundException"] * 4
    _assert_backoff(retry_sleeps.retry_delays, _full_jitter_caps(2.0, 2.0, 3))
    run = ml_run(sb, result.execution.name)
    assert run["STATUS"] == "SUCCEEDED"
    assert run["ROWS_LOADED"] == run["ROWS_SCORED"] > 0
    assert prediction_count(sb, "notify-fails") == run["ROWS_SCORED"]
    assert RECORD_FAILURE not in [span.name for span in result.execution.spans]

    assert_one_copy(sb, rerun(sb, "notify-fails"), "notify-fails")
