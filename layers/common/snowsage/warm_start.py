"""Warm start: a dataset's tuning job starts from the tuning job that produced its champion.

With ``warm_start: true`` in the TUNING settings, PrepareRun looks for the parent: the dataset's
champion (the newest Approved package of its model package group, read as EvaluateModel reads it)
names the tuning job it came from in its metadata (``tuning_job``, snowsage/evaluation.py). That job
is described (DescribeHyperParameterTuningJob) and checked against the rules CreateHyperParameterTuningJob
enforces for a parent (docs: sagemaker/latest/dg/automatic-model-tuning-warm-start, "Warm Start Tuning
Restrictions"). The warm start type is always ``TransferLearning``: each run trains on a new export,
and IdenticalDataAndAlgorithm requires the parents' input data (API_HyperParameterTuningJobWarmStartConfig).

A warm start is an optimisation, never a reason to fail the run: no champion, a champion that was not
tuned, a parent the rules exclude or a registry that cannot be read make the run tune cold, and the
plan's ``tuning.warm_start_note`` says why.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from snowsage.errors import ModelPackageNotFound, RegistrationRefused, RegistryUnavailable
from snowsage.models import TuningPlan
from snowsage.registry import ModelPackage, SageMakerModelRegistry
from snowsage.tuning import MAX_TRAINING_JOBS

# API_HyperParameterTuningJobWarmStartConfig: WarmStartType.
WARM_START_TYPE = "TransferLearning"
# automatic-model-tuning-warm-start, "Warm Start Tuning Restrictions".
PARENT_STATUSES = frozenset({"Completed", "Stopped", "Failed"})
MAX_STATIC_CHANGES = 10
RANGE_KINDS = {
    "IntegerParameterRanges": "integer",
    "ContinuousParameterRanges": "continuous",
    "CategoricalParameterRanges": "categorical",
}


class WarmStartSources(Protocol):
    """What PrepareRun reads for a warm start: the champion, and its tuning job."""

    def latest_approved(self, group: str) -> ModelPackage | None: ...

    def describe_tuning_job(self, name: str) -> dict[str, Any]: ...


class SageMakerWarmStartSources:
    """The registry read as EvaluateModel reads it, and DescribeHyperParameterTuningJob."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._registry = SageMakerModelRegistry(client)

    def latest_approved(self, group: str) -> ModelPackage | None:
        return self._registry.latest_approved(group)

    def describe_tuning_job(self, name: str) -> dict[str, Any]:
        return dict(self._client.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name))


def _ranges(config: dict[str, Any]) -> dict[str, tuple[str, Any]]:
    """Hyperparameter -> (kind, its range) for every searched one."""
    found: dict[str, tuple[str, Any]] = {}
    for key, kind in RANGE_KINDS.items():
        for item in (config.get("ParameterRanges") or {}).get(key) or []:
            found[str(item["Name"])] = (kind, item)
    return found


def _static(definition: dict[str, Any]) -> dict[str, str]:
    # SageMaker may add its own keys ("_tuning_objective_metric") to what Describe returns: they are
    # not the user's hyperparameters, so they do not count either way.
    return {
        key: str(value)
        for key, value in (definition.get("StaticHyperParameters") or {}).items()
        if not key.startswith("_")
    }


def _changes(
    parent_ranges: dict[str, tuple[str, Any]], parent_static: dict[str, str], static: dict[str, str]
) -> int:
    """Tunable in the parent and static now (a categorical one counts each of its values), plus static
    values that changed, each counted 2 as the restrictions' example counts ``red`` -> ``blue``."""
    count = 0
    for name, value in static.items():
        if name in parent_ranges:
            kind, item = parent_ranges[name]
            count += len(item.get("Values") or []) if kind == "categorical" else 1
        elif name in parent_static and parent_static[name] != value:
            count += 2
    return count


def _problems(
    parent: dict[str, Any], config: dict[str, Any], static_hyperparameters: dict[str, str], max_jobs: int
) -> Iterator[str]:
    """The restrictions ``parent`` breaks, in the order they are checked (each only once the ones before
    it hold)."""
    name = parent.get("HyperParameterTuningJobName")
    status = parent.get("HyperParameterTuningJobStatus")
    if status not in PARENT_STATUSES:
        yield f"its tuning job {name} is {status}, not in a terminal state (Completed, Stopped or Failed)"
    parent_config = parent.get("HyperParameterTuningJobConfig") or {}
    parent_metric = (parent_config.get("HyperParameterTuningJobObjective") or {}).get("MetricName")
    metric = config["HyperParameterTuningJobObjective"]["MetricName"]
    if parent_metric != metric:
        yield f"its tuning job {name} was judged by {parent_metric}, this run by {metric}"
    parent_ranges = _ranges(parent_config)
    parent_static = _static(parent.get("TrainingJobDefinition") or {})
    ranges = _ranges(config)
    static = {key: value for key, value in static_hyperparameters.items() if not key.startswith("_")}
    if len(parent_ranges) + len(parent_static) != len(ranges) + len(static):
        yield (
            f"its tuning job {name} set {len(parent_ranges) + len(parent_static)} hyperparameters (static"
            f" plus tuned), this run {len(ranges) + len(static)}: the total must stay the same"
        )
    for hyperparameter, (kind, _) in ranges.items():
        if hyperparameter in parent_ranges and parent_ranges[hyperparameter][0] != kind:
            yield f"{hyperparameter} was {parent_ranges[hyperparameter][0]} in {name}, is {kind} now"
    changes = _changes(parent_ranges, parent_static, static)
    if changes > MAX_STATIC_CHANGES:
        yield f"{changes} static hyperparameter changes since {name}, more than {MAX_STATIC_CHANGES}"
    trials = sum(int(value) for value in (parent.get("TrainingJobStatusCounters") or {}).values())
    if trials + max_jobs > MAX_TRAINING_JOBS:
        yield (
            f"its tuning job {name} ran {trials} trials; with this run's {max_jobs} that is more than the"
            f" {MAX_TRAINING_JOBS} a tuning job may count"
        )


def parent_problem(
    parent: dict[str, Any], config: dict[str, Any], static_hyperparameters: dict[str, str], max_jobs: int
) -> str | None:
    """Why CreateHyperParameterTuningJob would refuse ``parent`` (its Describe) as a warm start parent for
    a job of this ``config`` and static hyperparameters; None when it is a valid parent."""
    return next(_problems(parent, config, static_hyperparameters, max_jobs), None)


class _Cold(Exception):
    """Why a run tunes cold."""


def _champions_tuning_job(group: str, sources: WarmStartSources) -> tuple[ModelPackage, dict[str, Any]]:
    """The champion and the Describe of the tuning job its metadata names; _Cold when there is none."""
    try:
        champion = sources.latest_approved(group)
    except (RegistryUnavailable, RegistrationRefused, ModelPackageNotFound) as error:
        raise _Cold(f"the champion cannot be read ({error})") from None
    if champion is None:
        raise _Cold(f"no Approved model package in {group} yet")
    parent_name = champion.metadata.get("tuning_job")
    if not parent_name:
        raise _Cold(f"champion v{champion.version} was trained without a tuning job")
    try:
        return champion, sources.describe_tuning_job(parent_name)
    except (BotoCoreError, ClientError) as error:
        raise _Cold(
            f"champion v{champion.version}'s tuning job {parent_name} cannot be read ({error})"
        ) from None


def _cold(plan: TuningPlan, why: str) -> TuningPlan:
    return plan.model_copy(update={"warm_start_config": None, "warm_start_note": f"tuning cold: {why}"})


def plan_warm_start(group: str, plan: TuningPlan, sources: WarmStartSources | None) -> TuningPlan:
    """The tuning plan with its WarmStartConfig from the champion's tuning job, or cold and why."""
    if not plan.warm_start:
        return plan
    if sources is None:
        return _cold(plan, "no model registry to read the champion from")
    try:
        champion, parent = _champions_tuning_job(group, sources)
    except _Cold as cold:
        return _cold(plan, str(cold))
    parent_name = str(parent["HyperParameterTuningJobName"])
    problem = parent_problem(parent, plan.config, plan.static_hyperparameters, plan.max_jobs)
    if problem is not None:
        return _cold(plan, f"champion v{champion.version} cannot be a warm start parent: {problem}")
    return plan.model_copy(
        update={
            "warm_start_config": {
                "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": parent_name}],
                "WarmStartType": WARM_START_TYPE,
            },
            "warm_start_note": f"warm start ({WARM_START_TYPE}) from champion v{champion.version}'s tuning"
            f" job {parent_name}",
        }
    )
