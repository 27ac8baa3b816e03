"""One Python function of the sandbox's Snowflake, in a process of its own (``functions.py``).

Details: sandbox/README.md, "snowflake/function_worker.py".
"""

import hashlib
import json
import sys
import traceback
import types
from typing import TYPE_CHECKING, Any

import numpy
import pandas

if TYPE_CHECKING:
    from sandbox.snowflake.runtime_check import check_packages
else:  # run as a script: its own folder is sys.path[0]
    from runtime_check import check_packages

PROTOCOL_OUT = sys.stdout.buffer
PROTOCOL_IN = sys.stdin.buffer
sys.stdout = sys.stderr  # what the function prints goes to the log, not into the protocol

STATE: dict[str, Any] = {}


def answer(document: dict[str, Any], payload: bytes = b"") -> None:
    PROTOCOL_OUT.write(json.dumps(document).encode() + b"\n" + payload)
    PROTOCOL_OUT.flush()


def create(request: dict[str, Any]) -> dict[str, Any]:
    check_packages(request["runtime_version"], request["packages"])
    sys._xoptions["snowflake_import_directory"] = request["imports"]
    module = types.ModuleType("snowflake_function")
    exec(compile(request["body"], "<function body>", "exec"), module.__dict__)  # noqa: S102
    handler = getattr(module, request["handler"], None)
    if not callable(handler):
        raise ValueError(f"HANDLER {request['handler']!r} is not a function of the body")
    STATE["handler"] = handler
    STATE["returns"] = request["returns"]
    STATE["vectorized"] = getattr(handler, "_sf_vectorized_input", None) is pandas.DataFrame
    return {
        "body_sha256": hashlib.sha256(request["body"].encode()).hexdigest(),
        "vectorized": STATE["vectorized"],
    }


def as_array(value: Any) -> list[float | None]:
    """An ARRAY value: a vectorized function returns one list per row (docs: udf-python-batch,
    "Type support": ARRAY is an object column, each element a list). The sandbox carries arrays
    of numbers only."""
    if value is None:
        return None  # type: ignore[return-value]  # a NULL array
    if not isinstance(value, list):
        raise ValueError(f"RETURNS ARRAY: each value must be a list, not {type(value).__name__}")
    if not all(item is None or isinstance(item, int | float) for item in value):
        raise ValueError("the sandbox's ARRAY results hold numbers only")
    return [None if item is None else float(item) for item in value]


def call(rows: int, columns: int) -> bytes:
    data = PROTOCOL_IN.read(rows * columns * 8)
    matrix = numpy.frombuffer(data, dtype=numpy.float64).reshape(rows, columns)
    handler = STATE["handler"]
    if STATE["vectorized"]:
        # Columns named by position, as Snowflake hands a vectorized function its arguments.
        values = list(handler(pandas.DataFrame(matrix)))
    else:
        values = [handler(*(None if numpy.isnan(v) else float(v) for v in row)) for row in matrix]
    if len(values) != rows:
        raise ValueError(f"the function returned {len(values)} values for {rows} rows")
    if STATE["returns"] == "ARRAY":
        # Each row's JSON text made here, once: the sandbox hands it to DuckDB as it is.
        return "\n".join(json.dumps(as_array(value)) for value in values).encode()
    result = numpy.array(values, dtype=numpy.float64)  # a list among the values: 2-D, refused
    if result.shape != (rows,):
        raise ValueError(f"RETURNS FLOAT: the function returned values of shape {result.shape[1:]}")
    payload: bytes = result.tobytes()
    return payload


def main() -> None:
    for line in PROTOCOL_IN:
        request = json.loads(line)
        try:
            if request["cmd"] == "create":
                answer({"ok": True, **create(request)})
            else:
                payload = call(request["rows"], request["columns"])
                answer({"ok": True, "payload_bytes": len(payload)}, payload)
        except Exception as error:  # the function's own failure, reported as Snowflake reports it
            traceback.print_exc()
            answer({"ok": False, "message": f"{type(error).__name__}: {error}"})


if __name__ == "__main__":
    main()
