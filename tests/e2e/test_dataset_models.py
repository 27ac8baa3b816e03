"""Every dataset its own model: regression and multi-class end to end, each judged by its
own metric and threshold from its ML_DATASETS row, and two datasets side by side in one sandbox."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sandbox import pipeline_run
from sandbox.services import Sandbox
from tests.e2e.test_cli import run_cli
from tooling.dataset_sql import segment_multiclass_sql, spend_regression_sql


def test_a_regression_dataset_is_judged_by_its_rmse_as_a_maximum(tmp_path: Path) -> None:
    sql = tmp_path / "next_spend.sql"
    sql.write_text(spend_regression_sql(threshold=25.0))
    code, result, stderr = run_cli("run", "--setup-sql", str(sql), "--dataset", "next_spend")
    assert code == 0, stderr[-3000:]
    assert result["status"] == "SUCCEEDED"
    assert result["rows_loaded"] == result["rows_scored"] == 600
    metric: Any = result["metric"]
    assert metric["name"] == "validation:rmse"
    assert 0 < metric["value"] <= 25.0
    gate: Any = result["gate"]
    assert gate["promoted"] is True
    assert gate["reason"].startswith("validation:rmse") and "meets the threshold 25" in gate["reason"]
    sample: Any = result["predictions_sample"]
    assert 1 <= len(sample) <= 5
    for row in sample:
        assert set(row) == {"ID", "SCORE", "RUN_ID", "EXPORT_ID", "MODEL_VERSION", "SCORED_AT"}
        assert row["SCORE"] > 1.0  # a predicted spend, not a probability


def test_a_multiclass_dataset_loads_classes_scores_and_probabilities(tmp_path: Path) -> None:
    sql = tmp_path / "segment.sql"
    sql.write_text(segment_multiclass_sql(threshold=0.9))
    code, result, stderr = run_cli("run", "--setup-sql", str(sql), "--dataset", "segment")
    assert code == 0, stderr[-3000:]
    assert result["status"] == "SUCCEEDED"
    assert result["rows_loaded"] == result["rows_scored"] == 600
    metric: Any = result["metric"]
    assert metric["name"] == "validation:mlogloss" and metric["value"] <= 0.9
    sample: Any = result["predictions_sample"]
    assert 1 <= len(sample) <= 5
    for row in sample:
        probabilities = row["PROBABILITIES"]
        assert isinstance(probabilities, list) and len(probabilities) == 3
        assert row["PREDICTED_CLASS"] in {0, 1, 2}
        assert row["SCORE"] == max(probabilities) == probabilities[row["PREDICTED_CLASS"]]
        assert abs(sum(probabilities) - 1) < 1e-4
    # The promoted model was published as ML_PREDICT_SEGMENT RETURNS ARRAY: every row of the scoring
    # view, scored in SQL, gets the transform's PROBABILITIES, element by element (parity).
    scoring: Any = result["sql_scoring"]
    assert (scoring["function"], scoring["rows"]) == ("ML_PREDICT_SEGMENT", 600)
    assert scoring["max_abs_diff"] <= 1e-6


def _query(sandbox: Sandbox, sql: str) -> list[tuple[Any, ...]]:
    with sandbox.snowflake_connection() as connection:
        cursor = connection.cursor()
        cursor.execute(sql)
        return [tuple(row) for row in cursor.fetchall()]


def _champion(sandbox: Sandbox, group: str) -> str:
    packages = sandbox.client("sagemaker").list_model_packages(
        ModelPackageGroupName=group,
        ModelApprovalStatus="Approved",
        SortBy="CreationTime",
        SortOrder="Descending",
    )["ModelPackageSummaryList"]
    return str(packages[0]["ModelPackageArn"])


def test_two_datasets_with_different_objectives_leave_each_other_alone(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """A regression, then a multi-class run, then the regression again in one sandbox: each keeps its
    own champion, threshold, metric and predictions table."""
    regression, multiclass = tmp_path / "next_spend.sql", tmp_path / "segment.sql"
    regression.write_text(spend_regression_sql(threshold=25.0))
    multiclass.write_text(segment_multiclass_sql(threshold=0.9))
    pipeline_run.apply_user_sql(sandbox, [regression, multiclass])

    first = pipeline_run.run_from_export(sandbox, "next_spend", export_id="20261127t100000z")
    assert first.status == "SUCCEEDED", first.execution.cause
    spend_champion = _champion(sandbox, "snowsage-next-spend")
    spend_rows = _query(sandbox, "SELECT * FROM NEXT_SPEND_PREDICTIONS ORDER BY ID")

    second = pipeline_run.run_from_export(sandbox, "segment", export_id="20261127t100001z")
    assert second.status == "SUCCEEDED", second.execution.cause
    segment_plan: Any = (second.execution.output or {})["plan"]
    assert segment_plan["evaluation"] == {"metric_name": "validation:mlogloss", "threshold": 0.9}
    assert segment_plan["model"]["num_class"] == 3
    assert second.gate["champion_package_arn"] is None  # not next_spend's champion
    # The multi-class run changed neither the regression's champion nor its table.
    assert _champion(sandbox, "snowsage-next-spend") == spend_champion
    assert _query(sandbox, "SELECT * FROM NEXT_SPEND_PREDICTIONS ORDER BY ID") == spend_rows
    segment_champion = _champion(sandbox, "snowsage-segment")
    segment_rows = _query(sandbox, "SELECT * FROM SEGMENT_PREDICTIONS ORDER BY ID")

    third = pipeline_run.run_from_export(sandbox, "next_spend", export_id="20261127t100002z")
    assert third.status == "SUCCEEDED", third.execution.cause
    spend_plan: Any = (third.execution.output or {})["plan"]
    assert spend_plan["evaluation"] == {"metric_name": "validation:rmse", "threshold": 25.0}
    assert spend_plan["model"]["objective"] == "reg:squarederror"
    # Judged against its own champion (a maximum: lower rmse is better), not the segment model.
    assert third.gate["champion_package_arn"] == spend_champion
    assert _champion(sandbox, "snowsage-segment") == segment_champion
    assert _query(sandbox, "SELECT * FROM SEGMENT_PREDICTIONS ORDER BY ID") == segment_rows

    # A row's threshold is read at the next export, no redeploy: a maximum the rmse cannot meet
    # rejects the candidate (registered Rejected), and the champion scores the run.
    _query(sandbox, "UPDATE ML_DATASETS SET EVALUATION_THRESHOLD = 0.5 WHERE NAME = 'next_spend'")
    fourth = pipeline_run.run_from_export(sandbox, "next_spend", export_id="20261127t100003z")
    assert fourth.status == "SUCCEEDED", fourth.execution.cause
    assert fourth.gate["promoted"] is False
    assert "misses the threshold 0.5" in str(fourth.gate["reason"])
    assert _champion(sandbox, "snowsage-next-spend") == third.execution.output["model"]["model_package_arn"]
