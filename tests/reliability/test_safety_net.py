"""The safety net: executions that end without the failure branch still get a row and a notice.

Step Functions sends "Step Functions Execution Status Change" to EventBridge when an execution
ends (the sandbox does too, moto_patches k); RecordExecutionOutcomeFunction's rule takes FAILED,
TIMED_OUT and ABORTED ones. Each test counts what an operator sees: the ML_RUNS rows of the
execution and the notices an SNS subscription received, exactly.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from sandbox.aws import moto_patches
from sandbox.aws.executions import ExecutionSummary, wait_for_execution
from sandbox.chaos.injection import LambdaFaults
from sandbox.services import Sandbox
from snowsage.states import FAILURE_PATH, RECORD_FAILURE
from tests.reliability.helpers import (
    export_quietly,
    manifest_uri,
    ml_run,
    name_for,
    prediction_count,
    start,
    states_entered,
)

FUNCTION = "RecordExecutionOutcomeFunction"
Notices = Callable[[], list[dict[str, Any]]]


@pytest.fixture(scope="module")
def notices(sb: Sandbox) -> Notices:
    """What an SQS subscription of the run notice topic received since the last call."""
    sqs = sb.client("sqs")
    url = sb.subscribe_queue("safety-net-notices")

    def received() -> list[dict[str, Any]]:
        moto_patches.wait_for_event_deliveries()
        found: list[dict[str, Any]] = []
        while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            for message in messages:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                envelope = json.loads(message["Body"])
                found.append({"subject": envelope.get("Subject"), "message": envelope["Message"]})
        return found

    return received


@pytest.fixture(autouse=True)
def no_earlier_notices(notices: Notices) -> None:
    notices()


def _outcomes(sb: Sandbox, execution_arn: str) -> list[dict[str, Any]]:
    """What RecordExecutionOutcomeFunction answered for this execution (one entry per invocation)."""
    moto_patches.wait_for_event_deliveries()
    assert sb.runtime is not None
    answers = []
    for invocation in sb.runtime.invocations_of(sb.deployed.functions[FUNCTION]):
        if invocation.event["detail"]["executionArn"] == execution_arn:
            assert not invocation.errored, invocation.payload
            answers.append(json.loads(invocation.payload))
    return answers


def _start_raw(sb: Sandbox, name: str, text: str) -> ExecutionSummary:
    sfn = sb.client("stepfunctions")
    arn = sfn.start_execution(stateMachineArn=sb.state_machine_arn, name=name, input=text)["executionArn"]
    execution = wait_for_execution(sfn, arn)
    moto_patches.wait_for_event_deliveries()  # the status change event and what its rule started
    return execution


def test_an_uncaught_failure_gets_one_row_and_one_notice(sb: Sandbox, notices: Notices) -> None:
    # The input is JSON but not an object: PrepareRun refuses it, and its Catch cannot put the
    # error at ResultPath $.error of a string, so the execution fails with no Catch
    # (concepts-error-handling, States.ResultPathMatchFailure / States.Runtime): the failure
    # branch never runs.
    execution = _start_raw(sb, "uncaught-not-an-object", json.dumps("not an object"))
    assert execution.status == "FAILED"
    assert RECORD_FAILURE not in [span.name for span in execution.spans]

    run = ml_run(sb, execution.name)
    assert (run["STATUS"], run["FAILED_STATE"], run["ERROR"]) == ("FAILED", "PrepareRun", execution.error)
    sent = notices()
    assert len(sent) == 1, sent
    notice = json.loads(sent[0]["message"])
    assert (notice["status"], notice["run_id"], notice["failed_state"]) == (
        "FAILED",
        run["RUN_ID"],
        "PrepareRun",
    )
    assert sent[0]["subject"] == f"Snowsage run {run['RUN_ID']} FAILED"
    assert [answer["action"] for answer in _outcomes(sb, execution.arn)] == ["recorded_and_announced"]


def test_an_aborted_run_gets_one_row_and_one_notice(
    sb: Sandbox, notices: Notices, monkeypatch: pytest.MonkeyPatch
) -> None:
    export_quietly(sb, "aborted")
    sfn = sb.client("stepfunctions")
    runtime = sb.runtime
    assert runtime is not None
    original = runtime.invoke
    prepare = sb.deployed.functions["PrepareRunFunction"]
    arn = f"{sb.state_machine_arn.replace(':stateMachine:', ':execution:')}:{name_for('aborted')}"

    def stop_while_preparing(fn: Any, event: Any) -> tuple[str, bool, str]:
        if fn.function_name == prepare:  # an operator presses "Stop execution" mid-run
            sfn.stop_execution(executionArn=arn, error="Operator.Stopped", cause="stopped by hand")
        return original(fn, event)

    monkeypatch.setattr(runtime, "invoke", stop_while_preparing)
    result = start(sb, "aborted")
    monkeypatch.undo()
    moto_patches.wait_for_event_deliveries()

    assert result.status == "ABORTED"
    assert result.execution.arn == arn
    run = ml_run(sb, result.execution.name)
    assert (run["STATUS"], run["FAILED_STATE"], run["DATASET"]) == ("ABORTED", "PrepareRun", None)
    sent = notices()
    assert len(sent) == 1, sent
    assert json.loads(sent[0]["message"])["status"] == "ABORTED"
    assert [answer["action"] for answer in _outcomes(sb, arn)] == ["recorded_and_announced"]


@pytest.mark.parametrize(
    ("export_id", "safety_net_first"),
    [("stopped-before-commit", True), ("stopped-after-commit", False)],
)
def test_a_run_stopped_while_loading_keeps_no_predictions(
    sb: Sandbox, notices: Notices, monkeypatch: pytest.MonkeyPatch, export_id: str, safety_net_first: bool
) -> None:
    """StopExecution does not stop the LoadPredictions invocation under way (AWS: "StopExecution ...
    does not stop ... a running Lambda function", API_StopExecution). Whichever ends first, the run
    keeps no rows and gets one ABORTED row: the safety net's row first, the load rolls back
    (RunEnded); the load's COMMIT first, the safety net deletes the run's rows with its row."""
    export_quietly(sb, export_id)
    sfn = sb.client("stepfunctions")
    runtime = sb.runtime
    assert runtime is not None
    original = runtime.invoke
    load = sb.deployed.functions["LoadPredictionsFunction"]
    arn = f"{sb.state_machine_arn.replace(':stateMachine:', ':execution:')}:{name_for(export_id)}"

    late: list[tuple[Any, Any]] = []

    def stop(fn: Any, event: Any) -> tuple[str, bool, str]:
        if fn.function_name != load:
            return original(fn, event)
        sfn.stop_execution(executionArn=arn, error="Operator.Stopped", cause="stopped by hand")
        if safety_net_first:
            # The invocation goes on after the execution ended and reaches its COMMIT below, once the
            # safety net has written the ABORTED row. The stopped execution discards what the
            # invocation returns, so the sandbox's execution gets an empty answer meanwhile.
            late.append((fn, event))
            return "null", False, ""
        return original(fn, event)  # the load commits before the execution ends

    monkeypatch.setattr(runtime, "invoke", stop)
    result = start(sb, export_id)
    monkeypatch.undo()
    moto_patches.wait_for_event_deliveries()
    for fn, event in late:
        original(fn, event)

    assert result.status == "ABORTED"
    run = ml_run(sb, result.execution.name)
    assert (run["STATUS"], run["FAILED_STATE"], run["ROWS_LOADED"]) == ("ABORTED", "LoadPredictions", None)
    assert prediction_count(sb, export_id) == 0
    loads = runtime.invocations_of(load)
    assert loads[-1].errored == safety_net_first, loads[-1].payload
    if safety_net_first:
        assert json.loads(loads[-1].payload)["errorType"] == "RunEnded"
        assert ml_run(sb, result.execution.name)["STATUS"] == "ABORTED"
    assert len(notices()) == 1
    assert [answer["action"] for answer in _outcomes(sb, arn)] == ["recorded_and_announced"]


def test_a_failure_the_catch_handled_gets_no_second_notice_or_row(sb: Sandbox, notices: Notices) -> None:
    missing = manifest_uri(sb, "never-exported")
    execution = _start_raw(sb, "handled-missing-manifest", json.dumps({"manifest": missing}))
    assert execution.status == "FAILED"
    assert [span.name for span in execution.spans][-3:] == list(FAILURE_PATH)

    assert ml_run(sb, execution.name)["STATUS"] == "FAILED"
    assert len(notices()) == 1  # NotifyFailure's
    # The rule did fire; the function found the failure branch's work done and did nothing.
    assert [answer["action"] for answer in _outcomes(sb, execution.arn)] == ["none"]


def test_a_failure_branch_that_could_not_record_gets_the_row_but_no_second_notice(
    sb: Sandbox, notices: Notices, monkeypatch: pytest.MonkeyPatch
) -> None:
    LambdaFaults(sb, monkeypatch).fail(
        "RecordRunFunction", "SnowflakeUnavailable", "injected: down for every retry", times=5
    )
    missing = manifest_uri(sb, "never-exported-either")
    execution = _start_raw(sb, "record-failure-fails", json.dumps({"manifest": missing}))
    assert execution.status == "FAILED"
    assert [span.name for span in execution.spans][-3:] == list(FAILURE_PATH)

    run = ml_run(sb, execution.name)
    assert (run["STATUS"], run["FAILED_STATE"], run["ERROR"]) == ("FAILED", "PrepareRun", "ManifestNotFound")
    assert len(notices()) == 1  # NotifyFailure's
    assert [answer["action"] for answer in _outcomes(sb, execution.arn)] == ["recorded"]


def test_a_successful_run_gets_nothing_from_the_safety_net(sb: Sandbox, notices: Notices) -> None:
    export_quietly(sb, "succeeds")
    result = start(sb, "succeeds")
    moto_patches.wait_for_event_deliveries()
    assert result.status == "SUCCEEDED", (result.execution.error, result.execution.cause)
    assert states_entered(result)[-1] == "RunSucceeded"

    assert ml_run(sb, result.execution.name)["STATUS"] == "SUCCEEDED"
    assert len(notices()) == 1  # Notify's
    # The SUCCEEDED event reached EventBridge; the rule's pattern kept it from the function.
    assert _outcomes(sb, result.execution.arn) == []
    rule = sb.deployed.resources[f"{FUNCTION}ExecutionEnded"]
    assert not [
        delivery
        for delivery in moto_patches.event_deliveries()
        if rule in delivery.rule_arn and delivery.event["detail"]["executionArn"] == result.execution.arn
    ]
