"""The goals of `make bench` as pure functions of measured figures: one verdict per check.

Kept apart from the measuring code so that tests can feed them injected measurements (a
regression that must flip a verdict) without timing anything.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

MEMORY_GOAL = 1.1  # largest / smallest peak RSS per function over the export sizes
COLD_START_GOAL = 1.2  # handler (init + first invocation) / its reference
FIXED_COST_GOAL_SECONDS = 2.5  # the loop's own cost at the smallest size, on 2 cores
TRAINING_GOAL = 1.1  # emulator job / bare equivalent, same wall clock
TRANSFORM_GOAL = 1.3


@dataclass(frozen=True)
class Verdict:
    value: float
    met: bool
    why: str = ""


def memory_flatness(peaks_mb: Sequence[float]) -> Verdict:
    """Peak RSS over growing exports: largest / smallest <= MEMORY_GOAL.

    NaN marks a size at which the function was not invoked (PublishModel runs only for a promoted
    model): the verdict is over the other sizes, which must include the smallest and the largest."""
    if len(peaks_mb) < 2 or math.isnan(peaks_mb[0]) or math.isnan(peaks_mb[-1]):
        return Verdict(float("nan"), False, "not measured at both the smallest and the largest size")
    measured = [peak for peak in peaks_mb if not math.isnan(peak)]
    if any(peak <= 0 for peak in measured):
        return Verdict(float("nan"), False, "a peak of 0 MB")
    value = max(measured) / min(measured)
    return Verdict(value, value <= MEMORY_GOAL)


def cold_start(
    handler_seconds: float,
    reference_seconds: float,
    *,
    uses_snowflake: bool,
    connector_loaded: bool,
    init_error: str | None = None,
) -> Verdict:
    """Init + first invocation against the reference's; a function without the Snowflake layer
    that loads the driver at all fails, whatever the ratio (its reference never pays for it), and
    so does one whose init raised: in the bench a function sees only its Lambda packages, so a
    function without the Snowflake layer that imports the driver at init fails to import there."""
    value = handler_seconds / reference_seconds if reference_seconds > 0 else float("inf")
    if init_error:
        return Verdict(value, False, f"init failed: {init_error}")
    if connector_loaded and not uses_snowflake:
        return Verdict(value, False, "loads snowflake.connector without the Snowflake layer")
    return Verdict(value, value <= COLD_START_GOAL)


def fixed_cost(other_seconds: float) -> Verdict:
    """The loop's own cost (run wall time minus training and transform compute) at the smallest size."""
    return Verdict(other_seconds, other_seconds <= FIXED_COST_GOAL_SECONDS)


def growth(
    smallest_seconds: float, largest_seconds: float, smallest_bytes: int, largest_bytes: int
) -> Verdict:
    """The loop's own cost may grow from the smallest to the largest size, but no faster than the
    export itself: cost growth <= export-size growth. The value is their quotient (goal <= 1)."""
    if smallest_seconds <= 0 or smallest_bytes <= 0:
        return Verdict(float("nan"), False, "nothing measured at the smallest size")
    cost_growth = largest_seconds / smallest_seconds
    size_growth = largest_bytes / smallest_bytes
    value = cost_growth / size_growth
    return Verdict(value, value <= 1.0, f"cost x{cost_growth:.2f}, export x{size_growth:.0f}")


def job_overhead(emulator_seconds: float, bare_seconds: float, goal: float) -> Verdict:
    value = emulator_seconds / bare_seconds if bare_seconds > 0 else float("inf")
    return Verdict(value, value <= goal)
