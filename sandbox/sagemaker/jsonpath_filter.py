"""Batch transform InputFilter / OutputFilter for CSV: JSONPath index paths over a row as an array.

Supported: ``$`` (the whole row), ``$[i]``, ``$[i,j,...]``, ``$[a:b]``, ``$[a:]``, ``$[:b]`` and lists
mixing them (``$[0,2:4,-1]``). Slices are END-INCLUSIVE as in SageMaker (``$[1:4]`` = columns 1..4);
negative indices count from the end (``-1`` = last). An index outside the row is an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_INT = r"\s*(-?\d+)\s*"
_ITEM = re.compile(rf"^(?:{_INT}|\s*(-?\d+)?\s*:\s*(-?\d+)?\s*)$")


class FilterError(ValueError):
    """A filter that cannot be applied to a row of the given width."""


@dataclass(frozen=True)
class _Item:
    index: int | None = None
    start: int | None = None
    end: int | None = None


@dataclass(frozen=True)
class IndexFilter:
    expression: str
    items: tuple[_Item, ...] | None  # None: the whole row

    @property
    def is_identity(self) -> bool:
        return self.items is None

    def resolve(self, width: int) -> list[int]:
        """The 0-based column indices this filter selects from a row of ``width`` fields, in order."""
        if self.items is None:
            return list(range(width))
        selected: list[int] = []
        for item in self.items:
            if item.index is not None:
                selected.append(self._absolute(item.index, width))
                continue
            start = 0 if item.start is None else self._absolute(item.start, width)
            end = width - 1 if item.end is None else self._absolute(item.end, width)
            selected.extend(range(start, end + 1))
        if not selected:
            raise FilterError(f"filter {self.expression!r} selects no field of a row of {width} fields")
        return selected

    def _absolute(self, index: int, width: int) -> int:
        position = index + width if index < 0 else index
        if not 0 <= position < width:
            raise FilterError(
                f"filter {self.expression!r}: index {index} is out of range for a row of {width} fields"
            )
        return position


def parse_filter(expression: str | None) -> IndexFilter:
    """Parse a filter; None or empty means ``$``. Raises ValueError on an unsupported expression."""
    text = (expression or "$").strip()
    if text == "$":
        return IndexFilter("$", None)
    if not (text.startswith("$[") and text.endswith("]")):
        raise ValueError(
            f"unsupported filter {expression!r}: the emulator supports '$' and index paths like '$[1:]' "
            "or '$[0,-1]' over CSV rows"
        )
    items: list[_Item] = []
    for part in text[2:-1].split(","):
        match = _ITEM.match(part)
        if not match:
            raise ValueError(f"unsupported filter {expression!r}: cannot parse {part.strip()!r}")
        index, start, end = match.groups()
        if index is not None:
            items.append(_Item(index=int(index)))
        else:
            items.append(
                _Item(start=None if start is None else int(start), end=None if end is None else int(end))
            )
    return IndexFilter(text, tuple(items))
