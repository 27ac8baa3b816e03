"""StartPipeline: one S3 "Object Created" event for a manifest -> at most one execution."""

from __future__ import annotations

import json
import time
from typing import Any, Literal, Protocol

from aws_lambda_powertools.utilities.parser.models import S3EventNotificationEventBridgeModel
from pydantic import Field

from snowsage.errors import InvalidIdentifier
from snowsage.models import StartResult
from snowsage.names import ManifestLocation, execution_name


class ObjectCreatedEvent(S3EventNotificationEventBridgeModel):
    """S3's event on EventBridge (Powertools' model). The Literals refuse any other S3 or AWS event a
    misrouted rule could send, which Powertools' plain strings would let through to the key check."""

    detail_type: Literal["Object Created"] = Field(alias="detail-type")
    source: Literal["aws.s3"]


class ExecutionStarter(Protocol):
    def start(self, name: str, document: dict[str, Any]) -> str | None:
        """Start an execution; the ARN, or None when one with that name already exists."""
        ...


# StartExecution is idempotent while an execution of that name and input runs: it answers with
# the running execution (its ARN and its startDate). A startDate older than the call by more
# than this is that case: a duplicate, not a start.
IN_FLIGHT_TOLERANCE_SECONDS = 2.0


class StepFunctionsStarter:
    def __init__(self, client: Any, state_machine_arn: str) -> None:
        self._client = client
        self._state_machine_arn = state_machine_arn

    def start(self, name: str, document: dict[str, Any]) -> str | None:
        called = time.time()
        try:
            response = self._client.start_execution(
                stateMachineArn=self._state_machine_arn, name=name, input=json.dumps(document)
            )
        except self._client.exceptions.ExecutionAlreadyExists:
            return None
        started = response.get("startDate")
        if started is not None and started.timestamp() < called - IN_FLIGHT_TOLERANCE_SECONDS:
            return None
        arn: str = response["executionArn"]
        return arn


def start_for_event(event: ObjectCreatedEvent, starter: ExecutionStarter) -> StartResult:
    key = event.detail.object.key
    try:
        location = ManifestLocation.from_key(event.detail.bucket.name, key)
    except InvalidIdentifier as error:
        return StartResult(status="ignored", reason=str(error))
    if location is None:
        return StartResult(
            status="ignored", reason=f"{key!r} is not exports/<dataset>/<export_id>/manifest.json"
        )
    name = execution_name(location.dataset, location.export_id)
    arn = starter.start(name, {"manifest": location.uri})
    if arn is None:
        return StartResult(
            status="duplicate",
            reason="an execution for this export already exists",
            execution_name=name,
            manifest=location.uri,
        )
    return StartResult(
        status="started", reason="new export", execution_name=name, execution_arn=arn, manifest=location.uri
    )
