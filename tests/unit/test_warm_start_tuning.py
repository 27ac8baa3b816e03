"""Warm start: PrepareRun plans the tuning job's WarmStartConfig from the champion's tuning
job, TransferLearning, when AWS's warm start restrictions allow it; otherwise the run tunes cold and
the plan says why (snowsage/warm_start.py). Never a failed run for it."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from snowsage.errors import RegistryUnavailable
from snowsage.models import PrepareRunRequest, RunPlan
from snowsage.prepare import prepare_run
from snowsage.registry import ModelPackage
from snowsage.settings import PrepareRunSettings
from snowsage.warm_start import WarmStartSources, parent_problem
from tests.unit.botocore_shapes import request_problems
from tests.unit.builders import BUCKET, PREFIX, XGBOOST_IMAGE, store_for
from tests.unit.test_tuning import NOW, SCORE_TABLE, TUNING

GROUP = "snowsage-merchant-risk"
PARENT = "snowsage-0123456789ab-t0"
WARM = {**TUNING, "warm_start": True}


class Sources:
    """The champion and the tuning jobs PrepareRun may read; ``fail`` makes a read raise."""

    def __init__(
        self,
        champion: ModelPackage | None = None,
        jobs: dict[str, dict[str, Any]] | None = None,
        fail: Exception | None = None,
    ) -> None:
        self.champion = champion
        self.jobs = jobs or {}
        self.fail = fail
        self.groups: list[str] = []

    def latest_approved(self, group: str) -> ModelPackage | None:
        self.groups.append(group)
        if isinstance(self.fail, RegistryUnavailable):
            raise self.fail
        return self.champion

    def describe_tuning_job(self, name: str) -> dict[str, Any]:
        if isinstance(self.fail, ClientError):
            raise self.fail
        return copy.deepcopy(self.jobs[name])


def champion(metadata: dict[str, str]) -> ModelPackage:
    return ModelPackage(
        arn=f"arn:aws:sagemaker:eu-west-1:123456789012:model-package/{GROUP}/3",
        group=GROUP,
        version=3,
        approval_status="Approved",
        image_uri=XGBOOST_IMAGE,
        model_data_url="s3://b/models/x/model.tar.gz",
        metadata={"metric_name": "validation:auc", "metric_value": "0.9", **metadata},
    )


def _prepare(
    document: dict[str, Any],
    settings: PrepareRunSettings,
    sources: WarmStartSources | None,
    tuning: Any = WARM,
) -> RunPlan:
    document.update(
        version=2,
        model={"tuning": json.dumps(tuning)},
        label_summary={"distinct": 2, "min": 0, "max": 1, "non_integers": 0},
        predictions_columns=SCORE_TABLE,
    )
    request = PrepareRunRequest(
        execution_name="merchant_risk-20261126t100000z",
        input={"manifest": f"s3://{BUCKET}/{PREFIX}manifest.json"},
        xgboost_image_uri=XGBOOST_IMAGE,
    )
    return prepare_run(request, settings, store_for(document), now=NOW, warm_start_sources=sources)


def parent_like(plan: RunPlan, **changes: Any) -> dict[str, Any]:
    """The Describe of a tuning job run with this plan's settings (as the previous run's was)."""
    assert plan.tuning is not None
    described: dict[str, Any] = {
        "HyperParameterTuningJobName": PARENT,
        "HyperParameterTuningJobStatus": "Completed",
        "HyperParameterTuningJobConfig": copy.deepcopy(plan.tuning.config),
        "TrainingJobDefinition": {
            # SageMaker's own key in Describe is not the user's: it counts neither way.
            "StaticHyperParameters": {**plan.tuning.static_hyperparameters, "_tuning_objective_metric": "x"}
        },
        "TrainingJobStatusCounters": {
            "Completed": 7,
            "InProgress": 0,
            "RetryableError": 0,
            "NonRetryableError": 1,
            "Stopped": 0,
        },
    }
    described.update(changes)
    return described


@pytest.fixture
def cold_plan(document: dict[str, Any], settings: PrepareRunSettings) -> RunPlan:
    return _prepare(copy.deepcopy(document), settings, None)


def test_a_champion_from_a_tuning_job_warm_starts_the_next_one_with_transfer_learning(
    document: dict[str, Any], settings: PrepareRunSettings, cold_plan: RunPlan
) -> None:
    sources = Sources(champion({"tuning_job": PARENT}), {PARENT: parent_like(cold_plan)})
    plan = _prepare(document, settings, sources)
    assert sources.groups == [GROUP] == [plan.model_package_group]
    assert plan.tuning is not None
    assert plan.tuning.warm_start_config == {
        "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": PARENT}],
        "WarmStartType": "TransferLearning",
    }
    assert (
        plan.tuning.warm_start_note == f"warm start (TransferLearning) from champion v3's tuning job {PARENT}"
    )


def test_the_warm_request_is_one_botocore_accepts(
    document: dict[str, Any], settings: PrepareRunSettings, cold_plan: RunPlan
) -> None:
    plan = _prepare(
        document, settings, Sources(champion({"tuning_job": PARENT}), {PARENT: parent_like(cold_plan)})
    )
    assert plan.tuning is not None and plan.training is not None
    request = {
        "HyperParameterTuningJobName": f"{plan.tuning.job_name_base}-t0",
        "HyperParameterTuningJobConfig": plan.tuning.config,
        "TrainingJobDefinition": {
            "StaticHyperParameters": plan.tuning.static_hyperparameters,
            "AlgorithmSpecification": {"TrainingImage": XGBOOST_IMAGE, "TrainingInputMode": "File"},
            "RoleArn": "arn:aws:iam::123456789012:role/snowsage-sagemaker",
            "OutputDataConfig": {"S3OutputPath": plan.training.output_uri},
            "ResourceConfig": plan.training.resource_config.model_dump(),
            "StoppingCondition": plan.training.stopping_condition,
        },
        "WarmStartConfig": plan.tuning.warm_start_config,
    }
    assert request_problems("sagemaker", "CreateHyperParameterTuningJob", request) == []


def test_no_warm_start_asked_reads_nothing(document: dict[str, Any], settings: PrepareRunSettings) -> None:
    sources = Sources(fail=RegistryUnavailable("must not be called"))
    plan = _prepare(document, settings, sources, tuning=TUNING)
    assert plan.tuning is not None
    assert (plan.tuning.warm_start_config, plan.tuning.warm_start_note, sources.groups) == (None, None, [])


@pytest.mark.parametrize(
    ("sources", "why"),
    [
        (Sources(), f"no Approved model package in {GROUP} yet"),
        (Sources(champion({})), "champion v3 was trained without a tuning job"),
        (
            Sources(fail=RegistryUnavailable("cannot list the model packages: Throttling")),
            "the champion cannot be read (cannot list the model packages: Throttling)",
        ),
        (
            Sources(
                champion({"tuning_job": PARENT}),
                fail=ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "Describe"),
            ),
            f"champion v3's tuning job {PARENT} cannot be read",
        ),
        (None, "no model registry to read the champion from"),
    ],
)
def test_without_a_usable_champion_the_run_tunes_cold_and_says_why(
    document: dict[str, Any], settings: PrepareRunSettings, sources: Sources | None, why: str
) -> None:
    plan = _prepare(document, settings, sources)
    assert plan.tuning is not None
    assert plan.tuning.warm_start_config is None
    assert (plan.tuning.warm_start_note or "").startswith(f"tuning cold: {why}")


def _ranges_with(plan: RunPlan, **kinds: str) -> dict[str, Any]:
    """The plan's config with each named range moved to another kind of range."""
    assert plan.tuning is not None
    config = copy.deepcopy(plan.tuning.config)
    ranges = config["ParameterRanges"]
    for name, key in kinds.items():
        for kind in ("IntegerParameterRanges", "ContinuousParameterRanges"):
            moved = [item for item in ranges[kind] if item["Name"] == name]
            ranges[kind] = [item for item in ranges[kind] if item["Name"] != name]
            ranges[key] += moved
    return config


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (
            lambda plan: {"HyperParameterTuningJobStatus": "InProgress"},
            f"its tuning job {PARENT} is InProgress, not in a terminal state",
        ),
        (
            lambda plan: {
                "HyperParameterTuningJobConfig": {
                    **plan.tuning.config,
                    "HyperParameterTuningJobObjective": {
                        "Type": "Minimize",
                        "MetricName": "validation:logloss",
                    },
                }
            },
            f"its tuning job {PARENT} was judged by validation:logloss, this run by validation:auc",
        ),
        (
            lambda plan: {
                "TrainingJobDefinition": {"StaticHyperParameters": {"objective": "binary:logistic"}}
            },
            f"its tuning job {PARENT} set 3 hyperparameters (static plus tuned), this run 5",
        ),
        (
            lambda plan: {"HyperParameterTuningJobConfig": _ranges_with(plan, eta="IntegerParameterRanges")},
            f"eta was integer in {PARENT}, is continuous now",
        ),
        (
            lambda plan: {"TrainingJobStatusCounters": {"Completed": 745}},
            f"its tuning job {PARENT} ran 745 trials; with this run's 8 that is more than the 750",
        ),
    ],
)
def test_a_parent_aws_would_refuse_makes_the_run_tune_cold(
    document: dict[str, Any], settings: PrepareRunSettings, cold_plan: RunPlan, change: Any, why: str
) -> None:
    sources = Sources(champion({"tuning_job": PARENT}), {PARENT: parent_like(cold_plan, **change(cold_plan))})
    plan = _prepare(document, settings, sources)
    assert plan.tuning is not None
    assert plan.tuning.warm_start_config is None
    assert (plan.tuning.warm_start_note or "").startswith(
        f"tuning cold: champion v3 cannot be a warm start parent: {why}"
    )


def test_more_than_ten_static_changes_since_the_parent_are_refused() -> None:
    """automatic-model-tuning-warm-start: tunable -> static, plus changed static values (2 each, as the
    page's red -> blue example), at most 10."""
    config = {
        "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "validation:auc"},
        "ParameterRanges": {
            "ContinuousParameterRanges": [{"Name": "eta", "MinValue": "0.1", "MaxValue": "0.5"}]
        },
    }
    statics = {f"h{index}": "1" for index in range(6)}
    parent = {
        "HyperParameterTuningJobName": PARENT,
        "HyperParameterTuningJobStatus": "Completed",
        "HyperParameterTuningJobConfig": config,
        "TrainingJobDefinition": {"StaticHyperParameters": statics},
    }
    five_changed = {**statics, **{f"h{index}": "2" for index in range(5)}}
    assert parent_problem(parent, config, five_changed, 8) is None
    six_changed = {f"h{index}": "2" for index in range(6)}
    assert parent_problem(parent, config, six_changed, 8) == (
        f"12 static hyperparameter changes since {PARENT}, more than 10"
    )
