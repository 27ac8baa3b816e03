"""Writing the run audit row into ML_RUNS, one writer at a time.

RecordRun and the safety net (RecordExecutionOutcome, delivered at least once) may write the same
RUN_ID at the same time, and Snowflake does not enforce a PRIMARY KEY (docs: sql-reference/
constraints-overview): two MERGEs that both found no row would both insert one. So the row is
written in one transaction, an UPDATE first, then an INSERT only if no row exists: UPDATE, DELETE
and MERGE statements hold locks that keep them from running in parallel with each other
(sql-reference/transactions, "Resource locking"), held until the transaction ends, so a second
writer's UPDATE waits for the first writer's COMMIT; its INSERT then begins after that commit and,
under read committed isolation ("a statement only sees data that was committed before the
statement began"), finds the row and inserts nothing.

An execution that did not succeed keeps no predictions of its own: LoadPredictions reads the run's
row (``run_ended``) just before its COMMIT and rolls back if there is one, and the safety net deletes
the run's predictions in the transaction that writes its row (``write_unsuccessful_run``), for a load
that committed before the execution was stopped (Step Functions' StopExecution does not stop a
Lambda invocation under way).
"""

from __future__ import annotations

from snowsage.models import RunRecord
from snowsage.snowflake.connection import ConnectionFactory, Session, session, transaction
from snowsage.snowflake.sql import (
    RUN_COLUMNS,
    RUN_ENDED,
    RUNS_TABLE,
    delete_run_predictions,
    run_write_statements,
)


def run_binds(record: RunRecord) -> dict[str, object]:
    values = record.model_dump()
    binds: dict[str, object] = {column.lower(): values.get(column.lower()) for column in RUN_COLUMNS}
    for column in ("started_at", "finished_at"):
        moment = binds[column]
        if moment is not None and hasattr(moment, "replace"):
            binds[column] = moment.replace(tzinfo=None)  # TIMESTAMP_NTZ in UTC
    return binds


def _write(snowflake: Session, binds: dict[str, object]) -> None:
    statements = run_write_statements()
    snowflake.execute_waiting_for_lock(statements.update, RUNS_TABLE, binds)
    snowflake.execute(statements.insert, binds)


def write_run(record: RunRecord, factory: ConnectionFactory) -> None:
    with session(factory, query_tag=record.run_id) as snowflake, transaction(snowflake):
        _write(snowflake, run_binds(record))


def write_unsuccessful_run(
    record: RunRecord, predictions_table: str | None, *, factory: ConnectionFactory
) -> None:
    """The row of a run that did not succeed and, in the same transaction, the removal of any
    predictions the run loaded into ``predictions_table`` (None: the run never reached a load).
    RUN_ID is one execution's, so no other run's rows go."""
    if record.status == "SUCCEEDED":
        raise ValueError(f"run {record.run_id} SUCCEEDED: its predictions stay")
    binds = run_binds(record)
    with session(factory, query_tag=record.run_id) as snowflake, transaction(snowflake):
        _write(snowflake, binds)
        if predictions_table is not None:
            delete = delete_run_predictions(predictions_table)
            snowflake.execute_waiting_for_lock(delete, predictions_table, {"run_id": record.run_id})


def run_ended(snowflake: Session, run_id: str) -> str | None:
    """The status ML_RUNS holds for the run, or None while it runs (the row is written at its end)."""
    snowflake.execute(RUN_ENDED, {"run_id": run_id})
    row = snowflake.cursor.fetchone()
    return str(row[0]) if row else None
