"""EXPORT_DATASET for the sandbox: the same SELECTs, the same files and manifest, on moto S3.

Details: sandbox/README.md, "snowflake/export.py".
"""

from __future__ import annotations

import csv
import io
import json
import logging
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow.csv as pacsv

from snowsage.manifest import exported_sections
from snowsage.names import DATASET_PATTERN, EXPORT_ID_PATTERN
from snowsage_setup.sqlscript import (
    EXPORT_QUERIES,
    EXPORT_SECTIONS,
    export_queries,
    is_identifier,
    render_export_query,
)

logger = logging.getLogger(__name__)

DEFAULT_ROWS_PER_FILE = 100_000
FETCH_ROWS = 50_000


class ExportError(RuntimeError):
    """The export cannot be made (unknown dataset, bad registry row, empty section, …)."""


@dataclass(frozen=True)
class DatasetRow:
    name: str
    training_view: str
    scoring_view: str
    id_column: str
    label_column: str
    predictions_table: str
    model: dict[str, Any] = field(default_factory=dict)


MODEL_COLUMNS = (
    *("OBJECTIVE", "EVALUATION_METRIC", "EVALUATION_THRESHOLD", "HYPERPARAMETERS"),
    *("TRAINING_SCRIPT", "TRAINING_INSTANCE_COUNT", "TUNING", "TRAINING_ENGINE", "SCORING_ENGINE"),
    *(
        "ENDPOINT",
        "ENDPOINT_MEMORY_MB",
        "ENDPOINT_MAX_CONCURRENCY",
        "ENDPOINT_INSTANCE_TYPE",
        "ENDPOINT_INSTANCE_COUNT",
    ),
)
# NUMBER columns arrive as int or Decimal: the manifest holds JSON integers.
INTEGER_MODEL_COLUMNS = (
    "training_instance_count",
    "endpoint_memory_mb",
    "endpoint_max_concurrency",
    "endpoint_instance_count",
)


def export_id_for(moment: datetime) -> str:
    """`20261126t100000z`: the UTC time, lower case (an S3 key part and an execution name part)."""
    return moment.astimezone(UTC).strftime("%Y%m%dt%H%M%Sz")


def read_dataset(conn: Any, dataset: str) -> DatasetRow:
    if not DATASET_PATTERN.fullmatch(dataset):
        raise ExportError(f"dataset name {dataset!r} must match {DATASET_PATTERN.pattern}")
    cur = conn.cursor()
    try:
        cur.execute(
            "SELECT TRAINING_VIEW, SCORING_VIEW, ID_COLUMN, LABEL_COLUMN, PREDICTIONS_TABLE,"  # noqa: S608
            f" {', '.join(MODEL_COLUMNS)} FROM ML_DATASETS WHERE NAME = %s AND ENABLED",  # nosec B608: constants
            (dataset,),
        )
        rows = cur.fetchall()
    finally:
        cur.close()
    if len(rows) != 1:
        raise ExportError(f"no enabled ML_DATASETS row named {dataset!r}")
    values = [str(value) for value in rows[0][:5]]
    bad = [value for value in values if not is_identifier(value)]
    if bad:
        raise ExportError(f"ML_DATASETS row {dataset!r} holds invalid identifiers: {bad}")
    training_view, scoring_view, id_column, label_column, predictions_table = (v.upper() for v in values)
    # The model settings as the row holds them (NULL kept as null): PrepareRun judges them.
    model = {column.lower(): value for column, value in zip(MODEL_COLUMNS, rows[0][5:], strict=True)}
    if model["evaluation_threshold"] is not None:
        model["evaluation_threshold"] = float(model["evaluation_threshold"])
    for column in INTEGER_MODEL_COLUMNS:
        if model[column] is not None:
            model[column] = int(model[column])
    return DatasetRow(dataset, training_view, scoring_view, id_column, label_column, predictions_table, model)


def current_namespace(conn: Any) -> tuple[str, str]:
    cur = conn.cursor()
    try:
        cur.execute("SELECT CURRENT_DATABASE(), CURRENT_SCHEMA()")
        database, schema = (str(value) for value in cur.fetchone())
    finally:
        cur.close()
    return database, schema


def export_selects(conn: Any, row: DatasetRow) -> dict[str, str]:
    """The SELECT texts the procedure runs for this dataset, by section (train, validation, score)."""
    database, schema = current_namespace(conn)
    templates = export_queries()
    return {
        section: render_export_query(
            templates[section],
            id_column=row.id_column,
            training_view=f"{database}.{schema}.{row.training_view}",
            scoring_view=f"{database}.{schema}.{row.scoring_view}",
            label_column=row.label_column,
        )
        for section in EXPORT_QUERIES
    }


def label_summary(conn: Any, select: str) -> dict[str, Any]:
    """The procedure's labels query, as OBJECT_CONSTRUCT writes it (a NULL min/max is left out)."""
    cur = conn.cursor()
    try:
        cur.execute(select)
        distinct, low, high, non_integers = cur.fetchone()
    finally:
        cur.close()
    summary = {"distinct": int(distinct), "min": low, "max": high, "non_integers": int(non_integers or 0)}
    return {
        key: float(value) if key in {"min", "max"} else value
        for key, value in summary.items()
        if value is not None
    }


def table_columns(conn: Any, table: str, schema: str | None = None) -> list[str]:
    """A table's columns in order, as the procedure reads the predictions table's."""
    database, current_schema = current_namespace(conn)
    if not is_identifier(database):
        raise ExportError(f"current database {database!r} is not a plain identifier")
    cur = conn.cursor()
    try:
        # B608: `database` is a checked identifier; the schema and table are binds.
        cur.execute(
            f"SELECT COLUMN_NAME FROM {database}.INFORMATION_SCHEMA.COLUMNS"  # noqa: S608  # nosec B608
            " WHERE TABLE_SCHEMA = UPPER(%s) AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
            (schema or current_schema, table),
        )
        return [str(name) for (name,) in cur.fetchall()]
    finally:
        cur.close()


def section_columns(conn: Any, row: DatasetRow, section: str, schema: str | None = None) -> list[str]:
    """The procedure's column query: the view's columns in order, minus the id for train and
    validation. `schema` is the procedure's `sch` (the setup's `schema` variable as written,
    default the session's schema); it and the view are compared upper case, as Snowflake stores
    unquoted identifiers (docs: sql-reference/identifiers-syntax)."""
    view = row.scoring_view if section == "score" else row.training_view
    schema = schema or current_namespace(conn)[1]
    names = table_columns(conn, view, schema)
    columns = names if section == "score" else [name for name in names if name != row.id_column]
    if not columns:
        raise ExportError(
            f"{row.name}: no columns found for {section} view {schema}.{view}; no manifest written"
        )
    return columns


def export_dataset(
    conn: Any,
    s3_client: Any,
    bucket: str,
    dataset: str,
    export_id: str | None = None,
    *,
    rows_per_file: int = DEFAULT_ROWS_PER_FILE,
    now: datetime | None = None,
    schema: str | None = None,
) -> dict[str, Any]:
    """Emulate `CALL EXPORT_DATASET(dataset)`: write the sections, then the manifest; return it.

    `schema`: the setup's `schema` variable, as the procedure has it rendered (default: the
    session's current schema).
    """
    started = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    export_id = export_id or export_id_for(started)
    if not EXPORT_ID_PATTERN.fullmatch(export_id):
        raise ExportError(f"export_id {export_id!r} must match {EXPORT_ID_PATTERN.pattern}")
    row = read_dataset(conn, dataset)
    selects = export_selects(conn, row)
    base = f"exports/{dataset}/{export_id}/"

    sections: dict[str, dict[str, Any]] = {}
    scoring_view: dict[str, Any] = {}
    row_engine, row_scoring = row.model.get("training_engine"), row.model.get("scoring_engine")
    written = exported_sections(row_engine, row_scoring)
    for section in (name for name in EXPORT_SECTIONS if name in written or name == "score"):
        prefix = f"{base}{section}/"
        if section in written:
            unloaded, files = _unload(
                conn,
                selects[section],
                s3_client=s3_client,
                bucket=bucket,
                prefix=prefix,
                rows_per_file=rows_per_file,
            )
        else:  # the SNOWFLAKE scoring engine: the view's rows counted, as the procedure's COUNT(*)
            unloaded, files = _count(conn, selects[section])
        # The summary the procedure builds from DETAILED_OUTPUT's rows (version 2): no per-file list.
        rows = sum(int(item["rows"]) for item in files)
        size = sum(int(item["size"]) for item in files)
        if rows == 0:
            raise ExportError(f"{dataset}: section {section} has no rows; no manifest written")
        columns = section_columns(conn, row, section, schema)
        if columns != unloaded:
            raise ExportError(f"{dataset}: {section} unloaded {unloaded}, but its view has {columns}")
        first = row.id_column if section == "score" else row.label_column
        if columns[0] != first:
            raise ExportError(f"{dataset}: {section} columns start with {columns[0]!r}, expected {first!r}")
        if section == "score":
            scoring_view = {"name": row.scoring_view, "columns": columns, "rows": rows}
        if section in written:
            sections[section] = {
                "prefix": prefix,
                "columns": columns,
                "files": len(files),
                "rows": rows,
                "bytes": size,
            }

    manifest: dict[str, Any] = {
        "version": 2,
        "dataset": dataset,
        "export_id": export_id,
        "created_at": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "id_column": row.id_column,
        "label_column": row.label_column,
        "predictions_table": row.predictions_table,
        **sections,
        "model": row.model,
        "label_summary": label_summary(conn, selects["labels"]),
        "predictions_columns": table_columns(conn, row.predictions_table, schema),
        # As the procedure's IFF(training_engine = 'SNOWFLAKE', 'SNOWFLAKE', 'SAGEMAKER').
        "engine": "SNOWFLAKE" if row_engine == "SNOWFLAKE" else "SAGEMAKER",
        "sections": list(sections),
        "scoring_engine": "SNOWFLAKE" if row_scoring == "SNOWFLAKE" else "SAGEMAKER",
        "scoring_view": scoring_view,
    }
    # LAST: the manifest's arrival is the pipeline's start signal.
    s3_client.put_object(
        Bucket=bucket,
        Key=f"{base}manifest.json",
        Body=json.dumps(manifest).encode(),
        ContentType="application/json",
    )
    logger.info(
        "exported %s/%s: %s",
        dataset,
        export_id,
        ", ".join(
            f"{name} {section['rows']} rows in {section['files']} files" for name, section in sections.items()
        ),
    )
    return manifest


def section_keys(s3_client: Any, bucket: str, section: dict[str, Any]) -> list[str]:
    """The data files of an exported section, as S3 lists them (key order).

    The manifest counts them (version 2); a version 1 manifest lists them.
    """
    if isinstance(section["files"], list):
        return [str(item["key"]) for item in section["files"]]
    keys: list[str] = []
    for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=section["prefix"]):
        keys.extend(str(item["Key"]) for item in page.get("Contents", []))
    return keys


def file_count(section: dict[str, Any]) -> int:
    """A manifest section's number of files: version 2's count, or the length of version 1's list."""
    files = section["files"]
    return len(files) if isinstance(files, list) else int(files)


def _unload(
    conn: Any, select: str, *, s3_client: Any, bucket: str, prefix: str, rows_per_file: int
) -> tuple[list[str], list[dict[str, Any]]]:
    """Run `select`, write its rows as CSV files of at most `rows_per_file` rows under `prefix`."""
    if rows_per_file < 1:
        raise ValueError("rows_per_file must be positive")
    files: list[dict[str, Any]] = []
    cur = conn.cursor()
    try:
        cur.execute(select)
        columns = [str(column[0]) for column in cur.description]
        # A query-id-shaped name fixed by the prefix: EXPORT_DATASET never unloads twice into one
        # prefix (a new export_id each second), so a re-export of one id in the sandbox rewrites
        # the same files rather than leaving a second set beside them.
        query_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"s3://{bucket}/{prefix}"))
        writer = _FileWriter(s3_client, bucket, f"{prefix}data_{query_id}_0_0_", rows_per_file, files)
        for chunk in _csv_chunks(cur):
            writer.write(chunk)
        writer.close()
    finally:
        cur.close()
    return columns, files


def _count(conn: Any, select: str) -> tuple[list[str], list[dict[str, Any]]]:
    """The procedure's count of a section it does not unload: the SELECT's columns, and its rows as
    one file of that many rows (its ``SELECT NULL, 0, COUNT(*)`` in DETAILED_OUTPUT's shape)."""
    cur = conn.cursor()
    try:
        cur.execute(f"SELECT * FROM ({select}) LIMIT 0")  # noqa: S608  # nosec B608: the procedure's own SELECT
        columns = [str(column[0]) for column in cur.description]
        cur.execute(f"SELECT COUNT(*) FROM ({select})")  # noqa: S608  # nosec B608: the procedure's own SELECT
        (rows,) = cur.fetchone()
    finally:
        cur.close()
    return columns, [{"key": None, "rows": int(rows), "size": 0}] if rows else []


def _csv_chunks(cur: Any) -> Iterator[list[bytes]]:
    """The result as CSV lines (bytes, newline-terminated), a fetch batch at a time.

    Arrow batches when the cursor offers them (the connector against the fakesnow server),
    else fetchmany. Either way: no header, no quoting (FIELD_OPTIONALLY_ENCLOSED_BY = NONE),
    NULL as an empty field (NULL_IF = ('')), as ML_EXPORT_CSV unloads them.
    """
    try:
        batches = cur.fetch_arrow_batches()
        for table in batches:
            yield _arrow_lines(table)
        return
    except Exception as error:  # the cursor has no Arrow result: fall back to rows
        if type(error).__name__ not in {"NotSupportedError", "AttributeError", "ProgrammingError"}:
            raise
    while rows := cur.fetchmany(FETCH_ROWS):
        yield _row_lines(rows)


def _arrow_lines(table: Any) -> list[bytes]:
    if table.num_rows == 0:
        return []
    sink = io.BytesIO()
    pacsv.write_csv(
        table, sink, pacsv.WriteOptions(include_header=False, quoting_style="none", batch_size=FETCH_ROWS)
    )
    return sink.getvalue().splitlines(keepends=True)


def _row_lines(rows: Sequence[Sequence[Any]]) -> list[bytes]:
    sink = io.StringIO()
    writer = csv.writer(sink, lineterminator="\n", quoting=csv.QUOTE_NONE, escapechar="\\")
    writer.writerows([["" if value is None else _text(value) for value in row] for row in rows])
    return [line.encode() for line in sink.getvalue().splitlines(keepends=True)]


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class _FileWriter:
    """Buffers one file at a time; starts the next file after `rows_per_file` rows.

    Files are `<stem><n>.csv`; no rows, no file (as an unload of an empty result).
    """

    def __init__(
        self, s3_client: Any, bucket: str, stem: str, rows_per_file: int, files: list[dict[str, Any]]
    ) -> None:
        self._s3 = s3_client
        self._bucket = bucket
        self._stem = stem
        self._rows_per_file = rows_per_file
        self._files = files
        self._lines: list[bytes] = []

    def write(self, lines: list[bytes]) -> None:
        start = 0
        while start < len(lines):
            room = self._rows_per_file - len(self._lines)
            self._lines.extend(lines[start : start + room])
            start += room
            if len(self._lines) == self._rows_per_file:
                self._flush()

    def close(self) -> None:
        if self._lines:
            self._flush()

    def _flush(self) -> None:
        body = b"".join(self._lines)
        key = f"{self._stem}{len(self._files)}.csv"
        self._s3.put_object(Bucket=self._bucket, Key=key, Body=body, ContentType="text/csv")
        self._files.append({"key": key, "rows": len(self._lines), "size": len(body)})
        self._lines = []
