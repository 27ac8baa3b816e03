"""What a function can import on Lambda, for the benchmarks' fresh interpreters.

The bench replays each handler with the dev venv's interpreter, whose site-packages hold far more
than a function gets on Lambda: the python3.12 runtime ships boto3 and its dependency tree
(``RUNTIME_PROVIDED``, as layers/Makefile and tests/template/test_layer_requirements.py have it),
and the function's layers add exactly their pinned ``requirements.txt`` (installed ``--no-deps``).
Libraries import some packages only when present: ``snowflake.connector`` imports pandas and
pyarrow (``options.py``), botocore imports awscrt and pyOpenSSL. In the dev venv a cold start would
pay for those imports and a replay would hold them in memory, neither of which happens on Lambda.

``blocked_modules`` names every top-level module installed in this venv that neither the runtime
nor the function's layers provide; ``bench/replay_child.py --block`` makes importing them fail as
on Lambda (the libraries fall back to what they do without them). The references are given the
set of the functions they stand for.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache
from importlib import metadata
from pathlib import Path

# The Lambda python3.12 runtime's own packages (boto3 and its dependency tree).
RUNTIME_PROVIDED = frozenset(
    ("boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3")
)
_PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*==")


def canonical(name: str) -> str:
    """PEP 503 normalised distribution name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned(requirements: Path) -> set[str]:
    """The distributions a layer's ``requirements.txt`` pins (``name==version`` lines)."""
    found = set()
    for line in requirements.read_text(encoding="utf-8").splitlines():
        match = _PIN.match(line.split("#", 1)[0])
        if match:
            found.add(canonical(match.group(1)))
    return found


@cache
def _installed() -> dict[str, frozenset[str]]:
    """Top-level module -> the distributions of this venv that install it."""
    return {
        module: frozenset(canonical(name) for name in names)
        for module, names in metadata.packages_distributions().items()
    }


def blocked_modules(layer_dirs: Iterable[Path]) -> list[str]:
    """Top-level modules of this venv that a function with these layers cannot import on Lambda."""
    available = {canonical(name) for name in RUNTIME_PROVIDED}
    for folder in layer_dirs:
        requirements = Path(folder) / "requirements.txt"
        if requirements.exists():
            available |= pinned(requirements)
    return sorted(module for module, names in _installed().items() if not names & available)
