"""INFORMATION_SCHEMA.PACKAGES in the sandbox's Snowflake: the packages its Python runtime offers.

Snowflake's view has a row per package version its Anaconda channel offers for a language and
runtime (docs: sql-reference/info-schema/packages: PACKAGE_NAME, VERSION, LANGUAGE; RUNTIME_VERSION,
release-notes/bcr-bundles/2023_04/bcr-1094). The sandbox's channel is the environment that stands in
for Snowflake's Python runtime (``.venv-snowflake-python``): what a function or procedure may pin
there (sandbox/snowflake/runtime_check.py). fakesnow has no such view: a statement that reads it
reads these rows instead, as a derived table of the same name and columns.
"""

from __future__ import annotations

import functools
import json
import re
import subprocess  # nosec B404: our own runtime interpreter, a fixed script
from typing import Any

from sandbox.snowflake.functions import runtime_python

COLUMNS = ("PACKAGE_NAME", "VERSION", "LANGUAGE", "RUNTIME_VERSION")
REFERENCE = re.compile(r"\b(?:[A-Za-z0-9_$]+\.)?INFORMATION_SCHEMA\.PACKAGES\b", re.I)
_LIST = (
    "import importlib.metadata as m, json, sys;"
    " print(json.dumps([sys.version_info[:2], sorted({(d.metadata['Name'].lower(), d.version)"
    " for d in m.distributions()})]))"
)
_PLAIN = re.compile(r"[A-Za-z0-9_.+-]+")


def mentions(statement: str) -> bool:
    return REFERENCE.search(statement) is not None


@functools.cache
def offered() -> list[tuple[str, str, str, str]]:
    """(package, version, 'python', runtime) for every distribution of the runtime's environment."""
    done = subprocess.run(  # noqa: S603  # nosec B603: a fixed interpreter and inline script
        [str(runtime_python()), "-c", _LIST], capture_output=True, text=True, check=True
    )
    (major, minor), packages = json.loads(done.stdout)
    runtime = f"{major}.{minor}"
    return [
        (name, version, "python", runtime) for name, version in packages if _PLAIN.fullmatch(name + version)
    ]


def rewritten(statement: str, rows: list[tuple[str, str, str, str]] | None = None) -> str:
    """``statement`` with every reference to INFORMATION_SCHEMA.PACKAGES made the runtime's rows."""
    found: Any = rows if rows is not None else offered()
    values = ", ".join("(" + ", ".join(f"'{value}'" for value in row) + ")" for row in found)
    # The rows are the runtime's own distributions, each checked against _PLAIN: no quote in them.
    derived = f"(SELECT * FROM (VALUES {values}) AS PACKAGES({', '.join(COLUMNS)})) AS PACKAGES"  # noqa: S608
    return REFERENCE.sub(derived, statement)
