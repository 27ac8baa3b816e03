"""A statement that runs longer than the connector's socket timeout is answered, and runs once.

Snowflake answers a statement still running with "query in progress" and a result URL the
connector polls (sandbox/snowflake/server.py, `answer_long_statements_in_progress`). fakesnow on
its own holds the request: the connector sends it again after its socket timeout and the second
run is refused on the session's busy DuckDB connection ("connection is busy", the
10,000-file export's failure). Here the socket timeout is 1 s and the statement pauses 2.5 s in a Python
function registered on fakesnow's DuckDB; the "in progress" answer comes after 0.2 s.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import fakesnow.server as fakesnow_server_module
import pytest
from duckdb.sqltypes import DOUBLE

from sandbox.snowflake.server import SnowflakeSandbox, answer_long_statements_in_progress


@pytest.fixture
def paused_runs(snowflake_sandbox: SnowflakeSandbox) -> Iterator[list[float]]:
    runs: list[float] = []
    lock = threading.Lock()

    def pause(seconds: float) -> float:
        with lock:
            runs.append(seconds)
        time.sleep(seconds)
        return seconds

    duck = fakesnow_server_module.shared_fs.duck_conn
    duck.create_function("snowsage_test_pause", pause, [DOUBLE], DOUBLE, side_effects=True)
    answer_long_statements_in_progress(after_seconds=0.2)
    try:
        yield runs
    finally:
        answer_long_statements_in_progress()
        duck.remove_function("snowsage_test_pause")


def test_a_statement_longer_than_the_socket_timeout_returns_its_result_once(
    snowflake_sandbox: SnowflakeSandbox, paused_runs: list[float]
) -> None:
    with snowflake_sandbox.connect(socket_timeout=1) as connection:
        cursor = connection.cursor()
        cursor.execute("SELECT SNOWSAGE_TEST_PAUSE(2.5)")
        assert cursor.fetchall() == [(2.5,)]
    assert paused_runs == [2.5], "the statement ran more than once"


def test_a_short_statement_is_answered_directly(
    snowflake_sandbox: SnowflakeSandbox, paused_runs: list[float]
) -> None:
    with snowflake_sandbox.connect() as connection:
        cursor = connection.cursor()
        cursor.execute("SELECT 1 + 1")
        assert cursor.fetchall() == [(2,)]
