"""Warm start tuning jobs in the emulator: the parents checked as CreateHyperParameterTuningJob checks them,
and their evaluated configurations tried first.

Details: sandbox/sagemaker/README.md, "warm_start.py".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sandbox.sagemaker.errors import validation_error

WARM_START_TYPES = ("IdenticalDataAndAlgorithm", "TransferLearning")
MAX_PARENTS = 5
TERMINAL = frozenset({"Completed", "Stopped", "Failed"})
MAX_STATIC_CHANGES = 10
MAX_TRAINING_JOBS = 750  # automatic-model-tuning-limits: training jobs per tuning job
RANGE_KEYS = {
    "IntegerParameterRanges": "integer",
    "ContinuousParameterRanges": "continuous",
    "CategoricalParameterRanges": "categorical",
}


def range_kinds(config: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    kinds: dict[str, tuple[str, dict[str, Any]]] = {}
    for key, kind in RANGE_KEYS.items():
        for item in (config.get("ParameterRanges") or {}).get(key) or []:
            kinds[str(item["Name"])] = (kind, item)
    return kinds


def _statics(definition: dict[str, Any]) -> dict[str, str]:
    """The user's static hyperparameters: not the objective SageMaker adds to every trial (tuning.py)."""
    given = definition.get("StaticHyperParameters") or {}
    return {str(key): str(value) for key, value in given.items() if key != "_tuning_objective_metric"}


def _static_changes(parent: dict[str, Any], request: dict[str, Any]) -> int:
    parent_ranges = range_kinds(parent["HyperParameterTuningJobConfig"])
    parent_static = _statics(parent["TrainingJobDefinition"])
    changes = 0
    for name, value in _statics(request["TrainingJobDefinition"]).items():
        if name in parent_ranges:
            kind, item = parent_ranges[name]
            changes += len(item.get("Values") or []) if kind == "categorical" else 1
        elif name in parent_static and parent_static[name] != value:
            changes += 2
    return changes


def _data_and_image(definition: dict[str, Any]) -> tuple[str, list[str]]:
    uris = [
        str(channel["DataSource"]["S3DataSource"]["S3Uri"])
        for channel in definition.get("InputDataConfig") or []
    ]
    return str(definition["AlgorithmSpecification"].get("TrainingImage")), uris


def check_parent(parent: dict[str, Any], trials: int, request: dict[str, Any], warm_type: str) -> None:
    """``parent``: its tuning job's record; ``trials``: how many trials it ran."""
    name = parent["HyperParameterTuningJobName"]
    if parent["HyperParameterTuningJobStatus"] not in TERMINAL:
        raise validation_error(
            f"The parent tuning job {name} is {parent['HyperParameterTuningJobStatus']}: parent jobs must be"
            " Completed, Stopped or Failed"
        )
    config = request["HyperParameterTuningJobConfig"]
    metric = config["HyperParameterTuningJobObjective"]["MetricName"]
    parent_metric = parent["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"]["MetricName"]
    if parent_metric != metric:
        raise validation_error(
            f"The objective metric {metric} is not the objective metric {parent_metric} of parent tuning"
            f" job {name}"
        )
    parent_ranges, ranges = range_kinds(parent["HyperParameterTuningJobConfig"]), range_kinds(config)
    parent_total = len(parent_ranges) + len(_statics(parent["TrainingJobDefinition"]))
    total = len(ranges) + len(_statics(request["TrainingJobDefinition"]))
    if parent_total != total:
        raise validation_error(
            f"The number of static plus tunable hyperparameters ({total}) must be the same as in parent"
            f" tuning job {name} ({parent_total})"
        )
    for hyperparameter, (kind, _) in ranges.items():
        if hyperparameter in parent_ranges and parent_ranges[hyperparameter][0] != kind:
            raise validation_error(
                f"The type of hyperparameter {hyperparameter} ({kind}) must be the same as in parent tuning"
                f" job {name} ({parent_ranges[hyperparameter][0]})"
            )
    changes = _static_changes(parent, request)
    if changes > MAX_STATIC_CHANGES:
        raise validation_error(
            f"{changes} changes of static hyperparameters from parent tuning job {name}: at most"
            f" {MAX_STATIC_CHANGES} are allowed"
        )
    limit = int(config["ResourceLimits"].get("MaxNumberOfTrainingJobs", 1))
    if trials + limit > MAX_TRAINING_JOBS:
        raise validation_error(
            f"The training jobs of parent tuning job {name} ({trials}) and MaxNumberOfTrainingJobs ({limit})"
            f" are more than the {MAX_TRAINING_JOBS} a tuning job may count"
        )
    if warm_type == "IdenticalDataAndAlgorithm" and _data_and_image(parent["TrainingJobDefinition"]) != (
        _data_and_image(request["TrainingJobDefinition"])
    ):
        raise validation_error(
            f"IdenticalDataAndAlgorithm needs the training image and input data of parent tuning job {name}"
        )


def check_warm_start(
    request: dict[str, Any], find_parent: Callable[[str], tuple[dict[str, Any], int]]
) -> None:
    """Refuse a WarmStartConfig AWS refuses; ``find_parent`` gives a job's record and trial count."""
    warm = request.get("WarmStartConfig")
    if warm is None:
        return
    warm_type = warm.get("WarmStartType")
    if warm_type not in WARM_START_TYPES:
        raise validation_error(
            f"1 validation error detected: Value '{warm_type}' at 'warmStartConfig.warmStartType' failed to"
            f" satisfy constraint: Member must satisfy enum value set: [{', '.join(WARM_START_TYPES)}]"
        )
    parents = warm.get("ParentHyperParameterTuningJobs") or []
    if not 1 <= len(parents) <= MAX_PARENTS:
        raise validation_error(
            "1 validation error detected: Value at 'warmStartConfig.parentHyperParameterTuningJobs' failed to"
            f" satisfy constraint: Member must have length between 1 and {MAX_PARENTS}"
        )
    for parent in parents:
        record, trials = find_parent(str(parent.get("HyperParameterTuningJobName")))
        check_parent(record, trials, request, warm_type)


def _clip(value: str, kind: str, item: dict[str, Any]) -> str:
    if kind == "categorical":
        values = [str(v) for v in item.get("Values") or []]
        return value if value in values else values[0]
    low, high = float(item["MinValue"]), float(item["MaxValue"])
    number = min(max(float(value), low), high)
    return str(round(number)) if kind == "integer" else repr(number)


def seed_configurations(
    evaluated: list[tuple[float, dict[str, str]]],
    config: dict[str, Any],
    sample: Callable[[], dict[str, str]],
) -> list[dict[str, str]]:
    """The first trials of a warm-started job: the parents' evaluated configurations, best first
    (``evaluated``: (objective, tuned values)), each completed by ``sample`` for a hyperparameter the
    parent did not search and clipped into this job's ranges."""
    limits = config["ResourceLimits"]
    count = max(1, int(limits.get("MaxNumberOfTrainingJobs", 1)) // 4)
    maximize = config["HyperParameterTuningJobObjective"]["Type"] == "Maximize"
    ranked = sorted(evaluated, key=lambda pair: pair[0], reverse=maximize)
    kinds = range_kinds(config)
    seeds: list[dict[str, str]] = []
    for _, tuned in ranked[:count]:
        values = sample()
        for name, (kind, item) in kinds.items():
            if name in tuned:
                values[name] = _clip(tuned[name], kind, item)
        seeds.append(values)
    return seeds
