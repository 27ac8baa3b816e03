"""The seeded plan: per run, a dataset and the faults drawn for it, each at a state.

Run ``R`` of seed ``S`` draws from ``random.Random(f"{S}:{R}")`` alone, so ``--seed S --only-run R``
replays that run's plan exactly, whatever the other runs drew.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass, field
from typing import Any

from tooling.dataset_sql import noisy_sum_sql, segment_multiclass_sql, spend_regression_sql

TUNING = {
    "max_jobs": 2,
    "max_parallel_jobs": 2,
    "strategy": "Random",
    "ranges": {"eta": [0.1, 0.5], "max_depth": [2, 4]},
}


@dataclass(frozen=True)
class Dataset:
    """A dataset of the campaign; ``kind`` says what part of the pipeline it exercises."""

    kind: str
    name: str
    sql: str
    engine: str = "SAGEMAKER"  # where it trains
    tuned: bool = False
    enabled: bool = True


def _datasets() -> dict[str, Dataset]:
    # Small tables (a run is a few seconds) and thresholds that never decide: the gate is not
    # under test here, the faults are.
    warehouse = "chaos_warehouse"
    tuned = "chaos_tuned"
    retired = "chaos_retired"
    return {
        "binary": Dataset("binary", "chaos_binary", noisy_sum_sql("chaos_binary", rows=400)),
        "regression": Dataset("regression", "next_spend", spend_regression_sql(rows=300, threshold=1000.0)),
        "multiclass": Dataset("multiclass", "segment", segment_multiclass_sql(rows=300, threshold=10.0)),
        "snowflake": Dataset(
            "snowflake",
            warehouse,
            noisy_sum_sql(warehouse, rows=400)
            + f"\nUPDATE ML_DATASETS SET TRAINING_ENGINE = 'SNOWFLAKE' WHERE NAME = '{warehouse}';",
            engine="SNOWFLAKE",
        ),
        "tuned": Dataset(
            "tuned",
            tuned,
            noisy_sum_sql(tuned, rows=400)
            + f"\nUPDATE ML_DATASETS SET TUNING = '{json.dumps(TUNING)}' WHERE NAME = '{tuned}';",
            tuned=True,
        ),
        "disabled": Dataset(
            "disabled",
            retired,
            noisy_sum_sql(retired, rows=60)
            + f"\nUPDATE ML_DATASETS SET ENABLED = FALSE WHERE NAME = '{retired}';",
            enabled=False,
        ),
    }


DATASETS = _datasets()
DEFAULT_DATASETS = ("binary", "regression", "multiclass", "snowflake", "tuned", "disabled")

LAMBDA_STATES = {
    "PrepareRun": "PrepareRunFunction",
    "EvaluateModel": "EvaluateModelFunction",
    "RegisterModel": "RegisterModelFunction",
    "LoadPredictions": "LoadPredictionsFunction",
    "RecordRun": "RecordRunFunction",
    "TrainInSnowflake": "TrainInSnowflakeFunction",
}
SNOWFLAKE_STATES = ("LoadPredictions", "RecordRun", "TrainInSnowflake", "EvaluateModel")
# The statements each Snowflake state runs that a fault may hit (their first word).
STATEMENTS = {
    "LoadPredictions": ("COPY", "DELETE", "INSERT"),
    "RecordRun": ("UPDATE", "INSERT"),
    "TrainInSnowflake": ("CALL",),
    "EvaluateModel": ("SELECT",),
}
LAMBDA_ERRORS = (
    "Lambda.TooManyRequestsException",
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
)
# Attempts that exhaust each retrier (1 + MaxAttempts in statemachines/pipeline.asl.json).
EXHAUST = {"lambda": 6, "snowflake": 5, "sagemaker": 3, "sns": 4}


@dataclass(frozen=True)
class FaultSpec:
    """One fault of a run's plan: its kind, the state it targets and its parameters."""

    kind: str
    state: str
    times: int = 1
    detail: str = ""  # the error, the statement, or when ("before"/"after", "during"/"after")


@dataclass(frozen=True)
class RunPlan:
    run: int
    dataset: str  # a key of DATASETS
    export_id: str
    faults: list[FaultSpec] = field(default_factory=list)
    rerun: bool = False  # a hand start with a new name once the first execution ended

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _times(rng: random.Random, retrier: str) -> int:
    """Mostly a blip the retries absorb; one time in eight, enough to exhaust them."""
    return EXHAUST[retrier] if rng.random() < 0.125 else rng.randint(1, 2)


def _lambda_states(dataset: Dataset) -> list[str]:
    states = ["PrepareRun", "EvaluateModel", "RegisterModel", "LoadPredictions", "RecordRun"]
    return states + (["TrainInSnowflake"] if dataset.engine == "SNOWFLAKE" else [])


def _sagemaker_states(dataset: Dataset) -> list[str]:
    training = ["Tune"] if dataset.tuned else ([] if dataset.engine == "SNOWFLAKE" else ["Train"])
    return [*training, "CreateModel", "Score"]


def _draw(rng: random.Random, dataset: Dataset) -> FaultSpec:  # noqa: PLR0911 (one branch per kind)
    kind = rng.choice(KINDS)
    if kind == "lambda_service_error":
        return FaultSpec(
            kind, rng.choice(_lambda_states(dataset)), _times(rng, "lambda"), rng.choice(LAMBDA_ERRORS)
        )
    if kind == "lambda_timeout":
        return FaultSpec(kind, rng.choice(_lambda_states(dataset)), 1, rng.choice(("before", "after")))
    if kind == "stop_execution":
        return FaultSpec(kind, rng.choice(_lambda_states(dataset)[:4]))
    if kind == "sagemaker_create_error":
        code = rng.choice(("ThrottlingException", "ResourceLimitExceeded"))
        return FaultSpec(kind, rng.choice(_sagemaker_states(dataset)), _times(rng, "sagemaker"), code)
    if kind in ("job_failed", "job_stopped"):
        states = [s for s in _sagemaker_states(dataset) if s in ("Train", "Tune")]
        if kind == "job_failed" or not states:  # a run trained in Snowflake has a transform only
            return FaultSpec("job_failed", rng.choice([*states, "Score"]))
        return FaultSpec(kind, rng.choice(states))
    if kind == "sns_publish_failure":
        return FaultSpec(kind, "Notify", _times(rng, "sns"))
    if kind == "snowflake_refused":
        states = [s for s in SNOWFLAKE_STATES if s in _lambda_states(dataset)]
        return FaultSpec(kind, rng.choice(states), _times(rng, "snowflake"))
    if kind in ("snowflake_session_lost", "snowflake_statement_timeout", "warehouse_suspended"):
        states = [s for s in SNOWFLAKE_STATES if s in _lambda_states(dataset) and s != "EvaluateModel"]
        state = rng.choice(states)
        statement = "INSERT" if kind == "snowflake_session_lost" and state == "LoadPredictions" else ""
        return FaultSpec(kind, state, _times(rng, "snowflake"), statement or rng.choice(STATEMENTS[state]))
    if kind in ("duplicate_event", "manifest_rewritten"):
        when = rng.choice(("during", "after"))
        return FaultSpec(
            kind, rng.choice(_lambda_states(dataset)[:4]) if when == "during" else "End", 1, when
        )
    if kind == "fewer_files_than_manifest":
        return FaultSpec(kind, "PrepareRun")
    if kind == "event_out_of_order":
        return FaultSpec(kind, "StartPipeline", 1, "later")
    return FaultSpec(kind, "LoadPredictions")  # copy_of_vanished_file


KINDS = (
    "lambda_service_error",
    "lambda_timeout",
    "stop_execution",
    "sagemaker_create_error",
    "job_failed",
    "job_stopped",
    "sns_publish_failure",
    "snowflake_refused",
    "snowflake_session_lost",
    "snowflake_statement_timeout",
    "warehouse_suspended",
    "duplicate_event",
    "event_out_of_order",
    "manifest_rewritten",
    "fewer_files_than_manifest",
    "copy_of_vanished_file",
)


def plan_run(seed: int, run: int, datasets: tuple[str, ...] = DEFAULT_DATASETS) -> RunPlan:
    rng = random.Random(f"{seed}:{run}")  # noqa: S311 (a reproducible plan, not a secret)
    # A refused export is quick and proves one thing: one in twenty runs is enough.
    weights = [1.0 if DATASETS[key].enabled else 0.25 for key in datasets]
    key = rng.choices(datasets, weights=weights)[0]
    dataset = DATASETS[key]
    export_id = f"chaos-{seed}-{run:04d}"
    if not dataset.enabled:
        return RunPlan(run, key, export_id)
    count = rng.choices((0, 1, 2), weights=(2, 5, 3))[0]
    faults = [_draw(rng, dataset) for _ in range(count)]
    if sum(f.kind == "event_out_of_order" for f in faults) > 1:
        faults = [f for f in faults if f.kind != "event_out_of_order"] + [
            FaultSpec("event_out_of_order", "StartPipeline", 1, "later")
        ]
    return RunPlan(run, key, export_id, faults, rerun=rng.random() < 0.2)


def plan_campaign(
    seed: int, runs: int, datasets: tuple[str, ...] = DEFAULT_DATASETS, only_run: int | None = None
) -> list[RunPlan]:
    numbers = [only_run] if only_run is not None else list(range(1, runs + 1))
    return [plan_run(seed, number, datasets) for number in numbers]
