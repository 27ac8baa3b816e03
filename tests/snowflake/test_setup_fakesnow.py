"""The setup SQL in fakesnow: everything it supports runs, twice; only known kinds are skipped."""

from __future__ import annotations

from typing import Any

from sandbox.snowflake.setup import UNSUPPORTED_KINDS

from .conftest import SECOND_DATASET, apply_all, query

CONTRACT_COLUMNS = {
    "ML_DATASETS": "NAME, TRAINING_VIEW, SCORING_VIEW, ID_COLUMN, LABEL_COLUMN, PREDICTIONS_TABLE,"
    " ENABLED, CREATED_AT, OBJECTIVE, EVALUATION_METRIC, EVALUATION_THRESHOLD, HYPERPARAMETERS,"
    " TRAINING_SCRIPT, TRAINING_INSTANCE_COUNT, TUNING, TRAINING_ENGINE, SCORING_ENGINE,"
    " STALENESS_HOURS",
    "ML_RUNS": "RUN_ID, EXECUTION_NAME, EXECUTION_ARN, DATASET, EXPORT_ID, MODE, STATUS, FAILED_STATE,"
    " ERROR, CAUSE, TRAINING_JOB, TRANSFORM_JOB, MODEL_PACKAGE_ARN, MODEL_VERSION, METRIC_NAME,"
    " METRIC_VALUE, CHAMPION_METRIC, PROMOTED, ROWS_SCORED, ROWS_LOADED, STARTED_AT, FINISHED_AT,"
    " UPDATED_AT, PUBLISHED_FUNCTION, COST_USD, COST_TRAINING_USD, COST_TRANSFORM_USD,"
    " COST_STEP_FUNCTIONS_USD, COST_LAMBDA_USD, COST_WAREHOUSE_USD, WAREHOUSE_SECONDS, TUNING_TRIALS,"
    " CHAMPION_METRIC_ON_EXPORT, GATE_REASON",
    "ML_MODELS": "DATASET, MODEL_VERSION, MODEL_PACKAGE_ARN, ARTIFACT_URI, METRIC_NAME, METRIC_VALUE,"
    " FUNCTION_NAME, IMPORTS, RUN_ID, PUBLISHED_AT",
    "MERCHANT_RISK_PREDICTIONS": "ID, SCORE, RUN_ID, EXPORT_ID, MODEL_VERSION, SCORED_AT",
    "TXN_REFUND_PREDICTIONS": "ID, SCORE, RUN_ID, EXPORT_ID, MODEL_VERSION, SCORED_AT",
}


def columns(conn: Any, table: str) -> list[str]:
    cur = conn.cursor()
    try:
        cur.execute(f"SELECT * FROM {table} LIMIT 0")
        return [str(column[0]) for column in cur.description]
    finally:
        cur.close()


def test_setup_runs_twice_and_skips_only_unsupported_kinds(conn: Any, database: str) -> None:
    first = apply_all(conn, database, [SECOND_DATASET])
    second = apply_all(conn, database, [SECOND_DATASET])

    assert [s.text for s in first.executed] == [s.text for s in second.executed]
    assert first.skipped_kinds <= set(UNSUPPORTED_KINDS)
    assert {"CREATE STORAGE INTEGRATION", "CREATE PROCEDURE", "CREATE TASK", "GRANT"} <= first.skipped_kinds
    executed = {s.kind for s in first.executed}
    assert {
        "CREATE DATABASE",
        "CREATE SCHEMA",
        "USE SCHEMA",
        "CREATE FILE FORMAT",
        "CREATE STAGE",
        "CREATE TABLE",
        "CREATE VIEW",
        "MERGE",
    } <= executed
    assert all(item.reason for item in first.skipped)

    # the MERGE is re-appliable: one row per dataset, however often the files run
    rows = query(
        conn, "SELECT NAME, TRAINING_VIEW, SCORING_VIEW, ID_COLUMN, ENABLED FROM ML_DATASETS ORDER BY NAME"
    )
    assert rows == [
        ("merchant_risk", "MERCHANT_RISK_TRAINING", "MERCHANT_RISK_SCORING", "MERCHANT_ID", True),
        ("txn_refund", "TXN_REFUND_TRAINING", "TXN_REFUND_SCORING", "TXN_ID", True),
    ]


def test_tables_have_exactly_the_contract_columns(setup_conn: Any, database: str) -> None:
    apply_all(setup_conn, database, [SECOND_DATASET])
    for table, expected in CONTRACT_COLUMNS.items():
        assert columns(setup_conn, table) == [name.strip() for name in expected.split(",")], table


def test_reapply_keeps_data_and_a_disabled_dataset_disabled(setup_conn: Any, database: str) -> None:
    query(setup_conn, "INSERT INTO ML_RUNS (RUN_ID, STATUS) VALUES ('r1', 'SUCCEEDED')")
    query(setup_conn, "UPDATE ML_DATASETS SET ENABLED = FALSE WHERE NAME = 'merchant_risk'")
    apply_all(setup_conn, database)
    assert query(setup_conn, "SELECT RUN_ID, STATUS FROM ML_RUNS") == [("r1", "SUCCEEDED")]
    assert query(setup_conn, "SELECT ENABLED FROM ML_DATASETS WHERE NAME = 'merchant_risk'") == [(False,)]


def test_file_formats_and_stage_exist(setup_conn: Any) -> None:
    formats = {row[1] for row in query(setup_conn, "SHOW FILE FORMATS")}
    assert {"ML_EXPORT_CSV", "ML_PREDICTIONS_CSV", "ML_PREDICTIONS_LINES"} <= formats
    stages = query(setup_conn, "SHOW STAGES")
    assert any("ML_STAGE" in row and "s3://snowsage-test/" in row for row in stages)
