"""A dataset's hyperparameter tuning: its TUNING settings checked, and the tuning job's config built.

The settings come from the ML_DATASETS row's TUNING column (JSON text, copied into the manifest's
``model`` block by EXPORT_DATASET) or the execution input's ``tuning`` key, which replaces the
row's whole. Their shape (docs/contracts.md, "Tuning")::

    {"max_jobs": 8, "max_parallel_jobs": 2, "strategy": "Bayesian" | "Random" | "Hyperband",
     "ranges": {"eta": [0.05, 0.5], "max_depth": [2, 8]}, "early_stopping": "Auto" | "Off",
     "warm_start": false}

A setting that does not fit is refused with ``InvalidModelSettings`` naming the dataset, the place
(``ML_DATASETS.TUNING`` or ``execution input 'tuning'``) and the field. The objective is always the
gate's metric, maximised or minimised as ``metric_direction`` says; a settings ``objective`` that
names another metric is refused. ``warm_start: true`` starts from the champion's tuning job when the
rules allow it, else the run tunes cold (snowsage/warm_start.py). The request shapes are the API's
(docs: sagemaker/latest/APIReference/API_HyperParameterTuningJobConfig, API_ParameterRanges,
API_ResourceLimits).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, ValidationError

from snowsage.errors import InvalidModelSettings
from snowsage.models import StrictContract, TuningPlan, validation_problems

# The built-in XGBoost hyperparameters a tuning job may search, their kind and the bounds the
# algorithm accepts (docs: sagemaker/latest/dg/xgboost_hyperparameters; xgboost-tuning lists the
# tunable ones). ``None``: unbounded on that side. ``open``: the low bound itself is refused.
Kind = Literal["integer", "continuous"]


@dataclass(frozen=True)
class Tunable:
    kind: Kind
    low: float
    high: float | None = None
    open_low: bool = False


TUNABLE: dict[str, Tunable] = {
    "eta": Tunable("continuous", 0.0, 1.0),
    "max_depth": Tunable("integer", 0),
    "min_child_weight": Tunable("continuous", 0.0),
    "subsample": Tunable("continuous", 0.0, 1.0, open_low=True),
    "colsample_bytree": Tunable("continuous", 0.0, 1.0, open_low=True),
    "alpha": Tunable("continuous", 0.0),
    "lambda": Tunable("continuous", 0.0),
    "num_round": Tunable("integer", 1),
}

# The account's default limits for automatic model tuning (docs: sagemaker/latest/dg/
# automatic-model-tuning-limits, "Resource Limits for Automatic Model Tuning"; the quotas also on
# general/latest/gr/sagemaker.html): 750 training jobs per tuning job for every strategy, 10
# parallel training jobs per tuning job (adjustable to 100 through Service Quotas).
MAX_TRAINING_JOBS = 750
MAX_PARALLEL_TRAINING_JOBS = 10

Strategy = Literal["Bayesian", "Random", "Hyperband"]
EarlyStopping = Literal["Auto", "Off"]
# Values a range may hold: JSON numbers only (a bool is not a number here).
RangeValue = int | float


class TuningSettings(StrictContract):
    """The TUNING document as a person writes it (unknown keys are errors)."""

    max_jobs: int = Field(ge=1)
    max_parallel_jobs: int = Field(default=1, ge=1)
    strategy: Strategy = "Bayesian"
    ranges: dict[str, list[RangeValue]] = Field(min_length=1)
    early_stopping: EarlyStopping = "Off"
    warm_start: bool = False
    # Optional: when given it must be the gate's metric (the tuning objective is always that).
    objective: str | None = None


def _refuse(dataset: str, where: str, message: str) -> InvalidModelSettings:
    return InvalidModelSettings(f"dataset {dataset}: {where} {message}")


def parse_tuning(dataset: str, where: str, document: Any) -> TuningSettings | None:
    """The settings from the row's JSON text or the input's object; None for no tuning."""
    if document is None or (isinstance(document, str) and not document.strip()):
        return None
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except json.JSONDecodeError as error:
            raise _refuse(dataset, where, f"is not JSON ({error.msg}): {document[:200]!r}") from None
    if not isinstance(document, dict):
        raise _refuse(dataset, where, f"must be a JSON object, not {type(document).__name__}")
    try:
        return TuningSettings.model_validate(document)
    except ValidationError as error:
        raise _refuse(dataset, where, f"is not valid: {validation_problems(error, 'tuning')}") from None


def _check_range(dataset: str, where: str, name: str, bounds: list[RangeValue]) -> None:
    field = f"{where}.ranges.{name}"
    tunable = TUNABLE.get(name)
    if tunable is None:
        raise _refuse(
            dataset,
            field,
            f"names a hyperparameter that cannot be tuned; use one of {', '.join(TUNABLE)}",
        )
    if len(bounds) != 2:
        raise _refuse(dataset, field, f"must be [min, max], not {len(bounds)} value(s)")
    low, high = bounds
    if not all(math.isfinite(value) for value in bounds):
        raise _refuse(dataset, field, f"{bounds} holds a value that is not a finite number")
    if tunable.kind == "integer" and not all(float(value).is_integer() for value in bounds):
        raise _refuse(dataset, field, f"{bounds}: {name} is an integer hyperparameter; use whole numbers")
    if low >= high:
        raise _refuse(dataset, field, f"{bounds} is empty or inverted: the min must be below the max")
    below = low <= tunable.low if tunable.open_low else low < tunable.low
    if below or (tunable.high is not None and high > tunable.high):
        lower = "above" if tunable.open_low else "at least"
        upper = f" and at most {tunable.high:g}" if tunable.high is not None else ""
        raise _refuse(dataset, field, f"{bounds}: {name} must be {lower} {tunable.low:g}{upper}")


def check_tuning(dataset: str, where: str, settings: TuningSettings, metric_name: str) -> None:
    """Everything the tuning job would refuse, or would run wrong, refused here first."""
    for name, bounds in settings.ranges.items():
        _check_range(dataset, where, name, bounds)
    if settings.max_jobs > MAX_TRAINING_JOBS:
        raise _refuse(
            dataset,
            f"{where}.max_jobs",
            f"{settings.max_jobs} is more trials than the account allows per tuning job"
            f" ({MAX_TRAINING_JOBS}: SageMaker's automatic-model-tuning-limits)",
        )
    if settings.max_parallel_jobs > settings.max_jobs:
        raise _refuse(
            dataset,
            f"{where}.max_parallel_jobs",
            f"{settings.max_parallel_jobs} is more than max_jobs {settings.max_jobs}",
        )
    if settings.max_parallel_jobs > MAX_PARALLEL_TRAINING_JOBS:
        raise _refuse(
            dataset,
            f"{where}.max_parallel_jobs",
            f"{settings.max_parallel_jobs} is more parallel trials than the account's default quota"
            f" ({MAX_PARALLEL_TRAINING_JOBS}: SageMaker's automatic-model-tuning-limits)",
        )
    if settings.strategy == "Hyperband" and settings.early_stopping != "Off":
        # Hyperband stops trials itself: TrainingJobEarlyStoppingType must be Off with it
        # (docs: API_HyperParameterTuningJobConfig, TrainingJobEarlyStoppingType).
        raise _refuse(
            dataset,
            f"{where}.early_stopping",
            "must be Off with the Hyperband strategy (it stops trials itself)",
        )
    if settings.objective is not None and settings.objective != metric_name:
        raise _refuse(
            dataset,
            f"{where}.objective",
            f"{settings.objective!r} is not the gate's metric {metric_name}: a tuning job is judged"
            " by the metric its best model is gated on",
        )


def _number(value: RangeValue, kind: Kind) -> str:
    """ParameterValue is a string (API_IntegerParameterRange, API_ContinuousParameterRange)."""
    return str(int(value)) if kind == "integer" else repr(float(value))


def tuning_config(
    settings: TuningSettings, metric_name: str, direction: Literal["max", "min"]
) -> dict[str, Any]:
    """The CreateHyperParameterTuningJob HyperParameterTuningJobConfig for these settings."""
    ranges: dict[str, list[dict[str, str]]] = {
        "IntegerParameterRanges": [],
        "ContinuousParameterRanges": [],
        "CategoricalParameterRanges": [],
    }
    for name, (low, high) in sorted(settings.ranges.items()):
        kind = TUNABLE[name].kind
        key = "IntegerParameterRanges" if kind == "integer" else "ContinuousParameterRanges"
        ranges[key].append(
            {
                "Name": name,
                "MinValue": _number(low, kind),
                "MaxValue": _number(high, kind),
                "ScalingType": "Auto",
            }
        )
    return {
        "Strategy": settings.strategy,
        "HyperParameterTuningJobObjective": {
            "Type": "Maximize" if direction == "max" else "Minimize",
            "MetricName": metric_name,
        },
        "ResourceLimits": {
            "MaxNumberOfTrainingJobs": settings.max_jobs,
            "MaxParallelTrainingJobs": settings.max_parallel_jobs,
        },
        "ParameterRanges": ranges,
        "TrainingJobEarlyStoppingType": settings.early_stopping,
    }


def static_hyperparameters(hyperparameters: dict[str, str], settings: TuningSettings) -> dict[str, str]:
    """The fixed hyperparameters, less the searched ones (API_HyperParameterTrainingJobDefinition)."""
    return {key: value for key, value in hyperparameters.items() if key not in settings.ranges}


def tuning_plan(
    *,
    settings: TuningSettings,
    metric_name: str,
    direction: Literal["max", "min"],
    hyperparameters: dict[str, str],
    job_name_base: str,
) -> TuningPlan:
    """The plan's ``tuning``, from settings ``check_tuning`` has passed."""
    return TuningPlan(
        job_name_base=job_name_base,
        config=tuning_config(settings, metric_name, direction),
        static_hyperparameters=static_hyperparameters(hyperparameters, settings),
        warm_start=settings.warm_start,
        max_jobs=settings.max_jobs,
        max_parallel_jobs=settings.max_parallel_jobs,
    )
