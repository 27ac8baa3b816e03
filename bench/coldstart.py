"""Cold start: each function's init (imports + module-level set-up) plus its first invocation.

Details: bench/README.md, "coldstart.py".
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import lambda_packages, verdicts
from bench.stats import median
from tooling.lambda_functions import ROOT, Function, clean_env, functions

REPLAY_CHILD = Path(__file__).with_name("replay_child.py")
REFERENCE_DIR = Path(__file__).with_name("reference")
MINIMAL = "reference: powertools + pydantic + boto3"
MINIMAL_SNOWFLAKE = "reference: + snowflake.connector + connect"
REFERENCE_EVENT: dict[str, Any] = {"execution_name": "bench-cold-start"}
GOAL = verdicts.COLD_START_GOAL
# One unrecorded round first: it writes the .pyc files and fills the page cache for every target.
WARMUP_ROUNDS = 1
# Recorded rounds: the document prints each target's spread (how far one sample strays); the median
# of 7 strays less. More samples (--samples) for a machine busier than that spread allows.
DEFAULT_SAMPLES = 7
MIN_SAMPLES = 5


@dataclass(frozen=True)
class Sample:
    """One fresh interpreter: init, first invocation, and whether the driver was loaded."""

    init_seconds: float
    call_seconds: float
    connector_at_init: bool
    connector_loaded: bool
    error: str | None = None
    init_cpu_seconds: float = 0.0
    call_cpu_seconds: float = 0.0
    init_error: str | None = None  # the module did not import (its handler was not called)

    @property
    def seconds(self) -> float:
        return self.init_seconds + self.call_seconds

    @property
    def cpu_seconds(self) -> float:
        return self.init_cpu_seconds + self.call_cpu_seconds

    @classmethod
    def from_report(cls, report: dict[str, Any]) -> Sample:
        return cls(
            init_seconds=float(report["init_seconds"]),
            call_seconds=float(report["call_seconds"]),
            init_cpu_seconds=float(report["init_cpu_seconds"]),
            call_cpu_seconds=float(report["call_cpu_seconds"]),
            init_error=report.get("init_error"),
            connector_at_init=bool(report["connector_at_init"]),
            connector_loaded=bool(report["connector_loaded"]),
            error=report.get("error"),
        )


@dataclass
class Target:
    name: str
    file: Path
    paths: list[Path]
    env: dict[str, str]
    event: dict[str, Any]
    reference: str | None = None
    uses_snowflake: bool = False
    samples: list[Sample] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)

    @property
    def median(self) -> float:
        """Wall time, init + first call."""
        return median([sample.seconds for sample in self.samples])

    @property
    def cpu_median(self) -> float:
        """CPU time, init + first call (the verdict's figure)."""
        return median([sample.cpu_seconds for sample in self.samples])

    @property
    def init_cpu_median(self) -> float:
        return median([sample.init_cpu_seconds for sample in self.samples])

    @property
    def call_cpu_median(self) -> float:
        return median([sample.call_cpu_seconds for sample in self.samples])

    @property
    def cpu_spread(self) -> float:
        """(largest - smallest) / median of the samples' CPU times: how far one sample strays."""
        values = [sample.cpu_seconds for sample in self.samples]
        return (max(values) - min(values)) / self.cpu_median if values and self.cpu_median else 0.0

    @property
    def init_median(self) -> float:
        return median([sample.init_seconds for sample in self.samples])

    @property
    def call_median(self) -> float:
        return median([sample.call_seconds for sample in self.samples])

    @property
    def connector_at_init(self) -> bool:
        return any(sample.connector_at_init for sample in self.samples)

    @property
    def connector_loaded(self) -> bool:
        return any(sample.connector_loaded for sample in self.samples)

    @property
    def init_error(self) -> str | None:
        return next((sample.init_error for sample in self.samples if sample.init_error), None)

    @property
    def errors(self) -> list[str]:
        return sorted({sample.error for sample in self.samples if sample.error})


def measure_once(
    file: Path,
    paths: list[Path],
    env: dict[str, str],
    event: dict[str, Any],
    blocked: list[str] | None = None,
) -> Sample:
    """One fresh interpreter: import ``file`` (init), call its handler once with ``event``; the
    ``blocked`` top-level modules cannot be imported (not on the function's Lambda)."""
    block = ["--block", ",".join(blocked)] if blocked else []
    done = subprocess.run(
        [sys.executable, str(REPLAY_CHILD), "--cold-start", *block, str(file), *map(str, paths)],
        input=json.dumps(event),
        env=clean_env(env),
        capture_output=True,
        text=True,
        check=False,
        cwd=str(ROOT),
        timeout=600,
    )
    if done.returncode != 0:
        raise RuntimeError(f"cold start of {file} failed:\n{done.stderr[-3000:]}")
    return Sample.from_report(json.loads(done.stdout.strip().splitlines()[-1]))


def targets(
    events: dict[str, dict[str, Any]],
    environments: dict[str, dict[str, str]],
    selected: list[Function] | None = None,
) -> list[Target]:
    """Both references and every function that has an event (by logical id).

    ``environments`` maps logical ids to the function's environment (the sandbox's deployment);
    the references take a function's: the minimal one a function without the Snowflake layer's,
    the Snowflake one a Snowflake function's (its settings and secret).
    """
    chosen = [function for function in (selected or functions()) if function.logical_id in events]
    plain = next(f for f in chosen if not f.uses_snowflake)
    snowflake = next(f for f in chosen if f.uses_snowflake)
    found = [
        Target(
            MINIMAL,
            REFERENCE_DIR / "minimal.py",
            [],
            dict(environments[plain.logical_id]),
            REFERENCE_EVENT,
            blocked=lambda_packages.blocked_modules(plain.layer_dirs),
        ),
        Target(
            MINIMAL_SNOWFLAKE,
            REFERENCE_DIR / "minimal_snowflake.py",
            [],
            dict(environments[snowflake.logical_id]),
            REFERENCE_EVENT,
            uses_snowflake=True,
            blocked=lambda_packages.blocked_modules(snowflake.layer_dirs),
        ),
    ]
    for function in chosen:
        found.append(
            Target(
                function.logical_id,
                function.code_dir / "app.py",
                [function.code_dir, *function.layer_dirs],
                environments[function.logical_id],
                events[function.logical_id],
                reference=MINIMAL_SNOWFLAKE if function.uses_snowflake else MINIMAL,
                uses_snowflake=function.uses_snowflake,
                blocked=lambda_packages.blocked_modules(function.layer_dirs),
            )
        )
    return found


def measure_target(target: Target) -> Sample:
    return measure_once(target.file, target.paths, target.env, target.event, target.blocked)


def sample_rounds(
    found: list[Target],
    samples: int,
    warmups: int = WARMUP_ROUNDS,
    measure: Callable[[Target], Sample] = measure_target,
    progress: bool = True,
) -> list[Target]:
    """``samples`` interleaved rounds over every target (after ``warmups`` unrecorded rounds:
    .pyc files written, page cache filled)."""
    for _ in range(warmups):
        for target in found:
            measure(target)
    for round_number in range(samples):
        for target in found:
            target.samples.append(measure(target))
        if progress:
            print(f"  cold start: round {round_number + 1}/{samples}", file=sys.stderr, flush=True)
    return found


def run(samples: int = DEFAULT_SAMPLES, progress: bool = True) -> list[Target]:
    """Record every function's first event in a sandbox, then sample init + first invocation."""
    from bench.sandbox_bench import first_events

    with first_events() as (events, environments):
        return sample_rounds(targets(events, environments), samples, progress=progress)


def rows(found: list[Target]) -> list[dict[str, object]]:
    """One row per function: medians, its reference's, the verdict."""
    by_name = {target.name: target for target in found}
    out: list[dict[str, object]] = []
    for target in found:
        if target.reference is None:
            continue
        reference = by_name[target.reference]
        verdict = verdicts.cold_start(
            target.cpu_median,
            reference.cpu_median,
            uses_snowflake=target.uses_snowflake,
            connector_loaded=target.connector_loaded,
            init_error=target.init_error,
        )
        out.append(
            {
                "function": target.name,
                "init_cpu_ms": target.init_cpu_median * 1000,
                "call_cpu_ms": target.call_cpu_median * 1000,
                "cpu_ms": target.cpu_median * 1000,
                "spread": target.cpu_spread,
                "reference": target.reference,
                "reference_cpu_ms": reference.cpu_median * 1000,
                "wall_ms": target.median * 1000,
                "reference_wall_ms": reference.median * 1000,
                "ratio": verdict.value,
                "met": verdict.met,
                "why": verdict.why,
                "connector_at_init": target.connector_at_init,
                "connector_loaded": target.connector_loaded,
                "errors": target.errors,
            }
        )
    return out
