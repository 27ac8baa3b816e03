"""A run's cost from what AWS billed: SageMaker billable seconds, state transitions, Lambda GB-seconds.

    training       = BillableTimeInSeconds x InstanceCount x training price per hour / 3600
                     (DescribeTrainingJob; with managed spot training it already holds the saving)
    transform      = (TransformEndTime - TransformStartTime) x InstanceCount x transform price / 3600
    step_functions = state transitions x price per transition (Standard workflows bill each one)
    lambda         = sum over the execution's Lambda tasks of seconds x MemorySize / 1024 x price per
                     GB-second, + requests x price per request
    total          = the sum of the parts (S3, SNS, CloudWatch and Snowflake credits are not in it)

The Lambda seconds come from the execution history (scheduled to succeeded or failed): Lambda's
billed duration (the REPORT log line) is written after the invocation, outside the flow, so the
history's span, which contains it, is the in-flow figure: an upper bound by the invocation overhead
(milliseconds). RecordRun's own invocation is still running when it writes the row and is not in it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger
from pydantic import BaseModel, ConfigDict

from snowsage.models import RunState
from snowsage.prices import PRICES, RegionPrices

logger = Logger(child=True)

LAMBDA_STARTED = ("LambdaFunctionScheduled", "TaskScheduled")
LAMBDA_ENDED = frozenset(
    {
        "LambdaFunctionSucceeded",
        "LambdaFunctionFailed",
        "LambdaFunctionTimedOut",
        "TaskSucceeded",
        "TaskFailed",
        "TaskTimedOut",
    }
)


class UnpricedUsage(LookupError):
    """A region or instance type has no price in snowsage.prices: add it there (with its source)."""


class RunUsage(BaseModel):
    """What AWS billed a run for, in its own units."""

    model_config = ConfigDict(frozen=True)

    training_instance_type: str | None = None
    training_instance_count: int = 1
    training_billable_seconds: float | None = None
    transform_instance_type: str | None = None
    transform_instance_count: int = 1
    transform_seconds: float | None = None
    state_transitions: int = 0
    lambda_gb_seconds: float = 0.0
    lambda_requests: int = 0


class RunCost(BaseModel):
    """The parts in USD (None: not used by the run) and their sum."""

    model_config = ConfigDict(frozen=True)

    training_usd: float | None
    transform_usd: float | None
    step_functions_usd: float
    lambda_usd: float

    @property
    def total_usd(self) -> float:
        parts = (self.training_usd, self.transform_usd, self.step_functions_usd, self.lambda_usd)
        return sum(part for part in parts if part is not None)

    def parts(self) -> dict[str, float | None]:
        return {
            "training": self.training_usd,
            "transform": self.transform_usd,
            "step_functions": self.step_functions_usd,
            "lambda": self.lambda_usd,
        }


def region_prices(region: str) -> RegionPrices:
    try:
        return PRICES[region]
    except KeyError:
        raise UnpricedUsage(f"no prices recorded for region {region}") from None


def _hourly(table: Mapping[str, float], instance_type: str, what: str, region: str) -> float:
    try:
        return table[instance_type]
    except KeyError:
        raise UnpricedUsage(f"no {what} price recorded for {instance_type} in {region}") from None


def run_cost(usage: RunUsage, region: str) -> RunCost:
    prices = region_prices(region)
    training = transform = None
    if usage.training_billable_seconds is not None and usage.training_instance_type:
        per_hour = _hourly(prices.training_per_hour, usage.training_instance_type, "training", region)
        training = usage.training_billable_seconds * usage.training_instance_count * per_hour / 3600
    if usage.transform_seconds is not None and usage.transform_instance_type:
        per_hour = _hourly(prices.transform_per_hour, usage.transform_instance_type, "transform", region)
        transform = usage.transform_seconds * usage.transform_instance_count * per_hour / 3600
    return RunCost(
        training_usd=training,
        transform_usd=transform,
        step_functions_usd=usage.state_transitions * prices.step_functions_per_transition,
        lambda_usd=usage.lambda_gb_seconds * prices.lambda_arm64_per_gb_second
        + usage.lambda_requests * prices.lambda_per_request,
    )


def state_transitions(history: Iterable[Mapping[str, Any]]) -> int:
    """Standard workflows bill a transition each time a state is entered."""
    return sum(1 for event in history if str(event.get("type", "")).endswith("StateEntered"))


def _lambda_function(event: Mapping[str, Any]) -> str | None:
    if event["type"] == "LambdaFunctionScheduled":
        return str(event["lambdaFunctionScheduledEventDetails"]["resource"])
    details = event.get("taskScheduledEventDetails") or {}
    if details.get("resourceType") != "lambda":
        return None
    parameters = details.get("parameters")
    if isinstance(parameters, str):
        parameters = json.loads(parameters)
    name = (parameters or {}).get("FunctionName")
    return str(name) if name else None


def lambda_invocations(history: Iterable[Mapping[str, Any]]) -> list[tuple[str, float]]:
    """(function, seconds) per Lambda task of the history, scheduled to its end event."""
    events = sorted(history, key=lambda event: int(event.get("id", 0)))
    found: list[tuple[str, float]] = []
    open_task: tuple[str, datetime] | None = None
    for event in events:
        kind = event["type"]
        if kind in LAMBDA_STARTED:
            function = _lambda_function(event)
            open_task = (function, event["timestamp"]) if function else None
        elif kind in LAMBDA_ENDED and open_task is not None:
            function, started = open_task
            found.append((function, max(0.0, (event["timestamp"] - started).total_seconds())))
            open_task = None
    return found


def usage_from_history(
    history: Iterable[Mapping[str, Any]], memory_mb: Callable[[str], int]
) -> tuple[int, float, int]:
    """(state transitions, Lambda GB-seconds, Lambda requests) of an execution history."""
    events = list(history)
    invocations = lambda_invocations(events)
    gb_seconds = sum(seconds * memory_mb(function) / 1024 for function, seconds in invocations)
    return state_transitions(events), gb_seconds, len(invocations)


def run_usage(
    state: RunState, history: Iterable[Mapping[str, Any]], memory_mb: Callable[[str], int]
) -> RunUsage:
    """The run's billed usage: the plan's instances, the jobs' billed seconds, the history's tasks."""
    plan = state.plan
    training_plan = plan.training if plan else None
    resources = plan.scoring.transform_resources if plan else None
    transform = state.transform
    transform_seconds = None
    if transform and transform.started_at and transform.ended_at:
        transform_seconds = (transform.ended_at - transform.started_at).total_seconds()
    transitions, gb_seconds, requests = usage_from_history(history, memory_mb)
    return RunUsage(
        training_instance_type=training_plan.resource_config.InstanceType if training_plan else None,
        training_instance_count=training_plan.resource_config.InstanceCount if training_plan else 1,
        training_billable_seconds=state.training.billable_seconds if state.training else None,
        transform_instance_type=resources.InstanceType if resources else None,
        transform_instance_count=resources.InstanceCount if resources else 1,
        transform_seconds=transform_seconds,
        state_transitions=transitions,
        lambda_gb_seconds=gb_seconds,
        lambda_requests=requests,
    )


class FunctionMemory:
    """MemorySize of a function (Lambda GetFunctionConfiguration), asked once per function."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._known: dict[str, int] = {}

    def __call__(self, function: str) -> int:
        if function not in self._known:
            configuration = self._client.get_function_configuration(FunctionName=function)
            self._known[function] = int(configuration["MemorySize"])
        return self._known[function]


class HistoryCosting:
    """RecordRun's costing: the run's usage at the region's prices; None when a price is missing."""

    def __init__(self, region: str, memory_mb: Callable[[str], int]) -> None:
        self._region = region
        self._memory_mb = memory_mb

    def __call__(self, state: RunState, history: list[dict[str, Any]]) -> RunCost | None:
        try:
            return run_cost(run_usage(state, history, self._memory_mb), self._region)
        except UnpricedUsage as error:
            logger.warning("run not priced", extra={"reason": str(error)})
            return None
