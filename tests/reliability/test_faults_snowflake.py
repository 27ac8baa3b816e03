"""Snowflake faults during the load: unavailable for a moment, unreachable, timing out mid-load.

The load is "COPY INTO a staging table, then DELETE the export's rows + INSERT ... SELECT in one
transaction": a failure anywhere leaves the predictions table as it was, and the ASL retries
``SnowflakeUnavailable`` (4 retries, backoff 10 s x 2, at most 120 s, full jitter).
"""

from __future__ import annotations

import os
import socket
from typing import Any

import pytest

from sandbox.aws import moto_patches
from sandbox.chaos.injection import SnowflakeFaults
from sandbox.services import Sandbox
from tests.reliability.helpers import (
    assert_failed_cleanly,
    assert_one_copy,
    export_quietly,
    failures_in,
    function_environment,
    prediction_count,
    prediction_run_ids,
    rerun,
    start,
    task_failures,
)

pytestmark = pytest.mark.e2e

SNOWFLAKE_RETRIES = 4  # the ASL's SnowflakeUnavailable retrier on LoadPredictions


def _dead_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _assert_snowflake_backoff(delays: list[float]) -> None:
    caps = [min(10.0 * 2.0**attempt, 120.0) for attempt in range(len(delays))]
    assert all(0 <= delay <= cap for delay, cap in zip(delays, caps, strict=True)), (delays, caps)


def test_snowflake_unavailable_is_retried_then_the_load_succeeds(
    sb: Sandbox, monkeypatch: pytest.MonkeyPatch, retry_sleeps: moto_patches.RetrySleepRecorder
) -> None:
    export_quietly(sb, "sf-blip")
    SnowflakeFaults(sb, monkeypatch).refuse_connections("LoadPredictionsFunction", times=2)

    result = start(sb, "sf-blip")

    assert_one_copy(sb, result, "sf-blip")
    assert task_failures(sb, result.execution.arn) == [("LoadPredictions", "SnowflakeUnavailable")] * 2
    assert len(retry_sleeps.retry_delays) == 2
    _assert_snowflake_backoff(retry_sleeps.retry_delays)


def test_snowflake_unreachable_fails_the_run_after_the_retries(
    sb: Sandbox, retry_sleeps: moto_patches.RetrySleepRecorder
) -> None:
    export_quietly(sb, "sf-down")
    # The deployed function pointed at a port nothing listens on: the real driver, a real refusal.
    # The driver retries a refused connection until its login timeout (SnowflakeLoginTimeoutSeconds,
    # 30 s by default): 1 s here.
    with function_environment(
        sb, "LoadPredictionsFunction", SNOWFLAKE_PORT=str(_dead_port()), SNOWFLAKE_LOGIN_TIMEOUT="1"
    ):
        failed = start(sb, "sf-down")

    assert_failed_cleanly(
        sb,
        failed,
        state="LoadPredictions",
        error="SnowflakeUnavailable",
        message="cannot connect to Snowflake: OperationalError",
        export_id="sf-down",
    )
    assert failures_in(sb, failed.execution.arn, "LoadPredictions") == ["SnowflakeUnavailable"] * (
        1 + SNOWFLAKE_RETRIES
    )
    _assert_snowflake_backoff(retry_sleeps.retry_delays)
    assert prediction_count(sb, "sf-down") == 0

    assert_one_copy(sb, rerun(sb, "sf-down"), "sf-down")


def test_timeout_mid_load_rolls_back_and_keeps_the_earlier_copy(
    sb: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    export_quietly(sb, "sf-timeout")
    first = start(sb, "sf-timeout")
    assert_one_copy(sb, first, "sf-timeout")
    first_run_id = (first.execution.output or {})["plan"]["run_id"]

    # Re-run the export; every attempt's INSERT times out after its DELETE already ran.
    statements = SnowflakeFaults(sb, monkeypatch).time_out_statement(
        "LoadPredictionsFunction", "INSERT INTO", times=1 + SNOWFLAKE_RETRIES
    )
    failed = rerun(sb, "sf-timeout", suffix="rerun-1")

    assert_failed_cleanly(
        sb,
        failed,
        state="LoadPredictions",
        error="SnowflakeUnavailable",
        message="Snowflake failed mid-operation: OperationalError",
        export_id="sf-timeout",
    )
    assert failures_in(sb, failed.execution.arn, "LoadPredictions") == ["SnowflakeUnavailable"] * (
        1 + SNOWFLAKE_RETRIES
    )
    attempt = ["CREATE", "COPY", "BEGIN", "DELETE", "INSERT", "ROLLBACK"]
    assert statements == attempt * (1 + SNOWFLAKE_RETRIES)
    # Never half-done: the DELETE was rolled back, the first run's copy is whole.
    assert prediction_run_ids(sb, "sf-timeout") == {first_run_id}
    assert prediction_count(sb, "sf-timeout") == first.rows_loaded

    monkeypatch.undo()
    assert_one_copy(sb, rerun(sb, "sf-timeout", suffix="rerun-2"), "sf-timeout")


def test_a_statement_timeout_is_retried_and_every_statement_has_its_own_timeout(
    sb: Sandbox, monkeypatch: pytest.MonkeyPatch, retry_sleeps: moto_patches.RetrySleepRecorder
) -> None:
    """Snowflake's STATEMENT_TIMEOUT_IN_SECONDS stops the COPY once (000630): transient, retried.

    Every statement reaches the driver with an explicit ``timeout=``: without one, connector 4.8.1
    cancels it after ``network_timeout`` as a ProgrammingError (cursor.py ``_execute_helper``).
    """
    from snowflake.connector.cursor import SnowflakeCursor
    from snowflake.connector.errors import ProgrammingError

    export_quietly(sb, "sf-stmt-timeout")
    function_name = sb.deployed.functions["LoadPredictionsFunction"]
    original = SnowflakeCursor.execute
    timeouts: list[tuple[str, object]] = []
    remaining = [1]

    def execute(cursor: Any, command: str, *args: Any, **kwargs: Any) -> Any:
        if os.environ.get("AWS_LAMBDA_FUNCTION_NAME") == function_name:
            timeouts.append((command.split(maxsplit=1)[0].upper(), kwargs.get("timeout")))
            if command.startswith("COPY") and remaining[0] > 0:
                remaining[0] -= 1
                raise ProgrammingError(
                    msg="Statement reached its statement or warehouse timeout of 600 second(s)"
                    " and was canceled.",
                    errno=630,
                    sqlstate="57014",
                )
        return original(cursor, command, *args, **kwargs)

    monkeypatch.setattr(SnowflakeCursor, "execute", execute)
    result = start(sb, "sf-stmt-timeout")

    assert_one_copy(sb, result, "sf-stmt-timeout")
    assert failures_in(sb, result.execution.arn, "LoadPredictions") == ["SnowflakeUnavailable"]
    assert timeouts and all(isinstance(timeout, int) and 0 < timeout <= 600 for _, timeout in timeouts), (
        timeouts
    )
