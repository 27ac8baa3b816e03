"""Snowsage benchmarks: ``make bench`` (``python -m bench``) writes docs/benchmarks.md.

Every goal is a ratio of two things measured side by side in the same run (the machine is
shared and noisy); nothing here is a timed assertion in a test.
"""


def int_list(text: str) -> list[int]:
    """A size option's value: whole numbers, comma-separated (``10_000`` allowed)."""
    return [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
