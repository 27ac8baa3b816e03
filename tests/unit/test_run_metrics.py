"""snowsage.run_metrics: the EMF metrics RecordRun emits, on a hand-made history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from snowsage.models import RunRecord
from snowsage.run_metrics import MODEL_METRIC, RUN_COST, STATE_SECONDS, RunMetric, run_metrics, state_seconds

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def event(event_id: int, kind: str, name: str, seconds: float) -> dict[str, Any]:
    key = "stateEnteredEventDetails" if kind.endswith("Entered") else "stateExitedEventDetails"
    return {"id": event_id, "type": kind, "timestamp": T0 + timedelta(seconds=seconds), key: {"name": name}}


HISTORY = [
    event(2, "TaskStateEntered", "Train", 0),
    event(3, "TaskStateExited", "Train", 100),
    event(4, "TaskStateEntered", "Score", 100),
    event(5, "TaskStateExited", "Score", 136),
    event(6, "TaskStateEntered", "RecordRun", 136),  # still running: no duration yet
]


def test_state_seconds_pairs_entered_and_exited() -> None:
    assert state_seconds(reversed(HISTORY)) == {"Train": 100.0, "Score": 36.0}


def test_a_priced_run_with_a_metric_emits_all_three() -> None:
    record = RunRecord(
        run_id="r",
        status="SUCCEEDED",
        execution_name="e",
        execution_arn="a",
        dataset="merchant_risk",
        metric_name="validation:auc",
        metric_value=0.9,
        cost_usd=0.01,
        finished_at=T0,
    )
    assert run_metrics(record, HISTORY) == [
        RunMetric(MODEL_METRIC, 0.9, "None", (("Dataset", "merchant_risk"), ("Metric", "validation:auc"))),
        RunMetric(RUN_COST, 0.01, "None", (("Dataset", "merchant_risk"),)),
        RunMetric(STATE_SECONDS, 100.0, "Seconds", (("State", "Train"),)),
        RunMetric(STATE_SECONDS, 36.0, "Seconds", (("State", "Score"),)),
    ]


def test_a_run_without_metric_or_cost_emits_durations_only() -> None:
    record = RunRecord(run_id="r", status="FAILED", execution_name="e", execution_arn="a", finished_at=T0)
    assert {metric.name for metric in run_metrics(record, HISTORY)} == {STATE_SECONDS}
