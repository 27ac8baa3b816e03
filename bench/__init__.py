"""Snowsage benchmarks: ``make bench`` (``python -m bench``) writes docs/benchmarks.md.

Every goal is a ratio of two things measured side by side in the same run (the machine is
shared and noisy); nothing here is a timed assertion in a test.
"""

import sys
from pathlib import Path

# `make bench` runs `python -m bench` without PYTHONPATH: the layer source (snowsage), which the
# sandbox imports, goes on sys.path as the tests' pythonpath setting puts it.
_LAYER = str(Path(__file__).resolve().parent.parent / "layers" / "common")
if _LAYER not in sys.path:
    sys.path.insert(0, _LAYER)
