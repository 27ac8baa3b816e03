"""Handler calls as the Lambda Python runtime makes them, minus the container.

    python tests/serve/lambda_runner.py <event.json> <result.json> [<event.json> <result.json> ...]

The caller sets the environment (what ``sam local invoke --env-vars`` gives the function) and
PYTHONPATH (the function's CodeUri and the layer, as SAM mounts /var/task and /opt/python).
The first event is a cold start, the next ones reuse the loaded module (a warm container).
Each result file gets ``{"result": ...}`` or the runtime's ``{"errorType", "errorMessage"}``.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any


class FakeContext:
    def __init__(self) -> None:
        name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "function")
        self.function_name = name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{name}"
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{name}"
        self.log_stream_name = "$LATEST"
        self._deadline = time.monotonic() + float(os.environ.get("AWS_LAMBDA_FUNCTION_TIMEOUT", "30"))

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def invoke(event_path: str, result_path: str) -> bool:
    event = json.loads(Path(event_path).read_text())
    outcome: dict[str, Any]
    try:
        handler = importlib.import_module("app").lambda_handler
        outcome = {"result": handler(event, FakeContext())}
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
