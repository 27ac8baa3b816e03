"""What a function can import on Lambda, for the benchmarks' fresh interpreters.

Details: bench/README.md, "lambda_packages.py".
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
