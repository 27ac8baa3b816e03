"""The setup SQL in fakesnow: everything it supports runs, twice; only known kinds are skipped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import snowflake.connector

from sandbox.snowflake.setup import UNSUPPORTED_KINDS, apply_setup
from snowsage_setup.packages import PackagePinMissing
from snowsage_setup.sqlscript import SETUP_DIR, setup_files

from .conftest import SECOND_DATASET, apply_all, query, variables

CONTRACT_COLUMNS = {
    "ML_DATASETS": "NAME, TRAINING_VIEW, SCORING_VIEW, ID_COLUMN, LABEL_COLUMN, PREDICTIONS_TABLE,"
    " ENABLED, CREATED_AT, OBJECTIVE, EVALUATION_METRIC, EVALUATION_THRESHOLD, HYPERPARAMETERS,"
    " TRAINING_SCRIPT, TRAINING_INSTANCE_COUNT, TUNING, TRAINING_ENGINE, SCORING_ENGINE,"
    " STALENESS_HOURS, ENDPOINT, ENDPOINT_MEMORY_MB, ENDPOINT_MAX_CONCURRENCY, ENDPOINT_INSTANCE_TYPE,"
    " ENDPOINT_INSTANCE_COUNT",
    "ML_RUNS": "RUN_ID, EXECUTION_NAME, EXECUTION_ARN, DATASET, EXPORT_ID, MODE, STATUS, FAILED_STATE,"
    " ERROR, CAUSE, TRAINING_JOB, TRANSFORM_JOB, MODEL_PACKAGE_ARN, MODEL_VERSION, METRIC_NAME,"
    " METRIC_VALUE, CHAMPION_METRIC, PROMOTED, ROWS_SCORED, ROWS_LOADED, STARTED_AT, FINISHED_AT,"
    " UPDATED_AT, PUBLISHED_FUNCTION, COST_USD, COST_TRAINING_USD, COST_TRANSFORM_USD,"
    " COST_STEP_FUNCTIONS_USD, COST_LAMBDA_USD, COST_WAREHOUSE_USD, WAREHOUSE_SECONDS, TUNING_TRIALS,"
    " CHAMPION_METRIC_ON_EXPORT, GATE_REASON, COST_NOTE, ENDPOINT_NAME, ENDPOINT_STATUS,"
    " ENDPOINT_MODEL_VERSION, ENDPOINT_REASON",
    "ML_MODELS": "DATASET, MODEL_VERSION, MODEL_PACKAGE_ARN, ARTIFACT_URI, METRIC_NAME, METRIC_VALUE,"
    " FUNCTION_NAME, IMPORTS, RUN_ID, PUBLISHED_AT, ENDPOINT_NAME, ENDPOINT_STATUS, ENDPOINT_UPDATED_AT",
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
    assert {"CREATE STORAGE INTEGRATION", "CREATE PROCEDURE", "GRANT"} <= first.skipped_kinds
    executed = {s.kind for s in first.executed}
    assert {
        "CREATE DATABASE",
        "CREATE SCHEMA",
        "USE SCHEMA",
        "CREATE FILE FORMAT",
        "ALTER FILE FORMAT",
        "CREATE STAGE",
        "ALTER STAGE",
        "CREATE TABLE",
        "CREATE VIEW",
        "CREATE TASK",  # the sandbox's Snowflake keeps tasks (their state): setup_objects.py
        "CALL",  # REFRESH_ML_PREDICTIONS, answered by the sandbox's Snowflake
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


# --- applying again, in any order -----------------------------------------------------------------

THIRD_DATASET = SECOND_DATASET.with_name("merchant_spend.sql")


def _objects(conn: Any, database: str) -> dict[str, Any]:
    """What an apply leaves: the tables and views, ML_PREDICTIONS' datasets, the tasks and their state."""
    tables = query(
        conn,
        f"SELECT TABLE_NAME, TABLE_TYPE FROM {database}.INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = 'ML'"
        " ORDER BY TABLE_NAME",
    )
    return {
        "tables": tables,
        "predictions": query(conn, "SELECT DISTINCT DATASET FROM ML_PREDICTIONS ORDER BY DATASET"),
        "tasks": query(conn, "SHOW TASKS"),
    }


def test_applying_in_any_order_any_number_of_times_gives_the_same_objects(conn: Any, database: str) -> None:
    """A dataset's file and the setup files, in either order and again: ML_PREDICTIONS names every
    registered dataset each time (it was the last CREATE OR REPLACE VIEW that won)."""
    apply_all(conn, database, [SECOND_DATASET, THIRD_DATASET])
    for table in ("MERCHANT_RISK", "TXN_REFUND", "MERCHANT_SPEND"):
        query(conn, f"INSERT INTO {table}_PREDICTIONS (ID, SCORE, RUN_ID) VALUES ('x', 0.5, 'r')")
    after_all = _objects(conn, database)
    assert after_all["predictions"] == [("merchant_risk",), ("merchant_spend",), ("txn_refund",)]
    apply_all(conn, database)  # the setup again, after the examples
    assert _objects(conn, database) == after_all
    apply_setup(conn, [THIRD_DATASET, SECOND_DATASET], variables(database))  # the examples again, reversed
    assert _objects(conn, database) == after_all


def test_a_resumed_task_stays_resumed_when_the_setup_is_applied_again(setup_conn: Any, database: str) -> None:
    """CREATE OR REPLACE TASK made a new, suspended task on every apply: nightly exports stopped."""
    assert query(setup_conn, "SHOW TASKS LIKE 'EXPORT_%'") == [
        ("EXPORT_MERCHANT_RISK", database, "ML", "suspended")
    ]
    query(setup_conn, "ALTER TASK EXPORT_MERCHANT_RISK RESUME")
    apply_all(setup_conn, database)
    assert query(setup_conn, "SHOW TASKS") == [("EXPORT_MERCHANT_RISK", database, "ML", "started")]


def test_the_sandbox_keeps_task_state_as_snowflake_does(setup_conn: Any, database: str) -> None:
    """create-task: OR REPLACE makes a new (suspended) task, OR ALTER keeps it, a plain CREATE of an
    existing name is refused, IF NOT EXISTS leaves it; ALTER of an absent task is an error."""
    query(setup_conn, "ALTER TASK EXPORT_MERCHANT_RISK RESUME")
    query(setup_conn, "CREATE OR ALTER TASK EXPORT_MERCHANT_RISK SCHEDULE = '5 MINUTES' AS SELECT 1")
    assert query(setup_conn, "SHOW TASKS")[0][3] == "started"
    query(setup_conn, "CREATE TASK IF NOT EXISTS EXPORT_MERCHANT_RISK AS SELECT 1")
    assert query(setup_conn, "SHOW TASKS")[0][3] == "started"
    with pytest.raises(snowflake.connector.errors.ProgrammingError, match="already exists"):
        query(setup_conn, "CREATE TASK EXPORT_MERCHANT_RISK AS SELECT 1")
    query(setup_conn, "CREATE OR REPLACE TASK EXPORT_MERCHANT_RISK AS SELECT 1")
    assert query(setup_conn, "SHOW TASKS")[0][3] == "suspended"
    with pytest.raises(snowflake.connector.errors.ProgrammingError, match="does not exist"):
        query(setup_conn, "ALTER TASK NOPE RESUME")


def test_a_grant_to_a_role_nobody_created_is_refused_as_snowflake_refuses_it(setup_conn: Any) -> None:
    """grant-privilege: the grantee must exist; the setup's CREATE ROLE and the system roles do."""
    with pytest.raises(
        snowflake.connector.errors.ProgrammingError, match="Role 'NO_SUCH_ROLE' does not exist"
    ):
        query(setup_conn, "GRANT USAGE ON DATABASE SNOWSAGE TO ROLE no_such_role")
    assert query(setup_conn, "GRANT USAGE ON WAREHOUSE W TO ROLE SNOWSAGE_PIPELINE") == [
        ("Statement executed successfully.",)
    ]
    assert query(setup_conn, "GRANT ROLE SNOWSAGE_PIPELINE TO ROLE SYSADMIN")[0][0].startswith("Statement")
    query(setup_conn, "CREATE ROLE IF NOT EXISTS SNOWSAGE_NEW_ANALYST COMMENT = 'new'")
    assert query(setup_conn, "GRANT USAGE ON DATABASE SNOWSAGE TO ROLE snowsage_new_analyst")
    with pytest.raises(snowflake.connector.errors.ProgrammingError, match="already exists"):
        query(setup_conn, "CREATE ROLE SNOWSAGE_NEW_ANALYST")


def test_the_stage_and_file_formats_converge_on_the_files_definition(setup_conn: Any, database: str) -> None:
    """An older definition (another delimiter, another URL) is ALTERed into this file's, in place."""
    query(setup_conn, "ALTER FILE FORMAT ML_PREDICTIONS_CSV SET FIELD_DELIMITER = ';' SKIP_HEADER = 1")
    query(setup_conn, "ALTER STAGE ML_STAGE SET URL = 's3://elsewhere/'")
    changed = {row[1]: row for row in query(setup_conn, "SHOW FILE FORMATS")}
    assert '";"' in str(changed["ML_PREDICTIONS_CSV"])
    apply_all(setup_conn, database)
    formats = {row[1]: row for row in query(setup_conn, "SHOW FILE FORMATS")}
    assert '";"' not in str(formats["ML_PREDICTIONS_CSV"]) and '"SKIP_HEADER": 0' in str(
        formats["ML_PREDICTIONS_CSV"]
    )
    assert any("ML_STAGE" in row and "s3://snowsage-test/" in row for row in query(setup_conn, "SHOW STAGES"))
    with pytest.raises(snowflake.connector.errors.ProgrammingError, match="does not exist"):
        query(setup_conn, "ALTER STAGE NOPE SET URL = 's3://x/'")


# --- the Anaconda pins, checked before the first Python object ----------------------------------


def test_the_sandboxs_information_schema_packages_lists_its_runtimes_packages(setup_conn: Any) -> None:
    rows = query(
        setup_conn,
        "SELECT PACKAGE_NAME, VERSION, LANGUAGE, RUNTIME_VERSION FROM INFORMATION_SCHEMA.PACKAGES"
        " WHERE LANGUAGE = 'python' AND PACKAGE_NAME IN ('xgboost', 'pandas') ORDER BY PACKAGE_NAME",
    )
    assert rows == [("pandas", "2.2.3", "python", "3.11"), ("xgboost", "1.7.3", "python", "3.11")]


def test_an_apply_stops_before_a_python_object_whose_pin_the_channel_lacks(
    conn: Any, database: str, tmp_path: Path
) -> None:
    """xgboost==9.9.9 is on no channel: the apply stops before TRAIN_MODEL, saying what to do,
    instead of CREATE failing at file 35 (or PublishModel at a run)."""
    pinned = tmp_path / "35_training_procedure.sql"
    text = (
        (SETUP_DIR / "35_training_procedure.sql").read_text().replace("'xgboost==1.7.3'", "'xgboost==9.9.9'")
    )
    pinned.write_text(text)
    files = [path for path in setup_files() if path.name < "35"]
    with pytest.raises(PackagePinMissing) as refused:
        apply_setup(conn, [*files, pinned], variables(database))
    message = str(refused.value)
    assert message.startswith("xgboost==9.9.9 is not on Snowflake's Anaconda channel for Python 3.11")
    assert "INFORMATION_SCHEMA.PACKAGES lists: 1.7.3" in message
    assert "ARTIFACT_REPOSITORY" in message and "35_training_procedure.sql" in message
