"""RecordRun: turn whatever the state holds into one ML_RUNS row (pure) and the run notice."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, Protocol

from snowsage.cost import RunCost
from snowsage.models import RecordRunRequest, RunRecord, RunState
from snowsage.names import run_id_for
from snowsage.run_metrics import RunMetric, run_metrics
from snowsage.states import FAILURE_BRANCH_STATES

CAUSE_LIMIT = 4000


def summarise_cause(cause: str | None) -> str | None:
    """The useful part of a Step Functions Cause: a Lambda error's message, else the text, bounded."""
    if not cause:
        return None
    try:
        document = json.loads(cause)
    except json.JSONDecodeError:
        document = None
    if isinstance(document, dict):
        message = document.get("errorMessage") or document.get("FailureReason") or document.get("Message")
        if isinstance(message, str):
            cause = message
    return cause[:CAUSE_LIMIT]


def failed_state(history: Iterable[Mapping[str, Any]]) -> str | None:
    """The state the Catch left: the last state entered before the failure branch."""
    last: str | None = None
    for event in sorted(history, key=lambda item: int(item.get("id", 0))):
        details = event.get("stateEnteredEventDetails")
        if not details:
            continue
        name = details.get("name")
        if name in FAILURE_BRANCH_STATES:
            return last
        last = name
    return last


def _scoring_job(state: RunState) -> str | None:
    """What scored the run: the transform job, or the function version ScoreInSnowflake called."""
    if state.transform is not None:
        return state.transform.job_name
    return state.load.scored_by if state.load else None


def build_run_record(
    request: RecordRunRequest,
    *,
    now: datetime,
    failed_state_name: str | None = None,
    started_at: datetime | None = None,
    cost: RunCost | None = None,
) -> RunRecord:
    state = request.state
    plan = state.plan
    error = state.error
    return RunRecord(
        run_id=plan.run_id if plan else run_id_for(request.execution_name),
        status=request.status,
        execution_name=request.execution_name,
        execution_arn=request.execution_arn,
        dataset=plan.dataset if plan else None,
        export_id=plan.export_id if plan else None,
        mode=plan.mode if plan else state.mode,
        failed_state=failed_state_name if request.status != "SUCCEEDED" else None,
        error=error.Error if error else None,
        cause=summarise_cause(error.Cause) if error else None,
        training_job=state.training.job_name if state.training else None,
        transform_job=_scoring_job(state),
        model_package_arn=state.model.model_package_arn if state.model else None,
        model_version=state.model.model_version if state.model else None,
        metric_name=state.evaluation.metric_name if state.evaluation else None,
        metric_value=state.evaluation.metric_value if state.evaluation else None,
        champion_metric=state.evaluation.champion_metric if state.evaluation else None,
        promoted=state.evaluation.promote if state.evaluation else None,
        champion_metric_on_export=state.evaluation.champion_metric_on_export if state.evaluation else None,
        gate_reason=state.evaluation.reason if state.evaluation else None,
        rows_scored=plan.scoring.rows if plan else None,
        rows_loaded=state.load.rows_loaded if state.load else None,
        published_function=(
            f"{state.published.function_name} v{state.published.model_version}"
            if state.published and not state.published.already_served
            else None
        ),
        started_at=plan.started_at if plan else started_at,
        finished_at=now,
        cost_usd=cost.total_usd if cost else None,
        cost_training_usd=cost.training_usd if cost else None,
        cost_transform_usd=cost.transform_usd if cost else None,
        cost_step_functions_usd=cost.step_functions_usd if cost else None,
        cost_lambda_usd=cost.lambda_usd if cost else None,
        cost_warehouse_usd=cost.warehouse_usd if cost else None,
        warehouse_seconds=cost.warehouse_seconds if cost else None,
        tuning_trials=cost.tuning_trials if cost else None,
    )


class ExecutionEvents(Protocol):
    """Where the failed state's name is read from (Step Functions' execution history)."""

    def events(self, execution_arn: str) -> list[dict[str, Any]]: ...


class RunCosting(Protocol):
    """What the run cost, from its state and execution history (snowsage.cost); None: not priced."""

    def __call__(self, state: RunState, history: list[dict[str, Any]]) -> RunCost | None: ...


def no_cost(state: RunState, history: list[dict[str, Any]]) -> RunCost | None:
    return None


class RunWriter(Protocol):
    """Where the run's row goes (ML_RUNS)."""

    def __call__(self, record: RunRecord) -> None: ...


def record_run(
    request: RecordRunRequest,
    *,
    history: ExecutionEvents,
    write: RunWriter,
    now: datetime,
    costing: RunCosting = no_cost,
    emit: Callable[[list[RunMetric]], None] = lambda metrics: None,
) -> RunRecord:
    """RecordRun: name the failed state (failures only), price the run, write the row, emit the
    run's metrics (after the row: a metric never announces a run ML_RUNS lacks), return the row."""
    events = history.events(request.execution_arn)
    failed = failed_state(events) if request.status == "FAILED" else None
    cost = costing(request.state, events)
    record = build_run_record(request, now=now, failed_state_name=failed, cost=cost)
    write(record)
    emit(run_metrics(record, events))
    return record


class ExecutionHistory:
    """Step Functions execution history: the state that failed, what the failure branch did."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def events(self, execution_arn: str, *, include_data: bool = False) -> list[dict[str, Any]]:
        """Every event (``include_data``: with each state's input and output)."""
        events: list[dict[str, Any]] = []
        paginator = self._client.get_paginator("get_execution_history")
        for page in paginator.paginate(executionArn=execution_arn, includeExecutionData=include_data):
            events.extend(page["events"])
        return events
