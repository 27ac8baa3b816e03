"""Every function with the Snowflake driver outlives the driver: its Timeout exceeds the longest
the driver may wait (login + network + statement timeouts, at their largest allowed values), so
the driver's error, which the state machine retries, comes before Lambda's own timeout."""

from __future__ import annotations

from typing import Any

import pytest

from snowsage.settings import SnowflakeSettings
from tests.template.template_model import function_environment, functions, template

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
