"""ScoreInSnowflake's transaction in the sandbox's Snowflake: the published function scores the view in
place, into the predictions table, replacing the export's earlier rows; a failure rolls back.

The model is what SageMaker's 1.7-1 image writes; its own xgboost's scores of the rows are the
reference (the transform's scores: tests/snowflake/test_python_functions.py shows them equal).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from snowsage.errors import PredictionsMalformed, RowCountMismatch, ScoringFailed
from snowsage.models import ScoreInSnowflakeRequest
from snowsage.snowflake import publishing, scoring
from snowsage.snowflake.connection import ConnectionFactory

from .conftest import BUCKET, query
from .test_python_functions import FEATURES, ROWS, publish, publish_request, train_model

EXPORT = "20261126t100000z"
NOW = datetime(2026, 11, 26, 11, 0)


def _view(conn: Any, problem: str = "binary") -> None:
    """PUMPS_SCORING: an id, then ROWS' features; PUMPS_PREDICTIONS of the model's kind."""
    values = ", ".join(
        "(" + ", ".join([str(index + 1), *("NULL" if v is None else repr(v) for v in row)]) + ")"
        for index, row in enumerate(ROWS)
    )
    query(
        conn,
        f"CREATE OR REPLACE TABLE PUMPS_ROWS (PUMP_ID NUMBER, {', '.join(f'{f} FLOAT' for f in FEATURES)})",
    )
    query(conn, f"INSERT INTO PUMPS_ROWS VALUES {values}")
    query(conn, "CREATE OR REPLACE VIEW PUMPS_SCORING AS SELECT * FROM PUMPS_ROWS")
    columns = (
        "ID VARCHAR, PREDICTED_CLASS INTEGER, SCORE FLOAT, PROBABILITIES VARIANT"
        if problem == "multiclass"
        else "ID VARCHAR, SCORE FLOAT"
    )
    query(
        conn,
        f"CREATE OR REPLACE TABLE PUMPS_PREDICTIONS ({columns}, RUN_ID VARCHAR, EXPORT_ID VARCHAR,"
        " MODEL_VERSION VARCHAR, SCORED_AT TIMESTAMP_NTZ)",
    )


def _request(
    version: int, run_id: str, problem: str = "binary", **scoring_plan: Any
) -> ScoreInSnowflakeRequest:
    document = json.loads(publish_request(version, f"run-{version}", problem).model_dump_json())
    plan = document["plan"]
    plan.update(run_id=run_id, export_id=EXPORT, id_column="PUMP_ID", predictions_table="PUMPS_PREDICTIONS")
    plan["model"]["scoring_engine"] = "SNOWFLAKE"
    plan["scoring"].update({"view": "PUMPS_SCORING", "rows": len(ROWS), "input_uri": None, **scoring_plan})
    return ScoreInSnowflakeRequest.model_validate(document)


def _rows(conn: Any) -> dict[str, tuple[Any, ...]]:
    rows = query(conn, "SELECT * FROM PUMPS_PREDICTIONS WHERE EXPORT_ID = %s ORDER BY ID", (EXPORT,))
    return {str(row[0]): tuple(row[1:]) for row in rows}


def _array(value: Any) -> list[float]:
    return [float(item) for item in (json.loads(value) if isinstance(value, str) else value)]


def test_the_function_scores_the_view_into_the_table_as_the_model_does(
    s3: Any, factory: ConnectionFactory, setup_conn: Any, tmp_path: Path
) -> None:
    artifact, expected = train_model(tmp_path, seed=3)
    publish(s3, factory, 1, artifact)
    _view(setup_conn)
    result = scoring.score_in_snowflake(_request(1, "run-a"), factory, now=NOW)
    assert (result.rows_scored, result.rows_loaded, result.files) == (4, 4, 0)
    assert result.scored_by == "snowflake:ML_PREDICT_PUMPS:v1" and result.warehouse_seconds is not None
    rows = _rows(setup_conn)
    assert list(rows) == ["1", "2", "3", "4"]  # the id as text, as the transform path loads it
    assert max(abs(rows[str(i + 1)][0] - score) for i, score in enumerate(expected)) <= 1e-6
    assert {row[1:] for row in rows.values()} == {("run-a", EXPORT, "1", NOW)}

    # The same export scored again: one copy, the new run's.
    scoring.score_in_snowflake(_request(1, "run-b"), factory, now=NOW)
    assert {row[1] for row in _rows(setup_conn).values()} == {"run-b"} and len(_rows(setup_conn)) == 4


def test_a_multiclass_model_fills_class_score_and_probabilities(
    s3: Any, factory: ConnectionFactory, setup_conn: Any, tmp_path: Path
) -> None:
    artifact, expected = train_model(tmp_path, seed=4, objective="multi:softprob")
    publish(s3, factory, 1, artifact, problem="multiclass")
    _view(setup_conn, "multiclass")
    scoring.score_in_snowflake(_request(1, "run-m", "multiclass"), factory, now=NOW)
    for index, (predicted, score, probabilities, *_) in enumerate(_rows(setup_conn).values()):
        assert max(abs(a - b) for a, b in zip(_array(probabilities), expected[index], strict=True)) <= 1e-6
        assert predicted == max(range(3), key=lambda k: (expected[index][k], -k))
        assert abs(score - max(expected[index])) <= 1e-6


def test_a_failing_scoring_statement_rolls_back_and_keeps_the_earlier_copy(
    s3: Any, factory: ConnectionFactory, setup_conn: Any, tmp_path: Path
) -> None:
    artifact, _ = train_model(tmp_path, seed=5)
    publish(s3, factory, 1, artifact)
    _view(setup_conn)
    scoring.score_in_snowflake(_request(1, "run-1"), factory, now=NOW)
    earlier = _rows(setup_conn)
    # A feature that is no longer a number: the function cannot take it.
    query(
        setup_conn, "CREATE OR REPLACE VIEW PUMPS_SCORING AS SELECT PUMP_ID, A, B, 'n/a' AS C FROM PUMPS_ROWS"
    )
    with pytest.raises(ScoringFailed, match=r"scoring PUMPS_SCORING with ML_PREDICT_PUMPS failed"):
        scoring.score_in_snowflake(_request(1, "run-2"), factory, now=NOW)
    assert _rows(setup_conn) == earlier


def test_a_view_that_no_longer_has_the_exports_rows_is_refused_and_rolled_back(
    s3: Any, factory: ConnectionFactory, setup_conn: Any, tmp_path: Path
) -> None:
    artifact, _ = train_model(tmp_path, seed=6)
    publish(s3, factory, 1, artifact)
    _view(setup_conn)
    scoring.score_in_snowflake(_request(1, "run-1"), factory, now=NOW)
    earlier = _rows(setup_conn)
    with pytest.raises(RowCountMismatch, match=r"scored 4 rows of PUMPS_SCORING; the export counted 5"):
        scoring.score_in_snowflake(_request(1, "run-2", rows=5), factory, now=NOW)
    assert _rows(setup_conn) == earlier


def test_a_champion_with_other_classes_is_refused_and_rolled_back(
    s3: Any, factory: ConnectionFactory, setup_conn: Any, tmp_path: Path
) -> None:
    artifact, _ = train_model(tmp_path, seed=7, objective="multi:softprob")
    publish(s3, factory, 1, artifact, problem="multiclass")
    _view(setup_conn, "multiclass")
    request = _request(1, "run-4", "multiclass")
    four = request.model_copy(
        update={
            "plan": request.plan.model_copy(
                update={"model": request.plan.model.model_copy(update={"num_class": 4})}
            )
        }
    )
    with pytest.raises(
        PredictionsMalformed, match=r"returned 3 to 3 probabilities per row; the dataset has 4"
    ):
        scoring.score_in_snowflake(four, factory, now=NOW)
    assert _rows(setup_conn) == {}


def test_publishing_for_scoring_leaves_a_function_that_serves_the_model_alone(
    s3: Any, factory: ConnectionFactory, setup_conn: Any, tmp_path: Path
) -> None:
    artifact, _ = train_model(tmp_path, seed=8)
    publish(s3, factory, 1, artifact)
    before = query(setup_conn, "SELECT PUBLISHED_AT FROM ML_MODELS WHERE DATASET = 'pumps'")
    served = publish_request(1, "run-1").model_copy(update={"if_not_served": True})
    result = publishing.publish_model(served, factory, "ML_STAGE")
    assert (result.already_served, result.model_version, result.function_name) == (
        True,
        1,
        "ML_PREDICT_PUMPS",
    )
    assert query(setup_conn, "SELECT PUBLISHED_AT FROM ML_MODELS WHERE DATASET = 'pumps'") == before
    # Another version (a champion the function does not serve yet) is published.
    s3.put_object(Bucket=BUCKET, Key="models/pumps/run-2/job/output/model.tar.gz", Body=artifact)
    other = publish_request(2, "run-2").model_copy(update={"if_not_served": True})
    assert publishing.publish_model(other, factory, "ML_STAGE").already_served is False
    assert query(setup_conn, "SELECT MAX(MODEL_VERSION) FROM ML_MODELS WHERE DATASET = 'pumps'") == [(2,)]
