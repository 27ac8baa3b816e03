import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from pydantic import ValidationError

from snowsage.start import ObjectCreatedEvent, StepFunctionsStarter, start_for_event

# The event S3 sends to EventBridge (the same file `sam local invoke` takes).
SAMPLE_EVENT = json.loads(
    (Path(__file__).resolve().parents[2] / "events/start_pipeline/manifest_created.json").read_text()
)


class RecordingStarter:
    def __init__(self) -> None:
        self.started: dict[str, dict[str, Any]] = {}

    def start(self, name: str, document: dict[str, Any]) -> str | None:
        if name in self.started:
            return None
        self.started[name] = document
        return f"arn:aws:states:us-east-1:123456789012:execution:pipeline:{name}"


def _event(key: str, **top: str) -> ObjectCreatedEvent:
    event = copy.deepcopy(SAMPLE_EVENT) | top
    event["detail"]["bucket"]["name"] = "snowsage-data"
    event["detail"]["object"]["key"] = key
    return ObjectCreatedEvent.model_validate(event)


@pytest.mark.parametrize(
    "top",
    [
        {"detail-type": "Object Deleted"},  # an S3 event a rule could route here by mistake
        {"source": "aws.states"},
    ],
)
def test_only_s3_object_created_events_are_accepted(top: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        _event("exports/merchant_risk/e1/manifest.json", **top)


def test_a_manifest_starts_one_execution_and_a_duplicate_none() -> None:
    starter = RecordingStarter()
    first = start_for_event(_event("exports/merchant_risk/e1/manifest.json"), starter)
    second = start_for_event(_event("exports/merchant_risk/e1/manifest.json"), starter)
    assert (first.status, second.status) == ("started", "duplicate")
    assert first.execution_name == second.execution_name == "merchant_risk-e1"
    assert starter.started == {
        "merchant_risk-e1": {"manifest": "s3://snowsage-data/exports/merchant_risk/e1/manifest.json"}
    }


@pytest.mark.parametrize(
    "key",
    [
        "exports/merchant_risk/e1/train/data_0_0_0.csv",
        "predictions/merchant_risk/r/manifest.json",
        "exports/merchant_risk/manifest.json",
        "exports/Bad;Name/e1/manifest.json",
        "exports/../e1/manifest.json",
    ],
)
def test_other_keys_are_ignored_with_a_reason(key: str) -> None:
    starter = RecordingStarter()
    result = start_for_event(_event(key), starter)
    assert result.status == "ignored" and result.reason
    assert starter.started == {}


class FakeStepFunctions:
    """StartExecution as AWS answers it: idempotent while the same name runs, else ExecutionAlreadyExists."""

    class exceptions:  # boto3's shape: client.exceptions.ExecutionAlreadyExists
        class ExecutionAlreadyExists(Exception):
            pass

    def __init__(self, started_long_ago: bool) -> None:
        self.started_long_ago = started_long_ago

    def start_execution(self, **request: Any) -> dict[str, Any]:
        started = datetime.now(UTC) - (timedelta(minutes=3) if self.started_long_ago else timedelta(0))
        return {"executionArn": f"arn:aws:states:::execution:p:{request['name']}", "startDate": started}


def test_an_answer_about_a_running_execution_is_a_duplicate() -> None:
    assert StepFunctionsStarter(FakeStepFunctions(started_long_ago=True), "arn").start("n", {}) is None
    assert StepFunctionsStarter(FakeStepFunctions(started_long_ago=False), "arn").start("n", {}) == (
        "arn:aws:states:::execution:p:n"
    )


STATE_MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:pipeline"


def _stubbed_client() -> tuple[Any, Stubber]:
    client = boto3.client(
        "stepfunctions", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    return client, Stubber(client)


def test_execution_already_exists_is_a_duplicate() -> None:
    """API_StartExecution: ExecutionAlreadyExists for a name in use (a finished run, or other input)."""
    client, stubber = _stubbed_client()
    stubber.add_client_error(
        "start_execution",
        service_error_code="ExecutionAlreadyExists",
        service_message="Execution Already Exists: 'arn:...:merchant_risk-e1'",
        http_status_code=400,
        expected_params={
            "stateMachineArn": STATE_MACHINE,
            "name": "merchant_risk-e1",
            "input": json.dumps({"manifest": "s3://snowsage-data/exports/merchant_risk/e1/manifest.json"}),
        },
    )
    with stubber:
        result = start_for_event(
            _event("exports/merchant_risk/e1/manifest.json"), StepFunctionsStarter(client, STATE_MACHINE)
        )
    stubber.assert_no_pending_responses()
    assert (result.status, result.execution_name, result.execution_arn) == (
        "duplicate",
        "merchant_risk-e1",
        None,
    )


def test_other_start_errors_are_raised() -> None:
    """Anything else (throttling, a missing state machine) fails the invocation, which Lambda retries."""
    client, stubber = _stubbed_client()
    stubber.add_client_error(
        "start_execution", service_error_code="StateMachineDoesNotExist", http_status_code=400
    )
    with stubber, pytest.raises(client.exceptions.StateMachineDoesNotExist):
        StepFunctionsStarter(client, STATE_MACHINE).start("merchant_risk-e1", {})
