"""The safety net's decision: what the failure branch left undone, read from the history."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from snowsage.models import ExecutionStatusChange, RunRecord
from snowsage.names import run_id_for
from snowsage.outcome import RunNotifier, notice_subject, settle_outcome, trace_execution

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
NAME = "merchant_risk-20261126t020000z"
ARN = f"arn:aws:states:us-east-1:123456789012:execution:snowsage-pipeline:{NAME}"
RUN_ID = run_id_for(NAME)
EVENTS = Path(__file__).resolve().parents[2] / "events"
# A whole plan, as PrepareRun returns it (the RecordRun sample event holds one).
PLAN = json.loads((EVENTS / "record_run" / "succeeded.json").read_text())["state"]["plan"]


def _change(status: str, error: str | None = None, cause: str | None = None) -> ExecutionStatusChange:
    """The event as the Step Functions developer guide's cw-events examples show it."""
    return ExecutionStatusChange.model_validate(
        {
            "version": "0",
            "id": "315c1398-40ff-a850-213b-158f73e60175",
            "detail-type": "Step Functions Execution Status Change",
            "source": "aws.states",
            "account": "123456789012",
            "time": "2026-11-27T11:59:00Z",
            "region": "us-east-1",
            "resources": [ARN],
            "detail": {
                "executionArn": ARN,
                "stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:snowsage-pipeline",
                "name": NAME,
                "status": status,
                "startDate": 1795780740000,
                "stopDate": 1795780800000,
                "input": "{}",
                "inputDetails": {"included": True},
                "output": None,
                "outputDetails": None,
                "error": error,
                "cause": cause,
            },
        }
    )


class History:
    """An execution history built event by event, ids in order."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def _add(self, kind: str, **details: Any) -> History:
        self.events.append({"id": len(self.events) + 1, "type": kind, **details})
        return self

    def enter(self, name: str, state: Any = None) -> History:
        details: dict[str, Any] = {"name": name}
        if state is not None:
            details["input"] = json.dumps(state)
        return self._add("TaskStateEntered", stateEnteredEventDetails=details)

    def lambda_ok(self) -> History:
        return self._add("LambdaFunctionSucceeded")

    def lambda_failed(self) -> History:
        return self._add("LambdaFunctionFailed")

    def task_ok(self) -> History:
        return self._add("TaskSucceeded")

    def task_failed(self) -> History:
        return self._add("TaskFailed")

    def ended(self, kind: str, error: str | None = None, cause: str | None = None) -> History:
        key = {
            "ExecutionFailed": "executionFailedEventDetails",
            "ExecutionAborted": "executionAbortedEventDetails",
        }
        return self._add(kind, **{key[kind]: {"error": error, "cause": cause}})


def _caught_failure() -> History:
    return (
        History()
        .enter("PrepareRun", {"manifest": "s3://b/k"})
        .lambda_ok()
        .enter("Train", {"plan": PLAN})
        .task_failed()
        .enter("RecordFailure", {"plan": PLAN, "error": {"Error": "States.TaskFailed", "Cause": "oom"}})
    )


def _settle(
    change: ExecutionStatusChange, history: History, tables: list[str | None] | None = None
) -> tuple[Any, list[RunRecord], list[RunRecord]]:
    """Settle; ``tables`` gets the predictions table each write was given."""
    written: list[RunRecord] = []
    announced: list[RunRecord] = []
    given = [] if tables is None else tables

    def write(record: RunRecord, table: str | None) -> None:
        written.append(record)
        given.append(table)

    result = settle_outcome(
        change, history=lambda arn: history.events, write=write, announce=announced.append, now=NOW
    )
    return result, written, announced


def test_a_failure_the_branch_recorded_and_announced_is_left_alone() -> None:
    history = _caught_failure().lambda_ok().enter("NotifyFailure").task_ok().enter("RunFailed")
    history.ended("ExecutionFailed", "States.TaskFailed", "oom")
    result, written, announced = _settle(_change("FAILED", "States.TaskFailed", "oom"), history)
    assert (result.action, written, announced) == ("none", [], [])


def test_an_uncaught_failure_is_recorded_and_announced_with_what_the_state_held() -> None:
    history = History().enter("PrepareRun", {"manifest": "s3://b/k"}).lambda_ok()
    history.enter("Train", {"plan": PLAN}).ended("ExecutionFailed", "States.Runtime", "bad path")
    result, written, announced = _settle(_change("FAILED", "States.Runtime", "bad path"), history)
    assert result.action == "recorded_and_announced"
    assert written == announced == [result.record]
    record = written[0]
    assert (record.run_id, record.dataset, record.status) == (
        RUN_ID,
        "merchant_risk",
        "FAILED",
    )
    assert (record.failed_state, record.error, record.cause) == ("Train", "States.Runtime", "bad path")
    assert record.started_at == datetime.fromisoformat(PLAN["started_at"])  # the plan's, when there is one
    assert record.finished_at == datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def test_the_error_comes_from_the_history_when_the_event_has_none() -> None:
    history = (
        History()
        .enter("PrepareRun", {"manifest": "s3://b/k"})
        .ended("ExecutionFailed", "States.Runtime", "x")
    )
    _, written, _ = _settle(_change("FAILED"), history)
    assert (written[0].error, written[0].cause, written[0].failed_state) == (
        "States.Runtime",
        "x",
        "PrepareRun",
    )


@pytest.mark.parametrize("status", ["ABORTED", "TIMED_OUT"])
def test_aborted_and_timed_out_runs_keep_their_status(status: str) -> None:
    history = (
        History().enter("PrepareRun", {"manifest": "s3://b/k"}).lambda_ok().enter("Train", {"plan": PLAN})
    )
    result, written, announced = _settle(_change(status), history)
    assert result.action == "recorded_and_announced"
    assert (written[0].status, written[0].failed_state, written[0].error) == (status, "Train", None)
    assert announced == written
    # Never a NULL cost without the reason (the chaos campaign's invariant 6 found it so).
    assert written[0].cost_usd is None
    assert (
        written[0].cost_note
        == f"not priced: the run ended {status} outside the failure branch (recorded by the safety net)"
    )


@pytest.mark.parametrize("loading_state", ["LoadPredictions", "ScoreInSnowflake"])
def test_a_run_stopped_while_loading_has_its_predictions_taken_back(loading_state: str) -> None:
    """StopExecution does not stop the load's invocation: the write removes what it may commit."""
    history = (
        History()
        .enter("PrepareRun", {"manifest": "s3://b/k"})
        .lambda_ok()
        .enter(
            loading_state,
            {
                "plan": PLAN,
                "load": {"predictions_table": "X", "rows_scored": 3, "rows_loaded": 3, "files": 1},
            },
        )
    )
    tables: list[str | None] = []
    result, written, _ = _settle(_change("ABORTED"), history, tables)
    assert result.action == "recorded_and_announced"
    assert tables == [PLAN["predictions_table"]]
    assert (written[0].run_id, written[0].rows_loaded) == (PLAN["run_id"], None)


def test_a_run_that_never_reached_a_load_deletes_nothing() -> None:
    history = (
        History().enter("PrepareRun", {"manifest": "s3://b/k"}).lambda_ok().enter("Train", {"plan": PLAN})
    )
    tables: list[str | None] = []
    _settle(_change("ABORTED"), history, tables)
    assert tables == [None]


def test_a_branch_that_could_not_record_gets_the_row_and_no_second_notice() -> None:
    history = _caught_failure().lambda_failed().enter("NotifyFailure").task_ok().enter("RunFailed")
    result, written, announced = _settle(_change("FAILED", "States.TaskFailed", "oom"), history)
    assert (result.action, announced) == ("recorded", [])
    # The row carries the original error the Catch held, not the branch's own failure.
    assert (written[0].failed_state, written[0].error, written[0].cause) == (
        "Train",
        "States.TaskFailed",
        "oom",
    )


def test_a_branch_that_could_not_announce_gets_the_notice_and_no_second_row() -> None:
    history = _caught_failure().lambda_ok().enter("NotifyFailure").task_failed().enter("RunFailed")
    result, written, announced = _settle(_change("FAILED", "States.TaskFailed", "oom"), history)
    assert (result.action, written) == ("announced", [])
    assert announced[0].status == "FAILED"


def test_a_retried_recording_that_succeeded_counts_as_recorded() -> None:
    history = (
        _caught_failure().lambda_failed().lambda_ok().enter("NotifyFailure").task_ok().enter("RunFailed")
    )
    result, _, _ = _settle(_change("FAILED"), history)
    assert result.action == "none"


def test_a_failed_success_notice_is_announced_and_the_succeeded_row_kept() -> None:
    history = (
        History().enter("LoadPredictions", {"plan": PLAN}).lambda_ok().enter("RecordRun", {"plan": PLAN})
    )
    history.lambda_ok().enter("Notify", {"plan": PLAN}).task_failed().enter(
        "NotificationFailed", {"plan": PLAN, "error": {"Error": "SNS.NotFoundException"}}
    )
    result, written, announced = _settle(_change("FAILED", "NotificationFailed", "topic gone"), history)
    assert (result.action, written) == ("announced", [])
    assert announced[0].run_id == PLAN["run_id"]


def test_a_last_state_input_that_is_no_run_state_still_gets_a_row() -> None:
    history = History().enter("PrepareRun", "not an object").ended("ExecutionFailed", "States.Runtime", "x")
    _, written, _ = _settle(_change("FAILED"), history)
    assert (written[0].run_id, written[0].dataset) == (RUN_ID, None)
    assert written[0].started_at == datetime(2026, 11, 27, 11, 59, tzinfo=UTC)  # the event's startDate


@pytest.mark.parametrize("status", ["SUCCEEDED", "RUNNING"])
def test_other_statuses_need_nothing_and_read_no_history(status: str) -> None:
    def no_history(arn: str) -> list[dict[str, Any]]:
        raise AssertionError("read the history")

    def no_call(record: RunRecord, *table: str | None) -> None:
        raise AssertionError(f"acted on {record}")

    result = settle_outcome(_change(status), history=no_history, write=no_call, announce=no_call, now=NOW)
    assert result.action == "none"


def test_trace_reads_events_in_id_order() -> None:
    history = _caught_failure().lambda_ok().enter("NotifyFailure").task_ok()
    trace = trace_execution(reversed(history.events))
    assert (trace.recorded, trace.announced) == (True, True)


def test_the_notice_subject_fits_sns_for_the_longest_run_id() -> None:
    record = RunRecord(
        run_id="r" * 40, status="TIMED_OUT", execution_name="e" * 80, execution_arn=ARN, finished_at=NOW
    )
    assert len(notice_subject(record)) < 100  # API_Publish: Subject "must be less than 100 characters"


def test_the_notice_is_the_record_with_its_status_as_attribute() -> None:
    calls: list[dict[str, Any]] = []

    class Sns:
        def publish(self, **kwargs: Any) -> None:
            calls.append(kwargs)

    record = RunRecord(run_id="r1", status="ABORTED", execution_name="e", execution_arn=ARN, finished_at=NOW)
    RunNotifier(Sns(), "arn:aws:sns:us-east-1:123456789012:t").publish(record)
    assert calls == [
        {
            "TopicArn": "arn:aws:sns:us-east-1:123456789012:t",
            "Subject": "Snowsage run r1 ABORTED",
            "Message": record.model_dump_json(),
            "MessageAttributes": {"status": {"DataType": "String", "StringValue": "ABORTED"}},
        }
    ]


@pytest.mark.parametrize("status", ["FAILED", "TIMED_OUT", "ABORTED"])
def test_the_safety_net_gives_back_the_promotion_lease(status: str) -> None:
    """Whatever the branch did, the execution's lease on its manifest's dataset is released by it."""
    history = History()._add(
        "ExecutionStarted",
        executionStartedEventDetails={
            "input": json.dumps(
                {"manifest": f"s3://snowsage-data/exports/merchant_risk/{NAME[14:]}/manifest.json"}
            )
        },
    )
    history.events.extend(_caught_failure().lambda_ok().enter("NotifyFailure").task_ok().events)
    released: list[tuple[str, str]] = []
    settle_outcome(
        _change(status),
        history=lambda arn: history.events,
        write=lambda record, table: None,
        announce=lambda record: None,
        now=NOW,
        release=lambda dataset, holder: released.append((dataset, holder)),
    )
    assert released == [("merchant_risk", ARN)]
