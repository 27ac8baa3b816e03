"""The campaign's report: runs, faults by kind and state, retries, outcomes, violations, time."""

from __future__ import annotations

import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sandbox.chaos.invariants import Violation
from sandbox.chaos.plan import DEFAULT_DATASETS, KINDS

if TYPE_CHECKING:
    from sandbox.chaos.campaign import RunOutcome


def current_commit() -> str | None:
    """The checkout's commit, read as the campaign starts (None outside a git checkout)."""
    try:
        found = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607 (git on PATH, no input)
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parent,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return found.stdout.strip() or None


@dataclass
class Report:
    seed: int
    runs: list[RunOutcome]
    final: list[Violation] = field(default_factory=list)
    seconds: float = 0.0
    concurrency: int = 1
    datasets: list[str] = field(default_factory=list)
    planned: int = 0  # the campaign's --runs (a replay of one run still names it)
    commit: str | None = None
    replayed: bool = False  # one run of the plan (--only-run), not the whole campaign

    @property
    def violations(self) -> list[Violation]:
        return [v for run in self.runs for v in run.violations] + self.final

    def replay(self, run: int | None) -> str:
        """The run's plan alone; a finding that needs its neighbours needs the whole campaign."""
        base = f"python -m sandbox chaos --seed {self.seed}"
        if tuple(self.datasets) != DEFAULT_DATASETS:
            base += f" --datasets {' '.join(self.datasets)}"
        whole = f"{base} --runs {self.planned or len(self.runs)} --concurrency {self.concurrency}"
        if run is None:
            return whole
        if self.replayed:
            return f"{base} --only-run {run}"
        return f"{base} --only-run {run} (or the whole campaign: {whole})"

    def as_json(self) -> dict[str, Any]:
        fired = Counter[str]()
        planned = Counter[str]()
        by_state = Counter[str]()
        for run in self.runs:
            for kind, state, times in run.fired:
                planned[kind] += 1
                if times:
                    fired[kind] += 1
                    by_state[f"{kind} @ {state}"] += 1
        return {
            "seed": self.seed,
            "commit": self.commit,
            "runs": len(self.runs),
            "concurrency": self.concurrency,
            "datasets": self.datasets,
            "seconds": round(self.seconds, 1),
            "outcomes": dict(Counter(run.outcome for run in self.runs)),
            "reruns": sum(run.plan.rerun for run in self.runs),
            "faults_planned": dict(planned),
            "faults_injected": dict(fired),
            "faults_by_state": dict(sorted(by_state.items())),
            "kinds_never_injected": [kind for kind in KINDS if not fired[kind]],
            "failed_attempts": sum(run.failed_attempts for run in self.runs),
            "retries": sum(run.retries for run in self.runs),
            "failed_states": dict(Counter(run.failed_state for run in self.runs if run.failed_state)),
            "violations": [
                {"invariant": v.invariant, "run": v.run, "message": v.message, "replay": self.replay(v.run)}
                for v in self.violations
            ],
        }

    def text(self) -> str:
        document = self.as_json()
        lines = [
            f"Chaos campaign: seed {self.seed}, {document['runs']} runs, {self.concurrency} at a time,"
            f" {document['seconds']} s (commit {document['commit']})",
            f"Outcomes      {document['outcomes']}  (+{document['reruns']} hand re-runs)",
            f"Retries       {document['retries']} of {document['failed_attempts']} failed attempts",
            "Faults injected (planned):",
        ]
        injected, planned = document["faults_injected"], document["faults_planned"]
        lines += [f"  {kind:<28} {injected.get(kind, 0):4d} ({planned.get(kind, 0)})" for kind in KINDS]
        lines.append(f"Violations    {len(document['violations'])}")
        lines += [
            f"  invariant {v['invariant']} run {v['run']}: {v['message']}\n    replay: {v['replay']}"
            for v in document["violations"]
        ]
        return "\n".join(lines)
