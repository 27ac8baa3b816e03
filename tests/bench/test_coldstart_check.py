"""The cold-start check measured for real on a tiny input: a function without the Snowflake layer
that imports the driver at init fails it.

One fresh interpreter per handler (bench/replay_child.py --cold-start, as `make bench` runs it),
with an event the handler rejects before any AWS call, so nothing here needs a sandbox. The verdict
does not depend on how long the samples took: the injected handler's sample reports the driver
loaded at init, and a function without the Snowflake layer that loads it fails whatever its ratio
(both sides are given the same time, ratio 1.0).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import coldstart, lambda_packages, verdicts
from tooling.lambda_functions import Function, functions, handler_env

PLAIN = next(f for f in functions() if not f.uses_snowflake and f.logical_id == "SelectModelFunction")
REJECTED_EVENT = {"not": "a SelectModel request"}


def measure(function: Function, app: Path) -> coldstart.Sample:
    paths = [function.code_dir, *function.layer_dirs]
    env = {**handler_env(function), "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}
    return coldstart.measure_once(app, paths, env, REJECTED_EVENT)


def verdict_for(sample: coldstart.Sample) -> verdicts.Verdict:
    return verdicts.cold_start(
        sample.seconds, sample.seconds, uses_snowflake=False, connector_loaded=sample.connector_loaded
    )


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> tuple[coldstart.Sample, coldstart.Sample]:
    original = PLAIN.code_dir / "app.py"
    injected = tmp_path_factory.mktemp("injected") / "app.py"
    source = original.read_text(encoding="utf-8")
    injected.write_text("import snowflake.connector  # the regression\n" + source, encoding="utf-8")
    return measure(PLAIN, original), measure(PLAIN, injected)


def test_the_handler_as_shipped_meets_the_check(samples: tuple[coldstart.Sample, coldstart.Sample]) -> None:
    shipped, _ = samples
    assert shipped.error, "the event must be rejected (no AWS call in this test)"
    assert not shipped.connector_loaded
    assert verdict_for(shipped).met


def test_importing_the_driver_at_init_fails_the_check(
    samples: tuple[coldstart.Sample, coldstart.Sample],
) -> None:
    _, injected = samples
    assert injected.connector_at_init and injected.connector_loaded
    verdict = verdict_for(injected)
    assert not verdict.met
    assert "snowflake.connector" in verdict.why


def test_with_only_its_lambda_packages_the_injected_handler_fails_to_initialise(tmp_path: Path) -> None:
    """As `make bench` runs it: the function sees only its runtime's and layers' packages, so the
    driver import at init raises (as on Lambda, which has no driver for it) and the check fails."""
    injected = tmp_path / "app.py"
    source = (PLAIN.code_dir / "app.py").read_text(encoding="utf-8")
    injected.write_text("import snowflake.connector  # the regression\n" + source, encoding="utf-8")
    paths = [PLAIN.code_dir, *PLAIN.layer_dirs]
    env = {**handler_env(PLAIN), "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}
    blocked = lambda_packages.blocked_modules(PLAIN.layer_dirs)
    sample = coldstart.measure_once(injected, paths, env, REJECTED_EVENT, blocked)
    assert sample.init_error and "snowflake" in sample.init_error
    shipped = coldstart.measure_once(PLAIN.code_dir / "app.py", paths, env, REJECTED_EVENT, blocked)
    assert shipped.init_error is None
    verdict = verdicts.cold_start(
        sample.cpu_seconds,
        sample.cpu_seconds,
        uses_snowflake=False,
        connector_loaded=sample.connector_loaded,
        init_error=sample.init_error,
    )
    assert not verdict.met
    assert verdict.why.startswith("init failed")


def test_the_row_of_the_report_carries_the_verdict(
    samples: tuple[coldstart.Sample, coldstart.Sample],
) -> None:
    shipped, injected = samples
    reference = coldstart.Target(coldstart.MINIMAL, Path("minimal.py"), [], {}, {}, samples=[shipped])
    handler = coldstart.Target(
        PLAIN.logical_id, Path("app.py"), [], {}, {}, reference=coldstart.MINIMAL, samples=[injected]
    )
    (row,) = coldstart.rows([reference, handler])
    assert row["met"] is False
    assert row["connector_at_init"] is True
