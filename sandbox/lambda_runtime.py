"""Run the project's real Lambda handlers in-process, the way ``sam local invoke`` would.

moto cannot run a function's code without Docker; ``sandbox.moto_patches`` routes moto's
``LambdaFunction._invoke_lambda`` here instead. Each registered function is described by what
the template says about it (``CodeUri``, ``Handler``, the layers' ``ContentUri``), and each
invocation runs the handler with that function's environment, a fake ``LambdaContext`` and its
output captured as the invocation's logs.

Process-global state, and why invocations are serialised
---------------------------------------------------------
A real Lambda runs every function in its own process. Here they share one, so:

* ``os.environ`` is process-global: each invocation applies its function's environment
  (CloudFormation-resolved variables plus the reserved ``AWS_*`` variables) for the duration
  of the call and restores the previous values afterwards, including variables the handler
  itself set. Invocations are therefore serialised with one re-entrant lock: two handlers
  never run at the same time. A handler that synchronously invokes another function through
  moto's HTTP server (another thread) would wait on this lock: such nesting is not supported
  (the lock times out after ``lock_timeout`` seconds with a ``Sandbox.LockTimeout`` error).
  In-process nesting (same thread, ``mock_aws``) works because the lock is re-entrant.
* ``sys.path`` gets the function's ``CodeUri`` and layer directories prepended during the
  call. Layer packages (``snowsage``) are imported once and shared by every function, where
  Lambda would import them once per function: module-level state in a layer is shared.
* Output is captured per thread: ``sys.stdout``/``sys.stderr`` are routed, only for the
  invoking thread, to the invocation's buffer, and a logging handler on the root logger
  captures that thread's records. Output from threads the handler starts itself is not
  captured (it goes to the process's streams).
* Timeouts are not enforced (a thread cannot be killed): an invocation longer than the
  function's ``Timeout`` is recorded with ``timed_out=True``.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import io
import json
import logging
import os
import re
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol, TextIO

from aws_lambda_powertools.utilities.parameters.constants import (
    DEFAULT_PROVIDERS as POWERTOOLS_PARAMETER_PROVIDERS,
)

__all__ = [
    "FunctionSpec",
    "Invocation",
    "LambdaContext",
    "LambdaFunctionLike",
    "LambdaRuntime",
]

_PYTHON_RUNTIME = "python3.12"
_MODULE_PREFIX = "_sandbox_lambda_"


class LambdaFunctionLike(Protocol):
    """What the runtime reads from moto's ``moto.awslambda.models.LambdaFunction``."""

    function_name: str
    function_arn: str
    environment_vars: Mapping[str, Any]


@dataclass(frozen=True)
class FunctionSpec:
    """One registered function: the template's CodeUri, Handler and layer ContentUri dirs."""

    function_name: str
    code_dir: Path
    handler: str
    layer_dirs: tuple[Path, ...]


@dataclass
class Invocation:
    """One recorded invocation (kept in ``LambdaRuntime.invocations``)."""

    function: str
    event: Any
    payload: str
    errored: bool
    logs: str
    duration: float
    request_id: str
    timed_out: bool = False
    error_type: str | None = None


@dataclass
class LambdaContext:
    """The subset of the Python runtime's context object handlers use."""

    function_name: str
    function_version: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str
    log_group_name: str
    log_stream_name: str
    timeout_seconds: float = 3.0
    identity: Any = None
    client_context: Any = None
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        if not self._deadline:
            self._deadline = time.monotonic() + self.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class _HandlerError(Exception):
    """A failure of the runtime itself (import error, unknown function), reported like Lambda does."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message


# --------------------------------------------------------------------------------------------
# Output capture, per thread
# --------------------------------------------------------------------------------------------

_capture = threading.local()


def _current_buffer() -> io.StringIO | None:
    stack: list[io.StringIO] | None = getattr(_capture, "stack", None)
    return stack[-1] if stack else None


class _RoutingStream(io.TextIOBase):
    """Stands in for sys.stdout/sys.stderr: the invoking thread writes to its capture buffer.

    A handler module may bind the stream at import (aws-lambda-powertools' Logger creates a
    ``StreamHandler(sys.stdout)``), so this object stays valid after the invocation: writes from
    threads without a capture go to the stream that was current when it was last installed.
    """

    def __init__(self, name: str) -> None:
        super().__init__()
        self._name = name
        self.fallback: TextIO | None = None

    def _target(self) -> TextIO | io.StringIO:
        buffer = _current_buffer()
        if buffer is not None:
            return buffer
        fallback = self.fallback or getattr(sys, f"__{self._name}__", None)
        return fallback if fallback is not None else io.StringIO()

    def write(self, s: str) -> int:
        self._target().write(s)
        return len(s)

    def flush(self) -> None:
        with contextlib.suppress(Exception):
            self._target().flush()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"


_STDOUT = _RoutingStream("stdout")
_STDERR = _RoutingStream("stderr")


class _ThreadLogHandler(logging.Handler):
    """Root-logger handler copying the invoking thread's log records into its buffer."""

    def __init__(self, thread_id: int, buffer: io.StringIO) -> None:
        super().__init__(logging.NOTSET)
        self._thread_id = thread_id
        self._buffer = buffer
        self.setFormatter(logging.Formatter("[%(levelname)s]\t%(asctime)s\t%(name)s\t%(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread != self._thread_id:
            return
        with contextlib.suppress(Exception):
            self._buffer.write(self.format(record) + "\n")


@contextlib.contextmanager
def _captured_output() -> Iterator[io.StringIO]:
    buffer = io.StringIO()
    stack: list[io.StringIO] = getattr(_capture, "stack", [])
    _capture.stack = stack
    stack.append(buffer)
    saved = (sys.stdout, sys.stderr)
    if sys.stdout is not _STDOUT:
        _STDOUT.fallback = sys.stdout
        sys.stdout = _STDOUT
    if sys.stderr is not _STDERR:
        _STDERR.fallback = sys.stderr
        sys.stderr = _STDERR
    log_handler = _ThreadLogHandler(threading.get_ident(), buffer)
    root = logging.getLogger()
    root.addHandler(log_handler)
    try:
        yield buffer
    finally:
        root.removeHandler(log_handler)
        stack.pop()
        if not stack:
            sys.stdout, sys.stderr = saved


# --------------------------------------------------------------------------------------------
# Environment and sys.path, restored after each call
# --------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _applied_environment(overlay: Mapping[str, str]) -> Iterator[None]:
    before = dict(os.environ)
    os.environ.update(overlay)
    try:
        yield
    finally:
        for key in list(os.environ):
            if key not in before:
                del os.environ[key]
        for key, value in before.items():
            if os.environ.get(key) != value:
                os.environ[key] = value


@contextlib.contextmanager
def _prepended_sys_path(paths: list[str]) -> Iterator[None]:
    before = list(sys.path)
    sys.path[:0] = [p for p in paths if p not in sys.path]
    try:
        yield
    finally:
        sys.path[:] = before


def _safe_module_name(function_name: str) -> str:
    return _MODULE_PREFIX + re.sub(r"[^0-9A-Za-z_]", "_", function_name)


def _json_default(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _forget_library_caches() -> None:
    """Process-wide library state a real cold start would not have.

    aws-lambda-powertools keeps its parameter providers (a boto3 client bound to the endpoint
    of the sandbox that first used it) and their cached secrets at module level: a second
    sandbox in the same process would read secrets from the first one's stopped moto server.
    """
    POWERTOOLS_PARAMETER_PROVIDERS.clear()  # what parameters.clear_caches() does (untyped)


class LambdaRuntime:
    """Registry of the project's functions and an in-process invoker for moto.

    ``endpoint_url`` is the sandbox's moto endpoint; handlers get it as ``AWS_ENDPOINT_URL`` so
    their boto3 clients reach moto. ``extra_env`` is applied under each function's variables
    (e.g. credentials for the sandbox's Snowflake stand-in).
    """

    def __init__(
        self,
        *,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        extra_env: Mapping[str, str] | None = None,
        lock_timeout: float = 300.0,
    ) -> None:
        self.endpoint_url = endpoint_url
        self.region = region
        self.extra_env = dict(extra_env or {})
        self.lock_timeout = lock_timeout
        self.invocations: list[Invocation] = []
        self._functions: dict[str, FunctionSpec] = {}
        self._modules: dict[str, ModuleType] = {}
        self._lock = threading.RLock()
        _forget_library_caches()  # a new runtime has no warm containers

    # -- registration -------------------------------------------------------------------------

    def register(self, function_name: str, code_dir: Path, handler: str, layer_dirs: list[Path]) -> None:
        """Register a function by the physical name moto knows it by (CloudFormation's name)."""
        module_path, _, attr = handler.rpartition(".")
        if not module_path or not attr:
            raise ValueError(f"Handler must look like 'module.function', got {handler!r}")
        spec = FunctionSpec(
            function_name=function_name,
            code_dir=Path(code_dir).resolve(),
            handler=handler,
            layer_dirs=tuple(Path(d).resolve() for d in layer_dirs),
        )
        with self._lock:
            previous = self._functions.get(function_name)
            if previous is not None and previous != spec:
                self._modules.pop(function_name, None)
            self._functions[function_name] = spec

    @property
    def functions(self) -> dict[str, FunctionSpec]:
        return dict(self._functions)

    def lookup(self, name_or_arn: str) -> FunctionSpec | None:
        if name_or_arn in self._functions:
            return self._functions[name_or_arn]
        # arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>]
        parts = name_or_arn.split(":")
        if len(parts) >= 7 and parts[5] == "function":
            return self._functions.get(parts[6])
        return None

    def invocations_of(self, function_name: str) -> list[Invocation]:
        return [i for i in self.invocations if i.function == function_name]

    # -- invocation ---------------------------------------------------------------------------

    def invoke(self, fn: LambdaFunctionLike, event: Any) -> tuple[str, bool, str]:
        """Run ``fn``'s handler with ``event``: ``(payload_str, errored, logs)`` as moto expects."""
        spec = self.lookup(fn.function_name) or self.lookup(fn.function_arn)
        env_vars = {k: str(v) for k, v in (getattr(fn, "environment_vars", None) or {}).items()}
        return self._invoke(
            spec=spec,
            name=fn.function_name,
            arn=fn.function_arn,
            version=str(getattr(fn, "version", "$LATEST") or "$LATEST"),
            memory=int(getattr(fn, "memory_size", 128) or 128),
            timeout=float(getattr(fn, "timeout", 3) or 3),
            env_vars=env_vars,
            event=event,
        )

    def invoke_local(
        self,
        function_name: str,
        event: Any,
        *,
        environment: Mapping[str, str] | None = None,
        account_id: str = "123456789012",
        timeout: float = 30.0,
    ) -> tuple[str, bool, str]:
        """Invoke a registered function without moto (unit tests of the runtime itself)."""
        return self._invoke(
            spec=self.lookup(function_name),
            name=function_name,
            arn=f"arn:aws:lambda:{self.region}:{account_id}:function:{function_name}",
            version="$LATEST",
            memory=128,
            timeout=timeout,
            env_vars=dict(environment or {}),
            event=event,
        )

    def _reserved_env(
        self, name: str, version: str, memory: int, timeout: float, spec: FunctionSpec | None
    ) -> dict[str, str]:
        env = {
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_LAMBDA_FUNCTION_VERSION": version,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory),
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(int(timeout)),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{_PYTHON_RUNTIME}",
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "POWERTOOLS_TRACE_DISABLED": "true",
        }
        if spec is not None:
            env["_HANDLER"] = spec.handler
            env["LAMBDA_TASK_ROOT"] = str(spec.code_dir)
        if self.endpoint_url:
            env["AWS_ENDPOINT_URL"] = self.endpoint_url
        return env

    def _invoke(
        self,
        *,
        spec: FunctionSpec | None,
        name: str,
        arn: str,
        version: str,
        memory: int,
        timeout: float,
        env_vars: Mapping[str, str],
        event: Any,
    ) -> tuple[str, bool, str]:
        if isinstance(event, str) and event == "{}":
            event = {}  # moto passes the literal string "{}" for an empty request body
        request_id = str(uuid.uuid4())
        recorded_event = copy.deepcopy(event)
        overlay: dict[str, str] = {
            "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
            "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
        }
        overlay.update(self.extra_env)
        overlay.update(env_vars)
        overlay.update(self._reserved_env(name, version, memory, timeout, spec))
        now = datetime.now(UTC)
        context = LambdaContext(
            function_name=name,
            function_version=version,
            invoked_function_arn=arn,
            memory_limit_in_mb=memory,
            aws_request_id=request_id,
            log_group_name=f"/aws/lambda/{name}",
            log_stream_name=f"{now:%Y/%m/%d}/[{version}]{uuid.uuid4().hex}",
            timeout_seconds=timeout,
        )
        overlay["AWS_LAMBDA_LOG_STREAM_NAME"] = context.log_stream_name

        if not self._lock.acquire(timeout=self.lock_timeout):
            payload = self._error_payload(
                "Sandbox.LockTimeout",
                f"Another invocation held the sandbox Lambda runtime for {self.lock_timeout}s "
                "(a handler synchronously invoking another function through moto's server?)",
                request_id,
                [],
            )
            self.invocations.append(
                Invocation(
                    name, recorded_event, payload, True, "", 0.0, request_id, False, "Sandbox.LockTimeout"
                )
            )
            return payload, True, ""
        started = time.monotonic()
        error_type: str | None = None
        try:
            paths = [str(spec.code_dir), *(str(d) for d in spec.layer_dirs)] if spec else []
            with _applied_environment(overlay), _prepended_sys_path(paths), _captured_output() as buffer:
                try:
                    if spec is None:
                        raise _HandlerError(
                            "Sandbox.FunctionNotRegistered",
                            f"No handler registered for function {name!r} ({arn}); "
                            "register it with LambdaRuntime.register()",
                        )
                    handler = self._load_handler(spec)
                    result = handler(event, context)
                    try:
                        payload = json.dumps(result, default=_json_default)
                    except (TypeError, ValueError) as exc:
                        raise _HandlerError(
                            "Runtime.MarshalError", f"Unable to marshal response: {exc}"
                        ) from exc
                    errored = False
                except _HandlerError as exc:
                    error_type = exc.error_type
                    print(f"[ERROR] {exc.error_type}: {exc.message}", file=sys.stdout)
                    payload = self._error_payload(exc.error_type, exc.message, request_id, [])
                    errored = True
                except Exception as exc:
                    error_type = type(exc).__name__
                    stack = traceback.format_list(traceback.extract_tb(exc.__traceback__)[1:])
                    print(
                        f"[ERROR] {error_type}: {exc}\nTraceback (most recent call last):\n{''.join(stack)}",
                        file=sys.stdout,
                    )
                    payload = self._error_payload(error_type, str(exc), request_id, stack)
                    errored = True
            logs = buffer.getvalue()
        finally:
            self._lock.release()
        duration = time.monotonic() - started
        self.invocations.append(
            Invocation(
                function=name,
                event=recorded_event,
                payload=payload,
                errored=errored,
                logs=logs,
                duration=duration,
                request_id=request_id,
                timed_out=duration > timeout,
                error_type=error_type,
            )
        )
        return payload, errored, logs

    @staticmethod
    def _error_payload(error_type: str, message: str, request_id: str, stack: list[str]) -> str:
        return json.dumps(
            {
                "errorMessage": message,
                "errorType": error_type,
                "requestId": request_id,
                "stackTrace": [line.rstrip("\n") for line in stack],
            }
        )

    def _load_handler(self, spec: FunctionSpec) -> Any:
        """Import the handler module once per function (the cold start), under a unique name."""
        module = self._modules.get(spec.function_name)
        module_path, _, attr = spec.handler.rpartition(".")
        if module is None:
            file = spec.code_dir.joinpath(*module_path.split(".")).with_suffix(".py")
            if not file.is_file():
                raise _HandlerError(
                    "Runtime.ImportModuleError",
                    f"Unable to import module '{module_path}': No module named '{module_path}' "
                    f"(looked for {file})",
                )
            unique = _safe_module_name(spec.function_name)
            import_spec = importlib.util.spec_from_file_location(unique, file)
            if import_spec is None or import_spec.loader is None:
                raise _HandlerError("Runtime.ImportModuleError", f"Unable to import module '{module_path}'")
            module = importlib.util.module_from_spec(import_spec)
            sys.modules[unique] = module
            try:
                import_spec.loader.exec_module(module)
            except Exception as exc:
                sys.modules.pop(unique, None)
                raise _HandlerError(
                    "Runtime.ImportModuleError", f"Unable to import module '{module_path}': {exc}"
                ) from exc
            self._modules[spec.function_name] = module
        handler = getattr(module, attr, None)
        if not callable(handler):
            raise _HandlerError(
                "Runtime.HandlerNotFound", f"Handler '{attr}' missing on module '{module_path}'"
            )
        return handler

    def reset(self) -> None:
        """Forget recorded invocations and imported modules (the next call is a cold start)."""
        with self._lock:
            self.invocations.clear()
            for function_name in list(self._modules):
                sys.modules.pop(_safe_module_name(function_name), None)
            self._modules.clear()
            _forget_library_caches()
