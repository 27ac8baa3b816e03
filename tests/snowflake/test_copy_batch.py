"""COPY INTO <table> loads a stage's CSV files in batches, with COPY's per-file semantics
(sandbox/snowflake/copy_batch.py; docs: sql-reference/sql/copy-into-table)."""

from __future__ import annotations

from typing import Any

import pytest
import snowflake.connector

from sandbox.snowflake import copy_batch

from .conftest import BUCKET, query

PREFIX = "predictions/batched/run-b/"
FILES = {
    "data_0.csv.out": b"123,0.25\n456,0.75\n",  # ids that look like numbers ...
    "data_1.csv.out": b"",  # a transform output without records
    "data_2.csv.out": b"M000003,0.5\n",  # ... and one that does not: each is text, as the column
    "data_3.csv.out": b"M000004,0.125\nM000005,1\nM000006,0\n",
    "data_4.csv.out": b"M000007,0.375\n",
    "notes.txt": b"not a prediction\n",
}


@pytest.fixture
def batches(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Batches of two files, and the files of each batch as loaded."""
    monkeypatch.setattr(copy_batch, "BATCH_FILES", 2)
    loaded: list[list[str]] = []
    read = copy_batch._read_batch

    def spy(duck_conn: Any, file_format: Any, urls: list[str], append: bool) -> None:
        loaded.append([url.rsplit("/", 1)[-1] for url in urls])
        read(duck_conn, file_format, urls, append)

    monkeypatch.setattr(copy_batch, "_read_batch", spy)
    return loaded


def _stage(s3: Any, prefix: str, files: dict[str, bytes]) -> None:
    for name, body in files.items():
        s3.put_object(Bucket=BUCKET, Key=f"{prefix}{name}", Body=body)


def _copy(conn: Any, prefix: str, options: str = "") -> list[tuple[str, str, int]]:
    answer = query(
        conn,
        f"COPY INTO PREDICTIONS_STAGING FROM @ML_STAGE/{prefix}"
        f" FILE_FORMAT = (FORMAT_NAME = 'ML_PREDICTIONS_CSV') PATTERN = '.*[.]out' {options}",
    )
    return [(str(row[0]).rsplit("/", 1)[-1], str(row[1]), int(row[3])) for row in answer]


def test_many_files_load_in_batches_with_a_result_row_per_file(
    setup_conn: Any, s3: Any, batches: list[list[str]]
) -> None:
    _stage(s3, PREFIX, FILES)
    query(setup_conn, "CREATE TEMPORARY TABLE PREDICTIONS_STAGING (ID VARCHAR, SCORE FLOAT)")

    result = _copy(setup_conn, PREFIX)

    assert batches == [
        ["data_0.csv.out", "data_1.csv.out"],
        ["data_2.csv.out", "data_3.csv.out"],
        ["data_4.csv.out"],
    ]
    assert result == [
        ("data_0.csv.out", "LOADED", 2),
        ("data_1.csv.out", "LOADED", 0),
        ("data_2.csv.out", "LOADED", 1),
        ("data_3.csv.out", "LOADED", 3),
        ("data_4.csv.out", "LOADED", 1),
    ]
    assert query(setup_conn, "SELECT ID, SCORE FROM PREDICTIONS_STAGING ORDER BY ID") == [
        ("123", 0.25),
        ("456", 0.75),
        ("M000003", 0.5),
        ("M000004", 0.125),
        ("M000005", 1.0),
        ("M000006", 0.0),
        ("M000007", 0.375),
    ]


def test_files_loaded_before_are_skipped_unless_forced(
    setup_conn: Any, s3: Any, batches: list[list[str]]
) -> None:
    prefix = "predictions/batched/run-c/"
    _stage(s3, prefix, {name: FILES[name] for name in ("data_0.csv.out", "data_2.csv.out")})
    query(setup_conn, "CREATE TEMPORARY TABLE PREDICTIONS_STAGING (ID VARCHAR, SCORE FLOAT)")
    _copy(setup_conn, prefix)
    _stage(s3, prefix, {name: FILES[name] for name in ("data_3.csv.out", "data_4.csv.out")})

    again = _copy(setup_conn, prefix)

    # The load metadata: files loaded before are skipped, the new ones loaded.
    assert again == [
        ("data_0.csv.out", "LOAD_SKIPPED", 0),
        ("data_2.csv.out", "LOAD_SKIPPED", 0),
        ("data_3.csv.out", "LOADED", 3),
        ("data_4.csv.out", "LOADED", 1),
    ]
    assert query(setup_conn, "SELECT COUNT(*) FROM PREDICTIONS_STAGING") == [(7,)]
    assert {status for _, status, _ in _copy(setup_conn, prefix)} == {"LOAD_SKIPPED"}
    forced = _copy(setup_conn, prefix, "FORCE = TRUE")
    assert [rows for _, _, rows in forced] == [2, 1, 3, 1]
    assert query(setup_conn, "SELECT COUNT(*) FROM PREDICTIONS_STAGING") == [(14,)]


def test_a_file_that_cannot_be_cast_fails_the_statement(
    setup_conn: Any, s3: Any, batches: list[list[str]]
) -> None:
    prefix = "predictions/batched/run-d/"
    _stage(s3, prefix, {"data_0.csv.out": b"M1,0.5\n", "data_1.csv.out": b"M2,not-a-number\n"})
    query(setup_conn, "CREATE TEMPORARY TABLE PREDICTIONS_STAGING (ID VARCHAR, SCORE FLOAT)")

    with pytest.raises(snowflake.connector.errors.ProgrammingError, match="not-a-number"):
        _copy(setup_conn, prefix, "ON_ERROR = ABORT_STATEMENT")
    assert query(setup_conn, "SELECT COUNT(*) FROM PREDICTIONS_STAGING") == [(0,)]


def test_a_bad_file_in_a_later_batch_loads_nothing_at_all(
    setup_conn: Any, s3: Any, batches: list[list[str]]
) -> None:
    # ON_ERROR = ABORT_STATEMENT aborts the whole statement: no file's rows are loaded, those of
    # earlier batches included (docs: sql-reference/sql/copy-into-table, ON_ERROR).
    prefix = "predictions/batched/run-e/"
    good = {f"data_{i}.csv.out": f"M{i},0.5\n".encode() for i in range(4)}
    _stage(s3, prefix, {**good, "data_4.csv.out": b"M4,not-a-number\n"})
    query(setup_conn, "CREATE TEMPORARY TABLE PREDICTIONS_STAGING (ID VARCHAR, SCORE FLOAT)")

    with pytest.raises(snowflake.connector.errors.ProgrammingError, match="not-a-number"):
        _copy(setup_conn, prefix, "ON_ERROR = ABORT_STATEMENT")

    assert len(batches) == 3  # the bad file is in the last of three batches
    assert query(setup_conn, "SELECT COUNT(*) FROM PREDICTIONS_STAGING") == [(0,)]
    # Nothing was loaded, so nothing is recorded: a corrected file set loads in full next time.
    _stage(s3, prefix, {"data_4.csv.out": b"M4,0.25\n"})
    assert [status for _, status, _ in _copy(setup_conn, prefix)] == ["LOADED"] * 5
