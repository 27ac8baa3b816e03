"""bench.scale's rows in docs/benchmarks.md: in section 4, replaced by count, kept by `make bench`."""

from __future__ import annotations

from bench.scale import BEGIN, END, HEADER, RULE, ScaleFigures, keep_block, write
from tests.bench.tables import table_rows

DOCUMENT = """# Benchmarks

## 4. Payload flatness

| files | run |
|---|---|
| 3 | SUCCEEDED |

## 5. Sandbox end to end

text
"""


def _figures(score: int, status: str = "SUCCEEDED", error: str | None = None) -> ScaleFigures:
    return ScaleFigures(
        files={"train": 36_000, "validation": 9_000, "score": score},
        manifest_bytes=1_234,
        status=status,
        largest_bytes=5_678,
        largest_state="PrepareRun output",
        prepare_seconds=12.3,
        prepare_timeout=60,
        prepare_peak_rss_mb=95.0,
        prepare_memory_mb=256,
        export_seconds=100.0,
        execution_seconds=900.0,
        longest_states=[("Score", 500.0), ("Train", 300.0)],
        measured="2026-11-27 17:00 UTC, abc1234",
        error=error,
    )


def cells(figures: ScaleFigures) -> dict[str, str]:
    (row,) = table_rows([HEADER, RULE, figures.row()])
    return row


def test_the_row_starts_with_the_count_and_shows_the_status() -> None:
    row = cells(_figures(55_000))
    assert next(iter(row.values())) == "100,000 (36,000/9,000/55,000)"  # the count first: the rows' key
    assert (row["run"], row["largest state I/O"], row["where"]) == (
        "SUCCEEDED",
        "5,678 B",
        "PrepareRun output",
    )
    assert (
        cells(_figures(55_000, "FAILED", "Score: States.Timeout"))["run"] == "FAILED (Score: States.Timeout)"
    )


def test_the_block_goes_at_the_end_of_section_4() -> None:
    text = write(DOCUMENT, _figures(55_000))
    section_4, section_5 = text.index("## 4."), text.index("## 5.")
    assert section_4 < text.index(BEGIN) < text.index("| 100,000 (") < text.index(END) < section_5
    assert "| 3 | SUCCEEDED |" in text


def test_a_new_run_replaces_the_row_of_its_count_and_keeps_the_others() -> None:
    first = write(DOCUMENT, _figures(55_000, "FAILED", "Score: boom"))
    smaller = write(
        first,
        ScaleFigures(**{**_figures(55_000).__dict__, "files": {"train": 1, "validation": 1, "score": 1998}}),
    )
    again = write(smaller, _figures(55_000))
    assert again.count("| 100,000 (") == 1
    assert "FAILED" not in again
    assert again.index("| 2,000 (") < again.index("| 100,000 (")


def test_make_bench_keeps_the_block_when_it_regenerates_the_document() -> None:
    measured = write(DOCUMENT, _figures(55_000))
    regenerated = keep_block(measured, DOCUMENT.replace("text", "new text"))
    assert "new text" in regenerated
    assert regenerated.index("## 4.") < regenerated.index("| 100,000 (") < regenerated.index("## 5.")
    assert keep_block(DOCUMENT, DOCUMENT) == DOCUMENT
