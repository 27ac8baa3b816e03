"""COPY INTO <table> from staged CSV files, many files a DuckDB statement (fakesnow 0.12.1).

Details: sandbox/README.md, "snowflake/copy_batch.py".
"""

from __future__ import annotations

import copy as copying
import datetime
from collections.abc import Callable, Sequence
from typing import Any

import duckdb
import fakesnow.copy_into as fakesnow_copy_into
import pyarrow as pa
from snowflake.connector.errors import ProgrammingError
from sqlglot import exp

BATCH_FILES = 5_000
BATCH_TABLE = "_snowsage_copy_batch"
RESULT_TABLE = "_snowsage_copy_result"
LOAD_HISTORY = "_fs_information_schema._fs_load_history"
RESULT_COLUMNS = (
    "file",
    "status",
    "rows_parsed",
    "rows_loaded",
    "error_limit",
    "errors_seen",
    "first_error",
    "first_error_line",
    "first_error_character",
    "first_error_column_name",
)
HISTORY_TYPES = (
    *(pa.string(), pa.string(), pa.string(), pa.string(), pa.string()),
    *(pa.int64(), pa.int64(), pa.string(), pa.int64(), pa.int64(), pa.string(), pa.int64(), pa.int64()),
)

Copy = Callable[..., str]


def _fakesnow(name: str) -> Any:
    # Looked up at call time: sandbox/snowflake/server.py replaces some of them (PATTERN, NONE).
    return vars(fakesnow_copy_into)[name]


def copy_into_batched(  # noqa: PLR0917 (fakesnow's copy_into's arguments, after the original)
    original: Copy,
    duck_conn: Any,
    current_database: str | None,
    current_schema: str | None,
    expr: exp.Copy,
    table_stages: Any,
    params: Any = None,
) -> str:
    """fakesnow's ``copy_into`` with the files of a plain CSV COPY loaded ``BATCH_FILES`` at a time."""
    transformed = isinstance(expr.args["files"][0], exp.Subquery)
    column_list = isinstance(expr.this, exp.Schema) and bool(expr.this.expressions)
    if transformed or column_list:
        return original(duck_conn, current_database, current_schema, expr, table_stages, params)
    probe = copying.copy(params)
    cparams = _fakesnow("_params")(
        expr, probe, duck_conn=duck_conn, current_database=current_database, current_schema=current_schema
    )
    if not isinstance(cparams.file_format, fakesnow_copy_into.ReadCSV):
        return original(duck_conn, current_database, current_schema, expr, table_stages, params)
    if isinstance(params, list) and isinstance(probe, list):
        params[:] = probe  # _params takes a `?` bind of ON_ERROR out of the list, as fakesnow's would

    table = _fakesnow("_extract_table")(expr.this)
    source = _fakesnow("_from_source")(expr)
    if source.startswith("@"):
        source = _fakesnow("stage_url_from_var")(
            source[1:], duck_conn, current_database, current_schema, table_stages, table
        )
    urls: list[str] = (
        _fakesnow("_source_urls")(source, cparams.files)
        if cparams.files
        else _fakesnow("_source_glob")(source, duck_conn)
    )
    if not urls:
        sql = "SELECT 'Copy executed with 0 files processed.' AS status"
        duck_conn.execute(sql)
        return sql
    schema = str(table.db or current_schema)
    loaded_before = set() if cparams.force else _loaded_before(duck_conn, urls, table.name, schema)
    to_load = [url for url in urls if url not in loaded_before]
    target = expr.this.sql(dialect="duckdb")
    rows: dict[str, int] = {}
    try:
        for start in range(0, len(to_load), BATCH_FILES):
            _read_batch(duck_conn, cparams.file_format, to_load[start : start + BATCH_FILES], start > 0)
        if to_load:
            rows = _insert_staged(duck_conn, target)
    # ON_ERROR = ABORT_STATEMENT: the statement fails, with the errors fakesnow's copy_into raises.
    except duckdb.HTTPException as error:
        raise ProgrammingError(msg=error.args[0], errno=91016, sqlstate="22000") from None
    except duckdb.ConversionException as error:
        raise ProgrammingError(msg=error.args[0], errno=100038, sqlstate="22018") from None
    finally:
        duck_conn.execute(f"DROP TABLE IF EXISTS {BATCH_TABLE}")
    load_time = datetime.datetime.now(datetime.UTC).isoformat()
    _record_history(duck_conn, [(url, rows.get(url, 0)) for url in to_load], table.name, schema, load_time)
    return _result(duck_conn, urls, loaded_before, rows)


def _loaded_before(duck_conn: Any, urls: Sequence[str], table: str, schema: str) -> set[str]:
    """The files of ``urls`` already loaded into the table (one query, not one per file)."""
    found = duck_conn.execute(
        f"SELECT DISTINCT FILE_NAME FROM {LOAD_HISTORY}"  # noqa: S608  # nosec B608 (a constant)
        " WHERE TABLE_NAME = ? AND SCHEMA_NAME = ? AND FILE_NAME IN (SELECT UNNEST(?::VARCHAR[]))",
        [table, schema, list(urls)],
    ).fetchall()
    return {str(name) for (name,) in found}


def _read_batch(duck_conn: Any, file_format: Any, urls: list[str], append: bool) -> None:
    """Read the rows of ``urls`` as text into the staging table (created by the first batch)."""
    read = file_format.read_expression(urls[0])  # READ_CSV('<file>', header = FALSE, …)
    read.set("this", exp.Array(expressions=[exp.Literal.string(url) for url in urls]))
    read.append("expressions", file_format.make_eq("all_varchar", True))
    read.append("expressions", file_format.make_eq("filename", True))
    # S608/B608: the table names are constants; the files are string literals rendered by sqlglot.
    source = read.sql(dialect="duckdb")
    if append:
        duck_conn.execute(f"INSERT INTO {BATCH_TABLE} SELECT * FROM {source}")  # noqa: S608  # nosec B608
    else:
        duck_conn.execute(f"CREATE OR REPLACE TEMPORARY TABLE {BATCH_TABLE} AS SELECT * FROM {source}")  # noqa: S608  # nosec B608


def _insert_staged(duck_conn: Any, target: str) -> dict[str, int]:
    """Insert every staged row into ``target`` in one statement; each file's row count (none: 0)."""
    # S608/B608: the staging table is a constant; the target is the COPY's parsed table.
    duck_conn.execute(f"INSERT INTO {target} SELECT * EXCLUDE (filename) FROM {BATCH_TABLE}")  # noqa: S608  # nosec B608
    counted = duck_conn.execute(
        f"SELECT filename, COUNT(*) FROM {BATCH_TABLE} GROUP BY filename"  # noqa: S608  # nosec B608
    ).fetchall()
    return {str(name): int(count) for name, count in counted}


def _record_history(
    duck_conn: Any, loaded: list[tuple[str, int]], table: str, schema: str, load_time: str
) -> None:
    if not loaded:
        return
    names = [url for url, _ in loaded]
    counts = [count for _, count in loaded]
    size = len(loaded)
    columns = [
        [schema] * size,
        names,
        [table] * size,
        [load_time] * size,
        ["LOADED"] * size,
        counts,
        counts,
        [None] * size,
        [None] * size,
        [None] * size,
        [None] * size,
        [0] * size,
        [1] * size,
    ]
    history = pa.table(
        {
            f"c{i}": pa.array(values, kind)
            for i, (values, kind) in enumerate(zip(columns, HISTORY_TYPES, strict=True))
        }
    )
    duck_conn.register("_snowsage_copy_history", history)
    try:
        duck_conn.execute(f"INSERT INTO {LOAD_HISTORY} SELECT * FROM _snowsage_copy_history")  # noqa: S608  # nosec B608
    finally:
        duck_conn.unregister("_snowsage_copy_history")


def _result(duck_conn: Any, urls: list[str], skipped: set[str], rows: dict[str, int]) -> str:
    """COPY's result, a row per file in listing order, left as the connection's pending result."""
    result_name = _fakesnow("_result_file_name")
    loaded = [url not in skipped for url in urls]
    counts = [rows.get(url, 0) if ok else 0 for url, ok in zip(urls, loaded, strict=True)]
    result = pa.table(
        {
            "file": pa.array([result_name(url) for url in urls], pa.string()),
            "status": pa.array(["LOADED" if ok else "LOAD_SKIPPED" for ok in loaded], pa.string()),
            "rows_parsed": pa.array(counts, pa.int64()),
            "rows_loaded": pa.array(counts, pa.int64()),
            "error_limit": pa.array([1 if ok else None for ok in loaded], pa.int64()),
            "errors_seen": pa.array([0 if ok else 1 for ok in loaded], pa.int64()),
            "first_error": pa.array(
                [None if ok else "File was loaded before." for ok in loaded], pa.string()
            ),
            "first_error_line": pa.nulls(len(urls), pa.int64()),
            "first_error_character": pa.nulls(len(urls), pa.int64()),
            "first_error_column_name": pa.nulls(len(urls), pa.string()),
        }
    )
    duck_conn.register(RESULT_TABLE, result)
    sql = f"SELECT * FROM {RESULT_TABLE}"  # noqa: S608  # nosec B608 (a constant)
    duck_conn.execute(sql)
    return sql
