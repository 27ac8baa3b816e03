"""Run the project's real Lambda handlers in-process, the way ``sam local invoke`` would.

Details: sandbox/README.md, "aws/lambda_runtime.py".
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import importlib.abc
import importlib.machinery
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
from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol, TextIO

import boto3
import boto3.session
from aws_lambda_powertools.utilities.parameters.constants import (
    DEFAULT_PROVIDERS as POWERTOOLS_PARAMETER_PROVIDERS,
)

from sandbox.aws.lambda_context import LambdaContext

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
    environment: int = 0  # which execution environment of the function ran it (1, 2, ...)
    cold_start: bool = False
    started: float = 0.0  # time.monotonic() at start and end: which invocations overlapped
    ended: float = 0.0


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


class _StreamRouting:
    """Install the routing streams while any thread captures (counted: captures overlap)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._saved: tuple[TextIO, TextIO] | None = None

    def enter(self) -> None:
        with self._lock:
            if self._users == 0:
                self._saved = (sys.stdout, sys.stderr)
                if sys.stdout is not _STDOUT:
                    _STDOUT.fallback = sys.stdout
                    sys.stdout = _STDOUT
                if sys.stderr is not _STDERR:
                    _STDERR.fallback = sys.stderr
                    sys.stderr = _STDERR
            self._users += 1

    def leave(self) -> None:
        with self._lock:
            self._users -= 1
            if self._users == 0 and self._saved is not None:
                sys.stdout, sys.stderr = self._saved
                self._saved = None


_ROUTING = _StreamRouting()


@contextlib.contextmanager
def _captured_output() -> Iterator[io.StringIO]:
    buffer = io.StringIO()
    stack: list[io.StringIO] = getattr(_capture, "stack", [])
    _capture.stack = stack
    stack.append(buffer)
    _ROUTING.enter()
    log_handler = _ThreadLogHandler(threading.get_ident(), buffer)
    root = logging.getLogger()
    root.addHandler(log_handler)
    try:
        yield buffer
    finally:
        root.removeHandler(log_handler)
        stack.pop()
        _ROUTING.leave()


# --------------------------------------------------------------------------------------------
# Environment variables and imports, per thread
# --------------------------------------------------------------------------------------------

_invocation = threading.local()
_DELETED = object()


def _overlay() -> dict[str, Any] | None:
    overlay: dict[str, Any] | None = getattr(_invocation, "environ", None)
    return overlay


class _PerThreadEnviron(os._Environ[str]):  # os.environ's own class
    """``os.environ`` whose reads and writes go to the invoking thread's overlay, if it has one."""

    def __getitem__(self, key: str) -> str:
        overlay = _overlay()
        if overlay is not None and key in overlay:
            value = overlay[key]
            if value is _DELETED:
                raise KeyError(key)
            return str(value)
        return str(super().__getitem__(key))

    def __setitem__(self, key: str, value: str) -> None:
        overlay = _overlay()
        if overlay is None:
            super().__setitem__(key, value)
        else:
            overlay[key] = str(value)

    def __delitem__(self, key: str) -> None:
        overlay = _overlay()
        if overlay is None:
            super().__delitem__(key)
            return
        if key not in self:
            raise KeyError(key)
        overlay[key] = _DELETED

    def __iter__(self) -> Iterator[str]:
        overlay = _overlay()
        if overlay is None:
            yield from super().__iter__()
            return
        base = [key for key in super().__iter__() if key not in overlay]
        yield from base
        yield from (key for key, value in overlay.items() if value is not _DELETED)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def copy(self) -> dict[str, str]:
        return dict(self)

    def setdefault(self, key: str, value: str) -> str:
        if key not in self:
            self[key] = value
        return self[key]


def _install_per_thread_environ() -> None:
    """Give ``os.environ`` (the very object every module holds) the per-thread class, once."""
    environ: MutableMapping[str, str] = os.environ
    if type(environ) is os._Environ:
        environ.__class__ = _PerThreadEnviron


class _FunctionPathFinder(importlib.abc.MetaPathFinder):
    """Top-level imports of an invoking thread search its function's CodeUri and layers first."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        paths: list[str] | None = getattr(_invocation, "paths", None)
        if path is not None or not paths:
            return None  # submodules follow their package's __path__
        return importlib.machinery.PathFinder.find_spec(fullname, paths)


_FINDER = _FunctionPathFinder()


def _install_finder() -> None:
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)


@contextlib.contextmanager
def _invocation_scope(
    environment: Mapping[str, str], paths: list[str], state: _ExecutionEnvironment | None = None
) -> Iterator[None]:
    """This thread sees ``environment`` over the process's and imports from ``paths`` first."""
    saved = (
        getattr(_invocation, "environ", None),
        getattr(_invocation, "paths", None),
        getattr(_invocation, "state", None),
    )
    _invocation.environ = dict(environment)
    _invocation.paths = list(paths)
    _invocation.state = state
    try:
        yield
    finally:
        _invocation.environ, _invocation.paths, _invocation.state = saved


def _current_state() -> _ExecutionEnvironment | None:
    state: _ExecutionEnvironment | None = getattr(_invocation, "state", None)
    return state


_ORIGINAL_DEFAULT_SESSION = boto3._get_default_session


def _environment_default_session() -> boto3.session.Session:
    """``boto3.client(...)`` inside an invocation: its environment's default session (made with
    its credentials), as each Lambda environment's process has its own."""
    state = _current_state()
    if state is None:
        return _ORIGINAL_DEFAULT_SESSION()
    if state.boto3_session is None:
        state.boto3_session = boto3.session.Session()
    session: boto3.session.Session = state.boto3_session
    return session


class _EnvironmentProviders(MutableMapping[str, Any]):
    """Powertools' module-level parameter providers, per execution environment inside invocations."""

    def _target(self) -> dict[str, Any]:
        state = _current_state()
        return state.providers if state is not None else POWERTOOLS_PARAMETER_PROVIDERS

    def __getitem__(self, key: str) -> Any:
        return self._target()[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._target()[key] = value

    def __delitem__(self, key: str) -> None:
        del self._target()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._target()))

    def __len__(self) -> int:
        return len(self._target())


_POWERTOOLS_PROVIDER_MODULES = (
    "aws_lambda_powertools.utilities.parameters.secrets",
    "aws_lambda_powertools.utilities.parameters.ssm",
    "aws_lambda_powertools.utilities.parameters.appconfig",
    "aws_lambda_powertools.utilities.parameters.base",
)


def _install_environment_state() -> None:
    """Route boto3's default session and Powertools' providers to the invoking environment (once)."""
    if boto3._get_default_session is not _environment_default_session:
        boto3._get_default_session = _environment_default_session
    for name in _POWERTOOLS_PROVIDER_MODULES:
        module = importlib.import_module(name)
        if module.__dict__.get("DEFAULT_PROVIDERS") is POWERTOOLS_PARAMETER_PROVIDERS:
            module.DEFAULT_PROVIDERS = _EnvironmentProviders()  # type: ignore[attr-defined]


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


@dataclass
class _ExecutionEnvironment:
    """One execution environment: its own import of the handler module, one invocation at a time."""

    spec: FunctionSpec
    number: int
    log_stream_name: str
    module: ModuleType | None = None
    boto3_session: Any = None
    providers: dict[str, Any] = field(default_factory=dict)

    @property
    def module_name(self) -> str:
        return f"{_safe_module_name(self.spec.function_name)}_{self.number}"


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
        credentials: Callable[[LambdaFunctionLike], Mapping[str, str]] | None = None,
    ) -> None:
        self.endpoint_url = endpoint_url
        self.region = region
        self.extra_env = dict(extra_env or {})
        # The function's role credentials (environment variables), as Lambda gives them; None: the
        # process's own credentials.
        self.credentials = credentials
        self.invocations: list[Invocation] = []
        self._functions: dict[str, FunctionSpec] = {}
        self._idle: dict[str, list[_ExecutionEnvironment]] = {}
        self._created: dict[str, int] = {}
        self._lock = threading.Lock()  # guards the registry and the pools, never a handler run
        _install_per_thread_environ()
        _install_environment_state()
        _install_finder()
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
                self._forget_environments(function_name)
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

    def environments_of(self, function_name: str) -> int:
        """How many execution environments the function has started (cold starts)."""
        return self._created.get(function_name, 0)

    # -- execution environments ---------------------------------------------------------------

    def _checkout(self, spec: FunctionSpec, version: str) -> _ExecutionEnvironment:
        """An idle environment of the function, or a new one when every one is busy."""
        with self._lock:
            idle = self._idle.setdefault(spec.function_name, [])
            if idle:
                return idle.pop()
            number = self._created.get(spec.function_name, 0) + 1
            self._created[spec.function_name] = number
        stream = f"{datetime.now(UTC):%Y/%m/%d}/[{version}]{uuid.uuid4().hex}"
        return _ExecutionEnvironment(spec=spec, number=number, log_stream_name=stream)

    def _checkin(self, environment: _ExecutionEnvironment) -> None:
        with self._lock:
            if self._functions.get(environment.spec.function_name) == environment.spec:
                self._idle.setdefault(environment.spec.function_name, []).append(environment)
            else:
                sys.modules.pop(environment.module_name, None)  # re-registered meanwhile

    def _forget_environments(self, function_name: str) -> None:
        for environment in self._idle.pop(function_name, []):
            sys.modules.pop(environment.module_name, None)

    # -- invocation ---------------------------------------------------------------------------

    def invoke(self, fn: LambdaFunctionLike, event: Any) -> tuple[str, bool, str]:
        """Run ``fn``'s handler with ``event``: ``(payload_str, errored, logs)`` as moto expects."""
        spec = self.lookup(fn.function_name) or self.lookup(fn.function_arn)
        env_vars = {k: str(v) for k, v in (getattr(fn, "environment_vars", None) or {}).items()}
        credentials: dict[str, str] = {}
        if self.credentials is not None:
            try:
                credentials = dict(self.credentials(fn))
            except Exception as exc:  # the role cannot be assumed by Lambda
                error = self._error_payload("Lambda.AccessDeniedException", str(exc), str(uuid.uuid4()), [])
                return error, True, f"[ERROR] {exc}\n"
        return self._invoke(
            credentials=credentials,
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

    def _invoke(  # noqa: PLR0915  (one invocation, start to end, as Lambda runs it)
        self,
        *,
        credentials: Mapping[str, str] | None = None,
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
        overlay: dict[str, Any] = {
            "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
            "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
        }
        if credentials:
            overlay.update(credentials)
        overlay.update(self.extra_env)
        overlay.update(env_vars)
        overlay.update(self._reserved_env(name, version, memory, timeout, spec))
        if credentials:
            overlay.update(credentials)  # Lambda's reserved credential variables win over the function's
        environment = self._checkout(spec, version) if spec is not None else None
        log_stream = (
            environment.log_stream_name if environment else f"{datetime.now(UTC):%Y/%m/%d}/[{version}]"
        )
        overlay["AWS_LAMBDA_LOG_STREAM_NAME"] = log_stream
        context = LambdaContext(
            function_name=name,
            function_version=version,
            invoked_function_arn=arn,
            memory_limit_in_mb=memory,
            aws_request_id=request_id,
            log_group_name=f"/aws/lambda/{name}",
            log_stream_name=log_stream,
            timeout_seconds=timeout,
        )
        cold = environment is not None and environment.module is None
        started = time.monotonic()
        error_type: str | None = None
        paths = [str(spec.code_dir), *(str(d) for d in spec.layer_dirs)] if spec else []
        try:
            with _invocation_scope(overlay, paths, environment), _captured_output() as buffer:
                try:
                    if environment is None:
                        raise _HandlerError(
                            "Sandbox.FunctionNotRegistered",
                            f"No handler registered for function {name!r} ({arn}); "
                            "register it with LambdaRuntime.register()",
                        )
                    handler = self._load_handler(environment)
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
            if environment is not None:
                self._checkin(environment)
        ended = time.monotonic()
        duration = ended - started
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
                environment=environment.number if environment else 0,
                cold_start=cold,
                started=started,
                ended=ended,
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

    def _load_handler(self, environment: _ExecutionEnvironment) -> Any:
        """Import the handler module once per environment (its cold start), under a unique name."""
        spec = environment.spec
        module = environment.module
        module_path, _, attr = spec.handler.rpartition(".")
        if module is None:
            file = spec.code_dir.joinpath(*module_path.split(".")).with_suffix(".py")
            if not file.is_file():
                raise _HandlerError(
                    "Runtime.ImportModuleError",
                    f"Unable to import module '{module_path}': No module named '{module_path}' "
                    f"(looked for {file})",
                )
            unique = environment.module_name
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
            environment.module = module
        handler = getattr(module, attr, None)
        if not callable(handler):
            raise _HandlerError(
                "Runtime.HandlerNotFound", f"Handler '{attr}' missing on module '{module_path}'"
            )
        return handler

    def reset(self) -> None:
        """Forget recorded invocations and idle environments (the next call is a cold start)."""
        with self._lock:
            self.invocations.clear()
            for function_name in list(self._idle):
                self._forget_environments(function_name)
            _forget_library_caches()
