"""The setup SQL's statements fakesnow 0.12.1 cannot run, answered by the sandbox's Snowflake.

Details: sandbox/README.md, "snowflake/setup_objects.py".
"""

from __future__ import annotations

import fnmatch
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import snowflake.connector
import sqlglot
from fakesnow.transforms.options import parse_options
from sqlglot import exp

from snowsage.names import DATASET_PATTERN, SNOWFLAKE_IDENTIFIER
from snowsage_setup.sqlscript import predictions_select

_NAME = r"(?:[A-Za-z0-9_$]+\.){0,2}(?P<name>" + SNOWFLAKE_IDENTIFIER.pattern + r")"
CREATE_TASK = re.compile(
    r"\s*CREATE\s+(?P<mode>OR\s+REPLACE\s+|OR\s+ALTER\s+)?TASK\s+(?P<if_not>IF\s+NOT\s+EXISTS\s+)?"
    + _NAME
    + r"\b.*",
    re.I | re.S,
)
ALTER_TASK = re.compile(
    r"\s*ALTER\s+TASK\s+(?P<if_exists>IF\s+EXISTS\s+)?" + _NAME + r"\s+(?P<action>RESUME|SUSPEND)\s*;?\s*",
    re.I,
)
SHOW_TASKS = re.compile(r"\s*SHOW\s+TASKS(?:\s+LIKE\s+'(?P<like>[^']*)')?\s*;?\s*", re.I)
ALTER_SET = re.compile(
    r"\s*ALTER\s+(?P<kind>FILE\s+FORMAT|STAGE)\s+" + _NAME + r"\s+SET\s+(?P<options>.*?)\s*;?\s*", re.I | re.S
)
CALL_REFRESH = re.compile(
    r"\s*CALL\s+(?:[A-Za-z0-9_$]+\.){0,2}REFRESH_ML_PREDICTIONS\s*\(\s*\)\s*;?\s*", re.I
)
GRANT_TO_ROLE = re.compile(r"\s*GRANT\s+.+?\s+TO\s+ROLE\s+(?P<role>[A-Za-z0-9_$]+)\s*;?\s*", re.I | re.S)
CREATE_ROLE = re.compile(
    r"\s*CREATE\s+(?P<replace>OR\s+REPLACE\s+)?ROLE\s+(?P<if_not>IF\s+NOT\s+EXISTS\s+)?(?P<role>[A-Za-z0-9_$]+)\b.*",
    re.I | re.S,
)
# The system-defined roles every account has (user-guide/security-access-control-overview).
SYSTEM_ROLES = frozenset({"ORGADMIN", "ACCOUNTADMIN", "SECURITYADMIN", "USERADMIN", "SYSADMIN", "PUBLIC"})
PREDICTIONS_VIEW_COMMENT = "Snowsage: the predictions of every dataset"

Execute = Callable[[str], Any]  # runs SQL on fakesnow's cursor, returns its result
Query = Callable[[str], list[tuple[Any, ...]]]


def _error(message: str, errno: int, sqlstate: str) -> snowflake.connector.errors.ProgrammingError:
    return snowflake.connector.errors.ProgrammingError(msg=message, errno=errno, sqlstate=sqlstate)


def handles(statement: str) -> bool:
    return any(
        pattern.fullmatch(statement)
        for pattern in (
            CREATE_TASK,
            ALTER_TASK,
            SHOW_TASKS,
            ALTER_SET,
            CALL_REFRESH,
            GRANT_TO_ROLE,
            CREATE_ROLE,
        )
    )


@dataclass
class Tasks:
    """Every task of the sandbox's Snowflake: (database, schema, name) -> state."""

    states: dict[tuple[str, str, str], str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def create(self, statement: str, database: str, schema: str) -> str:
        match = CREATE_TASK.fullmatch(statement)
        assert match is not None
        name = match.group("name").upper()
        key = (database, schema, name)
        mode = re.sub(r"\s+", " ", (match.group("mode") or "").strip().upper())
        with self._lock:
            exists = key in self.states
            if exists and not mode and not match.group("if_not"):
                raise _error(f"SQL compilation error:\nObject '{name}' already exists.", 2002, "42710")
            if not exists or mode == "OR REPLACE":
                self.states[key] = "suspended"  # a new task
        return f"Task {name} successfully created."

    def alter(self, statement: str, database: str, schema: str) -> str:
        match = ALTER_TASK.fullmatch(statement)
        assert match is not None
        name = match.group("name").upper()
        key = (database, schema, name)
        with self._lock:
            if key not in self.states:
                if match.group("if_exists"):
                    return "Statement executed successfully."
                raise _error(
                    f"SQL compilation error:\nTask '{name}' does not exist or not authorized.", 2003, "02000"
                )
            self.states[key] = "started" if match.group("action").upper() == "RESUME" else "suspended"
        return "Statement executed successfully."

    def show(self, statement: str, database: str, schema: str) -> list[tuple[str, str, str, str]]:
        match = SHOW_TASKS.fullmatch(statement)
        assert match is not None
        like = (match.group("like") or "%").upper().replace("%", "*").replace("_", "?")
        with self._lock:
            return [
                (name, task_database, task_schema, state)
                for (task_database, task_schema, name), state in sorted(self.states.items())
                if (task_database, task_schema) == (database, schema) and fnmatch.fnmatchcase(name, like)
            ]


def predictions_view_sql(rows: list[tuple[Any, ...]]) -> str:
    """REFRESH_ML_PREDICTIONS' statement for ML_DATASETS' (NAME, PREDICTIONS_TABLE) rows, by NAME."""
    template = predictions_select()
    parts = []
    for dataset, table in sorted(rows, key=lambda row: str(row[0])):
        if not DATASET_PATTERN.fullmatch(str(dataset)) or not SNOWFLAKE_IDENTIFIER.fullmatch(str(table)):
            raise _error(
                "REFRESH_ML_PREDICTIONS: an ML_DATASETS name or PREDICTIONS_TABLE is invalid", -20011, "P0001"
            )
        parts.append(template.replace("{dataset}", str(dataset)).replace("{table}", str(table).upper()))
    return (
        f"CREATE OR REPLACE VIEW ML_PREDICTIONS COMMENT = '{PREDICTIONS_VIEW_COMMENT}' AS "
        + " UNION ALL ".join(parts)
    )


def _literal(text: str) -> str:
    """A Snowflake string literal: backslashes escape in one, as quotes do doubled."""
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def _set_options(options: str) -> dict[str, Any]:
    """``SET``'s options, read the way fakesnow reads a CREATE's (the same option parser)."""
    parsed = sqlglot.parse_one(f"CREATE FILE FORMAT X {options}", read="snowflake")
    assert isinstance(parsed, exp.Create)
    return parse_options(parsed.args.get("properties") or [])


def alter_set(statement: str, database: str, schema: str, query: Query, run: Execute) -> str:
    """ALTER FILE FORMAT | STAGE … SET: the named options changed in fakesnow's own record of it."""
    match = ALTER_SET.fullmatch(statement)
    assert match is not None
    kind = re.sub(r"\s+", " ", match.group("kind").upper())
    name = match.group("name").upper()
    table = "_fs_file_formats" if kind == "FILE FORMAT" else "_fs_stages"
    where = f"name = '{name}' AND database_name = '{database}' AND schema_name = '{schema}'"
    columns = "options, comment" if kind == "FILE FORMAT" else "url, comment"
    found = query(f"SELECT {columns} FROM _fs_global._fs_information_schema.{table} WHERE {where}")  # noqa: S608
    if not found:
        noun = "File format" if kind == "FILE FORMAT" else "Stage"
        raise _error(
            f"SQL compilation error:\n{noun} '{database}.{schema}.{name}' does not exist or not authorized.",
            2003,
            "02000",
        )
    changes = _set_options(match.group("options"))
    comment = _literal(str(changes.pop("COMMENT", found[0][1] or "")))
    if kind == "FILE FORMAT":
        if "TYPE" in changes:
            raise _error("SQL compilation error:\nALTER FILE FORMAT cannot change TYPE", 1003, "42000")
        options = {**json.loads(found[0][0]), **changes}
        value = f"options = {_literal(json.dumps(options))}"
    else:
        unknown = set(changes) - {"URL", "STORAGE_INTEGRATION"}
        if unknown:
            raise _error(
                f"the sandbox's ALTER STAGE sets URL, STORAGE_INTEGRATION, COMMENT, not {sorted(unknown)}",
                9999,
                "0A000",
            )
        value = f"url = {_literal(str(changes.get('URL', found[0][0] or '')))}"
    run(f"UPDATE _fs_global._fs_information_schema.{table} SET {value}, comment = {comment} WHERE {where}")  # noqa: S608
    return "Statement executed successfully."


_tasks = Tasks()


@dataclass
class Roles:
    """The roles of the sandbox's Snowflake: the system-defined ones and those created."""

    names: set[str] = field(default_factory=lambda: set(SYSTEM_ROLES))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def create(self, statement: str) -> str:
        match = CREATE_ROLE.fullmatch(statement)
        assert match is not None
        role = match.group("role").upper()
        with self._lock:
            if role in self.names and not (match.group("replace") or match.group("if_not")):
                raise _error(f"SQL compilation error:\nObject '{role}' already exists.", 2002, "42710")
            self.names.add(role)
        return f"Role {role} successfully created."

    def grant(self, statement: str) -> str:
        match = GRANT_TO_ROLE.fullmatch(statement)
        assert match is not None
        role = match.group("role").upper()
        with self._lock:
            if role not in self.names:
                raise _error(
                    f"SQL compilation error:\nRole '{role}' does not exist or not authorized.", 2003, "02000"
                )
        return "Statement executed successfully."


_roles = Roles()


def tasks() -> Tasks:
    return _tasks


def execute(statement: str, database: str, schema: str, run: Execute, query: Query) -> Any:  # noqa: PLR0911
    """Answer one of the statements ``handles`` accepts, through fakesnow (``run``) for its result."""
    if CREATE_TASK.fullmatch(statement):
        return run(f"SELECT '{_tasks.create(statement, database, schema)}' AS status")
    if ALTER_TASK.fullmatch(statement):
        return run(f"SELECT '{_tasks.alter(statement, database, schema)}' AS status")
    if SHOW_TASKS.fullmatch(statement):
        rows = _tasks.show(statement, database, schema)
        if not rows:
            return run(
                "SELECT NULL AS name, NULL AS database_name, NULL AS schema_name, NULL AS state LIMIT 0"
            )
        values = ", ".join(f"('{name}', '{db}', '{sch}', '{state}')" for name, db, sch, state in rows)
        return run(
            f"SELECT * FROM (VALUES {values}) AS tasks(name, database_name, schema_name, state)"  # noqa: S608
        )
    if ALTER_SET.fullmatch(statement):
        return run(f"SELECT '{alter_set(statement, database, schema, query, run)}' AS status")
    if CREATE_ROLE.fullmatch(statement):
        return run(f"SELECT '{_roles.create(statement)}' AS status")
    if GRANT_TO_ROLE.fullmatch(statement):
        return run(f"SELECT '{_roles.grant(statement)}' AS status")
    view = predictions_view_sql(query("SELECT NAME, PREDICTIONS_TABLE FROM ML_DATASETS ORDER BY NAME"))
    run(view)
    union = view.split(" AS ", 1)[1].replace("'", "''")
    return run(f"SELECT '{union}' AS REFRESH_ML_PREDICTIONS")
