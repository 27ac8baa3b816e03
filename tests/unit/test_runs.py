import json
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from snowsage.cost import FunctionMemory, HistoryCosting, RunCost
from snowsage.models import RecordRunRequest, RunRecord
from snowsage.runs import build_run_record, failed_state, record_run, summarise_cause

NOW = datetime(2026, 11, 26, 11, 0, tzinfo=UTC)


def _entered(event_id: int, name: str) -> dict[str, object]:
    return {
        "id": event_id,
        "type": "TaskStateEntered",
        "timestamp": NOW,
        "stateEnteredEventDetails": {"name": name},
    }


def test_failed_state_is_the_last_state_before_the_failure_branch() -> None:
    history = [
        _entered(2, "PrepareRun"),
        _entered(5, "ChooseMode"),
        _entered(7, "Train"),
        {"id": 9, "type": "TaskFailed"},
        _entered(10, "RecordFailure"),
    ]
    assert failed_state(reversed(history)) == "Train"


def test_failed_state_before_the_failure_branch_is_entered() -> None:
    assert failed_state([_entered(2, "PrepareRun")]) == "PrepareRun"


def test_lambda_causes_are_reduced_to_the_message() -> None:
    cause = json.dumps(
        {
            "errorType": "ExportFileMissing",
            "errorMessage": "score file s3://b/k is missing",
            "stackTrace": ["..."],
        }
    )
    assert summarise_cause(cause) == "score file s3://b/k is missing"
    assert summarise_cause("plain text") == "plain text"
    assert summarise_cause("x" * 10000) == "x" * 4000


def test_a_failure_before_any_plan_is_still_recorded() -> None:
    request = RecordRunRequest(
        status="FAILED",
        execution_name="Console-Start-1",
        execution_arn="arn:aws:states:us-east-1:123456789012:execution:p:Console-Start-1",
        state={
            "manifest": "s3://b/k",
            "error": {"Error": "InvalidExecutionInput", "Cause": '{"errorMessage": "bad"}'},
        },
    )
    record = build_run_record(request, now=NOW, failed_state_name="PrepareRun")
    assert record.run_id.startswith("console-start-1-h")  # not the run id of "console-start-1"
    assert (record.status, record.failed_state, record.error, record.cause) == (
        "FAILED",
        "PrepareRun",
        "InvalidExecutionInput",
        "bad",
    )
    assert record.rows_loaded is None


def test_a_success_ignores_the_failed_state() -> None:
    request = RecordRunRequest(status="SUCCEEDED", execution_name="e", execution_arn="arn", state={})
    assert build_run_record(request, now=NOW, failed_state_name="Train").failed_state is None


def _lambda_task(event_id: int, function: str) -> list[dict[str, object]]:
    """A Lambda task that ran one second (what costing prices by the function's memory size)."""
    scheduled = {"resource": function}
    return [
        {
            "id": event_id,
            "type": "LambdaFunctionScheduled",
            "timestamp": NOW,
            "lambdaFunctionScheduledEventDetails": scheduled,
        },
        {"id": event_id + 1, "type": "LambdaFunctionSucceeded", "timestamp": NOW},
    ]


class ThrottledLambda:
    def get_function_configuration(self, FunctionName: str) -> dict[str, Any]:
        raise ClientError(
            {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "GetFunctionConfiguration"
        )


class FakeHistory:
    def __init__(self, events: list[dict[str, Any]]) -> None:
        self._events = events
        self.read: list[str] = []

    def events(self, execution_arn: str) -> list[dict[str, Any]]:
        self.read.append(execution_arn)
        return self._events


class Refused(Exception):
    pass


ARN = "arn:aws:states:us-east-1:123456789012:execution:p:merchant_risk-e1"


def _request(status: str) -> RecordRunRequest:
    return RecordRunRequest.model_validate(
        {
            "status": status,
            "execution_name": "merchant_risk-e1",
            "execution_arn": ARN,
            "state": {"error": {"Error": "States.TaskFailed", "Cause": "boom"}} if status == "FAILED" else {},
        }
    )


def test_record_run_names_the_failed_state_writes_the_row_and_returns_it() -> None:
    history = FakeHistory([_entered(2, "PrepareRun"), _entered(4, "Train"), _entered(6, "RecordFailure")])
    written: list[RunRecord] = []
    record = record_run(_request("FAILED"), history=history, write=written.append, now=NOW)
    assert history.read == [ARN]
    assert written == [record]
    assert (record.status, record.failed_state, record.error, record.finished_at) == (
        "FAILED",
        "Train",
        "States.TaskFailed",
        NOW,
    )


def test_record_run_of_a_success_names_no_failed_state_and_prices_the_history() -> None:
    history = FakeHistory([_entered(2, "Train")])
    written: list[RunRecord] = []
    priced: list[list[dict[str, Any]]] = []

    def costing(state: Any, events: list[dict[str, Any]]) -> RunCost:
        priced.append(events)
        return RunCost(training_usd=1.0, transform_usd=None, step_functions_usd=0.5, lambda_usd=0.25)

    record = record_run(
        _request("SUCCEEDED"), history=history, write=written.append, now=NOW, costing=costing
    )
    assert priced == [[_entered(2, "Train")]]
    assert written == [record]
    assert record.failed_state is None
    assert (record.cost_usd, record.cost_training_usd, record.cost_transform_usd) == (1.75, 1.0, None)
    assert (record.cost_step_functions_usd, record.cost_lambda_usd) == (0.5, 0.25)


def test_a_run_whose_cost_cannot_be_read_is_recorded_with_the_reason_and_no_cost() -> None:
    """Both RecordRun and RecordFailure write the row: the cost is NULL, COST_NOTE says why."""
    written: list[RunRecord] = []
    costing = HistoryCosting("us-east-1", FunctionMemory(ThrottledLambda()))
    for status in ("SUCCEEDED", "FAILED"):
        record = record_run(
            _request(status),
            history=FakeHistory(_lambda_task(2, "arn:aws:lambda:us-east-1:123456789012:function:prep")),
            write=written.append,
            now=NOW,
            costing=costing,
        )
        assert record.cost_usd is None and record.cost_lambda_usd is None
        assert record.cost_note is not None and "ThrottlingException" in record.cost_note
    assert [record.status for record in written] == ["SUCCEEDED", "FAILED"]


def test_record_run_raises_when_the_row_cannot_be_written() -> None:
    """No notice without its row: the error reaches Step Functions, whose Retry tries again."""

    def refuse(record: RunRecord) -> None:
        raise Refused(record.run_id)

    with pytest.raises(Refused, match="merchant-risk-e1"):
        record_run(_request("SUCCEEDED"), history=FakeHistory([]), write=refuse, now=NOW)
