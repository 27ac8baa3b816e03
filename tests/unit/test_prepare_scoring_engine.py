"""PrepareRun for the SNOWFLAKE scoring engine: no score/ in S3, the scoring view scored in place.

EXPORT_DATASET leaves score/ out for a SCORING_ENGINE = 'SNOWFLAKE' row and writes the scoring
view's name, columns and row count instead (``scoring_engine``, ``scoring_view``). PrepareRun
accepts a missing score section only when the run scores in Snowflake.
"""

from __future__ import annotations

from typing import Any

import pytest

from snowsage.errors import (
    ColumnMismatch,
    InvalidExecutionInput,
    InvalidIdentifier,
    InvalidModelSettings,
    ManifestSchemaError,
)
from snowsage.models import PrepareRunRequest
from snowsage.prepare import prepare_run
from snowsage.settings import PrepareRunSettings
from tests.unit.builders import BUCKET, FEATURES, PREFIX, XGBOOST_IMAGE, store_for

SCORE_TABLE = ["ID", "SCORE", "RUN_ID", "EXPORT_ID", "MODEL_VERSION", "SCORED_AT"]
VIEW = {"name": "MERCHANT_RISK_SCORING", "columns": ["MERCHANT_ID", *FEATURES], "rows": 100}
PACKAGE = "arn:aws:sagemaker:us-east-1:123456789012:model-package/snowsage-merchant-risk/3"


def _request(**overrides: Any) -> PrepareRunRequest:
    return PrepareRunRequest(
        execution_name="merchant_risk-20261126t100000z",
        input={"manifest": f"s3://{BUCKET}/{PREFIX}manifest.json", **overrides},
        xgboost_image_uri=XGBOOST_IMAGE,
    )


def _version_2(document: dict[str, Any], scoring: str | None, training: str | None = None) -> dict[str, Any]:
    """The manifest EXPORT_DATASET writes for a row with these engines."""
    document.update(
        version=2,
        model={"training_engine": training, "scoring_engine": scoring},
        label_summary={"distinct": 2, "min": 0, "max": 1, "non_integers": 0},
        predictions_columns=SCORE_TABLE,
        engine=training or "SAGEMAKER",
        scoring_engine=scoring or "SAGEMAKER",
        scoring_view=dict(VIEW),
    )
    if training == "SNOWFLAKE":
        del document["train"], document["validation"]
    if scoring == "SNOWFLAKE":
        del document["score"]
    document["sections"] = [name for name in ("train", "validation", "score") if name in document]
    return document


def test_a_snowflake_scoring_export_plans_the_view_and_lists_no_score_file(
    document: dict[str, Any], settings: PrepareRunSettings
) -> None:
    store = store_for(_version_2(document, "SNOWFLAKE"))
    plan = prepare_run(_request(), settings, store)
    assert (plan.model.scoring_engine, plan.model.sources["scoring_engine"]) == ("SNOWFLAKE", "ML_DATASETS")
    assert (plan.scoring.view, plan.scoring.input_uri) == ("MERCHANT_RISK_SCORING", None)
    assert (plan.scoring.rows, plan.scoring.features) == (100, FEATURES)
    assert not [call for call in store.calls if call.startswith("list ") and "score/" in call]


def test_both_engines_in_snowflake_leave_nothing_to_list(
    document: dict[str, Any], settings: PrepareRunSettings
) -> None:
    store = store_for(_version_2(document, "SNOWFLAKE", training="SNOWFLAKE"))
    plan = prepare_run(_request(), settings, store)
    assert (plan.model.training_engine, plan.model.scoring_engine) == ("SNOWFLAKE", "SNOWFLAKE")
    assert [call for call in store.calls if call.startswith("list ")] == []


def test_the_default_scores_with_a_transform(document: dict[str, Any], settings: PrepareRunSettings) -> None:
    plan = prepare_run(_request(), settings, store_for(_version_2(document, None)))
    assert (plan.model.scoring_engine, plan.model.sources["scoring_engine"]) == ("SAGEMAKER", "default")
    assert plan.scoring.input_uri == f"s3://{BUCKET}/{PREFIX}score/" and plan.scoring.view is None


def test_a_sagemaker_override_on_a_snowflake_scoring_export_is_refused_naming_the_input(
    document: dict[str, Any], settings: PrepareRunSettings
) -> None:
    store = store_for(_version_2(document, "SNOWFLAKE"))
    with pytest.raises(
        InvalidExecutionInput,
        match=r"execution input 'scoring_engine' 'SAGEMAKER'.*SNOWFLAKE scoring engine.*no 'score'"
        r".*nothing to score in S3",
    ):
        prepare_run(_request(scoring_engine="SAGEMAKER"), settings, store)


def test_a_snowflake_override_scores_the_view_of_a_sagemaker_export(
    document: dict[str, Any], settings: PrepareRunSettings
) -> None:
    store = store_for(_version_2(document, None))
    plan = prepare_run(_request(mode="score_only", scoring_engine="SNOWFLAKE"), settings, store)
    assert plan.model.sources["scoring_engine"] == "execution input"
    assert (plan.scoring.view, plan.scoring.input_uri) == ("MERCHANT_RISK_SCORING", None)
    assert f"list {PREFIX}score/" not in store.calls  # its files are not what the run scores


def test_a_snowflake_override_on_an_export_without_a_scoring_view_is_refused(
    document: dict[str, Any], settings: PrepareRunSettings
) -> None:
    with pytest.raises(InvalidExecutionInput, match=r"'scoring_engine' 'SNOWFLAKE'.*names no scoring view"):
        prepare_run(_request(scoring_engine="SNOWFLAKE"), settings, store_for(document))


def test_a_snowflake_scoring_export_must_name_its_view(
    document: dict[str, Any], settings: PrepareRunSettings
) -> None:
    del _version_2(document, "SNOWFLAKE")["scoring_view"]
    with pytest.raises(ManifestSchemaError, match=r"no 'scoring_view'"):
        prepare_run(_request(), settings, store_for(document))


def test_a_named_package_cannot_score_in_snowflake(
    document: dict[str, Any], settings: PrepareRunSettings
) -> None:
    """The function serves the champion to every caller: a named package would replace it."""
    store = store_for(_version_2(document, "SNOWFLAKE"))
    with pytest.raises(
        InvalidExecutionInput,
        match=r"'model_package_arn' with ML_DATASETS.SCORING_ENGINE 'SNOWFLAKE'.*ML_PREDICT_MERCHANT_RISK",
    ):
        prepare_run(_request(mode="score_only", model_package_arn=PACKAGE), settings, store)


def test_the_scoring_engine_must_be_the_rows(document: dict[str, Any], settings: PrepareRunSettings) -> None:
    _version_2(document, "SNOWFLAKE")["model"]["scoring_engine"] = None
    with pytest.raises(
        ManifestSchemaError, match=r"scoring_engine 'SNOWFLAKE' differs from its model.scoring_engine"
    ):
        prepare_run(_request(), settings, store_for(document))


def test_an_unknown_scoring_engine_in_the_row_is_refused_naming_the_column(
    document: dict[str, Any], settings: PrepareRunSettings
) -> None:
    _version_2(document, None)["model"]["scoring_engine"] = "SNOWPARK"
    with pytest.raises(InvalidModelSettings, match=r"ML_DATASETS.SCORING_ENGINE 'SNOWPARK' is not"):
        prepare_run(_request(), settings, store_for(document))


def test_a_sagemaker_run_reads_the_score_section_not_the_view(
    document: dict[str, Any], settings: PrepareRunSettings
) -> None:
    """The transform scores the files: the view's count is the SNOWFLAKE engine's, not checked here."""
    _version_2(document, None)["scoring_view"]["rows"] = 99
    plan = prepare_run(_request(), settings, store_for(document))
    assert (plan.scoring.rows, plan.scoring.view) == (100, None)


def test_the_views_first_column_is_the_id(document: dict[str, Any], settings: PrepareRunSettings) -> None:
    _version_2(document, "SNOWFLAKE")["scoring_view"]["columns"] = [*FEATURES, "MERCHANT_ID"]
    with pytest.raises(ColumnMismatch, match=r"expected the id 'MERCHANT_ID'"):
        prepare_run(_request(), settings, store_for(document))


def test_the_view_is_a_plain_identifier(document: dict[str, Any], settings: PrepareRunSettings) -> None:
    """It is inlined in the scoring statement: nothing but an identifier gets there."""
    _version_2(document, "SNOWFLAKE")["scoring_view"]["name"] = "V; DROP TABLE ML_RUNS"
    with pytest.raises(InvalidIdentifier):
        prepare_run(_request(), settings, store_for(document))
