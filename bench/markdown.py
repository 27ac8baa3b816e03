"""docs/benchmarks.md: machine, commands and one table per benchmark (goal, figure, met?)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = (
    "boto3",
    "botocore",
    "aws-lambda-powertools",
    "pydantic",
    "snowflake-connector-python",
    "xgboost",
    "numpy",
    "pyarrow",
    "moto",
    "fakesnow",
    "duckdb",
    "aws-sam-cli",
)


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return lines


def met(flag: bool) -> str:
    return "met" if flag else "**not met**"


def memory_total() -> str:
    try:
        with open("/proc/meminfo", encoding="ascii") as info:
            for line in info:
                if line.startswith("MemTotal:"):
                    return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load_average() -> str:
    try:
        return ", ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "unknown"


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], capture_output=True, text=True, check=True, cwd=ROOT)
    return done.stdout


def git_commit() -> str:
    """The tree's HEAD (short hash), and "dirty" with the count of changed paths when it has any."""
    try:
        commit = _git("rev-parse", "--short", "HEAD").strip()
        changed = [line for line in _git("status", "--porcelain").splitlines() if line.strip()]
    except (OSError, subprocess.CalledProcessError):
        return "unknown commit"
    if changed:
        return f"commit {commit}, working tree dirty: {len(changed)} changed or untracked paths"
    return f"commit {commit}, clean working tree"


def machine_section(started: datetime, load_at_start: str) -> list[str]:
    versions = []
    for package in PACKAGES:
        try:
            versions.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            continue
    return [
        f"- Date: {started:%Y-%m-%d %H:%M} UTC ({git_commit()})",
        f"- Machine: {os.cpu_count()} CPUs (nproc), {cpu_model()}, {memory_total()} memory,"
        f" {platform.system()} {platform.release()} {platform.machine()}",
        f"- Load average at start: {load_at_start} (a shared machine: every goal is a ratio of figures"
        " measured side by side in this one run)",
        f"- Python {platform.python_version()} ({sys.executable})",
        "- Packages: " + ", ".join(versions),
    ]


def now() -> datetime:
    return datetime.now(UTC)
