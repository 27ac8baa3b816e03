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
"""

from __future__ import annotations

from snowsage.models import RunRecord
from snowsage.snowflake.connection import ConnectionFactory, roll_back, session
from snowsage.snowflake.sql import RUN_COLUMNS, RUNS_TABLE, run_write_statements


def run_binds(record: RunRecord) -> dict[str, object]:
    values = record.model_dump()
    binds: dict[str, object] = {column.lower(): values.get(column.lower()) for column in RUN_COLUMNS}
    for column in ("started_at", "finished_at"):
        moment = binds[column]
        if moment is not None and hasattr(moment, "replace"):
            binds[column] = moment.replace(tzinfo=None)  # TIMESTAMP_NTZ in UTC
    return binds


def write_run(record: RunRecord, factory: ConnectionFactory) -> None:
    binds = run_binds(record)
    with session(factory, query_tag=record.run_id) as snowflake:
        snowflake.execute("BEGIN")
        try:
            statements = run_write_statements()
            snowflake.execute_waiting_for_lock(statements.update, RUNS_TABLE, binds)
            snowflake.execute(statements.insert, binds)
            snowflake.execute("COMMIT")
        except BaseException:
            roll_back(snowflake)
            raise
