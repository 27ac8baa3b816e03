"""Importing a handler module (its cold start) never imports the Snowflake connector, and builds
no contract model.

Each handler is imported in a fresh interpreter with the environment template.yaml gives it and
sys.path = its CodeUri + its layers (tooling/import_child.py reports sys.modules). Functions without
the Snowflake layer must not need it at all; the Snowflake functions import it lazily, on their
first connect, so a failed run that never reaches Snowflake does not pay for it either. Every
handler imports snowsage.models and uses a few of its models: pydantic builds each one's validator
on its first use (defer_build), not at import, so the others cost the cold start nothing.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from tooling.lambda_functions import RUNTIME_ENV, Function, functions, handler_env, import_once

FUNCTIONS = functions()


@cache
def init_report(logical_id: str) -> dict[str, object]:
    """What importing the handler with its environment loaded (one fresh interpreter per function)."""
    function = next(function for function in FUNCTIONS if function.logical_id == logical_id)
    return import_once(
        function.code_dir / "app.py", [function.code_dir, *function.layer_dirs], handler_env(function)
    )


def test_the_template_has_both_kinds_of_function() -> None:
    assert any(function.uses_snowflake for function in FUNCTIONS)
    assert any(not function.uses_snowflake for function in FUNCTIONS)


@pytest.mark.parametrize("function", FUNCTIONS, ids=lambda function: function.logical_id)
def test_importing_the_handler_does_not_import_the_connector(function: Function) -> None:
    report = init_report(function.logical_id)
    assert report["snowflake_connector"] == [], f"{function.logical_id} imports the connector at import time"


@pytest.mark.parametrize("function", FUNCTIONS, ids=lambda function: function.logical_id)
def test_importing_the_handler_builds_no_contract_model(function: Function) -> None:
    report = init_report(function.logical_id)
    assert report["built_contracts"] == [], f"{function.logical_id} builds these models at init"


def test_a_contract_model_is_built_on_its_first_use(tmp_path: Path) -> None:
    """The control for the test above: the probe reports a model once something has used it."""
    user = tmp_path / "app.py"
    user.write_text(
        "from snowsage.models import ExecutionInput\n"
        "ExecutionInput.model_validate({'manifest': 's3://bucket/exports/x/manifest.json'})\n",
        encoding="utf-8",
    )
    common = next(function for function in FUNCTIONS if not function.uses_snowflake)
    report = import_once(user, list(common.layer_dirs), dict(RUNTIME_ENV))
    assert report["built_contracts"] == ["ExecutionInput"], report


def test_the_probe_sees_the_connector_when_a_module_imports_it(tmp_path: Path) -> None:
    """The control for the test above: an empty list means "not imported", not "not looked for"."""
    user = tmp_path / "app.py"
    user.write_text("import snowflake.connector\n", encoding="utf-8")
    report = import_once(user, [], dict(RUNTIME_ENV))
    connector = report["snowflake_connector"]
    assert isinstance(connector, list) and "snowflake.connector" in connector, report
