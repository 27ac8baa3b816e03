"""Writing the run audit row into ML_RUNS, one writer at a time.

RecordRun and the safety net (RecordExecutionOutcome, delivered at least once) may write the same
RUN_ID at the same time, and Snowflake does not enforce a PRIMARY KEY (docs: sql-reference/
constraints-overview): two MERGEs that both find no row would both insert one. So the MERGE runs in
a transaction whose first statement is an UPDATE of ML_RUNS: UPDATE, DELETE and MERGE statements
hold locks that keep them from running in parallel with each other (sql-reference/transactions,
"Resource locking"), held until the transaction ends, so a second writer's UPDATE waits for the
first writer's COMMIT; its MERGE then begins after that commit and, under read committed isolation
("a statement only sees data that was committed before the statement began"), finds the row and
updates it.
"""

from __future__ import annotations

from snowsage.models import RunRecord
from snowsage.snowflake.connection import ConnectionFactory, roll_back, session
from snowsage.snowflake.sql import RUN_COLUMNS, RUNS_TABLE, lock_run_statement, merge_run_statement


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
            snowflake.execute_waiting_for_lock(lock_run_statement(), RUNS_TABLE, {"run_id": record.run_id})
            snowflake.execute(merge_run_statement(), binds)
            snowflake.execute("COMMIT")
        except BaseException:
            roll_back(snowflake)
            raise
