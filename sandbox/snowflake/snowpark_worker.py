"""Snowpark Python features under Snowpark's local testing mode, in the Snowflake-runtime venv.

Details: sandbox/README.md, "snowflake/snowpark_worker.py".
"""

import decimal
import importlib.util
import json
import math
import statistics
import sys
from datetime import datetime
from typing import Any

PROTOCOL_OUT = sys.stdout
sys.stdout = sys.stderr


def add_missing_functions() -> None:
    # Snowpark is the runtime venv's, not the project's (where ruff and mypy read this file).
    functions = importlib.import_module("snowflake.snowpark.functions")
    mock = importlib.import_module("snowflake.snowpark.mock")
    ColumnEmulator, ColumnType, patch = mock.ColumnEmulator, mock.ColumnType, mock.patch
    DoubleType = importlib.import_module("snowflake.snowpark.types").DoubleType

    def double(values: list[Any]) -> Any:
        return ColumnEmulator(data=values, sf_type=ColumnType(DoubleType(), True))

    @patch(functions.round)  # type: ignore[untyped-decorator]
    def _round(column: Any, scale: Any = None) -> Any:
        digits = int(scale.iloc[0]) if hasattr(scale, "iloc") else int(scale or 0)
        step = decimal.Decimal(1).scaleb(-digits)
        return double(
            [
                None
                if value is None or math.isnan(float(value))
                else float(decimal.Decimal(repr(float(value))).quantize(step, rounding=decimal.ROUND_HALF_UP))
                for value in column
            ]
        )

    @patch(functions.stddev_samp)  # type: ignore[untyped-decorator]
    def _stddev_samp(column: Any) -> Any:
        values = [float(value) for value in column if value is not None and not math.isnan(float(value))]
        return double([statistics.stdev(values) if len(values) > 1 else None])


def main() -> None:
    Session = importlib.import_module("snowflake.snowpark").Session

    request = json.loads(sys.stdin.read())
    add_missing_functions()
    session = Session.builder.config("local_testing", True).create()
    for name, table in request["tables"].items():
        stamps = [table["columns"].index(column) for column in table.get("timestamp_columns", [])]
        rows = [
            [datetime.fromisoformat(value) if index in stamps else value for index, value in enumerate(row)]
            for row in table["rows"]
        ]
        session.create_dataframe(rows, schema=table["columns"]).write.save_as_table(name)
    spec = importlib.util.spec_from_file_location("features", request["module"])
    if spec is None or spec.loader is None:
        raise ValueError(f"cannot load {request['module']}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    frame = getattr(module, request["function"])(session)
    rows = [list(row) for row in frame.collect()]
    PROTOCOL_OUT.write(json.dumps({"columns": frame.columns, "rows": rows}, default=plain) + "\n")


def plain(value: Any) -> Any:
    """numpy scalars (local testing's integers) as Python numbers; anything else as text."""
    return value.item() if hasattr(value, "item") else str(value)


if __name__ == "__main__":
    main()
