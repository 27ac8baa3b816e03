"""What pulled in what in an installed tree (``pip install --target``): sizes by requirement.

Reads the ``*.dist-info`` of the tree: each distribution's files (RECORD, plus the bytecode that
compileall wrote next to them) and its dependencies (Requires-Dist, markers evaluated for this
interpreter, extras followed as requested). Every distribution is attributed to the first
top-level requirement, in the order given, whose dependency closure reaches it, with the chain
that brought it in (``sagemaker -> sagemaker-mlops -> mlflow``).
"""

from __future__ import annotations

import csv
from collections import deque
from dataclasses import dataclass, field
from email.parser import Parser
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name


@dataclass
class Dist:
    name: str
    version: str
    size: int
    requires: list[Requirement] = field(default_factory=list)


@dataclass(frozen=True)
class Pulled:
    name: str
    version: str
    size: int
    chain: tuple[str, ...]  # top-level requirement first, this distribution last


def _files_size(root: Path, info: Path) -> int:
    record = info / "RECORD"
    if not record.exists():
        return 0
    total = 0
    with record.open(newline="", encoding="utf-8") as handle:
        for row in csv.reader(handle):
            if not row:
                continue
            path = (root / row[0]).resolve()
            if not path.is_file():
                continue
            total += path.stat().st_size
            if path.suffix == ".py":
                for compiled in (path.parent / "__pycache__").glob(f"{path.stem}.*.pyc"):
                    total += compiled.stat().st_size
    return total


def read_tree(root: Path) -> dict[str, Dist]:
    """Every distribution installed under ``root``, by canonical name."""
    found: dict[str, Dist] = {}
    for info in sorted(root.glob("*.dist-info")):
        metadata = Parser().parsestr((info / "METADATA").read_text(encoding="utf-8", errors="replace"))
        name = canonicalize_name(str(metadata["Name"]))
        found[name] = Dist(
            name=name,
            version=str(metadata["Version"]),
            size=_files_size(root, info),
            requires=[Requirement(text) for text in metadata.get_all("Requires-Dist") or []],
        )
    return found


def _wanted(requirement: Requirement, extras: set[str]) -> bool:
    if requirement.marker is None:
        return True
    return any(requirement.marker.evaluate({"extra": extra}) for extra in (extras or {""}))


def attribute(tree: dict[str, Dist], top_level: list[str]) -> dict[str, list[Pulled]]:
    """For each top-level requirement (as written: ``pkg[extra]==1.0``), the distributions it
    brought in first, largest first."""
    claimed: set[str] = set()
    out: dict[str, list[Pulled]] = {}
    for text in top_level:
        root_requirement = Requirement(text)
        start = canonicalize_name(root_requirement.name)
        pulled: list[Pulled] = []
        queue: deque[tuple[str, set[str], tuple[str, ...]]] = deque(
            [(start, set(root_requirement.extras), (start,))]
        )
        seen: set[str] = set()
        while queue:
            name, extras, chain = queue.popleft()
            if name in seen or name not in tree:
                continue
            seen.add(name)
            dist = tree[name]
            if name not in claimed:
                claimed.add(name)
                pulled.append(Pulled(name, dist.version, dist.size, chain))
            for requirement in dist.requires:
                if _wanted(requirement, extras):
                    child = canonicalize_name(requirement.name)
                    queue.append((child, set(requirement.extras), (*chain, child)))
        out[text] = sorted(pulled, key=lambda item: item.size, reverse=True)
    return out
