"""The goals of `make bench` on injected measurements: each verdict flips when its figure regresses.

No timing here: the figures are given, as a regression would produce them.
"""

from __future__ import annotations

import math

import pytest

from bench import verdicts


def test_flat_memory_meets_the_goal_and_memory_that_grows_with_the_export_does_not() -> None:
    assert verdicts.memory_flatness([84.6, 84.7, 84.6, 84.7]).met
    # A handler that holds every export file: +10 MB a size step on an 85 MB process.
    grown = verdicts.memory_flatness([84.6, 86.0, 95.0, 130.0])
    assert not grown.met
    assert grown.value == pytest.approx(130.0 / 84.6)


def test_memory_needs_two_sizes() -> None:
    assert not verdicts.memory_flatness([84.6]).met
    assert not verdicts.memory_flatness([84.6, float("nan")]).met


def test_cold_start_ratio_flips_at_the_goal() -> None:
    assert verdicts.cold_start(1.19, 1.0, uses_snowflake=False, connector_loaded=False).met
    slow = verdicts.cold_start(1.25, 1.0, uses_snowflake=False, connector_loaded=False)
    assert not slow.met
    assert slow.value == pytest.approx(1.25)


def test_a_function_without_the_snowflake_layer_that_loads_the_driver_fails_whatever_the_ratio() -> None:
    verdict = verdicts.cold_start(1.0, 1.0, uses_snowflake=False, connector_loaded=True)
    assert not verdict.met
    assert "snowflake.connector" in verdict.why


def test_a_snowflake_function_may_load_the_driver() -> None:
    assert verdicts.cold_start(1.1, 1.0, uses_snowflake=True, connector_loaded=True).met


def test_fixed_cost_flips_above_two_and_a_half_seconds() -> None:
    assert verdicts.fixed_cost(2.5).met
    assert not verdicts.fixed_cost(2.51).met


def test_growth_no_steeper_than_the_export() -> None:
    # 1000x the export, 3x the loop's cost: met.
    assert verdicts.growth(2.0, 6.0, 10_000, 10_000_000).met
    # A loop whose cost grows faster than the data it moves (per-row or per-file work gone quadratic).
    steep = verdicts.growth(2.0, 2_500.0, 10_000, 10_000_000)
    assert not steep.met
    assert steep.value == pytest.approx(1.25)
    assert math.isnan(verdicts.growth(0.0, 1.0, 1, 2).value)


@pytest.mark.parametrize(
    ("goal", "emulator", "met"), [(1.1, 1.09, True), (1.1, 1.2, False), (1.3, 1.29, True)]
)
def test_job_overhead(goal: float, emulator: float, met: bool) -> None:
    assert verdicts.job_overhead(emulator, 1.0, goal).met is met


def test_emulator_overhead_flips_at_its_goal() -> None:
    assert verdicts.job_overhead(1.1, 1.0, verdicts.TRAINING_GOAL).met
    slow = verdicts.job_overhead(1.15, 1.0, verdicts.TRAINING_GOAL)
    assert not slow.met
    assert slow.value == pytest.approx(1.15)
    assert verdicts.job_overhead(1.3, 1.0, verdicts.TRANSFORM_GOAL).met
    assert not verdicts.job_overhead(1.35, 1.0, verdicts.TRANSFORM_GOAL).met


def test_a_function_whose_init_raised_fails_whatever_the_ratio() -> None:
    verdict = verdicts.cold_start(
        0.5, 1.0, uses_snowflake=False, connector_loaded=False, init_error="ModuleNotFoundError: snowflake"
    )
    assert not verdict.met
    assert verdict.why == "init failed: ModuleNotFoundError: snowflake"


def test_a_size_where_the_function_was_not_invoked_is_left_out_but_not_the_ends() -> None:
    """PublishModel runs only for a promoted model: a size without it does not void the check."""
    assert verdicts.memory_flatness([84.6, float("nan"), 84.7, 84.8]).met
    assert not verdicts.memory_flatness([84.6, float("nan"), 84.7, 130.0]).met
    assert not verdicts.memory_flatness([float("nan"), 84.7, 84.8]).met
