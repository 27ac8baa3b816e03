"""Following a Step Functions execution: states with durations, progress, outcome.

Used by the CLI (progress lines and the summary), the visual report and the tests. Reads only
the public Step Functions API, so it works the same against moto and AWS.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from snowsage.states import FAILURE_BRANCH_STATES

TERMINAL = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})


@dataclass
class StateSpan:
    name: str
    kind: str
    entered: datetime
    exited: datetime | None = None
    failed: bool = False

    @property
    def seconds(self) -> float | None:
        return (self.exited - self.entered).total_seconds() if self.exited else None

    @property
    def outcome(self) -> str:
        if self.failed:
            return "failed"
        return "succeeded" if self.exited else "running"


@dataclass
class ExecutionSummary:
    arn: str
    name: str
    status: str
    started: datetime
    stopped: datetime | None
    spans: list[StateSpan] = field(default_factory=list)
    error: str | None = None
    cause: str | None = None
    output: dict[str, Any] | None = None
    transitions: int = 0

    @property
    def seconds(self) -> float | None:
        return (self.stopped - self.started).total_seconds() if self.stopped else None

    @property
    def failed_state(self) -> str | None:
        """The state whose error ended the run: the last failed Task outside the failure branch.

        Not the first failed span: a Catch that carries on past a failure fails a span too.
        """
        failed = [span for span in self.spans if span.failed]
        tasks = [
            span.name for span in failed if span.kind == "Task" and span.name not in FAILURE_BRANCH_STATES
        ]
        if tasks:
            return tasks[-1]
        return failed[-1].name if failed else None

    def span(self, name: str) -> StateSpan | None:
        return next((span for span in self.spans if span.name == name), None)


def _history(sfn: Any, arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=arn):
        events.extend(page["events"])
    return sorted(events, key=lambda event: int(event["id"]))


def spans_from_history(events: list[dict[str, Any]]) -> tuple[list[StateSpan], int]:
    """State spans in the order entered, and the number of state transitions (for cost)."""
    spans: list[StateSpan] = []
    open_spans: dict[str, StateSpan] = {}
    transitions = 0
    for event in events:
        kind = event["type"]
        if kind.endswith("StateEntered"):
            name = event["stateEnteredEventDetails"]["name"]
            span = StateSpan(name=name, kind=kind.removesuffix("StateEntered"), entered=event["timestamp"])
            spans.append(span)
            open_spans[name] = span
            transitions += 1
        elif kind.endswith("StateExited"):
            name = event["stateExitedEventDetails"]["name"]
            if name in open_spans:
                open_spans.pop(name).exited = event["timestamp"]
        elif kind in {
            "TaskFailed",
            "LambdaFunctionFailed",
            "TaskTimedOut",
            "ExecutionFailed",
        } or kind.endswith("Failed"):
            for span in open_spans.values():
                if span.kind in {"Task", "Fail"} and not span.exited:
                    span.failed = True
                    span.exited = event["timestamp"]
            open_spans = {name: span for name, span in open_spans.items() if not span.exited}
    # A state that was entered and never exited before the next state began was left by a Catch.
    for index, span in enumerate(spans[:-1]):
        if span.exited is None:
            span.failed = True
            span.exited = spans[index + 1].entered
    return spans, transitions


def describe(sfn: Any, arn: str) -> ExecutionSummary:
    execution = sfn.describe_execution(executionArn=arn)
    spans, transitions = spans_from_history(_history(sfn, arn))
    output = json.loads(execution["output"]) if execution.get("output") else None
    return ExecutionSummary(
        arn=arn,
        name=execution["name"],
        status=execution["status"],
        started=execution["startDate"],
        stopped=execution.get("stopDate"),
        spans=spans,
        error=execution.get("error"),
        cause=execution.get("cause"),
        output=output,
        transitions=transitions,
    )


def largest_state_io(sfn: Any, arn: str) -> tuple[int, str]:
    """The largest state input or output of an execution in bytes, and where (``PrepareRun output``).

    Step Functions refuses a payload over 256 KB (docs: step-functions/latest/dg/limits-overview);
    the history with ``includeExecutionData`` holds each state's input and output as run.
    """
    largest, where = 0, ""
    for page in sfn.get_paginator("get_execution_history").paginate(
        executionArn=arn, includeExecutionData=True
    ):
        for event in page["events"]:
            for key, field_name, label in (
                ("stateEnteredEventDetails", "input", "input"),
                ("stateExitedEventDetails", "output", "output"),
            ):
                details = event.get(key)
                if details and details.get(field_name) is not None:
                    size = len(details[field_name].encode())
                    if size > largest:
                        largest, where = size, f"{details['name']} {label}"
    return largest, where


def wait_for_execution(
    sfn: Any,
    arn: str,
    *,
    timeout: float = 600,
    poll: float = 0.2,
    on_state: Callable[[StateSpan], None] | None = None,
) -> ExecutionSummary:
    """Poll until the execution ends; ``on_state`` hears of each state as it finishes."""
    deadline = time.monotonic() + timeout
    reported: set[int] = set()
    while True:
        summary = describe(sfn, arn)
        if on_state:
            for index, span in enumerate(summary.spans):
                if span.exited is not None and index not in reported:
                    reported.add(index)
                    on_state(span)
        if summary.status in TERMINAL:
            return summary
        if time.monotonic() > deadline:
            raise TimeoutError(f"execution {arn} still {summary.status} after {timeout:.0f} s")
        time.sleep(poll)


def wait_for_execution_named(sfn: Any, state_machine_arn: str, name: str, timeout: float = 60) -> str:
    """The ARN of the execution called ``name`` once it exists (an S3 event starts it asynchronously)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=state_machine_arn):
            for execution in page["executions"]:
                if execution["name"] == name:
                    arn: str = execution["executionArn"]
                    return arn
        time.sleep(0.1)
    raise TimeoutError(f"no execution named {name} started within {timeout:.0f} s")
