"""A run's cost from what was billed: SageMaker billable seconds, state transitions, Lambda GB-seconds,
and the Snowflake warehouse time of the statements the run ran.

    training       = sum over the run's training jobs of BillableTimeInSeconds x InstanceCount x
                     training price per hour / 3600 (DescribeTrainingJob; with managed spot training
                     it already holds the saving). One job, or every trial of the run's tuning job
                     (ListTrainingJobsForHyperParameterTuningJob: each trial's TrainingStartTime to
                     TrainingEndTime, the interval billed; see TuningTrials for spot trials)
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

Costing never fails a run: whatever cannot be read or priced (a throttled or refused AWS call, a
price not recorded) leaves COST_USD NULL, and COST_NOTE says why (``Unpriced``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
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
COST_NOTE_LIMIT = 1000

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
    """A usage that cannot be priced: a price missing from snowsage.prices, a bill that cannot be read."""


class Unpriced(BaseModel):
    """No cost for the run, and why (ML_RUNS: COST_USD NULL, COST_NOTE the reason)."""

    model_config = ConfigDict(frozen=True)

    reason: str


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
    note: str | None = None


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
    note: str | None = None  # what the figure rests on beyond the bills read (ML_RUNS.COST_NOTE)

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
        note=usage.note,
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


@dataclass(frozen=True)
class TrialRequest:
    """What pricing a tuning job's trials needs: the job, its MaxNumberOfTrainingJobs, and the one
    ResourceConfig and spot setting every trial runs with (API_HyperParameterTrainingJobDefinition)."""

    tuning_job: str
    max_jobs: int
    instance_type: str
    instance_count: int = 1
    spot: bool = False


@dataclass(frozen=True)
class BilledTrials:
    jobs: list[BilledTrainingJob]
    note: str | None = None


class TuningTrials:
    """The trials of a tuning job as billed, in a bounded number of calls.

    API_ListTrainingJobsForHyperParameterTuningJob (pages of at most 100, NextToken) gives each
    trial's TrainingStartTime and TrainingEndTime: the interval SageMaker bills an on-demand trial
    for (API_HyperParameterTrainingJobSummary, TrainingEndTime: "You are billed for the time interval
    between the value of TrainingStartTime and this time"), so a tuning job of 750 trials costs 8
    calls, not 750 DescribeTrainingJob. A spot trial bills less than its interval (BillableTimeInSeconds): at
    most ``describe_limit`` of them are described; the others are priced at their interval, an upper
    bound, and the note says how many. A listing longer than ``max_jobs`` is refused (UnpricedUsage).
    """

    PAGE = 100  # the API's largest MaxResults
    DESCRIBE_LIMIT = 25  # DescribeTrainingJob calls for spot trials, at most

    def __init__(self, client: Any, *, describe_limit: int = DESCRIBE_LIMIT) -> None:
        self._client = client
        self._describe_limit = describe_limit

    def summaries(self, tuning_job: str, max_jobs: int) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        request: dict[str, Any] = {"HyperParameterTuningJobName": tuning_job, "MaxResults": self.PAGE}
        while len(found) <= max_jobs:
            page = self._client.list_training_jobs_for_hyper_parameter_tuning_job(**request)
            summaries = list(page.get("TrainingJobSummaries", []))
            found += summaries
            if not page.get("NextToken"):
                return found
            if not summaries:  # a page that moves nothing on would never end
                raise UnpricedUsage(f"tuning job {tuning_job}: an empty page of trials with a NextToken")
            request["NextToken"] = page["NextToken"]
        raise UnpricedUsage(
            f"tuning job {tuning_job} lists more than its {max_jobs} trials (MaxNumberOfTrainingJobs)"
        )

    def __call__(self, request: TrialRequest) -> BilledTrials:
        """A SageMaker error (after boto3's own retries) is UnpricedUsage: the run is not priced."""
        try:
            return self._billed(request)
        except (ClientError, BotoCoreError) as error:
            raise UnpricedUsage(
                f"the trials of tuning job {request.tuning_job} could not be read: {error}"
            ) from None

    def _billed(self, request: TrialRequest) -> BilledTrials:
        jobs: list[BilledTrainingJob] = []
        described = estimated = 0
        for summary in self.summaries(request.tuning_job, request.max_jobs):
            name = str(summary["TrainingJobName"])
            seconds = _interval_seconds(summary)
            if request.spot and seconds > 0:
                if described < self._describe_limit:
                    found = self._client.describe_training_job(TrainingJobName=name)
                    seconds = float(found.get("BillableTimeInSeconds") or 0)
                    described += 1
                else:
                    estimated += 1
            jobs.append(
                BilledTrainingJob(
                    name=name,
                    instance_type=request.instance_type,
                    instance_count=request.instance_count,
                    billable_seconds=seconds,
                )
            )
        note = None
        if estimated:
            note = (
                f"{estimated} of {len(jobs)} spot trials priced at their whole training time, an upper"
                f" bound (RecordRun describes at most {self._describe_limit} for their billed seconds)"
            )
        return BilledTrials(jobs, note)


def _interval_seconds(summary: dict[str, Any]) -> float:
    """TrainingStartTime to TrainingEndTime; 0 for a trial that never started (nothing billed)."""
    started, ended = summary.get("TrainingStartTime"), summary.get("TrainingEndTime")
    if not isinstance(started, datetime) or not isinstance(ended, datetime):
        return 0.0
    return max(0.0, (ended - started).total_seconds())


TrialReader = Callable[[TrialRequest], BilledTrials]


def no_trials(request: TrialRequest) -> BilledTrials:
    raise UnpricedUsage(f"the trials of tuning job {request.tuning_job} were not read")


def warehouse_seconds(state: RunState) -> float | None:
    """The Snowflake statements' elapsed seconds the run's Lambdas reported (None: none ran)."""
    figures = [
        section.warehouse_seconds
        for section in (state.training, state.evaluation, state.load, state.published)
        if section is not None and section.warehouse_seconds is not None
    ]
    return sum(figures) if figures else None


def training_jobs(
    state: RunState, trials: TrialReader
) -> tuple[list[BilledTrainingJob], int | None, str | None]:
    """The SageMaker training the run billed: its tuning job's trials, or its one training job; and a
    note on how it was read."""
    training, plan = state.training, state.plan
    if training is None:
        return [], None, None
    training_plan = plan.training if plan else None
    if training.tuning_job:
        if training_plan is None:
            raise UnpricedUsage(f"tuning job {training.tuning_job} has no training plan to price it by")
        resources = training_plan.resource_config
        billed = trials(
            TrialRequest(
                tuning_job=training.tuning_job,
                max_jobs=plan.tuning.max_jobs if plan and plan.tuning else MAX_TRAINING_JOBS,
                instance_type=resources.InstanceType,
                instance_count=resources.InstanceCount,
                spot=training_plan.enable_spot,
            )
        )
        return billed.jobs, len(billed.jobs), billed.note
    if training.billable_seconds is None or training_plan is None:
        return [], None, None
    resources = training_plan.resource_config
    job = BilledTrainingJob(
        name=training.job_name,
        instance_type=resources.InstanceType,
        instance_count=resources.InstanceCount,
        billable_seconds=training.billable_seconds,
    )
    return [job], None, None


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
    jobs, tuning_trials, note = training_jobs(state, trials)
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
        note=note,
    )


class FunctionMemory:
    """MemorySize of a function (Lambda GetFunctionConfiguration), asked once per function."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._known: dict[str, int] = {}

    def __call__(self, function: str) -> int:
        if function not in self._known:
            try:
                configuration = self._client.get_function_configuration(FunctionName=function)
            except (ClientError, BotoCoreError) as error:
                raise UnpricedUsage(f"the memory size of {function} could not be read: {error}") from None
            self._known[function] = int(configuration["MemorySize"])
        return self._known[function]


class HistoryCosting:
    """RecordRun's costing: the run's usage at the region's prices, or Unpriced and why. It never
    raises: a cost is a figure beside the run, and no reading of it may fail the run."""

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

    def __call__(self, state: RunState, history: list[dict[str, Any]]) -> RunCost | Unpriced:
        try:
            usage = run_usage(state, history, self._memory_mb, self._trials)
            return run_cost(usage, self._region, self._warehouse)
        except UnpricedUsage as error:
            reason = str(error)
        except Exception as error:  # a defect in the costing itself: still no reason to fail the run
            logger.exception("costing the run failed")
            reason = f"costing failed: {type(error).__name__}: {error}"
        logger.warning("run not priced", extra={"reason": reason})
        return Unpriced(reason=reason[:COST_NOTE_LIMIT])
