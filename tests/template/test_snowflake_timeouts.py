"""Every function with the Snowflake driver outlives the driver: its Timeout exceeds the longest
the driver may wait (login + network + statement timeouts, at their largest allowed values), so
the driver's error, which the state machine retries, comes before Lambda's own timeout."""

from __future__ import annotations

import json
from typing import Any

import pytest

from snowsage.settings import SnowflakeSettings
from snowsage.snowflake.connection import DETACHED_TRANSACTION_IDLE_SECONDS, LOCK_TIMEOUT_SECONDS
from tests.template.template_model import ROOT, function_environment, functions, template

DRIVER_LAYER = "SnowflakeLayer"
TIMEOUT_VARIABLES = ("SNOWFLAKE_LOGIN_TIMEOUT", "SNOWFLAKE_NETWORK_TIMEOUT", "SNOWFLAKE_STATEMENT_TIMEOUT")


def _functions_with_the_driver() -> list[str]:
    return sorted(name for name, function in functions().items() if DRIVER_LAYER in function.layers)


def _largest(value: Any, variable: str) -> int:
    """A literal as it is; a parameter at its MaxValue (a parameter without one is unbounded)."""
    if isinstance(value, str | int):
        return int(value)
    assert isinstance(value, dict) and set(value) == {"Ref"}, (variable, value)
    parameter = template()["Parameters"][value["Ref"]]
    assert "MaxValue" in parameter, f"{value['Ref']} ({variable}) needs a MaxValue to bound the driver's wait"
    return int(parameter["MaxValue"])


def test_the_functions_with_the_driver_are_found() -> None:
    # The finder works (the two the pipeline cannot do without are among them); the others follow.
    assert {"LoadPredictionsFunction", "RecordRunFunction"} <= set(_functions_with_the_driver())


@pytest.mark.parametrize("name", _functions_with_the_driver())
def test_the_function_timeout_exceeds_what_the_driver_may_wait(name: str) -> None:
    env = function_environment(name)
    missing = [variable for variable in TIMEOUT_VARIABLES if variable not in env]
    assert not missing, f"{name} leaves {missing} to the code's defaults: set them in template.yaml"
    waits = {variable: _largest(env[variable], variable) for variable in TIMEOUT_VARIABLES}
    timeout = functions()[name].timeout_seconds
    assert sum(waits.values()) < timeout, f"{name}: Timeout {timeout} s <= the driver's {waits}"
    # and the values are ones the code accepts
    SnowflakeSettings.model_validate({variable.lower(): wait for variable, wait in waits.items()} | _names())


def _names() -> dict[str, str]:
    return {
        field: "x"
        for field in SnowflakeSettings.model_fields
        if SnowflakeSettings.model_fields[field].is_required()
    }


def _snowflake_retries() -> dict[str, dict[str, Any]]:
    states = json.loads((ROOT / "statemachines" / "pipeline.asl.json").read_text())["States"]
    return {
        name: retry
        for name, state in states.items()
        for retry in state.get("Retry", [])
        if "SnowflakeUnavailable" in retry["ErrorEquals"]
    }


@pytest.mark.parametrize("state", sorted(_snowflake_retries()))
def test_the_attempts_outlast_a_detached_transactions_lock(state: str) -> None:
    """A transaction whose session vanished keeps its locks until Snowflake aborts it, once it has
    blocked another while idle for 5 minutes (sql-reference/transactions, "Aborting transactions").
    Each attempt waits at most LOCK_TIMEOUT for a lock; with full jitter a retry may start at once,
    so the attempts' lock waits alone must outlast those 5 minutes."""
    attempts = _snowflake_retries()[state]["MaxAttempts"] + 1
    assert attempts * LOCK_TIMEOUT_SECONDS > DETACHED_TRANSACTION_IDLE_SECONDS, state
