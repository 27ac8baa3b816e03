"""The bench's markdown tables read back as rows of {header: cell}: tests check cells by column."""

from __future__ import annotations

from collections.abc import Iterable


def table_rows(text: str | Iterable[str]) -> list[dict[str, str]]:
    """Every body row of every table in ``text``, keyed by its table's header."""
    lines = text.splitlines() if isinstance(text, str) else list(text)
    rows: list[dict[str, str]] = []
    header: list[str] | None = None
    for line in lines:
        if not line.startswith("|"):
            header = None
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if header is None:
            header = cells
        elif not all(cell and set(cell) <= set("-:") for cell in cells):
            rows.append(dict(zip(header, cells, strict=False)))
    return rows


def row(text: str | Iterable[str], column: str, value: str) -> dict[str, str]:
    """The one row whose ``column`` holds ``value``."""
    (found,) = [candidate for candidate in table_rows(text) if candidate.get(column) == value]
    return found
