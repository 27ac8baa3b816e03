"""LoadPredictions: the transform output into the predictions table, exactly once per export."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from snowsage.errors import PredictionsMissing, RowCountMismatch
from snowsage.models import LoadPredictionsRequest, LoadResult
from snowsage.snowflake.connection import ConnectionFactory, session
from snowsage.snowflake.sql import load_statements


def _copied_rows(copy_result: list[tuple[Any, ...]], description: list[Any]) -> tuple[int, int]:
    """(files, rows loaded) from COPY INTO's result: one row per file with a rows_loaded column."""
    names = [column[0].lower() for column in description]
    if "rows_loaded" not in names:
        # "Copy executed with 0 files processed." comes back as a single status column.
        return 0, 0
    index = names.index("rows_loaded")
    return len(copy_result), sum(int(row[index] or 0) for row in copy_result)


def load_predictions(
    request: LoadPredictionsRequest, factory: ConnectionFactory, stage: str, now: datetime | None = None
) -> LoadResult:
    plan = request.plan
    statements = load_statements(plan.predictions_table, stage, plan.scoring.stage_path)
    binds = {
        "run_id": plan.run_id,
        "export_id": plan.export_id,
        "model_version": str(request.model.model_version),
        "scored_at": (now or datetime.now(UTC)).replace(tzinfo=None),
    }
    with session(factory) as connection:
        cursor = connection.cursor()
        cursor.execute(statements.create_staging)
        cursor.execute(statements.copy_into_staging)
        files, staged = _copied_rows(cursor.fetchall(), cursor.description)
        if files == 0:
            raise PredictionsMissing(f"no prediction files under {plan.scoring.output_uri}")
        if staged != plan.scoring.rows:
            raise RowCountMismatch(
                f"transform output has {staged} rows in {files} files; the export scored {plan.scoring.rows}"
            )
        cursor.execute("BEGIN")
        try:
            cursor.execute(statements.delete_export, binds)
            cursor.execute(statements.insert_predictions, binds)
            inserted = cursor.rowcount
            if inserted != plan.scoring.rows:
                raise RowCountMismatch(f"inserted {inserted} rows; the export scored {plan.scoring.rows}")
            cursor.execute("COMMIT")
        except BaseException:
            cursor.execute("ROLLBACK")
            raise
    return LoadResult(
        predictions_table=plan.predictions_table,
        rows_scored=plan.scoring.rows,
        rows_loaded=inserted,
        files=files,
    )
