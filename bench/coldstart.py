"""Cold start: each handler module's init (imports + module-level set-up) in a fresh interpreter.

Every sample is a new ``python bench/import_child.py`` process with the function's template
environment (bench.project.handler_env) and ``sys.path`` = its CodeUri + its layers' source, as
Lambda puts them first. Samples are interleaved (handler A, B, ..., ref 1, ref 2, then again) so
machine drift hits every module alike; the figure is the median. Goal: each handler <= 1.2x its
reference (the minimal powertools + pydantic + boto3 handler; + ``import snowflake.connector``
for the functions with the Snowflake layer).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from bench.project import ROOT, RUNTIME_ENV, Function, functions, handler_env
from bench.stats import median, ratio

CHILD = Path(__file__).with_name("import_child.py")
REFERENCE_DIR = Path(__file__).with_name("reference")
MINIMAL = "reference: powertools + pydantic + boto3"
MINIMAL_SNOWFLAKE = "reference: + snowflake.connector"
GOAL = 1.2


@dataclass
class Target:
    name: str
    file: Path
    paths: list[Path]
    env: dict[str, str]
    reference: str | None = None
    samples: list[float] = field(default_factory=list)
    connector_imported: bool = False

    @property
    def median(self) -> float:
        return median(self.samples)


def import_once(file: Path, paths: list[Path], env: dict[str, str]) -> dict[str, object]:
    """One fresh interpreter importing ``file``; the child's JSON report."""
    clean_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        **env,
    }
    done = subprocess.run(
        [sys.executable, str(CHILD), str(file), *map(str, paths)],
        env=clean_env,
        capture_output=True,
        text=True,
        check=False,
        cwd=str(ROOT),
    )
    if done.returncode != 0:
        raise RuntimeError(f"importing {file} failed:\n{done.stderr[-3000:]}")
    report: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


def targets(selected: list[Function] | None = None) -> list[Target]:
    found = [
        Target(MINIMAL, REFERENCE_DIR / "minimal.py", [], dict(RUNTIME_ENV)),
        Target(MINIMAL_SNOWFLAKE, REFERENCE_DIR / "minimal_snowflake.py", [], dict(RUNTIME_ENV)),
    ]
    for function in selected or functions():
        found.append(
            Target(
                function.logical_id,
                function.code_dir / "app.py",
                [function.code_dir, *function.layer_dirs],
                handler_env(function),
                reference=MINIMAL_SNOWFLAKE if function.uses_snowflake else MINIMAL,
            )
        )
    return found


def run(samples: int = 11, progress: bool = True) -> list[Target]:
    """``samples`` interleaved rounds over every handler and both references."""
    found = targets()
    for _ in range(2):  # warm-up: .pyc files written, page cache filled; not recorded
        for target in found:
            import_once(target.file, target.paths, target.env)
    for round_number in range(samples):
        for target in found:
            report = import_once(target.file, target.paths, target.env)
            target.samples.append(float(report["seconds"]))  # type: ignore[arg-type]
            target.connector_imported |= bool(report["snowflake_connector"])
        if progress:
            print(f"  cold start: round {round_number + 1}/{samples}", file=sys.stderr, flush=True)
    return found


def rows(found: list[Target]) -> list[dict[str, object]]:
    """One row per handler: median, its reference's median, the ratio, goal met."""
    by_name = {target.name: target for target in found}
    out: list[dict[str, object]] = []
    for target in found:
        if target.reference is None:
            continue
        reference = by_name[target.reference]
        value = ratio(target.median, reference.median)
        out.append(
            {
                "function": target.name,
                "median_ms": target.median * 1000,
                "reference": target.reference,
                "reference_ms": reference.median * 1000,
                "ratio": value,
                "met": value <= GOAL,
                "connector_at_import": target.connector_imported,
            }
        )
    return out
