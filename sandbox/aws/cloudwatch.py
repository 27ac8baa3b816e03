"""CloudWatch's own work that moto does not do: metrics a service publishes, alarms evaluated.

Details: sandbox/README.md, "aws/cloudwatch.py".
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from moto.cloudwatch.models import Alarm, CloudWatchBackend, MetricDatum, cloudwatch_backends

LOG = logging.getLogger(__name__)
STATISTICS: dict[str, Callable[[list[float]], float]] = {
    "SampleCount": lambda values: float(len(values)),
    "Sum": lambda values: float(sum(values)),
    "Average": lambda values: sum(values) / len(values),
    "Minimum": min,
    "Maximum": max,
}
COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanOrEqualToThreshold": lambda value, threshold: value >= threshold,
    "GreaterThanThreshold": lambda value, threshold: value > threshold,
    "LessThanThreshold": lambda value, threshold: value < threshold,
    "LessThanOrEqualToThreshold": lambda value, threshold: value <= threshold,
}


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class CloudWatchStandIn:
    """Metrics in and alarm states out of moto's CloudWatch backend for one account and region."""

    def __init__(
        self, account_id: str, region: str, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self.account_id = account_id
        self.region = region
        self.clock = clock

    @property
    def backend(self) -> CloudWatchBackend:
        return cloudwatch_backends[self.account_id][self.region]

    def put_metric_data(self, namespace: str, data: list[dict[str, Any]]) -> None:
        """Metrics as a service publishes them (PutMetricData's MetricData shape), timestamped now."""
        stamp = self.clock()
        self.backend.put_metric_data(namespace, [{"Timestamp": stamp, **item} for item in data])

    def evaluate(self, alarm_name: str) -> str | None:
        """Evaluate the alarm now and record its state; None when there is no such alarm."""
        alarm = self.backend.alarms.get(alarm_name)
        if alarm is None:
            return None
        state, reason = self._state(alarm)
        if state is not None and state != alarm.state_value:
            alarm.update_state(reason, json.dumps({"version": "1.0", "evaluatedBy": "sandbox"}), state)
        return str(alarm.state_value)

    def _state(self, alarm: Alarm) -> tuple[str | None, str]:
        statistic = STATISTICS.get(alarm.statistic or "")
        compare = COMPARISONS.get(alarm.comparison_operator)
        if alarm.metric_data_queries or statistic is None or compare is None:
            LOG.warning(
                "alarm %s is not evaluated by the sandbox (metric math, percentile or anomaly)", alarm.name
            )
            return None, ""
        now = _utc(self.clock())
        period = timedelta(seconds=int(alarm.period))
        wanted = {(d.name, d.value) for d in alarm.dimensions}
        values: list[list[float]] = [[] for _ in range(int(alarm.evaluation_periods))]
        oldest = now - period * len(values)
        for datum in self.backend.metric_data:
            if not isinstance(datum, MetricDatum) or datum.namespace != alarm.namespace:
                continue
            if datum.name != alarm.metric_name or {(d.name, d.value) for d in datum.dimensions} != wanted:
                continue
            stamp = _utc(datum.timestamp)
            if oldest < stamp <= now:
                index = min(len(values) - 1, int((now - stamp) / period))
                values[index].append(float(datum.value))
        treat = alarm.treat_missing_data or "missing"
        if all(not bucket for bucket in values):
            if treat == "ignore":
                return None, ""
            if treat == "missing":
                return "INSUFFICIENT_DATA", "Insufficient Data: no datapoints were received"
        breaching = 0
        points: list[str] = []
        for bucket in values:
            if bucket:
                value = statistic(bucket)
                points.append(f"{value:g}")
                breaching += compare(value, float(alarm.threshold))
            elif treat == "breaching":
                breaching += 1
        needed = int(alarm.datapoints_to_alarm or alarm.evaluation_periods)
        state = "ALARM" if breaching >= needed else "OK"
        word = "crossed" if state == "ALARM" else "was not crossing"
        reason = (
            f"Threshold {word}: {breaching} out of the last {len(values)} datapoints [{', '.join(points)}]"
            f" breached the threshold ({alarm.threshold:g})"
        )
        return state, reason
