"""A dataset's TUNING: from its ML_DATASETS row or the execution input, checked in PrepareRun with
an error naming the field, and planned as a CreateHyperParameterTuningJob request botocore accepts."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from snowsage.errors import InvalidModelSettings
from snowsage.evaluation import tuning_metadata
from snowsage.models import FinalMetric, PrepareRunRequest, TrainingResult
from snowsage.names import tuning_job_name_base
from snowsage.prepare import prepare_run
from snowsage.settings import PrepareRunSettings
from snowsage.tuning import MAX_TRAINING_JOBS, check_tuning, parse_tuning
from tests.unit.botocore_shapes import request_problems
from tests.unit.builders import BUCKET, PREFIX, XGBOOST_IMAGE, store_for

NOW = datetime(2026, 11, 26, 10, 5, tzinfo=UTC)
SCORE_TABLE = ["ID", "SCORE", "RUN_ID", "EXPORT_ID", "MODEL_VERSION", "SCORED_AT"]
TUNING = {
    "max_jobs": 8,
    "max_parallel_jobs": 2,
    "strategy": "Random",
    "ranges": {"eta": [0.05, 0.5], "max_depth": [2, 8]},
    "early_stopping": "Auto",
}


def _prepare(
    document: dict[str, Any],
    settings: PrepareRunSettings,
    row_tuning: Any = None,
    input_tuning: Any = None,
    mode: str = "train_and_score",
) -> Any:
    document.update(
        version=2,
        model={
            "tuning": row_tuning
            if row_tuning is None or isinstance(row_tuning, str)
            else json.dumps(row_tuning)
        },
        label_summary={"distinct": 2, "min": 0, "max": 1, "non_integers": 0},
        predictions_columns=SCORE_TABLE,
    )
    execution_input: dict[str, Any] = {"manifest": f"s3://{BUCKET}/{PREFIX}manifest.json", "mode": mode}
    if input_tuning is not None:
        execution_input["tuning"] = input_tuning
    request = PrepareRunRequest(
        execution_name="merchant_risk-20261126t100000z",
        input=execution_input,
        xgboost_image_uri=XGBOOST_IMAGE,
    )
    return prepare_run(request, settings, store_for(document), now=NOW)


def test_no_tuning_column_no_tuning(document: dict[str, Any], settings: PrepareRunSettings) -> None:
    plan = _prepare(document, settings)
    assert plan.tuning is None
    assert "tuning" not in plan.model.sources


def test_a_row_tuning_plans_a_tuning_job_judged_by_the_gates_metric(
    document: dict[str, Any], settings: PrepareRunSettings
) -> None:
    plan = _prepare(document, settings, row_tuning=TUNING)
    tuning = plan.tuning
    assert tuning is not None
    assert plan.model.sources["tuning"] == "ML_DATASETS"
    assert tuning.config["HyperParameterTuningJobObjective"] == {
        "Type": "Maximize",
        "MetricName": plan.evaluation.metric_name,
    }
    assert tuning.config["ResourceLimits"] == {"MaxNumberOfTrainingJobs": 8, "MaxParallelTrainingJobs": 2}
    assert tuning.config["ParameterRanges"]["IntegerParameterRanges"] == [
        {"Name": "max_depth", "MinValue": "2", "MaxValue": "8", "ScalingType": "Auto"}
    ]
    assert tuning.config["ParameterRanges"]["ContinuousParameterRanges"] == [
        {"Name": "eta", "MinValue": "0.05", "MaxValue": "0.5", "ScalingType": "Auto"}
    ]
    assert tuning.config["TrainingJobEarlyStoppingType"] == "Auto"
    # A searched hyperparameter is never also static.
    assert "max_depth" not in tuning.static_hyperparameters and "eta" not in tuning.static_hyperparameters
    assert tuning.static_hyperparameters["objective"] == "binary:logistic"
    assert tuning.job_name_base == tuning_job_name_base(settings.resource_prefix, plan.run_id)


def test_a_minimised_metric_is_minimised(document: dict[str, Any], settings: PrepareRunSettings) -> None:
    document_model = {
        "objective": "reg:squarederror",
        "evaluation_threshold": 5.0,
        "tuning": json.dumps(TUNING),
    }
    document.update(
        version=2,
        model=document_model,
        label_summary={"distinct": 50, "min": 0, "max": 90, "non_integers": 10},
        predictions_columns=SCORE_TABLE,
    )
    request = PrepareRunRequest(
        execution_name="merchant_risk-20261126t100000z",
        input={"manifest": f"s3://{BUCKET}/{PREFIX}manifest.json"},
        xgboost_image_uri=XGBOOST_IMAGE,
    )
    plan = prepare_run(request, settings, store_for(document), now=NOW)
    assert plan.tuning.config["HyperParameterTuningJobObjective"] == {
        "Type": "Minimize",
        "MetricName": "validation:rmse",
    }


def test_the_input_tuning_replaces_the_rows(document: dict[str, Any], settings: PrepareRunSettings) -> None:
    plan = _prepare(
        document, settings, row_tuning=TUNING, input_tuning={"max_jobs": 3, "ranges": {"num_round": [10, 50]}}
    )
    assert plan.model.sources["tuning"] == "execution input"
    assert plan.tuning.config["ResourceLimits"] == {
        "MaxNumberOfTrainingJobs": 3,
        "MaxParallelTrainingJobs": 1,
    }
    assert plan.tuning.config["Strategy"] == "Bayesian"
    assert plan.tuning.config["ParameterRanges"]["ContinuousParameterRanges"] == []
    # num_round is the template's (static) hyperparameter: searched, it is static no more.
    assert plan.training.hyperparameters["num_round"] == "50"
    assert "num_round" not in plan.tuning.static_hyperparameters


def test_a_score_only_run_does_not_tune(document: dict[str, Any], settings: PrepareRunSettings) -> None:
    plan = _prepare(document, settings, row_tuning=TUNING, mode="score_only")
    assert plan.tuning is None


def test_the_tuning_job_name_fits_the_api_with_its_retry_suffix() -> None:
    base = tuning_job_name_base("snowsageprod", "x" * 40)
    assert len(f"{base}-t9") <= 32
    assert tuning_job_name_base("snowsage", "run-a") != tuning_job_name_base("snowsage", "run-b")


def test_the_planned_request_is_one_botocore_accepts(
    document: dict[str, Any], settings: PrepareRunSettings
) -> None:
    plan = _prepare(document, settings, row_tuning=TUNING)
    request = {
        "HyperParameterTuningJobName": f"{plan.tuning.job_name_base}-t0",
        "HyperParameterTuningJobConfig": plan.tuning.config,
        "TrainingJobDefinition": {
            "StaticHyperParameters": plan.tuning.static_hyperparameters,
            "AlgorithmSpecification": {
                "TrainingImage": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/xgboost:1.7-1",
                "TrainingInputMode": "File",
            },
            "RoleArn": "arn:aws:iam::123456789012:role/snowsage-sagemaker",
            "OutputDataConfig": {"S3OutputPath": plan.training.output_uri},
            "ResourceConfig": plan.training.resource_config.model_dump(),
            "StoppingCondition": plan.training.stopping_condition,
        },
    }
    assert request_problems("sagemaker", "CreateHyperParameterTuningJob", request) == []


ROW = "dataset merchant_risk: ML_DATASETS.TUNING"
INPUT = "dataset merchant_risk: execution input 'tuning'"


def _with(**changes: Any) -> dict[str, Any]:
    return {**TUNING, **changes}


@pytest.mark.parametrize(
    ("tuning", "message"),
    [
        ("{not json", f"{ROW} is not JSON"),
        ("[1, 2]", f"{ROW} must be a JSON object, not list"),
        (_with(ranges={"eta": [0.5, 0.05]}), f"{ROW}.ranges.eta [0.5, 0.05] is empty or inverted"),
        (_with(ranges={"eta": [0.3, 0.3]}), f"{ROW}.ranges.eta [0.3, 0.3] is empty or inverted"),
        (_with(ranges={"gamma": [0, 1]}), f"{ROW}.ranges.gamma names a hyperparameter that cannot be tuned"),
        (_with(ranges={"max_depth": [2.5, 8]}), f"{ROW}.ranges.max_depth [2.5, 8]: max_depth is an integer"),
        (_with(ranges={"eta": [0.1]}), f"{ROW}.ranges.eta must be [min, max], not 1 value(s)"),
        (_with(ranges={"subsample": [0, 1]}), f"{ROW}.ranges.subsample [0, 1]: subsample must be above 0"),
        (_with(ranges={"eta": [0.1, 2]}), f"{ROW}.ranges.eta [0.1, 2]: eta must be at least 0 and at most 1"),
        (_with(ranges={}), f"{ROW} is not valid: ranges: Dictionary should have at least 1 item"),
        (_with(strategy="Genetic"), f"{ROW} is not valid: strategy: Input should be 'Bayesian', 'Random'"),
        (_with(early_stopping="Sometimes"), f"{ROW} is not valid: early_stopping: Input should be 'Auto'"),
        (
            _with(strategy="Hyperband", early_stopping="Auto"),
            f"{ROW}.early_stopping must be Off with the Hyperband strategy",
        ),
        (_with(max_parallel_jobs=9), f"{ROW}.max_parallel_jobs 9 is more than max_jobs 8"),
        (_with(max_jobs=0), f"{ROW} is not valid: max_jobs: Input should be greater than or equal to 1"),
        (
            _with(max_jobs=MAX_TRAINING_JOBS + 1),
            f"{ROW}.max_jobs 751 is more trials than the account allows per tuning job (750",
        ),
        (
            _with(max_jobs=20, max_parallel_jobs=11),
            f"{ROW}.max_parallel_jobs 11 is more parallel trials than the account's default quota (10",
        ),
        (
            _with(objective="validation:logloss"),
            f"{ROW}.objective 'validation:logloss' is not the gate's metric validation:auc",
        ),
        (_with(budget=3), f"{ROW} is not valid: budget: Extra inputs are not permitted"),
    ],
)
def test_bad_row_tuning_is_refused_naming_the_field(
    document: dict[str, Any], settings: PrepareRunSettings, tuning: Any, message: str
) -> None:
    with pytest.raises(InvalidModelSettings, match=f"^{re.escape(message)}"):
        _prepare(document, settings, row_tuning=tuning)


def test_bad_input_tuning_names_the_input_key(document: dict[str, Any], settings: PrepareRunSettings) -> None:
    with pytest.raises(InvalidModelSettings, match=f"^{re.escape(INPUT)}.ranges.eta"):
        _prepare(document, settings, input_tuning=_with(ranges={"eta": [0.5, 0.1]}))


def test_a_tuned_models_package_names_its_tuning_job_and_winning_values() -> None:
    training = TrainingResult(
        job_name="snowsage-0123456789ab-t0-003-1a2b3c4d",
        model_data_url="s3://b/models/x/model.tar.gz",
        final_metrics=[FinalMetric(MetricName="validation:auc", Value=0.9)],
        tuning_job="snowsage-0123456789ab-t0",
        tuned_hyperparameters={"max_depth": "4", "eta": "0.21"},
    )
    assert tuning_metadata(training) == {
        "tuning_job": "snowsage-0123456789ab-t0",
        "tuned.eta": "0.21",
        "tuned.max_depth": "4",
    }
    untuned = TrainingResult(job_name="j", model_data_url="s3://b/k")
    assert tuning_metadata(untuned) == {}


@pytest.mark.parametrize("name", ["tuning.json", "tuning_warm_start.json"])
def test_the_console_tuning_inputs_in_events_are_valid(name: str) -> None:
    document = json.loads((Path(__file__).parents[2] / "events/statemachine" / name).read_text())
    settings = parse_tuning("merchant_risk", "execution input 'tuning'", document["tuning"])
    assert settings is not None
    check_tuning("merchant_risk", "execution input 'tuning'", settings, "validation:auc")
