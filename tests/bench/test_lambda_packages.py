"""What a replayed function may import: only the runtime's and its layers' packages, as on Lambda.

The dev venv holds pandas and pyarrow, which the connector imports when present, and awscrt,
which botocore imports when present; the layers hold none of them, so a cold start measured with
them would pay for imports Lambda never does.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.lambda_packages import blocked_modules
from tooling.lambda_functions import functions

SNOWFLAKE = next(function for function in functions() if function.uses_snowflake)
PLAIN = next(function for function in functions() if not function.uses_snowflake)
CHILD = Path(__file__).parents[2] / "bench" / "replay_child.py"


def test_the_runtime_and_the_layers_packages_stay_importable() -> None:
    for function in (SNOWFLAKE, PLAIN):
        blocked = set(blocked_modules(function.layer_dirs))
        assert not blocked & {
            "boto3",
            "botocore",
            "s3transfer",
            "urllib3",
            "pydantic",
            "aws_lambda_powertools",
        }
    assert not {"snowflake", "cryptography", "OpenSSL"} & set(blocked_modules(SNOWFLAKE.layer_dirs))


def test_what_no_layer_ships_is_blocked() -> None:
    assert {"pandas", "pyarrow", "numpy", "awscrt", "moto"} <= set(blocked_modules(SNOWFLAKE.layer_dirs))
    assert {"snowflake", "OpenSSL", "cryptography"} <= set(blocked_modules(PLAIN.layer_dirs))


def test_the_connector_imports_without_pandas_in_a_blocked_child(tmp_path: Path) -> None:
    app = tmp_path / "app.py"
    app.write_text(
        "import sys\nimport snowflake.connector\n"
        "def lambda_handler(event, context):\n"
        "    return sorted(m for m in ('pandas', 'pyarrow') if sys.modules.get(m) is not None)\n"
        "LOADED = lambda_handler(None, None)\n"
        "assert LOADED == [], LOADED\n",
        encoding="utf-8",
    )
    blocked = ",".join(blocked_modules(SNOWFLAKE.layer_dirs))
    done = subprocess.run(
        [sys.executable, str(CHILD), "--cold-start", "--block", blocked, str(app)],
        input=json.dumps({}),
        capture_output=True,
        text=True,
        check=True,
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["connector_at_init"] is True
    assert report["errored"] is False, report["error"]
