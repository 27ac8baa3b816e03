"""Cost per run from billed figures, and a tuning run's cost per run.

Details: bench/README.md, "run_cost.py".
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sandbox.cost import COST_PARTS, SANDBOX_LABEL, cost_parts
from snowsage.prices import AS_OF, CREDIT_PRICE_AS_OF, DEFAULT_CREDIT_PRICE_USD, PRICES

DATASET = "merchant_risk"
SEED = 7
REGION = "us-east-1"  # the sandbox's region, whose prices RecordRun uses
Table = Callable[[list[str], list[list[str]]], list[str]]
Cost = dict[str, float | None]


def tuning_settings(trials: int) -> dict[str, Any]:
    """The tuned run's ``tuning`` input (docs/contracts.md): ``trials`` trials, 2 at a time."""
    return {
        "max_jobs": trials,
        "max_parallel_jobs": min(2, trials),
        "strategy": "Random",
        "ranges": {"eta": [0.05, 0.5], "max_depth": [2, 6], "min_child_weight": [0.5, 4]},
    }


@dataclass(frozen=True)
class Trial:
    name: str
    status: str
    instance_type: str
    instance_count: int
    billable_seconds: float

    @property
    def usd(self) -> float:
        per_hour = PRICES[REGION].training_per_hour[self.instance_type]
        return self.billable_seconds * self.instance_count * per_hour / 3600


@dataclass(frozen=True)
class TuningCost:
    transactions: int
    untuned: Cost
    tuned: Cost
    tuning_job: str
    trials: list[Trial]
    run_seconds: float  # the tuned run, start to ML_RUNS row, wall clock

    @property
    def trials_usd(self) -> float:
        return sum(trial.usd for trial in self.trials)


def _cost(result: Any, what: str) -> Cost:
    if result.status != "SUCCEEDED" or not result.cost or result.cost.get("cost_usd") is None:
        raise RuntimeError(f"{what}: {result.status} ({result.execution.error}); cost {result.cost}")
    return dict(result.cost)


def _trials(sagemaker: Any, tuning_job: str) -> list[Trial]:
    found: list[Trial] = []
    request: dict[str, Any] = {"HyperParameterTuningJobName": tuning_job, "MaxResults": 100}
    while True:
        page = sagemaker.list_training_jobs_for_hyper_parameter_tuning_job(**request)
        for summary in page["TrainingJobSummaries"]:
            described = sagemaker.describe_training_job(TrainingJobName=summary["TrainingJobName"])
            found.append(
                Trial(
                    name=summary["TrainingJobName"],
                    status=str(described["TrainingJobStatus"]),
                    instance_type=described["ResourceConfig"]["InstanceType"],
                    instance_count=int(described["ResourceConfig"]["InstanceCount"]),
                    billable_seconds=float(described.get("BillableTimeInSeconds") or 0),
                )
            )
        if not page.get("NextToken"):
            return sorted(found, key=lambda trial: trial.name)
        request["NextToken"] = page["NextToken"]


def run_tuning(transactions: int, trials: int) -> TuningCost:
    """One sandbox: the sample data, one export, an untuned run and a tuned run on it."""
    from sandbox import pipeline_run
    from sandbox.services import Sandbox, SandboxConfig
    from tooling.sample_data import load_sample_data

    with Sandbox(SandboxConfig(quiet=True)) as sb:
        with sb.snowflake_connection() as connection:
            load_sample_data(connection, transactions, SEED, s3_client=sb.client("s3"), bucket=sb.bucket)
        untuned = pipeline_run.run_from_export(sb, DATASET, export_id="bench-tuning")
        started = time.perf_counter()
        tuned = pipeline_run.start_by_hand(
            sb,
            {
                "manifest": f"s3://{sb.bucket}/exports/{DATASET}/bench-tuning/manifest.json",
                "tuning": tuning_settings(trials),
            },
            name="bench-tuning-cost",
            manifest=untuned.manifest,
        )
        seconds = time.perf_counter() - started
        tuned_cost = _cost(tuned, f"tuned run ({trials} trials)")
        tuning_job = str((tuned.execution.output or {})["training"]["tuning_job"])
        figures = TuningCost(
            transactions=transactions,
            untuned=_cost(untuned, "untuned run"),
            tuned=tuned_cost,
            tuning_job=tuning_job,
            trials=_trials(sb.client("sagemaker"), tuning_job),
            run_seconds=seconds,
        )
    print(f"bench: tuning cost {figures.tuned}", file=sys.stderr, flush=True)
    return figures


def _usd(value: float | None) -> str:
    return "" if value is None else f"${value:.6f}"


def _price_note() -> str:
    prices = PRICES[REGION]
    return (
        f"Prices: `layers/common/snowsage/prices.py` ({REGION} list prices as of {AS_OF}, each with"
        " its source page; not re-checked online from this machine): SageMaker ml.m5.large"
        f" ${prices.training_per_hour['ml.m5.large']}/hour training and"
        f" ${prices.transform_per_hour['ml.m5.large']}/hour batch transform, Step Functions"
        f" ${prices.step_functions_per_transition} per state transition, Lambda arm64"
        f" ${prices.lambda_arm64_per_gb_second} per GB-second and ${prices.lambda_per_request * 1e6:.2f}"
        f" per 1M requests; the warehouse at the template's SnowflakeWarehouseSize (XSMALL: 1 credit"
        f" per hour) and SnowflakeCreditPriceUsd (${DEFAULT_CREDIT_PRICE_USD:.2f}, on-demand Standard"
        f" edition, AWS US East, as of {CREDIT_PRICE_AS_OF})."
    )


def billed_section(runs: Sequence[tuple[int, int, Cost | None]], table: Table) -> list[str]:
    """The end-to-end runs' ML_RUNS cost: (transactions, transitions, COST_* row) per run."""
    if not runs:
        return []
    parts = list(COST_PARTS)
    rows = []
    for transactions, transitions, cost in runs:
        if not cost or cost.get("cost_usd") is None:
            rows.append([f"{transactions:,}", str(transitions), *["" for _ in parts], "not recorded"])
            continue
        shown = cost_parts(cost)
        rows.append(
            [
                f"{transactions:,}",
                str(transitions),
                *[_usd(shown.get(part)) for part in parts],
                f"**{_usd(cost['cost_usd'])}**",
            ]
        )
    return [
        "## 6. Cost per run",
        "",
        f"ML_RUNS `COST_USD` and its parts as RecordRun recorded them: {SANDBOX_LABEL}."
        " `layers/common/snowsage/cost.py` (unit-tested in `tests/unit/test_cost.py`), the same"
        " computation as in production:",
        "",
        "```",
        "training       = sum over the run's training jobs (each trial, when it tuned) of",
        "                   BillableTimeInSeconds x InstanceCount x training price per hour / 3600",
        "transform      = (TransformEndTime - TransformStartTime) x InstanceCount x transform price / 3600",
        "step_functions = state transitions (the execution history) x price per transition",
        "lambda         = sum over the history's Lambda tasks of seconds x MemorySize/1024 x price per",
        "                   GB-second, + requests x price per request",
        "warehouse      = the run's Snowflake statements' seconds x credits per hour / 3600",
        "                   x price per credit",
        "```",
        "",
        _price_note()
        + " Here every second is the sandbox's: the emulator bills its jobs' own seconds (a real job"
        " also bills its instance start-up, typically minutes, which dominates at these sizes), the"
        " Lambda tasks are moto's spans, the warehouse seconds fakesnow's statements. Not counted:"
        " StartPipeline (invoked before the execution exists), RecordRun's own invocation, S3, SNS,"
        " CloudWatch and the export's warehouse time (docs/operations.md).",
        "",
        *table(["transactions", "transitions", *parts, "COST_USD"], rows),
        "",
    ]


def tuning_section(figures: TuningCost | None, table: Table) -> list[str]:
    if figures is None:
        return []
    trials = figures.trials
    recorded = figures.tuned.get("cost_training_usd")
    rows = [
        [
            trial.name,
            trial.status,
            f"{trial.instance_count} x {trial.instance_type}",
            f"{trial.billable_seconds:.0f}",
            _usd(trial.usd),
        ]
        for trial in trials
    ]
    rows.append(
        [
            "**sum (by hand)**",
            "",
            "",
            f"{sum(t.billable_seconds for t in trials):.0f}",
            f"**{_usd(figures.trials_usd)}**",
        ]
    )
    parts = list(COST_PARTS)
    compare = [
        [
            what,
            f"{cost['tuning_trials']:.0f}" if cost.get("tuning_trials") is not None else "",
            *[_usd(cost_parts(cost).get(part)) for part in parts],
            f"**{_usd(cost.get('cost_usd'))}**",
        ]
        for what, cost in (
            ("one training job", figures.untuned),
            (f"tuned, {len(trials)} trials", figures.tuned),
        )
    ]
    agrees = recorded is not None and abs(recorded - figures.trials_usd) <= 1e-9 + 1e-6 * figures.trials_usd
    return [
        "### A tuning run's cost per run",
        "",
        f"`bench/run_cost.py`: {DATASET} at {figures.transactions:,} transactions, exported once; one"
        f" run trains a single job, then a run tunes on the same export (`tuning`:"
        f" {len(trials)} trials, 2 in parallel, Random search over eta, max_depth, min_child_weight;"
        f" tuning job `{figures.tuning_job}`, {figures.run_seconds:.0f} s start to ML_RUNS row). A tuned"
        " run's training part is trials x instance-seconds at list prices: RecordRun lists the"
        " tuning job's trials (ListTrainingJobsForHyperParameterTuningJob) and sums each one's"
        " DescribeTrainingJob BillableTimeInSeconds x InstanceCount x price. The table's sum is the same"
        f" computation done here from the trials' own describes: ML_RUNS `COST_TRAINING_USD` {_usd(recorded)}"
        f" {'equals' if agrees else '**differs from**'} it. {SANDBOX_LABEL[0].upper()}{SANDBOX_LABEL[1:]}."
        " The two runs' other parts differ by the states each went through (PublishModel runs only"
        " for a promoted model).",
        "",
        *table(["trial", "status", "instances", "billable s", "USD"], rows),
        "",
        *table(["run", "TUNING_TRIALS", *parts, "COST_USD"], compare),
        "",
    ]
