"""The local sandbox: one room per stand-in, and what ties them together.

``sandbox.aws`` (moto, the template deployed into it, the Lambda runtime, executions),
``sandbox.snowflake`` (fakesnow over HTTP, the setup SQL, EXPORT_DATASET) and
``sandbox.sagemaker`` (the emulator that trains with the real xgboost). At the top: the CLI
(``python -m sandbox``), ``services.Sandbox`` (every stand-in started and the stack deployed),
``pipeline_run`` (one export through the whole loop), the sample data, the reports.
"""

import sys
from pathlib import Path

_COMMON_LAYER = str(Path(__file__).resolve().parent.parent / "layers" / "common")
if _COMMON_LAYER not in sys.path:
    sys.path.append(_COMMON_LAYER)
