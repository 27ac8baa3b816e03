"""PublishModel failing after the predictions loaded: the run fails and is recorded, and the
champion's function stays in place.

Run 1 publishes ML_PREDICT_MERCHANT_RISK v1. Run 2 re-runs the same export by hand: the same
files in the same order train the same model, whose metric equals the champion's, so the gate
promotes it (ties promote) and PublishModel publishes v2. Its CREATE FUNCTION times out on every
attempt: the ASL retries SnowflakeUnavailable, then the Catch records the failure.
"""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.chaos.injection import SnowflakeFaults
from sandbox.services import Sandbox
from sandbox.snowflake import functions
from tests.reliability.helpers import (
    export_quietly,
    ml_run,
    prediction_count,
    rerun,
    start,
    states_entered,
    task_failures,
)

pytestmark = pytest.mark.e2e

FUNCTION = "ML_PREDICT_MERCHANT_RISK"
SNOWFLAKE_RETRIES = 4  # the ASL's SnowflakeUnavailable retrier on PublishModel


def _imports() -> list[str]:
    running = functions.installed()
    assert running is not None
    return running.newest(FUNCTION).definition.imports


def _models(sb: Sandbox) -> list[tuple[Any, ...]]:
    with sb.snowflake_connection() as connection:
        cursor = connection.cursor()
        cursor.execute("SELECT MODEL_VERSION, RUN_ID FROM ML_MODELS ORDER BY MODEL_VERSION")
        return [tuple(row) for row in cursor.fetchall()]


def test_a_publication_that_keeps_failing_fails_the_run_and_keeps_the_champions_function(
    sb: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    export_quietly(sb, "publish")
    first = start(sb, "publish")
    assert first.status == "SUCCEEDED", (first.execution.error, first.execution.cause)
    first_run = (first.execution.output or {})["plan"]["run_id"]
    assert _imports() == ["@ML_MODELS_STAGE/merchant_risk/v1/model.tar.gz"]

    statements = SnowflakeFaults(sb, monkeypatch).time_out_statement(
        "PublishModelFunction", "CREATE OR REPLACE FUNCTION", times=1 + SNOWFLAKE_RETRIES
    )
    second = rerun(sb, "publish")

    assert second.status == "FAILED"
    assert second.execution.error == "Snowsage.SnowflakeUnavailable"
    assert second.execution.failed_state == "PublishModel"
    assert states_entered(second)[-3:] == ["RecordFailure", "NotifyFailure", "RunFailed"]
    assert task_failures(sb, second.execution.arn) == [("PublishModel", "SnowflakeUnavailable")] * (
        1 + SNOWFLAKE_RETRIES
    )
    # Each attempt copied the artifact, then the CREATE failed; nothing after it ran.
    assert statements == ["COPY", "CREATE"] * (1 + SNOWFLAKE_RETRIES)
    run = ml_run(sb, second.execution.name)
    assert (run["STATUS"], run["FAILED_STATE"], run["ERROR"]) == (
        "FAILED",
        "PublishModel",
        "SnowflakeUnavailable",
    )
    # The predictions had loaded before PublishModel: they stay, and ML_RUNS says so.
    assert run["ROWS_LOADED"] == prediction_count(sb, "publish", run_id=run["RUN_ID"]) > 0

    # The function still serves version 1, and ML_MODELS names no version it does not serve.
    assert _imports() == ["@ML_MODELS_STAGE/merchant_risk/v1/model.tar.gz"]
    assert _models(sb) == [(1, first_run)]
