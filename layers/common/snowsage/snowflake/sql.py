"""SQL text for loads and the run audit: identifiers validated and inlined, values always bound."""

from __future__ import annotations

import re
from dataclasses import dataclass

from snowsage.models import Problem
from snowsage.names import validate_snowflake_identifier

STAGING_TABLE = "SNOWSAGE_PREDICTIONS_STAGING"
PREDICTIONS_FILE_FORMAT = "ML_PREDICTIONS_CSV"
# multi:softprob: each line whole (FIELD_DELIMITER = NONE), split in SQL: `id,[p0, p1, …]`.
PREDICTION_LINES_FILE_FORMAT = "ML_PREDICTIONS_LINES"
PREDICTIONS_FILE_PATTERN = ".*[.]out"  # batch transform writes <input object>.out
RUNS_TABLE = "ML_RUNS"
STAGE_PATH = re.compile(r"[a-z0-9][a-z0-9_/-]*/")

# The run's cost as RecordRun writes it (snowsage.cost) and the sandbox's reports read it.
COST_COLUMNS = (
    "COST_USD",
    "COST_TRAINING_USD",
    "COST_TRANSFORM_USD",
    "COST_STEP_FUNCTIONS_USD",
    "COST_LAMBDA_USD",
    "COST_WAREHOUSE_USD",
    "WAREHOUSE_SECONDS",
    "TUNING_TRIALS",
)
RUN_COLUMNS = (
    "RUN_ID",
    "EXECUTION_NAME",
    "EXECUTION_ARN",
    "DATASET",
    "EXPORT_ID",
    "MODE",
    "STATUS",
    "FAILED_STATE",
    "ERROR",
    "CAUSE",
    "TRAINING_JOB",
    "TRANSFORM_JOB",
    "MODEL_PACKAGE_ARN",
    "MODEL_VERSION",
    "METRIC_NAME",
    "METRIC_VALUE",
    "CHAMPION_METRIC",
    "PROMOTED",
    "ROWS_SCORED",
    "ROWS_LOADED",
    "PUBLISHED_FUNCTION",
    "STARTED_AT",
    "FINISHED_AT",
    *COST_COLUMNS,
    "CHAMPION_METRIC_ON_EXPORT",
    "GATE_REASON",
    "COST_NOTE",
    "ENDPOINT_NAME",
    "ENDPOINT_STATUS",
    "ENDPOINT_MODEL_VERSION",
    "ENDPOINT_REASON",
)


@dataclass(frozen=True)
class LoadStatements:
    """The load, in order. ``create_staging`` runs before BEGIN: DDL commits a transaction.

    A multi-class load reads each line whole and counts the probabilities per line
    (``class_counts``: the fewest and the most) before its INSERT, which names each class.
    """

    create_staging: str
    copy_into_staging: str
    delete_export: str
    table: str
    problem: Problem
    class_counts: str | None = None

    def insert_predictions(self, classes: int | None = None) -> str:
        source = STAGING_TABLE if self.problem != "multiclass" else f"({_SPLIT_LINES})"
        return insert_predictions(self.table, self.problem, source, classes)


RUN_VALUES = "%(run_id)s, %(export_id)s, %(model_version)s, CAST(%(scored_at)s AS TIMESTAMP_NTZ)"


def insert_predictions(table: str, problem: Problem, source: str, classes: int | None = None) -> str:
    """INSERT … SELECT of ``source``'s rows with the bound run columns. ``source`` (a table or a
    parenthesised query) gives (ID, SCORE), or for a multi-class model (ID, P), P the array of
    class probabilities; ``table`` is a validated identifier."""
    if problem != "multiclass":
        # B608: `table` passed validate_snowflake_identifier; every value is a bind.
        return (
            f"INSERT INTO {table} (ID, SCORE, RUN_ID, EXPORT_ID, MODEL_VERSION, SCORED_AT)"  # nosec B608
            f" SELECT ID, SCORE, {RUN_VALUES} FROM {source}"
        )
    if classes is None or classes < 2:
        raise ValueError(f"a multi-class insert needs at least 2 classes, not {classes}")
    probabilities = [f"P[{index}]::FLOAT" for index in range(classes)]
    predicted = " ".join(f"WHEN {p} = S THEN {index}" for index, p in enumerate(probabilities))
    # The predicted class is the most probable (the first of equals), its SCORE that probability.
    return (
        f"INSERT INTO {table} (ID, PREDICTED_CLASS, SCORE, PROBABILITIES, RUN_ID, EXPORT_ID,"  # nosec B608
        f" MODEL_VERSION, SCORED_AT) SELECT ID, CASE {predicted} END, S, P, {RUN_VALUES}"
        f" FROM (SELECT ID, P, GREATEST({', '.join(probabilities)}) AS S FROM {source})"
    )


def stage_location(stage: str, stage_path: str) -> str:
    if not STAGE_PATH.fullmatch(stage_path) or ".." in stage_path:
        raise ValueError(f"stage path {stage_path!r} must be a relative prefix of [a-z0-9_/-] ending in '/'")
    return f"@{validate_snowflake_identifier(stage, 'stage')}/{stage_path}"


# A staged line `id,[p0, p1, …]` as (ID, P): the id before the first comma, the probabilities after
# it as a JSON array. Brackets and quotes are dropped and put back, so `id,p0,p1,…` and
# `id,"[p0, p1, …]"` read the same (SageMaker does not document how a CSV join writes a list).
# SPLIT_PART, POSITION, REPLACE, PARSE_JSON: docs sql-reference/functions/<name>.
_PROBABILITIES = (
    "PARSE_JSON('[' || REPLACE(REPLACE(REPLACE(SUBSTR(LINE, POSITION(',', LINE) + 1),"
    " '\"', ''), '[', ''), ']', '') || ']')"
)
_SPLIT_LINES = f"SELECT SPLIT_PART(LINE, ',', 1) AS ID, {_PROBABILITIES} AS P FROM {STAGING_TABLE}"  # nosec B608


def load_statements(
    predictions_table: str, stage: str, stage_path: str, problem: Problem = "binary"
) -> LoadStatements:
    table = validate_snowflake_identifier(predictions_table, "predictions table")
    multiclass = problem == "multiclass"
    columns = "LINE VARCHAR" if multiclass else "ID VARCHAR, SCORE FLOAT"
    file_format = PREDICTION_LINES_FILE_FORMAT if multiclass else PREDICTIONS_FILE_FORMAT
    return LoadStatements(
        create_staging=f"CREATE OR REPLACE TEMPORARY TABLE {STAGING_TABLE} ({columns})",
        # Only the transform's output: one `<input file>.out` per input (PATTERN is a regular
        # expression over the file's path; docs: sql-reference/sql/copy-into-table). Anything else
        # under the prefix is not loaded.
        copy_into_staging=(
            f"COPY INTO {STAGING_TABLE} FROM {stage_location(stage, stage_path)}"
            f" FILE_FORMAT = (FORMAT_NAME = '{file_format}')"
            f" PATTERN = '{PREDICTIONS_FILE_PATTERN}' ON_ERROR = ABORT_STATEMENT FORCE = TRUE"
        ),
        # B608: `table` passed validate_snowflake_identifier above; every value is a bind.
        delete_export=f"DELETE FROM {table} WHERE EXPORT_ID = %(export_id)s",  # nosec B608
        table=table,
        problem=problem,
        class_counts=(
            f"SELECT MIN(ARRAY_SIZE(P)), MAX(ARRAY_SIZE(P)) FROM ({_SPLIT_LINES})"  # nosec B608
            if multiclass
            else None
        ),
    )


TIMESTAMP_COLUMNS = frozenset({"STARTED_AT", "FINISHED_AT"})


def _bound(column: str) -> str:
    """A bind for ``column``; timestamps are cast so COALESCE and MERGE see one type."""
    bind = f"%({column.lower()})s"
    return f"CAST({bind} AS TIMESTAMP_NTZ)" if column in TIMESTAMP_COLUMNS else bind


# A row of the run in ML_RUNS means its execution has ended: RecordRun, RecordFailure and the safety
# net write it last (LoadPredictions reads it before its COMMIT).
RUN_ENDED = f"SELECT STATUS FROM {RUNS_TABLE} WHERE RUN_ID = %(run_id)s"  # nosec B608: a constant


def delete_run_predictions(predictions_table: str) -> str:
    """The rows one run (one execution) put in a predictions table."""
    table = validate_snowflake_identifier(predictions_table, "predictions table")
    return f"DELETE FROM {table} WHERE RUN_ID = %(run_id)s"  # nosec B608: validated identifier


@dataclass(frozen=True)
class RunWriteStatements:
    """The run's row, written in one transaction (snowsage/snowflake/ml_runs.py): ``update`` first
    (it takes ML_RUNS's DML lock whether the row exists yet or not), then ``insert`` when there is
    none. Both UTC: SYSDATE() is the current UTC time without zone; CURRENT_TIMESTAMP() is
    TIMESTAMP_LTZ and would store the session's local time (docs: sql-reference/functions/sysdate)."""

    update: str
    insert: str


def run_write_statements() -> RunWriteStatements:
    updates = ", ".join(
        f"{column} = {_bound(column)}" for column in RUN_COLUMNS if column not in {"RUN_ID", "STARTED_AT"}
    )
    columns = ", ".join(RUN_COLUMNS)
    values = ", ".join(_bound(column) for column in RUN_COLUMNS)
    # B608: only module constants are inlined here; every value is a bind.
    return RunWriteStatements(
        update=(
            f"UPDATE {RUNS_TABLE} SET {updates},"  # nosec B608
            f" STARTED_AT = COALESCE(STARTED_AT, {_bound('STARTED_AT')}), UPDATED_AT = SYSDATE()"
            " WHERE RUN_ID = %(run_id)s"
        ),
        insert=(
            f"INSERT INTO {RUNS_TABLE} ({columns}, UPDATED_AT) SELECT {values}, SYSDATE()"  # nosec B608
            f" WHERE NOT EXISTS (SELECT 1 FROM {RUNS_TABLE} WHERE RUN_ID = %(run_id)s)"
        ),
    )
