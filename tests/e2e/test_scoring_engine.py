"""SCORING_ENGINE = 'SNOWFLAKE' end to end in the sandbox: no score/ in S3, no transform job; the
champion published if needed, then ``INSERT … SELECT ML_PREDICT_<DATASET>(…) FROM`` the scoring view
in one transaction, recorded like a load.

Tests in this module share one sandbox and run in order: the first run's model is the champion.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from sandbox import pipeline_run
from sandbox.reference_runs import load_reference_data
from sandbox.services import Sandbox
from tooling.dataset_sql import segment_multiclass_sql
from tooling.sample_data import SAMPLE_DATASET

TABLE = "MERCHANT_RISK_PREDICTIONS"
FUNCTION = "ML_PREDICT_MERCHANT_RISK"
SNOWFLAKE_EXPORT = "20261126t040000z"
SAGEMAKER_EXPORT = "20261126t041000z"
RESULTS: dict[str, pipeline_run.RunResult] = {}
TRANSFORM_STATES = {"CreateModel", "Score", "LoadPredictions"}


@pytest.fixture(scope="module", autouse=True)
def _reference_data(sandbox: Sandbox) -> None:
    load_reference_data(sandbox)


def _query(sandbox: Sandbox, sql: str, binds: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
    with sandbox.snowflake_connection() as connection:
        cursor = connection.cursor()
        cursor.execute(sql, binds)
        return [tuple(row) for row in cursor.fetchall()]


def _set_engine(sandbox: Sandbox, value: str | None, dataset: str = SAMPLE_DATASET) -> None:
    literal = f"'{value}'" if value else "NULL"
    _query(sandbox, f"UPDATE ML_DATASETS SET SCORING_ENGINE = {literal} WHERE NAME = '{dataset}'")


def _visited(result: pipeline_run.RunResult) -> set[str]:
    return {span.name for span in result.execution.spans}


def _output(result: pipeline_run.RunResult) -> dict[str, Any]:
    assert result.status == "SUCCEEDED", (result.execution.failed_state, result.execution.cause)
    return result.execution.output or {}


def _manifest(sandbox: Sandbox, export_id: str, dataset: str = SAMPLE_DATASET) -> str:
    return f"s3://{sandbox.bucket}/exports/{dataset}/{export_id}/manifest.json"


def _exported(sandbox: Sandbox, export_id: str) -> set[str]:
    prefix = f"exports/{SAMPLE_DATASET}/{export_id}/"
    listing = sandbox.client("s3").list_objects_v2(Bucket=sandbox.bucket, Prefix=prefix)
    return {item["Key"].removeprefix(prefix).split("/")[0] for item in listing.get("Contents", [])}


def _no_transform(sandbox: Sandbox, output: dict[str, Any]) -> None:
    """Neither a SageMaker model nor a transform job for the run, nothing under its predictions/."""
    base = output["plan"]["name_base"]
    sagemaker = sandbox.client("sagemaker")
    with pytest.raises(ClientError):
        sagemaker.describe_transform_job(TransformJobName=f"{base}-score-0")
    with pytest.raises(ClientError):
        sagemaker.describe_model(ModelName=f"{base}-model-0")
    prefix = output["plan"]["scoring"]["stage_path"]
    assert sandbox.client("s3").list_objects_v2(Bucket=sandbox.bucket, Prefix=prefix)["KeyCount"] == 0


def _run_row(sandbox: Sandbox, run_id: str) -> dict[str, Any]:
    columns = ("STATUS", "TRANSFORM_JOB", "MODEL_VERSION", "ROWS_SCORED", "ROWS_LOADED", "PUBLISHED_FUNCTION")
    columns += ("WAREHOUSE_SECONDS", "COST_TRANSFORM_USD", "FAILED_STATE", "ERROR", "CAUSE")
    [row] = _query(sandbox, f"SELECT {', '.join(columns)} FROM ML_RUNS WHERE RUN_ID = %(r)s", {"r": run_id})
    return dict(zip(columns, row, strict=True))


def _predictions(sandbox: Sandbox, export_id: str, table: str = TABLE) -> dict[str, tuple[Any, ...]]:
    """ID -> the rest of the export's row: (SCORE, RUN_ID, EXPORT_ID, MODEL_VERSION, SCORED_AT) for a
    binary model, (PREDICTED_CLASS, SCORE, PROBABILITIES, …) for a multi-class one."""
    rows = _query(sandbox, f"SELECT * FROM {table} WHERE EXPORT_ID = %(e)s", {"e": export_id})
    return {str(row[0]): tuple(row[1:]) for row in rows}


def test_a_row_set_to_snowflake_scores_in_the_warehouse_without_a_transform(sandbox: Sandbox) -> None:
    _set_engine(sandbox, "SNOWFLAKE")
    result = pipeline_run.run_from_export(sandbox, SAMPLE_DATASET, export_id=SNOWFLAKE_EXPORT)
    RESULTS["train_and_score"] = result
    output = _output(result)
    assert result.as_json()["scoring_engine"] == "SNOWFLAKE"
    # The scoring rows never left Snowflake: no score/ in S3; the manifest counted the view.
    assert _exported(sandbox, SNOWFLAKE_EXPORT) == {"train", "validation", "manifest.json"}
    assert (result.manifest["scoring_engine"], result.manifest["sections"]) == (
        "SNOWFLAKE",
        ["train", "validation"],
    )
    rows = result.manifest["scoring_view"]["rows"]
    assert {"ChooseScoringEngine", "PublishForScoring", "ScoreInSnowflake"} <= _visited(result)
    assert not TRANSFORM_STATES & _visited(result)
    _no_transform(sandbox, output)
    assert result.rows_scored == result.rows_loaded == rows == len(_predictions(sandbox, SNOWFLAKE_EXPORT))
    # The promoted model was published before it scored; the run names the version it scored with.
    version = output["model"]["model_version"]
    assert output["published"]["already_served"] is False
    run = _run_row(sandbox, output["plan"]["run_id"])
    assert run["TRANSFORM_JOB"] == f"snowflake:{FUNCTION}:v{version}"
    assert run["PUBLISHED_FUNCTION"] == f"{FUNCTION} v{version}"
    assert (run["STATUS"], run["ROWS_LOADED"], run["ROWS_SCORED"]) == ("SUCCEEDED", rows, rows)
    assert run["WAREHOUSE_SECONDS"] > 0 and run["COST_TRANSFORM_USD"] is None
    assert {row[3] for row in _predictions(sandbox, SNOWFLAKE_EXPORT).values()} == {str(version)}


def test_score_only_scores_with_the_champion_the_function_already_serves(sandbox: Sandbox) -> None:
    result = pipeline_run.start_by_hand(
        sandbox,
        {"manifest": _manifest(sandbox, SNOWFLAKE_EXPORT), "mode": "score_only"},
        name="sql-score-only",
    )
    RESULTS["score_only"] = result
    output = _output(result)
    assert "ScoreInSnowflake" in _visited(result) and not TRANSFORM_STATES & _visited(result)
    _no_transform(sandbox, output)
    assert output["published"]["already_served"] is True  # nothing published: the champion is live
    run = _run_row(sandbox, output["plan"]["run_id"])
    assert run["PUBLISHED_FUNCTION"] is None
    assert run["TRANSFORM_JOB"] == f"snowflake:{FUNCTION}:v{output['model']['model_version']}"
    # One copy of the export: the earlier run's rows were replaced in the same transaction.
    predictions = _predictions(sandbox, SNOWFLAKE_EXPORT)
    assert len(predictions) == result.rows_loaded == result.rows_scored
    assert {row[1] for row in predictions.values()} == {output["plan"]["run_id"]}


def test_the_same_export_scored_by_both_engines_gives_the_same_predictions(sandbox: Sandbox) -> None:
    """One export with score/ files: the transform scores them, then the function scores the view."""
    _set_engine(sandbox, None)
    try:
        pipeline_run.export_for_input(sandbox, {"manifest": _manifest(sandbox, SAGEMAKER_EXPORT)})
    finally:
        _set_engine(sandbox, "SNOWFLAKE")
    document = {"manifest": _manifest(sandbox, SAGEMAKER_EXPORT), "mode": "score_only"}
    transform = pipeline_run.start_by_hand(sandbox, document, name="both-engines-sagemaker")
    assert _output(transform)["plan"]["model"]["scoring_engine"] == "SAGEMAKER"
    assert _visited(transform) >= TRANSFORM_STATES
    by_transform = _predictions(sandbox, SAGEMAKER_EXPORT)

    in_sql = pipeline_run.start_by_hand(
        sandbox, {**document, "scoring_engine": "SNOWFLAKE"}, name="both-engines-snowflake"
    )
    assert _output(in_sql)["plan"]["model"]["sources"]["scoring_engine"] == "execution input"
    assert not TRANSFORM_STATES & _visited(in_sql)
    by_function = _predictions(sandbox, SAGEMAKER_EXPORT)

    assert by_function.keys() == by_transform.keys() and len(by_function) == in_sql.rows_loaded
    differences = [abs(by_function[key][0] - by_transform[key][0]) for key in by_transform]
    assert max(differences) <= 1e-6
    assert {row[3] for row in by_function.values()} == {row[3] for row in by_transform.values()}


def test_a_failed_scoring_statement_rolls_back_and_keeps_the_earlier_copy(sandbox: Sandbox) -> None:
    earlier = _predictions(sandbox, SNOWFLAKE_EXPORT)
    features = _output(RESULTS["score_only"])["plan"]["scoring"]["features"]
    view = "CREATE OR REPLACE VIEW MERCHANT_RISK_SCORING AS SELECT MERCHANT_ID, {} FROM MERCHANT_FEATURES"
    # The view drifts after the export: its last feature is no longer a number.
    _query(sandbox, view.format(", ".join([*features[:-1], f"'n/a' AS {features[-1]}"])))
    try:
        failed = pipeline_run.start_by_hand(
            sandbox,
            {"manifest": _manifest(sandbox, SNOWFLAKE_EXPORT), "mode": "score_only"},
            name="sql-score-fails",
        )
    finally:
        _query(sandbox, view.format(", ".join(features)))
    assert failed.status == "FAILED"
    assert (failed.execution.failed_state, failed.execution.error) == (
        "ScoreInSnowflake",
        "Snowsage.ScoringFailed",
    )
    run = _run_row(sandbox, _run_id_of(sandbox, "sql-score-fails"))
    assert (run["STATUS"], run["FAILED_STATE"], run["ERROR"], run["ROWS_LOADED"]) == (
        "FAILED",
        "ScoreInSnowflake",
        "ScoringFailed",
        None,
    )
    assert FUNCTION in run["CAUSE"]
    # The DELETE ran before the failing INSERT: rolled back, the earlier copy is whole.
    assert _predictions(sandbox, SNOWFLAKE_EXPORT) == earlier


def _run_id_of(sandbox: Sandbox, execution: str) -> str:
    [(run_id,)] = _query(sandbox, "SELECT RUN_ID FROM ML_RUNS WHERE EXECUTION_NAME = %(e)s", {"e": execution})
    return str(run_id)


def test_a_view_that_changed_since_the_export_is_refused_and_rolled_back(sandbox: Sandbox) -> None:
    """Rows scored must equal the export's count, as a load's rows must equal its files'."""
    earlier = _predictions(sandbox, SNOWFLAKE_EXPORT)
    _query(
        sandbox,
        "INSERT INTO MERCHANT_TRANSACTIONS SELECT TXN_ID + 10000000, 'M-NEW', TXN_TS, AMOUNT, CHANNEL,"
        " IS_CROSS_BORDER, IS_REFUND, IS_CHARGEBACK FROM MERCHANT_TRANSACTIONS LIMIT 1",
    )
    try:
        failed = pipeline_run.start_by_hand(
            sandbox,
            {"manifest": _manifest(sandbox, SNOWFLAKE_EXPORT), "mode": "score_only"},
            name="sql-view-changed",
        )
    finally:
        _query(sandbox, "DELETE FROM MERCHANT_TRANSACTIONS WHERE MERCHANT_ID = 'M-NEW'")
    assert (failed.execution.failed_state, failed.execution.error) == (
        "ScoreInSnowflake",
        "Snowsage.RowCountMismatch",
    )
    assert "the view changed since the export" in (failed.execution.cause or "")
    assert _predictions(sandbox, SNOWFLAKE_EXPORT) == earlier


def test_a_multiclass_model_fills_class_score_and_probabilities_as_the_transform_does(
    sandbox: Sandbox, tmp_path: Any
) -> None:
    sql = tmp_path / "segment.sql"
    sql.write_text(segment_multiclass_sql(threshold=0.9))
    pipeline_run.apply_user_sql(sandbox, [sql])
    first = pipeline_run.run_from_export(sandbox, "segment", export_id="20261126t050000z")
    assert _visited(first) >= TRANSFORM_STATES  # the row's engine: a transform
    table = "SEGMENT_PREDICTIONS"
    by_transform = _predictions(sandbox, "20261126t050000z", table)
    in_sql = pipeline_run.start_by_hand(
        sandbox,
        {
            "manifest": _manifest(sandbox, "20261126t050000z", "segment"),
            "mode": "score_only",
            "scoring_engine": "SNOWFLAKE",
        },
        name="segment-in-sql",
    )
    assert "ScoreInSnowflake" in _visited(in_sql), in_sql.execution.cause
    by_function = _predictions(sandbox, "20261126t050000z", table)
    assert by_function.keys() == by_transform.keys() and len(by_function) == 600
    for key, (predicted, score, probabilities, *_) in by_function.items():
        transform_class, transform_score, transform_probabilities = by_transform[key][:3]
        assert predicted == transform_class
        assert abs(score - transform_score) <= 1e-6
        assert (
            max(
                abs(a - b)
                for a, b in zip(_array(probabilities), _array(transform_probabilities), strict=True)
            )
            <= 1e-6
        )


def _array(value: Any) -> list[float]:
    return [float(item) for item in (json.loads(value) if isinstance(value, str) else value)]
