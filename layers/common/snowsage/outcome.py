"""The safety net: record and announce executions that ended without the pipeline's failure branch.

Every Task catches ``States.ALL`` into RecordFailure (ML_RUNS row) -> NotifyFailure (SNS) ->
RunFailed. Some endings never reach that branch: ``States.Runtime`` and
``States.DataLimitExceeded`` ("States.ALL ... does not catch" them, concepts-error-handling),
an execution that timed out, one stopped by StopExecution (ABORTED), or the failure branch
itself failing. Step Functions sends a "Step Functions Execution Status Change" event to
EventBridge for each of them (cw-events), but it sends the same event for a failure the Catch
handled. So the history of the execution decides: a Lambda or SNS task that *succeeded* inside
one of the recording states (RecordRun, RecordFailure) means ML_RUNS has the row; inside one of
the announcing states (Notify, NotifyFailure) means the notice went out. The safety net does
only what is missing, so a handled failure gets no second notice and no second row.

A row the safety net writes also takes back the run's predictions, in the same transaction
(``snowsage.snowflake.ml_runs.write_unsuccessful_run``): a StopExecution does not stop the Lambda
invocation under way, so LoadPredictions may commit after the execution was aborted.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, cast

from pydantic import ValidationError

from snowsage.cost import Unpriced
from snowsage.errors import PipelineError
from snowsage.models import (
    CaughtError,
    ExecutionStatusChange,
    OutcomeAction,
    OutcomeResult,
    RecordRunRequest,
    RunRecord,
    RunState,
    RunStatus,
)
from snowsage.names import ManifestLocation
from snowsage.runs import build_run_record, failed_state
from snowsage.states import ANNOUNCING_STATES, LOADING_STATES, RECORDING_STATES

LOG = logging.getLogger(__name__)

ENDINGS_WITHOUT_SUCCESS = frozenset({"FAILED", "TIMED_OUT", "ABORTED"})
# A Lambda task (bare function ARN) and a service integration (sns:publish) that succeeded
# (API_HistoryEvent: LambdaFunctionSucceeded, TaskSucceeded).
TASK_SUCCEEDED_EVENTS = frozenset({"LambdaFunctionSucceeded", "TaskSucceeded"})
ENDING_EVENT_DETAILS = {
    "ExecutionFailed": "executionFailedEventDetails",
    "ExecutionAborted": "executionAbortedEventDetails",
    "ExecutionTimedOut": "executionTimedOutEventDetails",
}
SUBJECT_LIMIT = 100  # SNS Publish: "Subject ... must be less than 100 characters" (API_Publish)


@dataclass(frozen=True)
class PipelineTrace:
    """What the execution's own states did, read from its history."""

    recorded: bool
    announced: bool
    last_state_input: str | None
    error: str | None
    cause: str | None


def trace_execution(history: Iterable[Mapping[str, Any]]) -> PipelineTrace:
    recorded = announced = False
    current: str | None = None
    last_input: str | None = None
    error: str | None = None
    cause: str | None = None
    for event in sorted(history, key=lambda item: int(item.get("id", 0))):
        kind = event.get("type", "")
        entered = event.get("stateEnteredEventDetails")
        if entered:
            current = entered.get("name")
            last_input = entered.get("input")
        elif kind in TASK_SUCCEEDED_EVENTS:
            recorded = recorded or current in RECORDING_STATES
            announced = announced or current in ANNOUNCING_STATES
        elif kind in ENDING_EVENT_DETAILS:
            details = event.get(ENDING_EVENT_DETAILS[kind]) or {}
            error, cause = details.get("error"), details.get("cause")
    return PipelineTrace(recorded, announced, last_input, error, cause)


def state_at_the_end(text: str | None) -> RunState:
    """The run state the last state entered received, or an empty one if it is not a run state."""
    if not text:
        return RunState()
    try:
        return RunState.model_validate(json.loads(text))
    except (json.JSONDecodeError, ValidationError) as problem:
        LOG.warning("the last state's input is not a run state; recording without it: %s", problem)
        return RunState()


# ML_RUNS' rule: COST_USD is a number, or NULL with COST_NOTE saying why (RecordRun prices a run
# from its history; the safety net records without it).
SAFETY_NET_COST_NOTE = (
    "not priced: the run ended {status} outside the failure branch (recorded by the safety net)"
)


def outcome_record(
    change: ExecutionStatusChange, trace: PipelineTrace, failed: str | None, now: datetime
) -> RunRecord:
    detail = change.detail
    state = state_at_the_end(trace.last_state_input)
    error = detail.error or trace.error
    if state.error is None and error:
        # Nothing caught it: the execution's own error is the run's error.
        state = state.model_copy(
            update={"error": CaughtError(Error=error, Cause=detail.cause or trace.cause)}
        )
    request = RecordRunRequest(
        status=cast(RunStatus, detail.status),  # one of ENDINGS_WITHOUT_SUCCESS here
        execution_name=detail.name,
        execution_arn=detail.executionArn,
        state=state,
    )
    return build_run_record(
        request,
        now=detail.stopDate or now,
        failed_state_name=failed,
        started_at=detail.startDate,
        cost=Unpriced(reason=SAFETY_NET_COST_NOTE.format(status=detail.status)),
    )


def notice_subject(record: RunRecord) -> str:
    """``Snowsage run <run id> <status>``: a run id has at most 40 characters, so this fits."""
    return f"Snowsage run {record.run_id} {record.status}"[: SUBJECT_LIMIT - 1]


class Publisher(Protocol):
    def publish(self, **kwargs: Any) -> Any: ...


class RunNotifier:
    """Publishes the run notice as the state machine's Notify does: the record as JSON."""

    def __init__(self, client: Publisher, topic_arn: str) -> None:
        self._client = client
        self._topic_arn = topic_arn

    def publish(self, record: RunRecord) -> None:
        self._client.publish(
            TopicArn=self._topic_arn,
            Subject=notice_subject(record),
            Message=record.model_dump_json(),
            MessageAttributes={"status": {"DataType": "String", "StringValue": record.status}},
        )


def execution_dataset(history: Iterable[Mapping[str, Any]]) -> str | None:
    """The dataset of the manifest the execution was started with (None: not a manifest input)."""
    for event in history:
        if event.get("type") != "ExecutionStarted":
            continue
        text = event.get("executionStartedEventDetails", {}).get("input")
        try:
            manifest = json.loads(text or "{}").get("manifest")
            return ManifestLocation.from_uri(manifest).dataset if isinstance(manifest, str) else None
        except (json.JSONDecodeError, AttributeError, PipelineError, ValueError):
            return None
    return None


def loaded_into(history: Iterable[Mapping[str, Any]]) -> str | None:
    """The predictions table of the plan a loading state (LoadPredictions, ScoreInSnowflake) of
    the execution received; None: the execution never entered one, so it loaded nothing."""
    for event in history:
        entered = event.get("stateEnteredEventDetails") or {}
        if entered.get("name") not in LOADING_STATES:
            continue
        plan = state_at_the_end(entered.get("input")).plan
        if plan is not None:
            return plan.predictions_table
    return None


def settle_outcome(
    change: ExecutionStatusChange,
    *,
    history: Callable[[str], list[dict[str, Any]]],
    write: Callable[[RunRecord, str | None], None],
    announce: Callable[[RunRecord], None],
    now: datetime,
    release: Callable[[str, str], object] | None = None,
) -> OutcomeResult:
    """Give back the promotion lease the run may hold, then write the ML_RUNS row and send the
    notice the pipeline did not, and nothing else. ``write`` gets the record and the predictions
    table the run may have loaded (its rows there go with the write)."""
    detail = change.detail
    if detail.status not in ENDINGS_WITHOUT_SUCCESS:
        return OutcomeResult(
            execution_name=detail.name,
            status=detail.status,
            action="none",
            reason=f"{detail.status} needs no safety net",
        )
    events = history(detail.executionArn)
    dataset = execution_dataset(events)
    if release is not None and dataset is not None:
        release(dataset, detail.executionArn)  # a no-op unless this execution holds it
    trace = trace_execution(events)
    if trace.recorded and trace.announced:
        return OutcomeResult(
            execution_name=detail.name,
            status=detail.status,
            action="none",
            reason="the pipeline recorded and announced this run itself",
        )
    record = outcome_record(change, trace, failed_state(events), now)
    if not trace.recorded:
        table = loaded_into(events)
        if table is not None:
            # Its rows go with the write: the row says none of them remain.
            record = record.model_copy(update={"rows_loaded": None})
        write(record, table)
    if not trace.announced:
        announce(record)
    missing = [what for what, done in (("record", trace.recorded), ("announce", trace.announced)) if not done]
    actions: dict[tuple[str, ...], OutcomeAction] = {
        ("record", "announce"): "recorded_and_announced",
        ("record",): "recorded",
        ("announce",): "announced",
    }
    return OutcomeResult(
        execution_name=detail.name,
        status=detail.status,
        action=actions[tuple(missing)],
        reason=f"the pipeline did not {' or '.join(missing)} this run",
        record=record,
    )
