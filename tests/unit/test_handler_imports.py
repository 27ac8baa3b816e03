"""Importing a handler module (its cold start) never imports the Snowflake connector.

Each handler is imported in a fresh interpreter with the environment template.yaml gives it and
sys.path = its CodeUri + its layers (bench/import_child.py reports sys.modules). Functions without
the Snowflake layer must not need it at all; the Snowflake functions import it lazily, on their
first connect, so a failed run that never reaches Snowflake does not pay for it either.
"""

from __future__ import annotations

import pytest

from bench.coldstart import REFERENCE_DIR, import_once
from bench.project import RUNTIME_ENV, functions, handler_env

FUNCTIONS = functions()


def test_the_template_has_both_kinds_of_function() -> None:
    assert any(function.uses_snowflake for function in FUNCTIONS)
    assert any(not function.uses_snowflake for function in FUNCTIONS)


@pytest.mark.parametrize("function", FUNCTIONS, ids=lambda function: function.logical_id)
def test_importing_the_handler_does_not_import_the_connector(function: object) -> None:
    from bench.project import Function

    assert isinstance(function, Function)
    report = import_once(
        function.code_dir / "app.py",
        [function.code_dir, *function.layer_dirs],
        handler_env(function),
    )
    assert report["snowflake_connector"] == [], f"{function.logical_id} imports the connector at import time"


def test_the_probe_sees_the_connector_when_a_module_imports_it() -> None:
    """The control for the test above: an empty list means "not imported", not "not looked for"."""
    report = import_once(REFERENCE_DIR / "minimal_snowflake.py", [], dict(RUNTIME_ENV))
    connector = report["snowflake_connector"]
    assert isinstance(connector, list) and "snowflake.connector" in connector, report
