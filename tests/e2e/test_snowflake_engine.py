"""TRAINING_ENGINE = 'SNOWFLAKE' end to end in the sandbox: the ChooseEngine branch trains
with TRAIN_MODEL (its body run with Snowpark local testing), then the same gate, registry, batch
transform, load and records as the SageMaker engine.

Tests in this module share one sandbox and run in order: the first run's model is the champion.
"""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from sandbox import pipeline_run
from sandbox.reference_runs import load_reference_data
from sandbox.services import Sandbox
from sandbox.snowflake import functions
from tooling.sample_data import SAMPLE_DATASET

TABLE = "MERCHANT_RISK_PREDICTIONS"
EXPORT = "20261126t030000z"
SAGEMAKER_EXPORT = "20261126t031000z"
RESULTS: dict[str, pipeline_run.RunResult] = {}
pytestmark = pytest.mark.skipif(
    subprocess.run(
        [str(functions.runtime_python()), "-c", "import snowflake.snowpark"], capture_output=True, check=False
    ).returncode
    != 0,
    reason="the Snowflake-runtime venv lacks snowflake-snowpark-python: rebuild it (make venv)",
)


@pytest.fixture(scope="module", autouse=True)
def _reference_data(sandbox: Sandbox) -> None:
    load_reference_data(sandbox)


def _query(sandbox: Sandbox, sql: str, binds: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
    with sandbox.snowflake_connection() as connection:
        cursor = connection.cursor()
        cursor.execute(sql, binds)
        return [tuple(row) for row in cursor.fetchall()]


def _visited(result: pipeline_run.RunResult) -> set[str]:
    return {span.name for span in result.execution.spans}


def _manifest(sandbox: Sandbox) -> str:
    return f"s3://{sandbox.bucket}/exports/{SAMPLE_DATASET}/{EXPORT}/manifest.json"


def _exported(sandbox: Sandbox, export_id: str) -> set[str]:
    """The top-level names under the export's prefix in S3: its sections and manifest.json."""
    prefix = f"exports/{SAMPLE_DATASET}/{export_id}/"
    pages = (
        sandbox.client("s3").get_paginator("list_objects_v2").paginate(Bucket=sandbox.bucket, Prefix=prefix)
    )
    return {
        item["Key"].removeprefix(prefix).split("/")[0] for page in pages for item in page.get("Contents", [])
    }


def test_a_row_set_to_snowflake_trains_in_the_warehouse_and_scores(sandbox: Sandbox) -> None:
    _query(sandbox, f"UPDATE ML_DATASETS SET TRAINING_ENGINE = 'SNOWFLAKE' WHERE NAME = '{SAMPLE_DATASET}'")
    result = pipeline_run.run_from_export(sandbox, SAMPLE_DATASET, export_id=EXPORT)
    RESULTS["snowflake"] = result
    assert result.status == "SUCCEEDED", (result.execution.error, result.execution.cause)
    assert result.as_json()["engine"] == "SNOWFLAKE"
    # Training data never leaves Snowflake: the export wrote score/ and its manifest, nothing else.
    assert _exported(sandbox, EXPORT) == {"score", "manifest.json"}
    assert (result.manifest["engine"], result.manifest["sections"]) == ("SNOWFLAKE", ["score"])
    assert {"ChooseEngine", "TrainInSnowflake", "EvaluateModel", "RegisterModel", "Score"} <= _visited(result)
    assert "Train" not in _visited(result)
    assert result.metric["name"] == "validation:auc" and result.metric["value"] > 0.75
    assert result.rows_scored == result.manifest["score"]["rows"] == result.rows_loaded
    output = result.execution.output or {}
    assert output["training"]["model_data_url"].endswith(
        f"/models/{SAMPLE_DATASET}/{output['plan']['run_id']}/snowflake/model.tar.gz"
    )
    run = _query(
        sandbox,
        "SELECT STATUS, TRAINING_JOB, PROMOTED, ROWS_LOADED FROM ML_RUNS WHERE RUN_ID = %(r)s",
        {"r": output["plan"]["run_id"]},
    )
    assert run == [
        ("SUCCEEDED", f"snowflake:TRAIN_MODEL:{output['plan']['run_id']}", True, result.rows_loaded)
    ]


def test_a_sagemaker_override_on_a_snowflake_export_is_refused(sandbox: Sandbox) -> None:
    """The SNOWFLAKE export holds no train/validation: there is nothing to train on in S3."""
    result = pipeline_run.start_by_hand(
        sandbox,
        {"manifest": _manifest(sandbox), "training_engine": "SAGEMAKER"},
        name="sagemaker-on-snowflake",
    )
    assert result.status == "FAILED"
    # The failure branch ends with the error's name prefixed "Snowsage." (the Fail state's ErrorPath).
    failed = (result.execution.failed_state, result.execution.error)
    assert failed == ("PrepareRun", "Snowsage.InvalidExecutionInput")
    assert "training_engine" in (result.execution.cause or "")
    assert "nothing to train on in S3" in (result.execution.cause or "")


def test_the_sagemaker_engine_on_the_same_data_gets_the_same_metric(sandbox: Sandbox) -> None:
    _query(sandbox, f"UPDATE ML_DATASETS SET TRAINING_ENGINE = NULL WHERE NAME = '{SAMPLE_DATASET}'")
    try:
        result = pipeline_run.run_from_export(sandbox, SAMPLE_DATASET, export_id=SAGEMAKER_EXPORT)
    finally:
        _query(
            sandbox, f"UPDATE ML_DATASETS SET TRAINING_ENGINE = 'SNOWFLAKE' WHERE NAME = '{SAMPLE_DATASET}'"
        )
    assert result.status == "SUCCEEDED", (result.execution.error, result.execution.cause)
    assert result.as_json()["engine"] == "SAGEMAKER" and "Train" in _visited(result)
    assert _exported(sandbox, SAGEMAKER_EXPORT) == {"train", "validation", "score", "manifest.json"}
    assert abs(result.metric["value"] - RESULTS["snowflake"].metric["value"]) <= 0.02


def test_a_rejected_snowflake_model_leaves_the_champion_scoring(sandbox: Sandbox) -> None:
    result = pipeline_run.start_by_hand(
        sandbox,
        {"manifest": _manifest(sandbox), "evaluation_threshold": 0.9999, "training_engine": "SNOWFLAKE"},
        name="snowflake-rejected",
    )
    assert result.status == "SUCCEEDED", (result.execution.error, result.execution.cause)
    assert "TrainInSnowflake" in _visited(result)
    assert result.gate["promoted"] is False
    versions = _query(
        sandbox, f"SELECT DISTINCT MODEL_VERSION FROM {TABLE} WHERE EXPORT_ID = %(e)s", {"e": EXPORT}
    )
    champion = (result.execution.output or {})["model"]["model_version"]
    assert versions == [(str(champion),)] and champion != (result.execution.output or {}).get(
        "registered", {}
    ).get("model_version")


def test_a_failure_inside_the_procedure_is_recorded_with_its_cause(sandbox: Sandbox) -> None:
    result = pipeline_run.start_by_hand(
        sandbox,
        {
            "manifest": _manifest(sandbox),
            "training_engine": "SNOWFLAKE",
            "hyperparameters": {"tree_method": "no_such_method"},
        },
        name="snowflake-fails",
    )
    assert result.status == "FAILED"
    assert result.execution.failed_state == "TrainInSnowflake"
    row = _query(
        sandbox,
        "SELECT STATUS, FAILED_STATE, ERROR, CAUSE FROM ML_RUNS WHERE EXECUTION_NAME = 'snowflake-fails'",
    )
    assert len(row) == 1
    status, state, error, cause = row[0]
    assert (status, state, error) == ("FAILED", "TrainInSnowflake", "TrainingFailed")
    assert "Python Interpreter Error" in cause and "no_such_method" in cause
