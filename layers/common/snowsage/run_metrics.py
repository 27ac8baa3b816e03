"""The CloudWatch metrics (EMF) RecordRun emits per run: the dashboard's model metric and state durations.

Names here are the ones template.yaml's dashboard reads (tests/template/test_dashboard.py ties them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from snowsage.models import RunRecord

MODEL_METRIC: Final = "ModelMetric"  # dimensions Dataset, Metric (validation:auc, ...)
STATE_SECONDS: Final = "StateSeconds"  # dimension State
RUN_COST: Final = "RunCostUSD"  # dimension Dataset


@dataclass(frozen=True)
class RunMetric:
    name: str
    value: float
    unit: str  # aws_lambda_powertools MetricUnit values: Count, Seconds, None
    dimensions: tuple[tuple[str, str], ...]


def state_seconds(history: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """Seconds from entering to leaving each state (summed when a state runs more than once)."""
    entered: dict[str, Any] = {}
    totals: dict[str, float] = {}
    for event in sorted(history, key=lambda item: int(item.get("id", 0))):
        kind = str(event.get("type", ""))
        if kind.endswith("StateEntered"):
            entered[event["stateEnteredEventDetails"]["name"]] = event["timestamp"]
        elif kind.endswith("StateExited"):
            name = event["stateExitedEventDetails"]["name"]
            if name in entered:
                seconds = (event["timestamp"] - entered.pop(name)).total_seconds()
                totals[name] = totals.get(name, 0.0) + seconds
    return totals


def run_metrics(record: RunRecord, history: Iterable[Mapping[str, Any]]) -> list[RunMetric]:
    found: list[RunMetric] = []
    if record.dataset and record.metric_name and record.metric_value is not None:
        dimensions = (("Dataset", record.dataset), ("Metric", record.metric_name))
        found.append(RunMetric(MODEL_METRIC, record.metric_value, "None", dimensions))
    if record.dataset and record.cost_usd is not None:
        found.append(RunMetric(RUN_COST, record.cost_usd, "None", (("Dataset", record.dataset),)))
    for state, seconds in state_seconds(history).items():
        found.append(RunMetric(STATE_SECONDS, seconds, "Seconds", (("State", state),)))
    return found
