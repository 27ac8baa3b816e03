"""Figures from earlier runs that `make bench` quotes but does not measure.

Every number the generated document prints as its own is measured in that run. The few figures
that come from elsewhere (a run too long for the bench's budget) live here, each with its source
and date, and are printed only under a clearly marked "From earlier runs" line.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Quote:
    section: str  # the document section it belongs to
    applies_below: int  # printed when the run's largest size is below this (the quote is about it)
    text: str
    source: str
    date: str


QUOTES = (
    Quote(
        section="payload",
        applies_below=10_000,
        text=(
            "an export of ~10,000 files took about 8 minutes in the sandbox (export ~140 s at one moto"
            " PUT per file; training ~70 s and transform ~165 s reading file by file), and its manifest"
            " was ~0.9 MB, close to PrepareRun's 1 MiB manifest limit"
        ),
        source="the note `make bench` printed from commit 95b2f42 (bench/__main__.py)",
        date="2026-11-26",
    ),
    Quote(
        section="payload",
        applies_below=10_000,
        text='an export of 10,000 files failed in the sandbox with fakesnow\'s "connection is busy"',
        source="the failure report of that date (the run that led to sandbox/snowflake/copy_batch.py)",
        date="2026-11-26",
    ),
)


def lines_for(section: str, largest_measured: int) -> list[str]:
    """The marked block of quotes for ``section`` ([] when none applies to this run)."""
    quotes = [q for q in QUOTES if q.section == section and largest_measured < q.applies_below]
    if not quotes:
        return []
    return [
        "**From earlier runs** (quoted, not measured by this run):",
        "",
        *(f"- {quote.date}, {quote.source}: {quote.text}." for quote in quotes),
        "",
    ]
