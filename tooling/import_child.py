"""Import one handler module in this fresh interpreter (tooling.lambda_functions.import_once).

    python tooling/import_child.py <app.py> [sys.path entry ...]

Times the module's import (its imports and module-level set-up: clients, settings) with only
``sys``, ``time`` and ``importlib.util`` loaded before the clock starts, then prints one JSON line:
``{"seconds", "modules", "snowflake_connector", "built_contracts"}`` (the pydantic models of
``snowsage.models`` whose validator the import built). Kept free of project imports on purpose.
"""

import importlib.util
import sys
import time


def main() -> None:
    file, *paths = sys.argv[1:]
    sys.path[:0] = paths
    started = time.perf_counter()
    spec = importlib.util.spec_from_file_location("app", file)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {file}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["app"] = module
    spec.loader.exec_module(module)
    seconds = time.perf_counter() - started
    import json

    connector = sorted(
        name
        for name in sys.modules
        if name == "snowflake.connector" or name.startswith("snowflake.connector.")
    )
    contracts = sys.modules.get("snowsage.models")
    built = sorted(
        name
        for name, value in (vars(contracts) if contracts else {}).items()
        if isinstance(value, type)
        and value.__module__ == "snowsage.models"
        and getattr(value, "__pydantic_complete__", False)
    )
    report = {
        "seconds": seconds,
        "modules": len(sys.modules),
        "snowflake_connector": connector[:5],
        "built_contracts": built,
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
