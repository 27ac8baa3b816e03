"""A dataset's model settings: template, then its ML_DATASETS row, then the execution input; each
bad setting refused in PrepareRun with a message naming the dataset and the column."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from snowsage.errors import InvalidExecutionInput, InvalidModelSettings
from snowsage.model_settings import TemplateDefaults, resolve_model
from snowsage.models import DatasetModel, ExecutionInput, LabelSummary, PrepareRunRequest
from snowsage.plan import output_filter
from snowsage.prepare import parse_execution_input, prepare_run
from snowsage.settings import PrepareRunSettings
from tests.unit.builders import BUCKET, PREFIX, XGBOOST_IMAGE, store_for

TEMPLATE = TemplateDefaults(
    hyperparameters={
        "objective": "binary:logistic",
        "eval_metric": "auc",
        "num_round": "300",
        "max_depth": "5",
    },
    evaluation_metric="validation:auc",
    evaluation_threshold=0.75,
)
INPUT = ExecutionInput(manifest="s3://b/k")
BINARY_LABELS = LabelSummary(distinct=2, min=0, max=1, non_integers=0)
THREE_CLASSES = LabelSummary(distinct=3, min=0, max=2, non_integers=0)


def _resolve(
    row: dict[str, Any] | None = None,
    request: dict[str, Any] | None = None,
    labels: LabelSummary | None = BINARY_LABELS,
) -> Any:
    return resolve_model(
        dataset="segment",
        label_column="SEGMENT",
        template=TEMPLATE,
        row=DatasetModel(**row) if row is not None else None,
        request=ExecutionInput(manifest="s3://b/k", **(request or {})),
        labels=labels,
    )


def _refused(message: str, **kwargs: Any) -> None:
    with pytest.raises(InvalidModelSettings, match=f"^{re.escape(message)}"):
        _resolve(**kwargs)


def test_a_row_without_settings_keeps_the_template_defaults() -> None:
    resolved = _resolve(row={})
    assert resolved.plan.objective == "binary:logistic" and resolved.plan.problem == "binary"
    assert (resolved.metric_name, resolved.threshold) == ("validation:auc", 0.75)
    assert resolved.hyperparameters == {
        "num_round": "300",
        "max_depth": "5",
        "objective": "binary:logistic",
        "eval_metric": "auc",
    }
    assert resolved.plan.sources == {
        "objective": "template",
        "evaluation_metric": "template",
        "evaluation_threshold": "template",
        "hyperparameters.num_round": "template",
        "hyperparameters.max_depth": "template",
        "training_instance_count": "template",
        "transform_instance_count": "template",
        "training_engine": "default",
        "scoring_engine": "default",
    }
    assert resolved.plan.training_engine == "SAGEMAKER"


def test_template_then_row_then_input_each_source_recorded() -> None:
    resolved = _resolve(
        row={"evaluation_threshold": 0.8, "hyperparameters": '{"max_depth": 3, "eta": 0.2}'},
        request={"evaluation_threshold": 0.85, "hyperparameters": {"eta": 0.05, "subsample": True}},
    )
    assert resolved.threshold == 0.85
    assert resolved.hyperparameters["max_depth"] == "3"
    assert resolved.hyperparameters["eta"] == "0.05"
    assert resolved.hyperparameters["subsample"] == "true"
    assert resolved.plan.sources["evaluation_threshold"] == "execution input"
    assert resolved.plan.sources["hyperparameters.max_depth"] == "ML_DATASETS"
    assert resolved.plan.sources["hyperparameters.eta"] == "execution input"
    assert resolved.plan.sources["hyperparameters.num_round"] == "template"
    assert resolved.plan.sources["evaluation_metric"] == "template"


def test_a_regression_row_with_its_metric_and_maximum() -> None:
    resolved = _resolve(
        row={
            "objective": "reg:squarederror",
            "evaluation_metric": "validation:rmse",
            "evaluation_threshold": 12.5,
        },
        labels=LabelSummary(distinct=500, min=3.2, max=980.5, non_integers=480),
    )
    assert resolved.plan.problem == "regression"
    assert (resolved.metric_name, resolved.threshold) == ("validation:rmse", 12.5)
    assert resolved.hyperparameters["objective"] == "reg:squarederror"
    assert resolved.hyperparameters["eval_metric"] == "rmse"
    assert resolved.plan.sources["objective"] == "ML_DATASETS"


def test_a_row_objective_of_another_kind_defaults_its_metric_but_needs_a_threshold() -> None:
    _refused(
        "dataset segment: ML_DATASETS.EVALUATION_THRESHOLD is not set: validation:rmse is not the"
        " template's metric (validation:auc), so the dataset's row must set the threshold it is judged by",
        row={"objective": "reg:squarederror"},
    )
    resolved = _resolve(row={"objective": "reg:squarederror", "evaluation_threshold": 3.0})
    assert resolved.metric_name == "validation:rmse"
    assert resolved.plan.sources["evaluation_metric"] == "default for reg:squarederror"


def test_multiclass_counts_its_classes_from_the_labels() -> None:
    resolved = _resolve(
        row={"objective": "multi:softprob", "evaluation_threshold": 0.9}, labels=THREE_CLASSES
    )
    assert resolved.metric_name == "validation:mlogloss"
    assert resolved.plan.num_class == 3
    assert resolved.hyperparameters["num_class"] == "3"
    assert resolved.plan.sources["hyperparameters.num_class"] == "labels"


def test_multiclass_num_class_set_in_the_row_wins() -> None:
    resolved = _resolve(
        row={
            "objective": "multi:softprob",
            "evaluation_threshold": 0.9,
            "hyperparameters": '{"num_class": 4}',
        },
        labels=THREE_CLASSES,
    )
    assert resolved.plan.num_class == 4
    assert resolved.plan.sources["hyperparameters.num_class"] == "ML_DATASETS"


def test_the_training_engine_is_the_rows_then_the_inputs() -> None:
    """Issue 12: TRAINING_ENGINE in the row, "training_engine" in the input, SAGEMAKER by default."""
    row = _resolve(row={"training_engine": "SNOWFLAKE"})
    assert row.plan.training_engine == "SNOWFLAKE" and row.plan.sources["training_engine"] == "ML_DATASETS"
    over = _resolve(row={"training_engine": "SNOWFLAKE"}, request={"training_engine": "SAGEMAKER"})
    assert over.plan.training_engine == "SAGEMAKER"
    assert over.plan.sources["training_engine"] == "execution input"
    # The engine does not change what is trained: same hyperparameters, metric and threshold.
    assert (row.hyperparameters, row.metric_name, row.threshold) == (
        over.hyperparameters,
        over.metric_name,
        over.threshold,
    )


def test_the_scoring_engine_is_the_rows_then_the_inputs_and_independent_of_training() -> None:
    """SCORING_ENGINE in the row, "scoring_engine" in the input, SAGEMAKER by default."""
    row = _resolve(row={"scoring_engine": "SNOWFLAKE"})
    assert (row.plan.scoring_engine, row.plan.training_engine) == ("SNOWFLAKE", "SAGEMAKER")
    assert row.plan.sources["scoring_engine"] == "ML_DATASETS"
    over = _resolve(row={"scoring_engine": "SNOWFLAKE"}, request={"scoring_engine": "SAGEMAKER"})
    assert (over.plan.scoring_engine, over.plan.sources["scoring_engine"]) == ("SAGEMAKER", "execution input")
    both = _resolve(request={"scoring_engine": "SNOWFLAKE", "training_engine": "SNOWFLAKE"})
    assert (both.plan.scoring_engine, both.plan.training_engine) == ("SNOWFLAKE", "SNOWFLAKE")


def test_an_execution_input_with_an_unknown_engine_is_refused() -> None:
    with pytest.raises(InvalidExecutionInput, match=r"training_engine.*'SAGEMAKER' or 'SNOWFLAKE'"):
        parse_execution_input({"manifest": "s3://b/k", "training_engine": "snowflake"})


@pytest.mark.parametrize(
    ("case", "message"),
    [
        (
            {"row": {"objective": "reg:linearish"}},
            "dataset segment: ML_DATASETS.OBJECTIVE 'reg:linearish' is not an objective this pipeline"
            " trains, scores and loads; use one of binary:logistic,",
        ),
        (
            {"row": {"objective": "multi:softmax"}},
            "dataset segment: ML_DATASETS.OBJECTIVE 'multi:softmax' is not an objective",
        ),
        (
            {"request": {"objective": "rank:pairwise"}},
            "dataset segment: execution input 'objective' 'rank:pairwise' is not an objective",
        ),
        (
            {
                "row": {
                    "objective": "reg:squarederror",
                    "evaluation_metric": "validation:auc",
                    "evaluation_threshold": 1,
                }
            },
            "dataset segment: ML_DATASETS.EVALUATION_METRIC 'validation:auc' does not fit objective"
            " reg:squarederror (a regression model); use one of validation:rmse,",
        ),
        (
            {"row": {"evaluation_metric": "validation:mlogloss", "evaluation_threshold": 1}},
            "dataset segment: ML_DATASETS.EVALUATION_METRIC 'validation:mlogloss' does not fit objective"
            " binary:logistic (a binary model)",
        ),
        (
            {"row": {"evaluation_metric": "train:auc"}},
            "dataset segment: ML_DATASETS.EVALUATION_METRIC 'train:auc' must name a validation metric",
        ),
        (
            {
                "row": {
                    "objective": "reg:squarederror",
                    "evaluation_metric": "validation:rmse",
                    "evaluation_threshold": -2,
                }
            },
            "dataset segment: ML_DATASETS.EVALUATION_THRESHOLD -2 is on the wrong side for validation:rmse,"
            " which is minimised: the threshold is a maximum and must be above 0",
        ),
        (
            {"row": {"evaluation_threshold": 1.5}},
            "dataset segment: ML_DATASETS.EVALUATION_THRESHOLD 1.5 is on the wrong side for validation:auc,"
            " which is maximised: the threshold is a minimum and must lie in 0..1",
        ),
        (
            {"request": {"evaluation_threshold": -0.2}},
            "dataset segment: execution input 'evaluation_threshold' -0.2 is on the wrong"
            " side for validation:auc",
        ),
        (
            {"row": {"training_engine": "snowpark"}},
            "dataset segment: ML_DATASETS.TRAINING_ENGINE 'snowpark' is not 'SAGEMAKER' or 'SNOWFLAKE'",
        ),
        (
            {"row": {"scoring_engine": "sagemaker"}},
            "dataset segment: ML_DATASETS.SCORING_ENGINE 'sagemaker' is not 'SAGEMAKER' or 'SNOWFLAKE'",
        ),
        (
            {"row": {"hyperparameters": "[1, 2]"}},
            "dataset segment: ML_DATASETS.HYPERPARAMETERS must be a JSON object of names to values, not list",
        ),
        (
            {"row": {"hyperparameters": "max_depth=4"}},
            "dataset segment: ML_DATASETS.HYPERPARAMETERS is not JSON (Expecting value): 'max_depth=4'",
        ),
        (
            {"row": {"hyperparameters": '{"max_depth": {"a": 1}}'}},
            "dataset segment: ML_DATASETS.HYPERPARAMETERS value of 'max_depth' must be a"
            " string, number or boolean",
        ),
        (
            {"row": {"hyperparameters": '{"objective": "reg:squarederror"}'}},
            "dataset segment: ML_DATASETS.HYPERPARAMETERS sets 'objective'; set it in OBJECTIVE instead",
        ),
        (
            {"request": {"hyperparameters": {"eval_metric": "rmse"}}},
            "dataset segment: execution input 'hyperparameters' sets 'eval_metric'; set it"
            " in evaluation_metric",
        ),
        (
            {
                "row": {"objective": "multi:softprob", "evaluation_threshold": 1},
                "labels": LabelSummary(distinct=3, min=1, max=3, non_integers=0),
            },
            "dataset segment: label column SEGMENT holds labels outside 0..2: multi-class labels must be the"
            " integers 0..k-1 (3 distinct values from 1 to 3, 0 not integers)",
        ),
        (
            {
                "row": {"objective": "multi:softprob", "evaluation_threshold": 1},
                "labels": LabelSummary(distinct=3, min=0, max=2, non_integers=1),
            },
            "dataset segment: label column SEGMENT holds labels outside 0..2",
        ),
        (
            {
                "row": {
                    "objective": "multi:softprob",
                    "evaluation_threshold": 1,
                    "hyperparameters": '{"num_class": 2}',
                },
                "labels": THREE_CLASSES,
            },
            "dataset segment: label column SEGMENT holds labels outside 0..1",
        ),
        (
            {"row": {"objective": "multi:softprob", "evaluation_threshold": 1}, "labels": None},
            "dataset segment: ML_DATASETS.HYPERPARAMETERS needs num_class for multi:softprob",
        ),
        (
            {"row": {}, "labels": LabelSummary(distinct=3, min=0, max=2, non_integers=0)},
            "dataset segment: label column SEGMENT holds labels from 0 to 2; a binary"
            " objective needs labels in 0..1",
        ),
    ],
)
def test_bad_settings_are_refused_naming_dataset_and_column(case: dict[str, Any], message: str) -> None:
    _refused(message, **case)


def test_a_bad_template_default_names_the_template_parameter() -> None:
    template = TemplateDefaults({"objective": "reg:nope", "num_round": "3"}, "validation:auc", 0.75)
    with pytest.raises(
        InvalidModelSettings, match=r"^dataset d: the template's Hyperparameters objective 'reg:nope'"
    ):
        resolve_model(dataset="d", label_column="L", template=template, row=None, request=INPUT, labels=None)
    template = TemplateDefaults({"num_round": "3"}, "validation:auc", 7.0)
    with pytest.raises(
        InvalidModelSettings, match=r"^dataset d: the template's EvaluationThreshold 7 is on the wrong"
    ):
        resolve_model(dataset="d", label_column="L", template=template, row=None, request=INPUT, labels=None)


def test_the_output_filter_keeps_every_field_after_the_input() -> None:
    assert output_filter(4) == "$[0,4:]"


# --- Through PrepareRun: the manifest carries the row -------------------------------------------

NOW = datetime(2026, 11, 26, 10, 5, tzinfo=UTC)
MULTICLASS_TABLE = [
    "ID",
    "PREDICTED_CLASS",
    "SCORE",
    "PROBABILITIES",
    "RUN_ID",
    "EXPORT_ID",
    "MODEL_VERSION",
    "SCORED_AT",
]
SCORE_TABLE = ["ID", "SCORE", "RUN_ID", "EXPORT_ID", "MODEL_VERSION", "SCORED_AT"]


def _prepare(document: dict[str, Any], settings: PrepareRunSettings) -> Any:
    request = PrepareRunRequest(
        execution_name="merchant_risk-20261126t100000z",
        input={"manifest": f"s3://{BUCKET}/{PREFIX}manifest.json"},
        xgboost_image_uri=XGBOOST_IMAGE,
    )
    return prepare_run(request, settings, store_for(document), now=NOW)


def _version_2(
    document: dict[str, Any], model: dict[str, Any], columns: list[str], distinct: int = 2
) -> None:
    document.update(
        version=2,
        model=model,
        label_summary={"distinct": distinct, "min": 0, "max": distinct - 1, "non_integers": 0},
        predictions_columns=columns,
    )


def test_prepare_run_plans_a_multiclass_run_from_a_version_2_manifest(
    document: dict[str, Any], settings: PrepareRunSettings
) -> None:
    _version_2(
        document,
        {
            "objective": "multi:softprob",
            "evaluation_metric": "validation:mlogloss",
            "evaluation_threshold": 0.9,
        },
        MULTICLASS_TABLE,
        distinct=3,
    )
    plan = _prepare(document, settings)
    assert plan.model.problem == "multiclass" and plan.model.num_class == 3
    assert plan.evaluation.metric_name == "validation:mlogloss" and plan.evaluation.threshold == 0.9
    assert plan.training.hyperparameters["num_class"] == "3"
    assert plan.scoring.output_filter == "$[0,4:]"  # MERCHANT_ID and 3 features, then the output
    assert plan.model.training_engine == "SAGEMAKER"


def test_prepare_run_plans_a_snowflake_engine_from_the_manifests_row(
    document: dict[str, Any], settings: PrepareRunSettings
) -> None:
    _version_2(document, {"training_engine": "SNOWFLAKE"}, SCORE_TABLE)
    plan = _prepare(document, settings)
    assert plan.model.training_engine == "SNOWFLAKE"
    assert plan.model.sources["training_engine"] == "ML_DATASETS"


def test_a_version_1_manifest_keeps_the_template_defaults(
    document: dict[str, Any], settings: PrepareRunSettings
) -> None:
    plan = _prepare(document, settings)
    assert plan.model.objective == "binary:logistic"
    assert (plan.evaluation.metric_name, plan.evaluation.threshold) == ("validation:auc", 0.75)


@pytest.mark.parametrize(
    ("model", "columns", "message"),
    [
        (
            {"objective": "multi:softprob", "evaluation_threshold": 0.9},
            SCORE_TABLE,
            "dataset merchant_risk: ML_DATASETS.PREDICTIONS_TABLE MERCHANT_RISK_PREDICTIONS lacks"
            " PREDICTED_CLASS, PROBABILITIES; a multiclass model is loaded into (ID, PREDICTED_CLASS,",
        ),
        (
            {"objective": "reg:squarederror", "evaluation_threshold": 10},
            MULTICLASS_TABLE,
            "dataset merchant_risk: ML_DATASETS.PREDICTIONS_TABLE MERCHANT_RISK_PREDICTIONS has the"
            " multi-class column(s) PREDICTED_CLASS, PROBABILITIES; a regression model is"
            " loaded into (ID, SCORE,",
        ),
        (
            {},
            [],
            "dataset merchant_risk: ML_DATASETS.PREDICTIONS_TABLE MERCHANT_RISK_PREDICTIONS does not exist",
        ),
        (
            {},
            ["ID", "SCORE"],
            "dataset merchant_risk: ML_DATASETS.PREDICTIONS_TABLE MERCHANT_RISK_PREDICTIONS lacks RUN_ID,"
            " EXPORT_ID, MODEL_VERSION, SCORED_AT",
        ),
    ],
)
def test_a_predictions_table_that_does_not_fit_the_objective_is_refused(
    document: dict[str, Any],
    settings: PrepareRunSettings,
    model: dict[str, Any],
    columns: list[str],
    message: str,
) -> None:
    _version_2(document, model, columns, distinct=3 if model.get("objective") == "multi:softprob" else 2)
    with pytest.raises(InvalidModelSettings, match=f"^{re.escape(message)}"):
        _prepare(document, settings)


def test_hyperparameters_in_the_manifest_stay_text_until_prepare_run_reads_them(
    document: dict[str, Any], settings: PrepareRunSettings
) -> None:
    _version_2(document, {"hyperparameters": json.dumps({"max_depth": 2})}, SCORE_TABLE)
    plan = _prepare(document, settings)
    assert plan.training.hyperparameters["max_depth"] == "2"
    assert plan.model.sources["hyperparameters.max_depth"] == "ML_DATASETS"
