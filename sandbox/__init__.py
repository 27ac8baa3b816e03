"""The local sandbox: AWS (moto), Snowflake (fakesnow) and SageMaker (an emulator) on loopback.

The handlers import the shared core from the common layer (``layers/common``), which Lambda
mounts under /opt/python; the sandbox puts the same folder on the path, as `sam local` does.
"""

import sys
from pathlib import Path

_COMMON_LAYER = str(Path(__file__).resolve().parent.parent / "layers" / "common")
if _COMMON_LAYER not in sys.path:
    sys.path.append(_COMMON_LAYER)
