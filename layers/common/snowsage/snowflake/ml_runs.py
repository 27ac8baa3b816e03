"""Writing the run audit row into ML_RUNS."""

from __future__ import annotations

from snowsage.models import RunRecord
from snowsage.snowflake.connection import ConnectionFactory, session
from snowsage.snowflake.sql import RUN_COLUMNS, merge_run_statement


def run_binds(record: RunRecord) -> dict[str, object]:
    values = record.model_dump()
    binds: dict[str, object] = {column.lower(): values.get(column.lower()) for column in RUN_COLUMNS}
    for column in ("started_at", "finished_at"):
        moment = binds[column]
        if moment is not None and hasattr(moment, "replace"):
            binds[column] = moment.replace(tzinfo=None)  # TIMESTAMP_NTZ in UTC
    return binds


def write_run(record: RunRecord, factory: ConnectionFactory) -> None:
    with session(factory, query_tag=record.run_id) as snowflake:
        snowflake.execute(merge_run_statement(), run_binds(record))
