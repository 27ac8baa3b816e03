"""One call of a Python stored procedure of the sandbox's Snowflake, in a process of its own.

Details: sandbox/README.md, "snowflake/procedure_worker.py".
"""

import importlib
import importlib.metadata
import json
import sys
import traceback
import types
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sandbox.snowflake.runtime_check import check_packages
else:  # run as a script: its own folder is sys.path[0]
    from runtime_check import check_packages

PROTOCOL_OUT = sys.stdout
sys.stdout = sys.stderr  # what the procedure prints goes to the log, not into the protocol


def local_session(tables: dict[str, dict[str, Any]]) -> Any:
    # Snowpark is in the runtime's venv, not the project's (where mypy and ruff read this file).
    Session = importlib.import_module("snowflake.snowpark").Session
    types_module = importlib.import_module("snowflake.snowpark.types")
    StringType, StructField, StructType = (
        types_module.StringType,
        types_module.StructField,
        types_module.StructType,
    )

    session = Session.builder.config("local_testing", True).create()
    for name, table in tables.items():
        # Snowpark infers the types from the rows; a table without rows gets text columns.
        schema = (
            table["columns"]
            if table["rows"]
            else StructType([StructField(c, StringType()) for c in table["columns"]])
        )
        frame = session.create_dataframe(table["rows"], schema=schema)
        frame.write.save_as_table(name, mode="overwrite")
    return session


class RecordingFiles:
    """The session's file operations, remembering each stage path the handler writes."""

    def __init__(self, files: Any) -> None:
        self._files = files
        self.written: list[str] = []

    def put_stream(self, stream: Any, stage_location: str, **options: Any) -> Any:
        result = self._files.put_stream(stream, stage_location, **options)
        self.written.append(stage_location)
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._files, name)


def call(request: dict[str, Any]) -> dict[str, Any]:
    check_packages(request["runtime_version"], request["packages"])
    session = local_session(request["tables"])
    recording = RecordingFiles(session.file)
    session.__dict__["_file"] = recording  # Session.file reads self._file
    module = types.ModuleType("snowflake_procedure")
    exec(compile(request["body"], "<procedure body>", "exec"), module.__dict__)  # noqa: S102
    handler = getattr(module, request["handler"], None)
    if not callable(handler):
        raise ValueError(f"HANDLER {request['handler']!r} is not a function of the body")
    result = handler(session, *request["arguments"])
    out = Path(request["files_out"])
    for index, location in enumerate(recording.written):
        data = recording.get_stream(location).read()
        (out / str(index)).write_bytes(data)
    return {"ok": True, "result": result, "files": recording.written}


def main() -> None:
    request = json.loads(sys.stdin.read())
    try:
        answer = call(request)
    except Exception as error:
        traceback.print_exc()
        answer = {"ok": False, "error": type(error).__name__, "message": str(error)}
    PROTOCOL_OUT.write(json.dumps(answer, default=str) + "\n")
    PROTOCOL_OUT.flush()


if __name__ == "__main__":
    main()
