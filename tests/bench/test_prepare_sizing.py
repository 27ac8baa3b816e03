"""bench/prepare_sizing.py's model and its block in docs/benchmarks.md (no sandbox, no timing)."""

from __future__ import annotations

from bench import prepare_sizing as sizing


def test_the_fit_is_the_line_through_the_smallest_and_largest_sample() -> None:
    samples = [sizing.Sample(1000, 0.3, 1.0, 70.0), sizing.Sample(5000, 1.1, 5.0, 72.0)]
    fixed, per_file = sizing.fit(samples)
    assert round(per_file, 6) == 0.0002 and round(fixed, 6) == 0.1


def test_a_larger_memory_size_holds_a_larger_export() -> None:
    small = sizing.largest_export(256, 60, 0.2, 0.00015)
    large = sizing.largest_export(1024, 60, 0.2, 0.00015)
    assert 0 < small < large
    # the estimate doubled fits the timeout at the largest, not 1,000 files more
    assert sizing.estimate_seconds(large, 1024, 0.2, 0.00015) * sizing.SAFETY <= 60
    assert sizing.estimate_seconds(large + 1000, 1024, 0.2, 0.00015) * sizing.SAFETY > 60


def test_make_bench_keeps_the_measured_block() -> None:
    block = f"{sizing.BEGIN}\nmeasured\n{sizing.END}"
    old = f"# Benchmarks\n\n## 1. x\n\n{sizing.HEADING}\n\n{block}\n"
    kept = sizing.keep_block(old, "# Benchmarks\n\n## 1. y\n")
    assert kept.endswith(f"{sizing.HEADING}\n\n{block}\n") and "## 1. y" in kept
    assert sizing.keep_block("# no block\n", "# new\n") == "# new\n"
