"""``sam local invoke`` minus the container: handler calls as the Lambda Python runtime makes them.

    python -m sandbox.aws.local_invoke <event.json> <result.json> [<event.json> <result.json> ...]

The caller sets the environment (what ``sam local invoke --env-vars`` gives the function) and
PYTHONPATH (the function's CodeUri and the layer, as SAM mounts /var/task and /opt/python).
The first event is a cold start, the next ones reuse the loaded module (a warm container).
Each result file gets ``{"result": ...}`` or the runtime's ``{"errorType", "errorMessage"}``.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

from sandbox.aws.lambda_context import LambdaContext


def invoke(event_path: str, result_path: str) -> bool:
    event = json.loads(Path(event_path).read_text())
    outcome: dict[str, Any]
    try:
        handler = importlib.import_module("app").lambda_handler
        outcome = {"result": handler(event, LambdaContext.from_environment())}
    except Exception as error:
        outcome = {"errorType": type(error).__name__, "errorMessage": str(error)}
    Path(result_path).write_text(json.dumps(outcome, default=str))
    return "result" in outcome


def main(arguments: list[str]) -> int:
    pairs = list(zip(arguments[::2], arguments[1::2], strict=True))
    outcomes = [invoke(event_path, result_path) for event_path, result_path in pairs]
    return 0 if all(outcomes) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
