"""Fault injection at the sandbox's seams: the Lambda runtime, the Snowflake driver, SageMaker, SNS.

The sandbox runs every handler in this process, on the invoking thread, with
``AWS_LAMBDA_FUNCTION_NAME`` set for that thread only (sandbox/aws/lambda_runtime.py). So a fault
is aimed at one function (and, in a campaign, at one run: the execution name every state's event
carries) without touching the caller's own connections or the other runs going on meanwhile.

* ``LambdaFaults``/``SnowflakeFaults``: one fault for a whole test (``patcher`` is pytest's
  ``monkeypatch`` or anything with its ``setattr``);
* ``RunScopedFaults``: the campaign's hub, one wrapper per seam for the whole campaign; each run's
  faults (``Fault`` objects) see only the invocations of that run.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import snowflake.connector
from moto.sns import models as sns_models
from snowflake.connector.cursor import SnowflakeCursor
from snowflake.connector.errors import OperationalError, ProgrammingError

from sandbox.services import Sandbox
from snowsage.errors import InvalidIdentifier
from snowsage.names import ManifestLocation, execution_name

Reply = tuple[str, bool, str]  # (payload, errored, logs): what the runtime answers moto


class Patcher(Protocol):
    def setattr(self, target: Any, name: str, value: Any) -> None: ...


def lambda_error(error_type: str, message: str) -> Reply:
    """The Lambda error document: Step Functions names the task's error ``error_type``."""
    payload = {"errorType": error_type, "errorMessage": message, "stackTrace": []}
    return json.dumps(payload), True, f"[ERROR] {error_type}: {message}\n"


def refused_connection() -> Exception:
    """What connector 4.8.1 raises when the account is unreachable (errno 250001)."""

    return OperationalError(
        msg="Could not connect to Snowflake backend after 2 attempt(s).Aborting", errno=250001
    )


def read_timeout() -> Exception:
    """The driver's read timeout on a statement (errno 250003): the network, not Snowflake."""

    return OperationalError(
        msg="Failed to execute request: HTTPSConnectionPool: Read timed out. (read timeout=120)", errno=250003
    )


def statement_timeout() -> Exception:
    """STATEMENT_TIMEOUT_IN_SECONDS reached: 000630 (sql-reference/parameters)."""

    return ProgrammingError(
        msg="Statement reached its statement or warehouse timeout of 600 second(s) and was canceled.",
        errno=630,
        sqlstate="57014",
    )


def statement_canceled() -> Exception:
    """A statement canceled under it (000604), as when its warehouse is suspended mid-statement."""

    return ProgrammingError(msg="SQL execution canceled", errno=604, sqlstate="57014")


def _function_name() -> str | None:
    return os.environ.get("AWS_LAMBDA_FUNCTION_NAME")


# --- one fault for a whole test ---------------------------------------------------------------


@dataclass
class LambdaFaults:
    """Answer the next ``times`` invocations of one function with ``error_type`` (no handler runs),
    as the Lambda service does for a throttle or a service error."""

    sb: Sandbox
    patcher: Patcher

    def fail(self, logical_id: str, error_type: str, message: str, times: int = 1) -> None:
        runtime = self.sb.runtime
        assert runtime is not None
        target = self.sb.deployed.functions[logical_id]
        original: Callable[[Any, Any], Reply] = runtime.invoke
        remaining = [times]

        def invoke(fn: Any, event: Any) -> Reply:
            if fn.function_name == target and remaining[0] > 0:
                remaining[0] -= 1
                return lambda_error(error_type, message)
            return original(fn, event)

        self.patcher.setattr(runtime, "invoke", invoke)


@dataclass
class SnowflakeFaults:
    """Make the Snowflake driver fail, inside one deployed function only."""

    sb: Sandbox
    patcher: Patcher

    def _inside(self, logical_id: str) -> bool:
        return _function_name() == self.sb.deployed.functions[logical_id]

    def refuse_connections(self, logical_id: str, times: int) -> None:
        """The next ``times`` connects fail as the driver fails when the account is unreachable."""

        original = snowflake.connector.connect
        remaining = [times]

        def connect(*args: Any, **kwargs: Any) -> Any:
            if self._inside(logical_id) and remaining[0] > 0:
                remaining[0] -= 1
                raise refused_connection()
            return original(*args, **kwargs)

        self.patcher.setattr(snowflake.connector, "connect", connect)

    def time_out_statement(self, logical_id: str, starts_with: str, times: int) -> list[str]:
        """The next ``times`` statements starting with ``starts_with`` time out; returns the log
        of statements run in that function (to prove what ran before and after)."""

        original = SnowflakeCursor.execute
        remaining = [times]
        statements: list[str] = []

        def execute(cursor: Any, command: str, *args: Any, **kwargs: Any) -> Any:
            if self._inside(logical_id):
                statements.append(command.split(maxsplit=1)[0].upper())
                if command.startswith(starts_with) and remaining[0] > 0:
                    remaining[0] -= 1
                    raise read_timeout()
            return original(cursor, command, *args, **kwargs)

        self.patcher.setattr(SnowflakeCursor, "execute", execute)
        return statements


# --- the campaign's hub: faults scoped to one run ------------------------------------------------


@dataclass
class Invocation:
    """One Lambda invocation of a run, as a fault sees it."""

    execution: str
    function: str  # the template's logical id, e.g. LoadPredictionsFunction
    event: Any


class Fault:
    """A fault armed for one run. Each hook may act; ``fired`` counts the times it did."""

    kind = "fault"

    def __init__(self, state: str, times: int = 1) -> None:
        self.state = state
        self.times = times
        self.fired = 0

    def _take(self) -> bool:
        if self.fired >= self.times:
            return False
        self.fired += 1
        return True

    def before_invoke(self, sb: Sandbox, call: Invocation) -> Reply | None:
        """Return a reply to answer in the handler's place (None: the handler runs)."""
        return None

    def after_invoke(self, sb: Sandbox, call: Invocation, reply: Reply) -> Reply:
        return reply

    def on_connect(self, function: str) -> None:
        """Raise to refuse the connect."""

    def on_statement(self, function: str, command: str) -> None:
        """Raise to fail the statement."""

    def on_publish(self, subject: str, message: str) -> None:
        """Raise to refuse the SNS Publish."""

    def settle(self, sb: Sandbox) -> None:
        """The run is over: take back whatever is still armed elsewhere (the emulator's plan)."""


@dataclass
class _RunFaults:
    faults: list[Fault] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


_current = threading.local()


def _execution_of(event: Any) -> str | None:
    """The run an invocation belongs to: the execution name the ASL passes every Lambda state,
    the ended execution's name in a status change event (the safety net), or the execution a
    manifest's S3 event starts (StartPipeline)."""
    if not isinstance(event, dict):
        return None
    if isinstance(event.get("execution_name"), str):
        return str(event["execution_name"])
    detail = event.get("detail")
    if not isinstance(detail, dict):
        return None
    if isinstance(detail.get("name"), str):
        return str(detail["name"])
    key = (detail.get("object") or {}).get("key")  # an S3 event: the export its manifest starts
    try:
        location = ManifestLocation.from_key("", key) if isinstance(key, str) else None
    except InvalidIdentifier:
        return None
    return execution_name(location.dataset, location.export_id) if location else None


class RunScopedFaults:
    """One wrapper on each seam for a whole campaign; ``arm(execution, faults)`` per run."""

    def __init__(self, sb: Sandbox) -> None:
        self.sb = sb
        self._runs: dict[str, _RunFaults] = {}
        self._lock = threading.Lock()
        self._logical = {physical: logical for logical, physical in sb.deployed.functions.items()}

    def arm(self, execution: str, faults: list[Fault]) -> None:
        with self._lock:
            self._runs[execution] = _RunFaults(list(faults))

    def disarm(self, execution: str) -> list[Fault]:
        with self._lock:
            run = self._runs.pop(execution, None)
        faults = run.faults if run else []
        for fault in faults:
            fault.settle(self.sb)
        return faults

    def _faults(self, execution: str | None) -> list[Fault]:
        if execution is None:
            return []
        with self._lock:
            run = self._runs.get(execution)
        return list(run.faults) if run else []

    @contextmanager
    def installed(self) -> Iterator[RunScopedFaults]:
        """The wrappers in place for the block (the campaign), the originals back after it."""
        runtime = self.sb.runtime
        assert runtime is not None
        wrappers: list[tuple[Any, str, Any]] = [
            (runtime, "invoke", self._wrap_invoke(runtime.invoke)),
            (snowflake.connector, "connect", self._wrap_connect(snowflake.connector.connect)),
            (SnowflakeCursor, "execute", self._wrap_execute(SnowflakeCursor.execute)),
            (sns_models.SNSBackend, "publish", self._wrap_publish(sns_models.SNSBackend.publish)),
        ]
        # The instance's own attribute, if any (None: the class's method shows through again).
        saved = [(target, name, vars(target).get(name)) for target, name, _ in wrappers]
        for target, name, wrapper in wrappers:
            setattr(target, name, wrapper)
        try:
            yield self
        finally:
            for target, name, value in saved:
                if value is None:
                    delattr(target, name)
                else:
                    setattr(target, name, value)

    def _wrap_invoke(self, original: Callable[[Any, Any], Reply]) -> Callable[[Any, Any], Reply]:
        def invoke(fn: Any, event: Any) -> Reply:
            execution = _execution_of(event)
            faults = self._faults(execution)
            if not faults or execution is None:
                return original(fn, event)
            call = Invocation(execution, self._logical.get(fn.function_name, fn.function_name), event)
            for fault in faults:
                reply = fault.before_invoke(self.sb, call)
                if reply is not None:
                    return reply
            previous = getattr(_current, "execution", None)
            _current.execution = execution
            try:
                answer = original(fn, event)
            finally:
                _current.execution = previous
            for fault in faults:
                answer = fault.after_invoke(self.sb, call, answer)
            return answer

        return invoke

    def _here(self) -> tuple[list[Fault], str]:
        faults = self._faults(getattr(_current, "execution", None))
        name = _function_name() or ""
        return faults, self._logical.get(name, name)

    def _wrap_connect(self, original: Callable[..., Any]) -> Callable[..., Any]:
        def connect(*args: Any, **kwargs: Any) -> Any:
            faults, function = self._here()
            for fault in faults:
                fault.on_connect(function)
            return original(*args, **kwargs)

        return connect

    def _wrap_execute(self, original: Callable[..., Any]) -> Callable[..., Any]:
        def execute(cursor: Any, command: str, *args: Any, **kwargs: Any) -> Any:
            faults, function = self._here()
            for fault in faults:
                fault.on_statement(function, command)
            return original(cursor, command, *args, **kwargs)

        return execute

    def _wrap_publish(self, original: Callable[..., Any]) -> Callable[..., Any]:
        def publish(backend: Any, message: str, *args: Any, **kwargs: Any) -> Any:
            subject = str(kwargs.get("subject") or "")
            for execution in self._notice_executions(subject, message):
                for fault in self._faults(execution):
                    fault.on_publish(subject, message)
            return original(backend, message, *args, **kwargs)

        return publish

    @staticmethod
    def _notice_executions(subject: str, message: str) -> list[str]:
        """The run a notice is about: the failure notice's subject names the execution; the run
        notice (the ML_RUNS record) carries ``execution_name``."""
        if subject.startswith(FAILURE_SUBJECT):
            return [subject.removeprefix(FAILURE_SUBJECT)]
        try:
            document = json.loads(message)
        except ValueError:
            return []
        name = document.get("execution_name") if isinstance(document, dict) else None
        return [name] if isinstance(name, str) else []


FAILURE_SUBJECT = "Snowsage FAILED "  # NotifyFailure's Subject (statemachines/pipeline.asl.json)
