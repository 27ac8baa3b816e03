"""A scripted stand-in for a snowflake.connector connection: records every statement and its
``timeout=``, and answers or fails as a test says."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from snowsage.snowflake.connection import ConnectionFactory

Answer = Callable[[str], None]


@dataclass
class FakeCursor:
    """``failures`` maps a statement's first word (COPY, ROLLBACK, …) to the error it raises."""

    failures: dict[str, BaseException] = field(default_factory=dict)
    copy_rows: list[tuple[Any, ...]] = field(default_factory=list)
    insert_rowcount: int = 0
    select_rows: list[tuple[Any, ...]] = field(default_factory=list)
    run_status: str | None = None  # what a SELECT from ML_RUNS finds (None: no row, the run is running)
    executed: list[tuple[str, int | None]] = field(default_factory=list)
    description: list[tuple[str, ...]] = field(default_factory=list)
    rowcount: int = -1
    fetched: list[int] = field(default_factory=list)  # the size of each fetch, fetchall as -1
    # seconds a statement takes, by verb, on ``clock`` (which the test shares with the factory)
    seconds: dict[str, float] = field(default_factory=dict)
    clock: FakeClock | None = None
    _result: list[tuple[Any, ...]] = field(default_factory=list)

    def execute(self, statement: str, params: Any = None, timeout: int | None = None) -> FakeCursor:
        verb = statement.split(maxsplit=1)[0].upper()
        self.executed.append((verb, timeout))
        if self.clock is not None:
            self.clock.now += self.seconds.get(verb, 0.0)
        if verb in self.failures:
            raise self.failures[verb]
        self._result, self.description, self.rowcount = [], [("status",)], -1
        if verb == "COPY":
            self._result = list(self.copy_rows)
            self.description = [("file",), ("status",), ("rows_parsed",), ("rows_loaded",)]
        elif verb == "INSERT":
            self.rowcount = self.insert_rowcount
        elif verb == "SELECT" and " FROM ML_RUNS " in f"{statement} ":
            self._result = [] if self.run_status is None else [(self.run_status,)]
        elif verb == "SELECT":
            self._result = list(self.select_rows)
        return self

    def fetchall(self) -> list[tuple[Any, ...]]:
        self.fetched.append(-1)
        return self._result

    def fetchmany(self, size: int) -> list[tuple[Any, ...]]:
        self.fetched.append(size)
        batch, self._result = self._result[:size], self._result[size:]
        return batch

    def fetchone(self) -> tuple[Any, ...] | None:
        return self._result[0] if self._result else None

    def verbs(self) -> list[str]:
        return [verb for verb, _ in self.executed]


@dataclass
class FakeConnection:
    cursor_: FakeCursor
    query_tags: list[str] = field(default_factory=list)
    closed: bool = False

    def cursor(self) -> FakeCursor:
        return self.cursor_

    def close(self) -> None:
        self.closed = True


@dataclass
class FakeClock:
    """Seconds that pass only when a test (or the cursor) moves them."""

    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


def factory_for(
    connection: FakeConnection, budget: int = 600, clock: FakeClock | None = None
) -> ConnectionFactory:
    def open_connection(query_tag: str) -> FakeConnection:
        connection.query_tags.append(query_tag)
        return connection

    return ConnectionFactory(
        open=open_connection, statement_budget_seconds=budget, clock=clock or FakeClock()
    )
