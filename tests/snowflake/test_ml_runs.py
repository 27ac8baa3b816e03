"""Writing ML_RUNS: one writer of a run's row at a time, so two writers never insert it twice."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from snowflake.connector.errors import OperationalError

from snowsage.errors import SnowflakeUnavailable
from snowsage.models import RunRecord
from snowsage.snowflake.connection import ConnectionFactory
from snowsage.snowflake.ml_runs import write_run, write_unsuccessful_run
from tests.snowflake.fake_driver import FakeConnection, FakeCursor, factory_for

from .conftest import query

RECORD = RunRecord(
    run_id="merchant-risk-e1",
    status="SUCCEEDED",
    execution_name="merchant_risk-e1",
    execution_arn="arn:aws:states:us-east-1:123456789012:execution:p:merchant_risk-e1",
    finished_at=datetime(2026, 12, 1, tzinfo=UTC),
)


def test_the_insert_runs_after_an_update_that_takes_the_tables_lock_in_one_transaction() -> None:
    """RecordRun and the safety net (delivered at least once) may write a RUN_ID at once, and Snowflake
    does not enforce the primary key: each writer's UPDATE waits for the other's COMMIT (UPDATE and
    MERGE hold locks, sql-reference/transactions), so its INSERT, a later statement, sees the row."""
    cursor = FakeCursor()
    write_run(RECORD, factory_for(FakeConnection(cursor)))
    assert cursor.verbs() == ["BEGIN", "UPDATE", "INSERT", "COMMIT"]


def test_a_failed_insert_is_rolled_back_and_stays_transient() -> None:
    gone = OperationalError(msg="Connection aborted.", errno=250003)
    cursor = FakeCursor(failures={"INSERT": gone})
    with pytest.raises(SnowflakeUnavailable):
        write_run(RECORD, factory_for(FakeConnection(cursor)))
    assert cursor.verbs() == ["BEGIN", "UPDATE", "INSERT", "ROLLBACK"]


def test_a_second_write_updates_the_one_row_in_the_sandboxs_snowflake(
    setup_conn: Any, snowflake_sandbox: Any, database: str
) -> None:
    """The statements run in fakesnow: the first write inserts the row, a later one updates it."""
    factory = ConnectionFactory(
        open=lambda tag: snowflake_sandbox.connect(database=database, schema="ML"),
        statement_budget_seconds=60,
    )
    write_run(RECORD, factory)
    write_run(RECORD.model_copy(update={"status": "ABORTED", "failed_state": "Score"}), factory)
    assert query(setup_conn, "SELECT RUN_ID, STATUS, FAILED_STATE FROM ML_RUNS") == [
        ("merchant-risk-e1", "ABORTED", "Score")
    ]


def test_an_unsuccessful_run_takes_back_its_predictions_with_its_row(
    setup_conn: Any, snowflake_sandbox: Any, database: str
) -> None:
    """The safety net's write: the ABORTED row and the DELETE of that RUN_ID's predictions commit
    together, and another run's rows of the same export stay."""
    factory = ConnectionFactory(
        open=lambda tag: snowflake_sandbox.connect(database=database, schema="ML"),
        statement_budget_seconds=60,
    )
    table = "MERCHANT_RISK_PREDICTIONS"
    setup_conn.cursor().execute(f"DELETE FROM ML.{table}")
    for run_id in ("merchant-risk-e1", "merchant-risk-e0"):
        setup_conn.cursor().execute(
            f"INSERT INTO ML.{table} (ID, SCORE, RUN_ID, EXPORT_ID, MODEL_VERSION, SCORED_AT)"
            " VALUES ('m1', 0.5, %s, 'e1', '1', '2026-12-01 00:00:00')",
            (run_id,),
        )
    aborted = RECORD.model_copy(update={"status": "ABORTED", "failed_state": "LoadPredictions"})
    write_unsuccessful_run(aborted, table, factory=factory)
    assert query(setup_conn, f"SELECT RUN_ID FROM ML.{table}") == [("merchant-risk-e0",)]
    assert query(setup_conn, "SELECT STATUS FROM ML_RUNS WHERE RUN_ID = 'merchant-risk-e1'") == [("ABORTED",)]


def test_an_unsuccessful_write_is_one_transaction_and_refuses_a_success() -> None:
    cursor = FakeCursor()
    write_unsuccessful_run(
        RECORD.model_copy(update={"status": "ABORTED"}),
        "MERCHANT_RISK_PREDICTIONS",
        factory=factory_for(FakeConnection(cursor)),
    )
    assert cursor.verbs() == ["BEGIN", "UPDATE", "INSERT", "DELETE", "COMMIT"]
    with pytest.raises(ValueError, match="SUCCEEDED"):
        write_unsuccessful_run(
            RECORD, "MERCHANT_RISK_PREDICTIONS", factory=factory_for(FakeConnection(FakeCursor()))
        )
