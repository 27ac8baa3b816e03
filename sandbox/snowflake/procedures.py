"""Python stored procedures in the sandbox's Snowflake: TRAIN_MODEL (fakesnow runs none).

Details: sandbox/README.md, "snowflake/procedures.py".
"""

from __future__ import annotations

import json
import re
import subprocess  # nosec B404: starts our own procedure_worker.py with a fixed interpreter
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox.snowflake.functions import StageFiles, _error, _list_option, _option, runtime_python
from snowsage.names import DATASET_PATTERN, SNOWFLAKE_IDENTIFIER
from snowsage_setup.sqlscript import SETUP_DIR

TRAINING_PROCEDURE_FILE = SETUP_DIR / "35_training_procedure.sql"
WORKER_SCRIPT = Path(__file__).with_name("procedure_worker.py")
TRAINING_PROCEDURE = "TRAIN_MODEL"
IDENTIFIER = re.compile(r"[A-Z_][A-Z0-9_$]*")
_CREATE_PROCEDURE = re.compile(
    r"CREATE\s+(?:OR\s+REPLACE\s+)?PROCEDURE\s+(?P<name>" + SNOWFLAKE_IDENTIFIER.pattern + r")\s*"
    r"\((?P<arguments>[^)]*)\)(?P<options>.*?)\bAS\s*\$\$(?P<body>.*?)\$\$",
    re.IGNORECASE | re.DOTALL,
)
CALL_TRAIN_MODEL = re.compile(
    r"\s*CALL\s+(?:[A-Za-z0-9_$]+\.){0,2}TRAIN_MODEL\s*\((?P<arguments>.*)\)\s*;?\s*", re.I | re.S
)
# A string literal as the connector writes a bound value (pyformat: backslash escapes) or as
# SQL writes one ('' for a quote).
_LITERAL = re.compile(r"'((?:[^'\\]|\\.|'')*)'", re.DOTALL)


@dataclass(frozen=True)
class ProcedureDefinition:
    """A parsed CREATE PROCEDURE … LANGUAGE PYTHON: what Snowflake reads from it."""

    name: str
    arguments: list[str]
    runtime_version: str
    packages: list[str]
    handler: str
    body: str


def parse_create_procedure(text: str) -> ProcedureDefinition:
    match = _CREATE_PROCEDURE.search(text)
    if match is None or not re.search(r"\bLANGUAGE\s+PYTHON\b", match.group("options"), re.I):
        raise ValueError("no CREATE PROCEDURE … LANGUAGE PYTHON … AS $$ … $$ in the text")
    options = match.group("options")
    return ProcedureDefinition(
        name=match.group("name").upper(),
        arguments=[part.split()[0].upper() for part in match.group("arguments").split(",") if part.strip()],
        runtime_version=_option(options, "RUNTIME_VERSION") or "",
        packages=_list_option(options, "PACKAGES"),
        handler=_option(options, "HANDLER") or "",
        body=match.group("body"),
    )


def training_procedure(path: Path = TRAINING_PROCEDURE_FILE) -> ProcedureDefinition:
    return parse_create_procedure(path.read_text())


def call_arguments(statement: str) -> list[str] | None:
    """The string arguments of ``CALL TRAIN_MODEL(…)``, or None for any other statement."""
    match = CALL_TRAIN_MODEL.fullmatch(statement)
    if match is None:
        return None
    literals = _LITERAL.findall(match.group("arguments"))
    return [re.sub(r"\\(.)|''", lambda m: m.group(1) or "'", value) for value in literals]


Query = Callable[[str], dict[str, Any]]  # SQL -> {"columns", "rows"} on the sandbox's Snowflake


def _plain(value: Any) -> Any:
    """A value JSON and Snowpark's create_dataframe take: Decimals as floats, the rest as they are."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return float(value) if hasattr(value, "as_integer_ratio") else str(value)


def rows_of(description: Any, rows: list[tuple[Any, ...]]) -> dict[str, Any]:
    return {
        "columns": [column[0].upper() for column in description],
        "rows": [[_plain(value) for value in row] for row in rows],
    }


def _tables(query: Query, dataset: str) -> dict[str, dict[str, Any]]:
    """ML_DATASETS' row and the training view's rows, as the sandbox's Snowflake returns them."""
    if not DATASET_PATTERN.fullmatch(dataset):
        return {}  # the handler refuses the name itself, as in Snowflake
    columns = "NAME, TRAINING_VIEW, ID_COLUMN, LABEL_COLUMN, ENABLED"
    where = f"NAME = '{dataset}'"  # matched DATASET_PATTERN above: no quote can be in it
    registry = query(f"SELECT {columns} FROM ML_DATASETS WHERE {where}")  # noqa: S608  # nosec B608
    tables = {"ML_DATASETS": registry}
    for row in registry["rows"]:
        view = str(row[1]).upper()
        if IDENTIFIER.fullmatch(view):
            tables[view] = query(f"SELECT * FROM {view}")  # noqa: S608  # nosec B608: an identifier
    return tables


def run_procedure(
    definition: ProcedureDefinition, tables: dict[str, dict[str, Any]], arguments: list[Any]
) -> tuple[Any, dict[str, bytes]]:
    """Run the handler in the runtime's venv: its result and the files it PUT, by stage path."""
    with tempfile.TemporaryDirectory(prefix="snowsage-procedure-") as files_out:
        request = {
            "body": definition.body,
            "handler": definition.handler,
            "runtime_version": definition.runtime_version,
            "packages": definition.packages,
            "tables": tables,
            "arguments": arguments,
            "files_out": files_out,
        }
        completed = subprocess.run(  # noqa: S603  # nosec B603: a fixed interpreter and our script
            [str(runtime_python()), str(WORKER_SCRIPT)],
            input=json.dumps(request),
            capture_output=True,
            text=True,
            check=False,
        )
        lines = completed.stdout.strip().splitlines()
        if not lines:
            raise _error(
                f"{definition.name}: the Python runtime ended without an answer: {completed.stderr[-2000:]}",
                100357,
                "P0000",
            )
        answer = json.loads(lines[-1])
        if not answer["ok"]:
            # Snowflake reports a handler's exception as "Python Interpreter Error" with its text.
            raise _error(
                f"Python Interpreter Error:\n{answer['error']}: {answer['message']} in function"
                f" {definition.name} with handler {definition.handler}",
                100357,
                "P0000",
            )
        files = {
            location: (Path(files_out) / str(index)).read_bytes()
            for index, location in enumerate(answer["files"])
        }
    return answer["result"], files


def call_train_model(
    query: Query, stage_files: StageFiles, statement: str, database: str | None, schema: str | None
) -> Any:
    """``CALL TRAIN_MODEL(…)`` on the sandbox's Snowflake: the procedure's result (a VARIANT)."""
    arguments = call_arguments(statement)
    definition = training_procedure()
    if arguments is None or len(arguments) != len(definition.arguments):
        raise _error(
            f"SQL compilation error: CALL {TRAINING_PROCEDURE} takes {len(definition.arguments)}"
            " string arguments",
            1044,
            "42P13",
        )
    result, files = run_procedure(definition, _tables(query, arguments[0]), arguments)
    for location, data in files.items():
        stage, _, path = location.removeprefix("@").partition("/")
        stage_files.write(stage_files.location(stage, path, database, schema), data)
    return result
