"""COPY INTO a table FROM @ML_STAGE reads moto S3 through the s3fs filesystem on fakesnow's DuckDB."""

from __future__ import annotations

from typing import Any

import pytest
import snowflake.connector

from snowsage.snowflake.sql import STAGING_TABLE, load_statements

from .conftest import BUCKET, query


def test_copy_predictions_from_the_stage(setup_conn: Any, s3: Any) -> None:
    prefix = "predictions/merchant_risk/run-a/"
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}data_0_0_0.csv.out", Body=b"M000001,0.25\nM000002,0.75\n")
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}data_0_0_1.csv.out", Body=b"M000003,0.5\n")
    query(setup_conn, "CREATE TEMPORARY TABLE PREDICTIONS_STAGING (ID VARCHAR, SCORE FLOAT)")

    # FORMAT_NAME quoted: fakesnow 0.12.1 reads an unquoted format name as a table ("Table as an
    # option value not implemented"); Snowflake accepts both spellings.
    loaded = query(
        setup_conn,
        f"COPY INTO PREDICTIONS_STAGING FROM @ML_STAGE/{prefix}"
        " FILE_FORMAT = (FORMAT_NAME = 'ML_PREDICTIONS_CSV')",
    )
    assert sorted((row[0].rsplit("/", 1)[-1], row[1], row[3]) for row in loaded) == [
        ("data_0_0_0.csv.out", "LOADED", 2),
        ("data_0_0_1.csv.out", "LOADED", 1),
    ]
    assert query(setup_conn, "SELECT ID, SCORE FROM PREDICTIONS_STAGING ORDER BY ID") == [
        ("M000001", 0.25),
        ("M000002", 0.75),
        ("M000003", 0.5),
    ]

    # the contract's load: run columns added by INSERT … SELECT in one transaction
    query(setup_conn, "BEGIN")
    query(setup_conn, "DELETE FROM MERCHANT_RISK_PREDICTIONS WHERE EXPORT_ID = %s", ("e1",))
    query(
        setup_conn,
        "INSERT INTO MERCHANT_RISK_PREDICTIONS (ID, SCORE, RUN_ID, EXPORT_ID, MODEL_VERSION, SCORED_AT)"
        " SELECT ID, SCORE, %s, %s, %s, SYSDATE() FROM PREDICTIONS_STAGING",
        ("run-a", "e1", "1"),
    )
    query(setup_conn, "COMMIT")
    assert query(setup_conn, "SELECT COUNT(*), MIN(RUN_ID) FROM MERCHANT_RISK_PREDICTIONS") == [(3, "run-a")]

    # a second COPY of the same files is skipped (load metadata), FORCE reloads them
    again = query(
        setup_conn, f"COPY INTO PREDICTIONS_STAGING FROM @ML_STAGE/{prefix} FILE_FORMAT = (TYPE = CSV)"
    )
    # Snowflake answers "Copy executed with 0 files processed." (one row), the sandbox one LOAD_SKIPPED
    # row per file: either way an answer, nothing LOADED, and the table keeps its three rows.
    statuses = [row[1] for row in again]
    assert statuses, "COPY answers with at least one row"
    assert set(statuses) <= {"LOAD_SKIPPED", "Copy executed with 0 files processed."}, again
    assert query(setup_conn, "SELECT COUNT(*) FROM PREDICTIONS_STAGING") == [(3,)]
    forced = query(
        setup_conn,
        f"COPY INTO PREDICTIONS_STAGING FROM @ML_STAGE/{prefix} FILE_FORMAT = (TYPE = CSV) FORCE = TRUE",
    )
    assert sorted(row[1] for row in forced) == ["LOADED", "LOADED"]
    assert query(setup_conn, "SELECT COUNT(*) FROM PREDICTIONS_STAGING") == [(6,)]


def test_pattern_loads_only_the_transform_output(setup_conn: Any, s3: Any) -> None:
    """LoadPredictions' own COPY: only `<input>.out` files, whatever else sits under the prefix."""
    prefix = "predictions/merchant_risk/run-p/"
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}data_0_0_0.csv.out", Body=b"M000001,0.25\n")
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}data_0_0_1.csv.out", Body=b"M000002,0.5\nM000003,0.75\n")
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}data_0_0_1.csv.out.partial", Body=b"M000009,0.1\n")
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}notes.txt", Body=b"not,a,prediction\n")
    statements = load_statements("MERCHANT_RISK_PREDICTIONS", "ML_STAGE", prefix)
    query(setup_conn, statements.create_staging)

    loaded = query(setup_conn, statements.copy_into_staging)

    assert sorted((row[0].rsplit("/", 1)[-1], row[3]) for row in loaded) == [
        ("data_0_0_0.csv.out", 1),
        ("data_0_0_1.csv.out", 2),
    ]
    assert query(setup_conn, f"SELECT COUNT(*) FROM {STAGING_TABLE}") == [(3,)]


def test_pattern_matching_nothing_loads_nothing(setup_conn: Any, s3: Any) -> None:
    prefix = "predictions/merchant_risk/run-q/"
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}data_0_0_0.csv", Body=b"M000001,0.25\n")
    statements = load_statements("MERCHANT_RISK_PREDICTIONS", "ML_STAGE", prefix)
    query(setup_conn, statements.create_staging)
    assert query(setup_conn, statements.copy_into_staging) == [("Copy executed with 0 files processed.",)]


def test_pattern_with_files_stays_refused(setup_conn: Any) -> None:
    query(setup_conn, "CREATE TEMPORARY TABLE P_STAGING (ID VARCHAR, SCORE FLOAT)")
    with pytest.raises(snowflake.connector.errors.Error):
        query(
            setup_conn,
            "COPY INTO P_STAGING FROM @ML_STAGE/predictions/x/ FILES = ('a.out') PATTERN = '.*[.]out'",
        )


MULTICLASS_TABLE = (
    "CREATE OR REPLACE TABLE SEGMENT_PREDICTIONS (ID VARCHAR, PREDICTED_CLASS INTEGER, SCORE FLOAT,"
    " PROBABILITIES VARIANT, RUN_ID VARCHAR, EXPORT_ID VARCHAR, MODEL_VERSION VARCHAR,"
    " SCORED_AT TIMESTAMP_NTZ)"
)
BINDS = {"run_id": "r1", "export_id": "e1", "model_version": "1", "scored_at": "2026-11-26 10:00:00"}


def test_a_multiclass_output_loads_its_class_score_and_probabilities(setup_conn: Any, s3: Any) -> None:
    """`id,[p0, p1, p2]` lines (the container's multi:softprob output) as ML_PREDICTIONS_LINES reads
    them: the most probable class, its probability and the array, in class order."""
    prefix = "predictions/segment/run-m/"
    # FIELD_DELIMITER = NONE: a line is one field, even one holding the text NONE (an id here).
    body = b"C1,[0.1, 0.7, 0.2]\nNONE2,[0.5, 0.25, 0.25]\nC3,[0.3, 0.3, 0.4]\n"
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}data_0_0_0.csv.out", Body=body)
    query(setup_conn, MULTICLASS_TABLE)
    statements = load_statements("SEGMENT_PREDICTIONS", "ML_STAGE", prefix, "multiclass")
    query(setup_conn, statements.create_staging)
    loaded = query(setup_conn, statements.copy_into_staging)
    assert [row[3] for row in loaded] == [3]
    assert statements.class_counts is not None
    assert query(setup_conn, statements.class_counts) == [(3, 3)]
    query(setup_conn, statements.insert_predictions(3), BINDS)
    rows = query(
        setup_conn,
        "SELECT ID, PREDICTED_CLASS, SCORE, PROBABILITIES[0]::FLOAT, ARRAY_SIZE(PROBABILITIES), RUN_ID"
        " FROM SEGMENT_PREDICTIONS ORDER BY ID",
    )
    assert rows == [
        ("C1", 1, 0.7, 0.1, 3, "r1"),
        ("C3", 2, 0.4, 0.3, 3, "r1"),
        ("NONE2", 0, 0.5, 0.5, 3, "r1"),
    ]


def test_a_multiclass_output_with_uneven_lines_counts_both(setup_conn: Any, s3: Any) -> None:
    prefix = "predictions/segment/run-n/"
    s3.put_object(
        Bucket=BUCKET, Key=f"{prefix}data_0_0_0.csv.out", Body=b"C1,[0.1, 0.9]\nC2,[0.5, 0.25, 0.25]\n"
    )
    statements = load_statements("SEGMENT_PREDICTIONS", "ML_STAGE", prefix, "multiclass")
    query(setup_conn, statements.create_staging)
    query(setup_conn, statements.copy_into_staging)
    assert statements.class_counts is not None
    assert query(setup_conn, statements.class_counts) == [(2, 3)]
