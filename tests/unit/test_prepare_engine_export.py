"""PrepareRun on an export for the SNOWFLAKE engine: no train/validation in S3.

EXPORT_DATASET leaves those sections out for a TRAINING_ENGINE = 'SNOWFLAKE' row (the rows stay in
Snowflake; TRAIN_MODEL trains on the view) and says so in the manifest (`engine`, `sections`).
PrepareRun accepts their absence only when the run's engine is SNOWFLAKE.
"""

from __future__ import annotations

from typing import Any

import pytest

from snowsage.errors import InvalidExecutionInput, ManifestSchemaError
from snowsage.models import PrepareRunRequest
from snowsage.prepare import prepare_run
from snowsage.settings import PrepareRunSettings
from tests.unit.builders import BUCKET, PREFIX, XGBOOST_IMAGE, store_for

SCORE_TABLE = ["ID", "SCORE", "RUN_ID", "EXPORT_ID", "MODEL_VERSION", "SCORED_AT"]


def _request(**overrides: Any) -> PrepareRunRequest:
    return PrepareRunRequest(
        execution_name="merchant_risk-20261126t100000z",
        input={"manifest": f"s3://{BUCKET}/{PREFIX}manifest.json", **overrides},
        xgboost_image_uri=XGBOOST_IMAGE,
    )


def _snowflake_export(document: dict[str, Any], *, row_engine: str | None = "SNOWFLAKE") -> dict[str, Any]:
    """The manifest EXPORT_DATASET writes for a SNOWFLAKE row: score only, engine and sections named."""
    del document["train"], document["validation"]
    document.update(
        version=2,
        model={"training_engine": row_engine},
        label_summary={"distinct": 2, "min": 0, "max": 1, "non_integers": 0},
        predictions_columns=SCORE_TABLE,
        engine=row_engine or "SAGEMAKER",
        sections=["score"],
    )
    return document


def test_a_snowflake_export_without_train_and_validation_plans_a_snowflake_run(
    document: dict[str, Any], settings: PrepareRunSettings
) -> None:
    store = store_for(_snowflake_export(document))
    plan = prepare_run(_request(), settings, store)
    assert plan.model.training_engine == "SNOWFLAKE"
    assert plan.training is not None
    assert (plan.training.train_uri, plan.training.validation_uri, plan.training.rows) == (None, None, 0)
    assert plan.training.output_uri == f"s3://{BUCKET}/models/merchant_risk/{plan.run_id}/"
    assert plan.scoring.rows == 100
    # Only the score section is listed: nothing is looked for under train/ or validation/.
    assert [call for call in store.calls if call.startswith("list ")] == [f"list {PREFIX}score/"]


def test_a_sagemaker_override_on_a_snowflake_export_is_refused_naming_the_input(
    document: dict[str, Any], settings: PrepareRunSettings
) -> None:
    store = store_for(_snowflake_export(document))
    with pytest.raises(
        InvalidExecutionInput,
        match=r"execution input 'training_engine' 'SAGEMAKER'.*SNOWFLAKE engine.*no 'train' section"
        r".*nothing to train on in S3",
    ):
        prepare_run(_request(training_engine="SAGEMAKER"), settings, store)


def test_score_only_on_a_snowflake_export_needs_only_score(
    document: dict[str, Any], settings: PrepareRunSettings
) -> None:
    plan = prepare_run(_request(mode="score_only"), settings, store_for(_snowflake_export(document)))
    assert plan.training is None and plan.scoring.rows == 100


@pytest.mark.parametrize("version", [1, 2])
def test_a_sagemaker_run_without_a_training_section_is_refused_naming_it(
    document: dict[str, Any], settings: PrepareRunSettings, version: int
) -> None:
    del document["validation"]
    document["version"] = version
    with pytest.raises(
        ManifestSchemaError, match=r"no 'validation' section.*train_and_score on the SAGEMAKER"
    ):
        prepare_run(_request(), settings, store_for(document))


def test_a_sagemaker_row_whose_export_lacks_train_is_refused(
    document: dict[str, Any], settings: PrepareRunSettings
) -> None:
    """engine SAGEMAKER (the row's NULL) and no train: a broken export, not an override."""
    with pytest.raises(ManifestSchemaError, match=r"no 'train' section"):
        prepare_run(_request(), settings, store_for(_snowflake_export(document, row_engine=None)))


def test_a_snowflake_input_on_a_full_export_still_checks_its_training_files(
    document: dict[str, Any], settings: PrepareRunSettings
) -> None:
    """A version 1 export holds train and validation: the SNOWFLAKE engine's run verifies them too."""
    store = store_for(document)
    plan = prepare_run(_request(training_engine="SNOWFLAKE"), settings, store)
    assert plan.model.training_engine == "SNOWFLAKE"
    assert plan.training is not None and plan.training.train_uri == f"s3://{BUCKET}/{PREFIX}train/"
    assert f"list {PREFIX}train/" in store.calls and f"list {PREFIX}validation/" in store.calls


def test_the_sections_list_must_match_the_sections_held(
    document: dict[str, Any], settings: PrepareRunSettings
) -> None:
    _snowflake_export(document)["sections"] = ["train", "validation", "score"]
    with pytest.raises(ManifestSchemaError, match=r"lists sections \['train', 'validation', 'score'\]"):
        prepare_run(_request(), settings, store_for(document))


def test_the_engine_must_be_the_rows(document: dict[str, Any], settings: PrepareRunSettings) -> None:
    _snowflake_export(document)["model"] = {"training_engine": "SAGEMAKER"}
    with pytest.raises(
        ManifestSchemaError, match=r"engine 'SNOWFLAKE' differs from its model.training_engine"
    ):
        prepare_run(_request(), settings, store_for(document))


def test_an_unknown_engine_in_the_manifest_is_a_schema_error(
    document: dict[str, Any], settings: PrepareRunSettings
) -> None:
    _snowflake_export(document)["engine"] = "SNOWPARK"
    with pytest.raises(ManifestSchemaError, match=r"engine"):
        prepare_run(_request(), settings, store_for(document))
