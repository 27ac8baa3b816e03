"""The generated document's sandbox sections, from injected figures: the scale goals are
printed with their verdicts, and a regression flips them. No sandbox, no timing."""

from __future__ import annotations

import re

from bench import earlier
from bench.__main__ import e2e_section, memory_section, payload_section
from bench.sandbox_bench import PayloadFigures, Replay, RunFigures, SandboxResults
from tests.bench.tables import table_rows


def run(transactions: int, other: float, *, export_bytes: int, peak_mb: float = 90.0) -> RunFigures:
    figures = RunFigures(
        transactions=transactions,
        status="SUCCEEDED",
        rows_scored=transactions // 250,
        wall_seconds=other + 1.0,
        execution_seconds=other,
        training_compute=0.9,
        transform_compute=0.1,
        training_timings={},
        transform_timings={},
        cost=None,
        transitions=15,
        training_job="t",
        transform_job="s",
        files=max(3, export_bytes // 25_000),
        export_bytes=export_bytes,
        manifest_bytes=1_500,
        export_seconds=0.3,
        state_seconds={"PrepareRun": 0.1, "Train": 0.2, "LoadPredictions": 0.5},
    )
    figures.replays.append(Replay("PrepareRunFunction", transactions, peak_mb, 80.0, 400, 0.1, False, None))
    return figures


def results(small_other: float, large_other: float, large_peak: float = 90.0) -> SandboxResults:
    return SandboxResults(
        runs=[
            run(10_000, small_other, export_bytes=5_000),
            run(10_000_000, large_other, export_bytes=5_000_000, peak_mb=large_peak),
        ]
    )


def goal_rows(lines: list[str]) -> dict[str, str]:
    """check label prefix ("(a)", "(b)") -> its met? cell."""
    return {
        match.group(1): row["met?"]
        for row in table_rows(lines)
        if "met?" in row and (match := re.match(r"\((a|b)\) ", next(iter(row.values()))))
    }


def test_fixed_cost_and_growth_met() -> None:
    assert goal_rows(e2e_section(results(2.0, 6.0), [10_000_000])) == {"a": "met", "b": "met"}


def test_a_slow_loop_fails_the_fixed_cost() -> None:
    assert goal_rows(e2e_section(results(3.0, 6.0), [10_000_000]))["a"] == "**not met**"


def test_a_loop_that_grows_faster_than_the_export_fails_the_growth() -> None:
    assert goal_rows(e2e_section(results(2.0, 2_500.0), [10_000_000]))["b"] == "**not met**"


def test_the_per_state_table_lists_each_state_and_the_export() -> None:
    text = "\n".join(e2e_section(results(2.0, 6.0), [10_000_000]))
    first_cells = {next(iter(row.values())) for row in table_rows(text)}
    assert {"export (EXPORT_DATASET to S3)", "state PrepareRun", "state LoadPredictions"} <= first_cells
    assert "15 %" not in text


def test_memory_that_grows_with_the_export_fails_in_the_document() -> None:
    flat = "\n".join(memory_section(results(2.0, 6.0), [10_000, 10_000_000]))
    grown = "\n".join(memory_section(results(2.0, 6.0, large_peak=130.0), [10_000, 10_000_000]))
    assert re.search(r"\| PrepareRunFunction \|.*\| met \|", flat)
    assert re.search(r"\| PrepareRunFunction \|.*\| \*\*not met\*\* \|", grown)


def test_figures_not_measured_are_printed_only_under_the_marked_line() -> None:
    figures = SandboxResults(
        payloads=[
            PayloadFigures(n, {"train": 1, "validation": 1, "score": n}, 1_000, "SUCCEEDED", 5_000, "x", 1.0)
            for n in (1, 100, 1000)
        ],
        payload_merchants=556,
    )
    lines = payload_section(figures)
    marker = lines.index("**From earlier runs** (quoted, not measured by this run):")
    quoted = [line for line in lines if "8 minutes" in line or "connection is busy" in line]
    assert quoted and all(lines.index(line) > marker for line in quoted)
    assert all(quote.source and quote.date for quote in earlier.QUOTES)
    assert earlier.lines_for("payload", 10_000) == []


def test_a_function_not_invoked_at_a_middle_size_is_judged_over_the_others() -> None:
    figures = results(2.0, 6.0)
    middle = run(1_000_000, 2.0, export_bytes=500_000)
    middle.replays.clear()
    middle.replays.append(Replay("RecordRunFunction", 1_000_000, 130.0, 80.0, 400, 0.1, False, None))
    figures.runs.insert(1, middle)
    text = "\n".join(memory_section(figures, [10_000, 1_000_000, 10_000_000]))
    assert re.search(r"\| PrepareRunFunction \| 90\.0 MB \| not invoked \| 90\.0 MB \|.*\| met \|", text)
