"""A run's cost from what was billed: SageMaker billable seconds, state transitions, Lambda GB-seconds,
and the Snowflake warehouse time of the statements the run ran.

    training       = sum over the run's training jobs of BillableTimeInSeconds x InstanceCount x
                     training price per hour / 3600 (DescribeTrainingJob; with managed spot training
                     it already holds the saving). One job, or every trial of the run's tuning job
                     (ListTrainingJobsForHyperParameterTuningJob, then DescribeTrainingJob per trial)
    transform      = (TransformEndTime - TransformStartTime) x InstanceCount x transform price / 3600
    step_functions = state transitions x price per transition (Standard workflows bill each one)
    lambda         = sum over the execution's Lambda tasks of seconds x MemorySize / 1024 x price per
                     GB-second, + requests x price per request
    warehouse      = warehouse seconds x credits per hour of the warehouse's size / 3600 x price per
                     credit: the seconds are the statements' elapsed time as the Lambdas observed
                     it (TrainInSnowflake's CALL, LoadPredictions' COPY and load, ScoreInSnowflake's
                     scoring statement, PublishModel)
    total          = the sum of the parts (S3, SNS, CloudWatch and the export's credits are not in it)

The Lambda seconds come from the execution history (scheduled to succeeded or failed): Lambda's
billed duration (the REPORT log line) is written after the invocation, outside the flow, so the
history's span, which contains it, is the in-flow figure: an upper bound by the invocation overhead
(milliseconds). RecordRun's own invocation is still running when it writes the row and is not in it.

The warehouse figure is an approximation (docs/operations.md, "Warehouse time"): Snowflake bills a
warehouse per second while it runs, with 60 s minimum each time it resumes, whoever's queries it
runs. A run's statements are what it adds to a warehouse that is running anyway; the 60 s minimum
of a resume the run caused, and the auto-suspend time after it, are not in it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict

from snowsage.models import RunState
from snowsage.prices import (
    DEFAULT_CREDIT_PRICE_USD,
    DEFAULT_WAREHOUSE_SIZE,
    PRICES,
    WAREHOUSE_CREDITS_PER_HOUR,
    RegionPrices,
)
from snowsage.tuning import MAX_TRAINING_JOBS

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


class BilledTrainingJob(BaseModel):
    """One SageMaker training job as DescribeTrainingJob reports what it billed."""

    model_config = ConfigDict(frozen=True)

    name: str
    instance_type: str
    instance_count: int = 1
    billable_seconds: float


class WarehouseRate(BaseModel):
    """The warehouse's size (credits per hour) and the account's price of a credit."""

    model_config = ConfigDict(frozen=True)

    size: str = DEFAULT_WAREHOUSE_SIZE
    credit_price_usd: float = DEFAULT_CREDIT_PRICE_USD

    def usd(self, seconds: float) -> float:
        try:
            credits_per_hour = WAREHOUSE_CREDITS_PER_HOUR[self.size.upper()]
        except KeyError:
            raise UnpricedUsage(f"no credits per hour recorded for warehouse size {self.size}") from None
        return seconds * credits_per_hour / 3600 * self.credit_price_usd


class RunUsage(BaseModel):
    """What a run was billed for, in the services' own units."""

    model_config = ConfigDict(frozen=True)

    # The run's training job, or each trial of its tuning job (empty: the run trained on SageMaker
    # nothing that billed, e.g. score_only or the SNOWFLAKE engine).
    training_jobs: tuple[BilledTrainingJob, ...] = ()
    tuning_trials: int | None = None  # the trials priced, when the run tuned
    transform_instance_type: str | None = None
    transform_instance_count: int = 1
    transform_seconds: float | None = None
    state_transitions: int = 0
    lambda_gb_seconds: float = 0.0
    lambda_requests: int = 0
    warehouse_seconds: float | None = None  # None: the run ran no statement in a warehouse


class RunCost(BaseModel):
    """The parts in USD (None: not used by the run), their sum, and the figures ML_RUNS shows beside."""

    model_config = ConfigDict(frozen=True)

    training_usd: float | None
    transform_usd: float | None
    step_functions_usd: float
    lambda_usd: float
    warehouse_usd: float | None = None
    warehouse_seconds: float | None = None
    tuning_trials: int | None = None

    @property
    def total_usd(self) -> float:
        return sum(part for part in self.parts().values() if part is not None)

    def parts(self) -> dict[str, float | None]:
        return {
            "training": self.training_usd,
            "transform": self.transform_usd,
            "step_functions": self.step_functions_usd,
            "lambda": self.lambda_usd,
            "warehouse": self.warehouse_usd,
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


def run_cost(usage: RunUsage, region: str, warehouse: WarehouseRate | None = None) -> RunCost:
    prices = region_prices(region)
    training = transform = None
    if usage.training_jobs:
        training = sum(
            job.billable_seconds
            * job.instance_count
            * _hourly(prices.training_per_hour, job.instance_type, "training", region)
            / 3600
            for job in usage.training_jobs
        )
    if usage.transform_seconds is not None and usage.transform_instance_type:
        per_hour = _hourly(prices.transform_per_hour, usage.transform_instance_type, "transform", region)
        transform = usage.transform_seconds * usage.transform_instance_count * per_hour / 3600
    return RunCost(
        training_usd=training,
        transform_usd=transform,
        step_functions_usd=usage.state_transitions * prices.step_functions_per_transition,
        lambda_usd=usage.lambda_gb_seconds * prices.lambda_arm64_per_gb_second
        + usage.lambda_requests * prices.lambda_per_request,
        warehouse_usd=(
            (warehouse or WarehouseRate()).usd(usage.warehouse_seconds)
            if usage.warehouse_seconds is not None
            else None
        ),
        warehouse_seconds=usage.warehouse_seconds,
        tuning_trials=usage.tuning_trials,
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


class TuningTrials:
    """The trials of a tuning job as billed: API_ListTrainingJobsForHyperParameterTuningJob (paged by
    NextToken, at most 100 a page), then API_DescribeTrainingJob for each (BillableTimeInSeconds,
    ResourceConfig). ``max_jobs`` is the job's MaxNumberOfTrainingJobs: a listing longer than that is
    refused (UnpricedUsage), never priced in part."""

    PAGE = 100  # the API's largest MaxResults

    def __init__(self, client: Any) -> None:
        self._client = client

    def names(self, tuning_job: str, max_jobs: int) -> list[str]:
        names: list[str] = []
        request: dict[str, Any] = {"HyperParameterTuningJobName": tuning_job, "MaxResults": self.PAGE}
        while True:
            page = self._client.list_training_jobs_for_hyper_parameter_tuning_job(**request)
            names += [summary["TrainingJobName"] for summary in page.get("TrainingJobSummaries", [])]
            if len(names) > max_jobs:
                raise UnpricedUsage(
                    f"tuning job {tuning_job} lists more than its {max_jobs} trials (MaxNumberOfTrainingJobs)"
                )
            if not page.get("NextToken"):
                return names
            request["NextToken"] = page["NextToken"]

    def __call__(self, tuning_job: str, max_jobs: int) -> list[BilledTrainingJob]:
        """The trials as billed; a SageMaker error (after boto3's own retries) leaves the run unpriced:
        the ML_RUNS row is still written, with COST_USD NULL, rather than RecordRun failing."""
        try:
            return self._billed(tuning_job, max_jobs)
        except (ClientError, BotoCoreError) as error:
            raise UnpricedUsage(f"the trials of tuning job {tuning_job} could not be read: {error}") from None

    def _billed(self, tuning_job: str, max_jobs: int) -> list[BilledTrainingJob]:
        jobs = []
        for name in self.names(tuning_job, max_jobs):
            described = self._client.describe_training_job(TrainingJobName=name)
            resources = described["ResourceConfig"]
            jobs.append(
                BilledTrainingJob(
                    name=name,
                    instance_type=resources["InstanceType"],
                    instance_count=int(resources.get("InstanceCount", 1)),
                    # absent for a trial that failed or stopped before it started: nothing billed
                    billable_seconds=float(described.get("BillableTimeInSeconds") or 0),
                )
            )
        return jobs


TrialReader = Callable[[str, int], list[BilledTrainingJob]]


def no_trials(tuning_job: str, max_jobs: int) -> list[BilledTrainingJob]:
    raise UnpricedUsage(f"the trials of tuning job {tuning_job} were not read")


def warehouse_seconds(state: RunState) -> float | None:
    """The Snowflake statements' elapsed seconds the run's Lambdas reported (None: none ran)."""
    figures = [
        section.warehouse_seconds
        for section in (state.training, state.evaluation, state.load, state.published)
        if section is not None and section.warehouse_seconds is not None
    ]
    return sum(figures) if figures else None


def training_jobs(state: RunState, trials: TrialReader) -> tuple[list[BilledTrainingJob], int | None]:
    """The SageMaker training the run billed: its tuning job's trials, or its one training job."""
    training, plan = state.training, state.plan
    if training is None:
        return [], None
    if training.tuning_job:
        max_jobs = plan.tuning.max_jobs if plan and plan.tuning else MAX_TRAINING_JOBS
        jobs = trials(training.tuning_job, max_jobs)
        return jobs, len(jobs)
    training_plan = plan.training if plan else None
    if training.billable_seconds is None or training_plan is None:
        return [], None
    resources = training_plan.resource_config
    job = BilledTrainingJob(
        name=training.job_name,
        instance_type=resources.InstanceType,
        instance_count=resources.InstanceCount,
        billable_seconds=training.billable_seconds,
    )
    return [job], None


def run_usage(
    state: RunState,
    history: Iterable[Mapping[str, Any]],
    memory_mb: Callable[[str], int],
    trials: TrialReader = no_trials,
) -> RunUsage:
    """The run's billed usage: the jobs' billed seconds, the history's tasks, the warehouse time."""
    plan = state.plan
    resources = plan.scoring.transform_resources if plan else None
    transform = state.transform
    transform_seconds = None
    if transform and transform.started_at and transform.ended_at:
        transform_seconds = (transform.ended_at - transform.started_at).total_seconds()
    transitions, gb_seconds, requests = usage_from_history(history, memory_mb)
    jobs, tuning_trials = training_jobs(state, trials)
    return RunUsage(
        training_jobs=tuple(jobs),
        tuning_trials=tuning_trials,
        transform_instance_type=resources.InstanceType if resources else None,
        transform_instance_count=resources.InstanceCount if resources else 1,
        transform_seconds=transform_seconds,
        state_transitions=transitions,
        lambda_gb_seconds=gb_seconds,
        lambda_requests=requests,
        warehouse_seconds=warehouse_seconds(state),
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

    def __init__(
        self,
        region: str,
        memory_mb: Callable[[str], int],
        trials: TrialReader = no_trials,
        warehouse: WarehouseRate | None = None,
    ) -> None:
        self._region = region
        self._memory_mb = memory_mb
        self._trials = trials
        self._warehouse = warehouse

    def __call__(self, state: RunState, history: list[dict[str, Any]]) -> RunCost | None:
        try:
            usage = run_usage(state, history, self._memory_mb, self._trials)
            return run_cost(usage, self._region, self._warehouse)
        except UnpricedUsage as error:
            logger.warning("run not priced", extra={"reason": str(error)})
            return None
