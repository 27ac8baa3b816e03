"""LoadPredictions: the transform output into the predictions table, exactly once per export."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from snowsage.errors import PredictionsMalformed, PredictionsMissing, RowCountMismatch
from snowsage.models import LoadPredictionsRequest, LoadResult, RunPlan
from snowsage.snowflake.connection import ConnectionFactory, Session, session
from snowsage.snowflake.sql import LoadStatements, load_statements

logger = logging.getLogger(__name__)


def roll_back(snowflake: Session) -> None:
    """Undo the open transaction; the error that made us roll back is the one to report.

    A ROLLBACK that fails too (the connection is gone, the budget is spent) is only logged: if it
    replaced the original error, a permanent RowCountMismatch would be retried as
    SnowflakeUnavailable. Nothing is committed either way: an open transaction is rolled back
    when its session ends, and one whose session vanished is aborted by Snowflake
    (docs: sql-reference/transactions).
    """
    try:
        snowflake.execute("ROLLBACK")
    except Exception as error:
        logger.warning(
            "ROLLBACK failed (%s: %s); the session's close ends the transaction", type(error).__name__, error
        )


# COPY INTO's result has one row per file: read in batches, so 100,000 files are never all in memory.
COPY_RESULT_BATCH = 1_000


def _copied_rows(cursor: Any) -> tuple[int, int]:
    """(files, rows loaded) from COPY INTO's result: one row per file with a rows_loaded column."""
    names = [column[0].lower() for column in cursor.description]
    if "rows_loaded" not in names:
        # "Copy executed with 0 files processed." comes back as a single status column.
        return 0, 0
    index = names.index("rows_loaded")
    files = rows = 0
    while batch := cursor.fetchmany(COPY_RESULT_BATCH):
        files += len(batch)
        rows += sum(int(row[index] or 0) for row in batch)
    return files, rows


def _classes(snowflake: Session, statements: LoadStatements, plan: RunPlan) -> int | None:
    """Probabilities per line of a multi-class output: the same on every line, and the plan's."""
    if statements.class_counts is None:
        return None
    snowflake.execute(statements.class_counts)
    fewest, most = snowflake.cursor.fetchone() or (None, None)
    expected = plan.model.num_class
    if fewest is None or most is None or fewest != most or int(most) < 2:
        raise PredictionsMalformed(
            f"transform output under {plan.scoring.output_uri} has {fewest} to {most} probabilities"
            " per line; a multi-class output has the same number (at least 2) on every line"
        )
    if expected is not None and int(most) != expected:
        raise PredictionsMalformed(
            f"transform output has {most} probabilities per line; the dataset has {expected} classes"
        )
    return int(most)


def load_predictions(
    request: LoadPredictionsRequest, factory: ConnectionFactory, stage: str, now: datetime | None = None
) -> LoadResult:
    plan = request.plan
    statements = load_statements(plan.predictions_table, stage, plan.scoring.stage_path, plan.model.problem)
    binds = {
        "run_id": plan.run_id,
        "export_id": plan.export_id,
        "model_version": str(request.model.model_version),
        "scored_at": (now or datetime.now(UTC)).replace(tzinfo=None),
    }
    with session(factory, query_tag=plan.run_id) as snowflake:
        snowflake.execute(statements.create_staging)
        snowflake.execute(statements.copy_into_staging)
        files, staged = _copied_rows(snowflake.cursor)
        if files == 0:
            raise PredictionsMissing(f"no prediction files under {plan.scoring.output_uri}")
        if staged != plan.scoring.rows:
            raise RowCountMismatch(
                f"transform output has {staged} rows in {files} files; the export scored {plan.scoring.rows}"
            )
        classes = _classes(snowflake, statements, plan)
        snowflake.execute("BEGIN")
        try:
            snowflake.execute(statements.delete_export, binds)
            snowflake.execute(statements.insert_predictions(classes), binds)
            inserted = snowflake.cursor.rowcount
            if inserted != plan.scoring.rows:
                raise RowCountMismatch(f"inserted {inserted} rows; the export scored {plan.scoring.rows}")
            snowflake.execute("COMMIT")
        except BaseException:
            roll_back(snowflake)
            raise
    return LoadResult(
        predictions_table=plan.predictions_table,
        rows_scored=plan.scoring.rows,
        rows_loaded=inserted,
        files=files,
        warehouse_seconds=snowflake.warehouse_seconds(),
    )
