"""LoadPredictions: the transform output into the predictions table, exactly once per export."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from snowsage.errors import PredictionsMalformed, PredictionsMissing, RowCountMismatch, RunEnded
from snowsage.models import LoadPredictionsRequest, LoadResult, RunPlan
from snowsage.snowflake.connection import ConnectionFactory, Session, session, transaction
from snowsage.snowflake.ml_runs import run_ended
from snowsage.snowflake.sql import LoadStatements, load_statements

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
        with transaction(snowflake):
            # The first statement that needs the table's lock: a detached transaction's lock shows here.
            snowflake.execute_waiting_for_lock(statements.delete_export, plan.predictions_table, binds)
            snowflake.execute(statements.insert_predictions(classes), binds)
            inserted = snowflake.cursor.rowcount
            if inserted != plan.scoring.rows:
                raise RowCountMismatch(f"inserted {inserted} rows; the export scored {plan.scoring.rows}")
            refuse_if_ended(snowflake, plan.run_id)
    return loaded(plan, inserted, files, snowflake)


def refuse_if_ended(snowflake: Session, run_id: str) -> None:
    """Just before COMMIT: an execution stopped, timed out or failed meanwhile (its ML_RUNS row
    exists) gets RunEnded, which rolls the transaction back and which the state machine does not retry.
    A replay of a run that SUCCEEDED (a hand invoke of its event) reloads the same rows: allowed."""
    status = run_ended(snowflake, run_id)
    if status is not None and status != "SUCCEEDED":
        raise RunEnded(f"run {run_id} ended {status} while its predictions were loading: rolled back")


def loaded(plan: RunPlan, inserted: int, files: int, snowflake: Session) -> LoadResult:
    """The predictions table's new rows for the export, and what the warehouse spent on them."""
    return LoadResult(
        predictions_table=plan.predictions_table,
        rows_scored=plan.scoring.rows,
        rows_loaded=inserted,
        files=files,
        warehouse_seconds=snowflake.warehouse_seconds(),
    )
