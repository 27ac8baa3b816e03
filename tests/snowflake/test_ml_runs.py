"""Writing ML_RUNS: one writer of a run's row at a time, so two writers never insert it twice."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from snowflake.connector.errors import OperationalError

from snowsage.errors import SnowflakeUnavailable
from snowsage.models import RunRecord
from snowsage.snowflake.ml_runs import write_run
from tests.snowflake.fake_driver import FakeConnection, FakeCursor, factory_for

RECORD = RunRecord(
    run_id="merchant-risk-e1",
    status="SUCCEEDED",
    execution_name="merchant_risk-e1",
    execution_arn="arn:aws:states:us-east-1:123456789012:execution:p:merchant_risk-e1",
    finished_at=datetime(2026, 12, 1, tzinfo=UTC),
)


def test_the_merge_runs_after_an_update_that_takes_the_tables_lock_in_one_transaction() -> None:
    """RecordRun and the safety net (delivered at least once) may write a RUN_ID at once, and Snowflake
    does not enforce the primary key: each writer's UPDATE waits for the other's COMMIT (UPDATE and
    MERGE hold locks, sql-reference/transactions), so its MERGE, a later statement, sees the row."""
    cursor = FakeCursor()
    write_run(RECORD, factory_for(FakeConnection(cursor)))
    assert cursor.verbs() == ["BEGIN", "UPDATE", "MERGE", "COMMIT"]


def test_a_failed_merge_is_rolled_back_and_stays_transient() -> None:
    gone = OperationalError(msg="Connection aborted.", errno=250003)
    cursor = FakeCursor(failures={"MERGE": gone})
    with pytest.raises(SnowflakeUnavailable):
        write_run(RECORD, factory_for(FakeConnection(cursor)))
    assert cursor.verbs() == ["BEGIN", "UPDATE", "MERGE", "ROLLBACK"]
