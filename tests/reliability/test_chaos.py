"""The seeded chaos campaign (sandbox/chaos, docs/reliability.md "Chaos campaign"): twenty runs
under random faults keep every invariant, and a loader broken on purpose is caught, naming the seed
and the run that reproduce it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from snowflake.connector.cursor import SnowflakeCursor

from sandbox.chaos.campaign import run_campaign
from sandbox.chaos.plan import DEFAULT_DATASETS, plan_run
from sandbox.services import Sandbox

pytestmark = pytest.mark.e2e

SEED = 28
RUNS = 20
BROKEN_SEED = 5


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    """The campaign brings its own datasets: no sample data."""
    with Sandbox() as sandbox:
        yield sandbox


def test_a_seeded_campaign_of_twenty_runs_keeps_every_invariant(sb: Sandbox) -> None:
    report = run_campaign(sb, seed=SEED, runs=RUNS, datasets=DEFAULT_DATASETS, concurrency=2)
    document = report.as_json()

    assert document["violations"] == [], report.text()
    # The campaign did what it says: faults injected, runs retried, survived and failed.
    assert sum(document["faults_injected"].values()) >= RUNS // 2, document
    assert document["retries"] > 0
    assert {"SUCCEEDED", "FAILED"} <= set(document["outcomes"]), document["outcomes"]


def _a_clean_rerun(seed: int) -> int:
    """The first run of the seed's plan that re-runs its export by hand and has no fault."""
    return next(
        number
        for number in range(1, 200)
        if (plan := plan_run(seed, number, ("binary",))).rerun and not plan.faults
    )


def test_a_loader_that_loads_an_export_twice_is_caught_with_the_run_that_reproduces_it(
    sb: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Broken on purpose: LoadPredictions no longer deletes the export's earlier rows, so the
    # hand re-run of an export adds a second copy instead of replacing the first.
    function = sb.deployed.functions["LoadPredictionsFunction"]
    original = SnowflakeCursor.execute

    def execute(cursor: Any, command: str, *args: Any, **kwargs: Any) -> Any:
        if os.environ.get("AWS_LAMBDA_FUNCTION_NAME") == function and command.startswith("DELETE"):
            return cursor
        return original(cursor, command, *args, **kwargs)

    monkeypatch.setattr(SnowflakeCursor, "execute", execute)
    run = _a_clean_rerun(BROKEN_SEED)

    report = run_campaign(sb, seed=BROKEN_SEED, runs=run, datasets=("binary",), only_run=run)

    found = report.as_json()["violations"]
    assert {violation["invariant"] for violation in found} == {1, 2}, report.text()
    assert all(violation["run"] == run for violation in found)
    replay = f"--seed {BROKEN_SEED} --datasets binary --only-run {run}"
    assert all(replay in violation["replay"] for violation in found)
