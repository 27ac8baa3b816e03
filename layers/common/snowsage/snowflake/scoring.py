"""ScoreInSnowflake: SCORING_ENGINE = SNOWFLAKE scores the scoring view in place, with the published
``ML_PREDICT_<DATASET>``, in one transaction.

``DELETE`` the export's earlier rows, then ``INSERT INTO <predictions> SELECT <id>,
ML_PREDICT_<DATASET>(<features>), <run columns> FROM <scoring view>``, then the row-count check,
``COMMIT``; any failure rolls back, so the export keeps its earlier copy (as LoadPredictions). The
rows never leave Snowflake: no file, no transform job. The function was made to serve the run's
model just before (PublishForScoring: ``publish_model(…, if_not_served=True)``).

The view is scored as it is now; the export counted its rows. A view that changed since the export
scores another number of rows, which is refused (``RowCountMismatch``) like a load whose files
disagree with the manifest.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from snowsage.errors import PredictionsMalformed, RowCountMismatch, ScoringFailed
from snowsage.models import LoadResult, RunPlan, ScoreInSnowflakeRequest
from snowsage.names import validate_snowflake_identifier
from snowsage.snowflake.connection import ConnectionFactory, is_transient, session
from snowsage.snowflake.loading import roll_back
from snowsage.snowflake.publishing import function_name
from snowsage.snowflake.sql import insert_predictions


@dataclass(frozen=True)
class ScoringStatements:
    """The transaction's statements; ``class_counts`` (multi-class) reads back the run's arrays."""

    delete_export: str
    insert_predictions: str
    function: str
    class_counts: str | None = None


def scoring_statements(plan: RunPlan) -> ScoringStatements:
    """Identifiers are validated and inlined, values are binds (``%(export_id)s``, the run columns)."""
    if plan.scoring.view is None:
        raise ScoringFailed(f"run {plan.run_id} has no scoring view: its scoring engine is SAGEMAKER")
    table = validate_snowflake_identifier(plan.predictions_table, "predictions table")
    view = validate_snowflake_identifier(plan.scoring.view, "scoring view")
    id_column = validate_snowflake_identifier(plan.id_column, "id column")
    features = ", ".join(validate_snowflake_identifier(name, "feature") for name in plan.scoring.features)
    function = function_name(plan.dataset)
    # The id as text, as the batch path loads it from CSV (the predictions table's ID is VARCHAR).
    value = "P" if plan.model.problem == "multiclass" else "SCORE"
    # B608 (here and below): identifiers validated above are inlined; every value is a bind.
    source = f"(SELECT TO_VARCHAR({id_column}) AS ID, {function}({features}) AS {value} FROM {view})"  # noqa: S608  # nosec B608
    return ScoringStatements(
        delete_export=f"DELETE FROM {table} WHERE EXPORT_ID = %(export_id)s",  # noqa: S608  # nosec B608
        insert_predictions=insert_predictions(table, plan.model.problem, source, plan.model.num_class),
        function=function,
        class_counts=(
            f"SELECT MIN(ARRAY_SIZE(PROBABILITIES)), MAX(ARRAY_SIZE(PROBABILITIES)) FROM {table}"  # noqa: S608  # nosec B608
            " WHERE RUN_ID = %(run_id)s"
            if plan.model.problem == "multiclass"
            else None
        ),
    )


def _statement_failure(error: Exception) -> bool:
    """Snowflake refused or failed the statement (the function raised, a column does not fit): permanent."""
    return type(error).__name__ == "ProgrammingError" and not is_transient(error)


def _check_classes(counts: Any, plan: RunPlan, function: str) -> None:
    """Every row's array holds the plan's number of classes (the champion may predict another)."""
    fewest, most = counts or (None, None)
    expected = plan.model.num_class
    if fewest is None or most is None or int(fewest) != int(most) or int(most) != expected:
        raise PredictionsMalformed(
            f"{function} returned {fewest} to {most} probabilities per row; the dataset has {expected}"
            " classes (a champion trained on other classes cannot score this export)"
        )


def score_in_snowflake(
    request: ScoreInSnowflakeRequest, factory: ConnectionFactory, now: datetime | None = None
) -> LoadResult:
    plan, model = request.plan, request.model
    statements = scoring_statements(plan)
    binds = {
        "run_id": plan.run_id,
        "export_id": plan.export_id,
        "model_version": str(model.model_version),
        "scored_at": (now or datetime.now(UTC)).replace(tzinfo=None),
    }
    with session(factory, query_tag=plan.run_id) as snowflake:
        snowflake.execute("BEGIN")
        try:
            snowflake.execute(statements.delete_export, binds)
            try:
                snowflake.execute(statements.insert_predictions, binds)
            except Exception as error:
                if not _statement_failure(error):
                    raise
                raise ScoringFailed(
                    f"scoring {plan.scoring.view} with {statements.function} failed: {error}"
                ) from None
            inserted = snowflake.cursor.rowcount
            if inserted != plan.scoring.rows:
                raise RowCountMismatch(
                    f"scored {inserted} rows of {plan.scoring.view}; the export counted {plan.scoring.rows}"
                    " (the view changed since the export: export again)"
                )
            if statements.class_counts is not None:
                snowflake.execute(statements.class_counts, binds)
                _check_classes(snowflake.cursor.fetchone(), plan, statements.function)
            snowflake.execute("COMMIT")
        except BaseException:
            roll_back(snowflake)
            raise
    return LoadResult(
        predictions_table=plan.predictions_table,
        rows_scored=plan.scoring.rows,
        rows_loaded=inserted,
        files=0,
        warehouse_seconds=snowflake.warehouse_seconds(),
        scored_by=f"snowflake:{statements.function}:v{model.model_version}",
    )
