"""Python functions and COPY FILES in the sandbox's Snowflake (fakesnow 0.12.1 runs neither).

Details: sandbox/README.md, "snowflake/functions.py".
"""

from __future__ import annotations

import atexit
import inspect
import json
import os
import re
import shutil
import subprocess  # nosec B404: starts our own function_worker.py with a fixed interpreter
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import fakesnow.cursor as fakesnow_cursor
import numpy as np
import pyarrow as pa
import snowflake.connector
from fakesnow.transforms import stage as fakesnow_stage

from sandbox.snowflake import setup_objects
from sandbox.worker_process import stop_worker
from snowsage.names import SNOWFLAKE_IDENTIFIER

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
RUNTIME_VARIABLE = "SNOWSAGE_SNOWFLAKE_PYTHON"
RUNTIME_ENVIRONMENT = ".venv-snowflake-python"
WORKER_SCRIPT = Path(__file__).with_name("function_worker.py")
# A plain Snowflake identifier, as the core validates it (snowsage.names).
_IDENTIFIER = SNOWFLAKE_IDENTIFIER.pattern

_CREATE_FUNCTION = re.compile(
    r"\s*CREATE\s+(?P<replace>OR\s+REPLACE\s+)?FUNCTION\s+(?P<name>" + _IDENTIFIER + r")\s*"
    r"\((?P<arguments>[^)]*)\)(?P<options>.*?)\bAS\s*\$\$(?P<body>.*)\$\$\s*;?\s*",
    re.IGNORECASE | re.DOTALL,
)
_PYTHON_FUNCTION = re.compile(r"\s*CREATE\s+(OR\s+REPLACE\s+)?FUNCTION\b.*\bLANGUAGE\s+PYTHON\b", re.I | re.S)
_COPY_FILES = re.compile(
    r"\s*COPY\s+FILES\s+INTO\s+@(?P<target>[A-Za-z0-9_$.]+)/(?P<target_path>[^\s]*)"
    r"\s+FROM\s+@(?P<source>[A-Za-z0-9_$.]+)/(?P<source_path>[^\s]*)"
    r"\s+FILES\s*=\s*\((?P<files>[^)]*)\)\s*;?\s*",
    re.IGNORECASE | re.DOTALL,
)
_STRING = re.compile(r"'([^']*)'")
_SHOW_FUNCTIONS = re.compile(
    r"\s*SHOW\s+USER\s+FUNCTIONS(?:\s+LIKE\s+'(?P<like>[^']*)')?(?:\s+IN\s+SCHEMA(?:\s+[A-Za-z0-9_$.]+)?)?\s*;?\s*",
    re.IGNORECASE,
)
_DROP_FUNCTION = re.compile(
    r"\s*DROP\s+FUNCTION\s+(?P<if_exists>IF\s+EXISTS\s+)?(?P<name>" + _IDENTIFIER + r")\s*"
    r"\((?P<types>[^)]*)\)\s*;?\s*",
    re.IGNORECASE,
)
# How a function's failure reads (Snowflake's error 100357); DuckDB wraps what the function raised.
INTERPRETER_ERROR = "Python Interpreter Error"
_ARGUMENT = re.compile(r"\s*(" + _IDENTIFIER + r")\s+([A-Za-z_]+)\s*")
# Snowflake's return type -> the DuckDB type the sandbox registers the function with, and the Arrow
# type of its results. ARRAY: a vectorized function's list per row (udf-python-batch, "Type support"),
# held as JSON text, the type fakesnow gives every ARRAY (and returns to the connector as one).
RETURN_TYPES: dict[str, tuple[Any, pa.DataType]] = {
    "FLOAT": (duckdb.sqltypes.DOUBLE, pa.float64()),
    "ARRAY": (duckdb.sqltype("JSON"), pa.json_(pa.string())),
}


def _error(
    message: str, errno: int = 2003, sqlstate: str = "42601"
) -> snowflake.connector.errors.ProgrammingError:
    return snowflake.connector.errors.ProgrammingError(msg=message, errno=errno, sqlstate=sqlstate)


def runtime_python() -> Path:
    """The interpreter standing in for Snowflake's Python runtime; an error that says how to build it."""
    configured = os.environ.get(RUNTIME_VARIABLE)
    python = Path(configured) if configured else REPOSITORY_ROOT / RUNTIME_ENVIRONMENT / "bin" / "python"
    if not python.exists():
        raise _error(
            f"the sandbox's Python runtime is missing ({python}): run `make venv` (it builds "
            f"{RUNTIME_ENVIRONMENT} from requirements/snowflake-python.lock)"
        )
    return python


# --- the statement -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FunctionDefinition:
    """A parsed CREATE FUNCTION … LANGUAGE PYTHON: what Snowflake reads from it."""

    statement: str
    name: str
    replace: bool
    arguments: list[tuple[str, str]]
    returns: str
    runtime_version: str
    packages: list[str]
    imports: list[str]
    handler: str
    body: str


def _option(options: str, name: str) -> str | None:
    match = re.search(rf"\b{name}\s*=\s*'([^']*)'", options, re.IGNORECASE)
    return match.group(1) if match else None


def _list_option(options: str, name: str) -> list[str]:
    match = re.search(rf"\b{name}\s*=\s*\(([^)]*)\)", options, re.IGNORECASE)
    return _STRING.findall(match.group(1)) if match else []


def parse_create_function(statement: str) -> FunctionDefinition:
    match = _CREATE_FUNCTION.fullmatch(statement)
    if not match:
        raise _error("SQL compilation error: a Python function needs CREATE FUNCTION <name>(…) … AS $$ … $$")
    options = match.group("options")
    returns = re.search(r"\bRETURNS\s+([A-Za-z_]+)", options, re.IGNORECASE)
    runtime, handler = _option(options, "RUNTIME_VERSION"), _option(options, "HANDLER")
    if not returns or runtime is None or handler is None:
        raise _error("SQL compilation error: a Python function needs RETURNS, RUNTIME_VERSION and HANDLER")
    arguments: list[tuple[str, str]] = []
    for text in filter(str.strip, match.group("arguments").split(",")):
        argument = _ARGUMENT.fullmatch(text)
        if not argument:
            raise _error(f"SQL compilation error: argument {text.strip()!r} is not '<name> <type>'")
        arguments.append((argument.group(1).upper(), argument.group(2).upper()))
    unsupported = sorted({kind for _, kind in arguments if kind != "FLOAT"})
    if unsupported or returns.group(1).upper() not in RETURN_TYPES:
        raise _error(
            "the sandbox runs Python functions over FLOAT arguments returning FLOAT or ARRAY only,"
            f" not {unsupported or [returns.group(1).upper()]}",
            9999,
        )
    return FunctionDefinition(
        statement=statement,
        name=match.group("name").upper(),
        replace=bool(match.group("replace")),
        arguments=arguments,
        returns=returns.group(1).upper(),
        runtime_version=runtime,
        packages=_list_option(options, "PACKAGES"),
        imports=_list_option(options, "IMPORTS"),
        handler=handler,
        body=match.group("body"),
    )


# --- stages --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StageFiles:
    """How the sandbox reads and writes the files of fakesnow's stages."""

    duck_conn: Any
    open_s3: Callable[[str, str], Any]  # (s3 url, mode) -> file object

    def _stage(self, name: str, database: str | None, schema: str | None) -> tuple[str, str]:
        """(fully qualified name, URL; '' for an internal stage)."""
        catalog, schema_name, stage = fakesnow_stage.parts_from_var(name, database, schema)
        row = (
            self.duck_conn.cursor()
            .execute(
                "SELECT url FROM _fs_global._fs_information_schema._fs_stages"
                " WHERE database_name = ? AND schema_name = ? AND name = ?",
                [catalog, schema_name, stage],
            )
            .fetchone()
        )
        if row is None:
            raise _error(
                f"SQL compilation error:\nStage '{catalog}.{schema_name}.{stage}'"
                " does not exist or not authorized.",
                2003,
                "02000",
            )
        return f"{catalog}.{schema_name}.{stage}", str(row[0] or "")

    def location(self, name: str, path: str, database: str | None, schema: str | None) -> str:
        """Where ``@name/path`` lives: an s3:// URL or a folder of fakesnow's internal stages."""
        fqname, url = self._stage(name, database, schema)
        if ".." in path.split("/"):
            raise _error(f"stage path {path!r} leaves the stage")
        if url:
            return url.rstrip("/") + "/" + path
        return str(fakesnow_stage.internal_dir(fqname, path))

    def read(self, location: str) -> bytes:
        try:
            if location.startswith("s3://"):
                with self.open_s3(location, "rb") as handle:
                    data: bytes = handle.read()
                    return data
            return Path(location).read_bytes()
        except FileNotFoundError:
            raise _error(f"Remote file '{location}' was not found.", 2003, "02000") from None

    def write(self, location: str, data: bytes) -> None:
        if location.startswith("s3://"):
            with self.open_s3(location, "wb") as handle:
                handle.write(data)
            return
        Path(location).parent.mkdir(parents=True, exist_ok=True)
        Path(location).write_bytes(data)


def copy_files(files: StageFiles, statement: str, database: str | None, schema: str | None) -> list[str]:
    """COPY FILES INTO @target/path/ FROM @source/path/ FILES = (…): the copied files' names."""
    match = _COPY_FILES.fullmatch(statement)
    if not match:
        raise _error(
            "the sandbox's COPY FILES takes INTO @<stage>/<path>/ FROM @<stage>/<path>/ FILES = (…)", 9999
        )
    names = _STRING.findall(match.group("files"))
    source = files.location(match.group("source"), match.group("source_path"), database, schema)
    target = files.location(match.group("target"), match.group("target_path"), database, schema)
    contents = {
        name: files.read(source.rstrip("/") + "/" + name) for name in names
    }  # all found, or none copied
    for name, data in contents.items():
        files.write(target.rstrip("/") + "/" + name, data)
    return names


# --- running functions ---------------------------------------------------------------------------


class FunctionProcess:
    """One function's body, running in its own worker process."""

    def __init__(self, definition: FunctionDefinition, import_directory: str) -> None:
        self.import_directory = import_directory
        self._log = tempfile.TemporaryFile()  # noqa: SIM115
        self._lock = threading.Lock()
        self.process = subprocess.Popen(  # noqa: S603  # nosec B603: a fixed interpreter and our script
            [str(runtime_python()), "-u", str(WORKER_SCRIPT)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env={**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"},
        )
        try:
            answer = self._create(definition, import_directory)
        except BaseException:
            self.close()  # a refused body leaves no process behind
            raise
        self.body_sha256 = str(answer["body_sha256"])
        self.vectorized = bool(answer["vectorized"])

    def _create(self, definition: FunctionDefinition, import_directory: str) -> dict[str, Any]:
        answer, _ = self._exchange(
            {
                "cmd": "create",
                "body": definition.body,
                "handler": definition.handler,
                "imports": import_directory + "/",
                "runtime_version": definition.runtime_version,
                "packages": definition.packages,
                "returns": definition.returns,
            }
        )
        return answer

    def _exchange(self, request: dict[str, Any], payload: bytes = b"") -> tuple[dict[str, Any], bytes]:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        with self._lock:
            try:
                self.process.stdin.write(json.dumps(request).encode() + b"\n" + payload)
                self.process.stdin.flush()
                line = self.process.stdout.readline()
            except OSError:
                line = b""
            if not line:
                self._log.seek(0)
                raise _error(
                    f"{INTERPRETER_ERROR}: the function's process ended: {self._log.read()[-800:]!r}",
                    100357,
                    "P0000",
                )
            answer: dict[str, Any] = json.loads(line)
            if not answer["ok"]:
                raise _error(f"{INTERPRETER_ERROR}:\n{answer['message']}", 100357, "P0000")
            size = int(answer.get("payload_bytes", 0))
            reply = self.process.stdout.read(size) if size else b""
            return answer, reply

    def call(self, matrix: np.ndarray[Any, np.dtype[np.float64]], returns: str) -> pa.Array:
        """The function's values for a batch of rows, as an Arrow array of ``returns``' type."""
        rows, columns = matrix.shape
        _, reply = self._exchange(
            {"cmd": "call", "rows": rows, "columns": columns},
            np.ascontiguousarray(matrix, dtype=np.float64).tobytes(),
        )
        arrow_type = RETURN_TYPES[returns][1]
        if returns == "ARRAY":
            texts = reply.decode().split("\n") if rows else []
            # Built as strings, then typed as JSON: pa.array(..., type=pa.json_()) parses each value
            # again and took most of a million-row multi-class scoring.
            storage = pa.array([None if text == "null" else text for text in texts], type=pa.string())
            return pa.ExtensionArray.from_storage(arrow_type, storage)
        return pa.array(np.frombuffer(reply, dtype=np.float64), type=arrow_type)

    def close(self) -> None:
        stop_worker(self.process, self._log, self.import_directory)


@dataclass
class PublishedFunction:
    definition: FunctionDefinition
    process: FunctionProcess


def signature(definition: FunctionDefinition) -> tuple[str, ...]:
    return tuple(kind.upper() for _, kind in definition.arguments)


@dataclass
class PythonFunctions:
    """The Python functions created in the sandbox's Snowflake: by name, then by argument types."""

    duck_conn: Any
    files: StageFiles
    functions: dict[str, dict[tuple[str, ...], PublishedFunction]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def create(self, statement: str, database: str | None, schema: str | None) -> str:
        definition = parse_create_function(statement)
        with self._lock:
            earlier = self.functions.get(definition.name, {}).get(signature(definition))
            if earlier is not None and not definition.replace:
                raise _error(
                    f"SQL compilation error:\nObject '{definition.name}' already exists.", 2002, "42710"
                )
            # Everything the function needs, before the earlier one is touched.
            import_directory = tempfile.mkdtemp(prefix=f"snowflake-function-{definition.name.lower()}-")
            try:
                for item in definition.imports:
                    stage, _, path = item.removeprefix("@").partition("/")
                    name = path.rsplit("/", 1)[-1]
                    data = self.files.read(self.files.location(stage, path, database, schema))
                    Path(import_directory, name).write_bytes(data)
                process = FunctionProcess(definition, import_directory)
            except BaseException:
                shutil.rmtree(import_directory, ignore_errors=True)
                raise
            self._register(definition, process)
            overloads = self.functions.setdefault(definition.name, {})
            overloads.pop(signature(definition), None)  # the newest last: the one DuckDB calls
            overloads[signature(definition)] = PublishedFunction(definition, process)
            if earlier is not None:
                earlier.process.close()
        return definition.name

    def newest(self, name: str) -> PublishedFunction:
        """The overload of ``name`` created last: the one a call reaches here."""
        with self._lock:
            return list(self.functions[name].values())[-1]

    def show(self, statement: str) -> list[tuple[str, str]]:
        """SHOW USER FUNCTIONS [LIKE '…']: (name, arguments) of every overload, by name."""
        match = _SHOW_FUNCTIONS.fullmatch(statement)
        assert match is not None
        like = (match.group("like") or "%").upper()
        pattern = re.compile("".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in like))
        with self._lock:
            return [
                (name, f"{name}({', '.join(types)}) RETURN {published.definition.returns}")
                for name, overloads in sorted(self.functions.items())
                if pattern.fullmatch(name)
                for types, published in overloads.items()
            ]

    def drop(self, statement: str) -> str:
        """DROP FUNCTION [IF EXISTS] name(types): the overload of exactly those argument types."""
        match = _DROP_FUNCTION.fullmatch(statement)
        assert match is not None
        name = match.group("name").upper()
        types = tuple(part.strip().upper() for part in match.group("types").split(",") if part.strip())
        with self._lock:
            overloads = self.functions.get(name, {})
            published = overloads.pop(types, None)
            if published is None:
                if match.group("if_exists"):
                    return f"Drop statement executed successfully ({name} already dropped)."
                raise _error(
                    f"SQL compilation error:\nFunction '{name}({', '.join(types)})' does not exist or not"
                    " authorized.",
                    2003,
                    "02000",
                )
            self.duck_conn.remove_function(name)
            if overloads:  # DuckDB holds one per name: the newest remaining one answers calls
                newest = list(overloads.values())[-1]
                self._register(newest.definition, newest.process, registered=False)
            else:
                del self.functions[name]
            published.process.close()
        return f"{name} successfully dropped."

    def _register(
        self, definition: FunctionDefinition, process: FunctionProcess, *, registered: bool | None = None
    ) -> None:
        def run(*columns: pa.ChunkedArray) -> pa.Array:
            matrix = np.column_stack(
                [
                    column.to_numpy().astype(np.float64)
                    if column.null_count == 0
                    else column.fill_null(np.nan).to_numpy().astype(np.float64)
                    for column in columns
                ]
            )
            return process.call(matrix, definition.returns)

        run.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [inspect.Parameter(name, inspect.Parameter.POSITIONAL_ONLY) for name, _ in definition.arguments]
        )
        if definition.name in self.functions if registered is None else registered:
            self.duck_conn.remove_function(definition.name)
        self.duck_conn.create_function(
            definition.name,
            run,
            [duckdb.sqltypes.DOUBLE] * len(definition.arguments),
            RETURN_TYPES[definition.returns][0],
            type="arrow",
            null_handling="special",
        )

    def close(self) -> None:
        with self._lock:
            for overloads in self.functions.values():
                for function in overloads.values():
                    function.process.close()
            self.functions.clear()


# --- fakesnow's cursor ---------------------------------------------------------------------------

_EXECUTE = "execute"
_PARSE_ONE = "parse_one"  # what fakesnow.server parses a request's statement with, before executing it
_installed: dict[str, PythonFunctions] = {}


def handled_here(command: str) -> bool:
    """Statements the sandbox's Snowflake answers itself (fakesnow runs none of them)."""
    from sandbox.snowflake import procedures  # noqa: PLC0415  # it imports this module

    return bool(
        _PYTHON_FUNCTION.match(command)
        or re.match(r"\s*COPY\s+FILES\b", command, re.IGNORECASE)
        or procedures.CALL_TRAIN_MODEL.fullmatch(command)
        or setup_objects.handles(command)
        or _SHOW_FUNCTIONS.fullmatch(command)
        or _DROP_FUNCTION.fullmatch(command)
    )


def _call_procedure(cursor: Any, execute: Any, files: StageFiles, command: str) -> Any:
    """CALL TRAIN_MODEL(…) (procedures.py): its VARIANT result as the CALL's one row."""
    from sandbox.snowflake import procedures  # noqa: PLC0415  # it imports this module

    def query(sql: str) -> dict[str, Any]:
        execute(cursor, sql)
        return procedures.rows_of(cursor.description, cursor.fetchall())

    result = procedures.call_train_model(query, files, command, cursor._conn.database, cursor._conn.schema)
    literal = json.dumps(result).replace("'", "''")
    return execute(cursor, f"SELECT PARSE_JSON('{literal}') AS TRAIN_MODEL")


def _overloads_answer(functions: PythonFunctions, command: str) -> str:
    """The query answering SHOW USER FUNCTIONS or DROP FUNCTION (the names and types are validated)."""
    if _DROP_FUNCTION.fullmatch(command):
        return f"SELECT '{functions.drop(command)}' AS status"
    rows = functions.show(command)
    if not rows:
        return "SELECT NULL AS name, NULL AS arguments LIMIT 0"
    values = ", ".join(f"('{name}', '{arguments}')" for name, arguments in rows)
    return f"SELECT * FROM (VALUES {values}) AS functions(name, arguments)"  # noqa: S608  # nosec B608


def installed() -> PythonFunctions | None:
    """The functions of the running sandbox (None before ``support_python_functions``)."""
    return _installed.get("functions")


def support_python_functions(duck_conn: Any, open_s3: Callable[[str, str], Any]) -> PythonFunctions:
    """Teach fakesnow CREATE FUNCTION … LANGUAGE PYTHON and COPY FILES (again: on a new connection)."""
    earlier = _installed.get("functions")
    if earlier is not None:
        earlier.close()
    functions = PythonFunctions(duck_conn, StageFiles(duck_conn, open_s3))
    _installed["functions"] = functions
    cursor_class = fakesnow_cursor.FakeSnowflakeCursor
    execute = getattr(cursor_class, _EXECUTE)
    original = getattr(execute, "snowsage_original", execute)

    def execute_with_functions(self: Any, command: str, *args: Any, **kwargs: Any) -> Any:
        current = _installed["functions"]
        database, schema = self._conn.database, self._conn.schema
        if not handled_here(command):
            from sandbox.snowflake import packages  # noqa: PLC0415  # it imports this module

            if packages.mentions(command):  # fakesnow has no INFORMATION_SCHEMA.PACKAGES
                command = packages.rewritten(command)
            try:
                return original(self, command, *args, **kwargs)
            except duckdb.Error as error:
                # A function that fails while a query runs fails the query with its own error (not
                # the server's 500 that an unknown exception gets).
                text = str(error)
                if INTERPRETER_ERROR not in text:
                    raise
                raise _error(text[text.index(INTERPRETER_ERROR) :], 100357, "P0000") from None
        if _PYTHON_FUNCTION.match(command):
            name = current.create(command, database, schema)
            return original(self, f"SELECT 'Function {name} successfully created.' AS status")
        if re.match(r"\s*COPY\s+FILES\b", command, re.IGNORECASE):
            names = copy_files(current.files, command, database, schema)
            rows = (
                " UNION ALL ".join(f"SELECT '{name}' AS file" for name in names)
                or "SELECT NULL AS file LIMIT 0"
            )
            return original(self, rows)
        if _SHOW_FUNCTIONS.fullmatch(command) or _DROP_FUNCTION.fullmatch(command):
            return original(self, _overloads_answer(current, command))
        if setup_objects.handles(command):

            def query(sql: str) -> list[tuple[Any, ...]]:
                original(self, sql)
                return list(self.fetchall())

            return setup_objects.execute(
                command, str(database), str(schema), lambda sql: original(self, sql), query
            )
        return _call_procedure(self, original, current.files, command)

    execute_with_functions.snowsage_original = original  # type: ignore[attr-defined]
    setattr(cursor_class, _EXECUTE, execute_with_functions)

    # The server parses each statement first (for its statement type): sqlglot reads neither form,
    # so they are typed as what the cursor answers them with, a query.
    # `import fakesnow.server` would bind the module over the package's `server` function, which
    # sandbox/snowflake/server.py takes first: the module is read from sys.modules once imported.
    fakesnow_server = sys.modules["fakesnow.server"]
    parse_one = vars(fakesnow_server)[_PARSE_ONE]
    original_parse = getattr(parse_one, "snowsage_original", parse_one)

    def parse_with_functions(sql: str, *args: Any, **kwargs: Any) -> Any:
        if handled_here(sql):
            return original_parse("SELECT 1")
        return original_parse(sql, *args, **kwargs)

    parse_with_functions.snowsage_original = original_parse  # type: ignore[attr-defined]
    setattr(fakesnow_server, _PARSE_ONE, parse_with_functions)
    return functions


atexit.register(lambda: _installed["functions"].close() if "functions" in _installed else None)
