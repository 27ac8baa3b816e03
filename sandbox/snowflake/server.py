"""fakesnow as Snowflake, served over HTTP, with its external stages reading moto S3.

Details: sandbox/README.md, "snowflake/server.py".
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import io
import logging
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import fakesnow
import fakesnow.copy_into as fakesnow_copy_into
import fakesnow.cursor as fakesnow_cursor
import s3fs
import snowflake.connector
from botocore.exceptions import ClientError
from sqlglot import exp
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sandbox.aws import iam_enforcement
from sandbox.aws.iam_policy import Principal
from sandbox.aws.moto_s3 import InProcessS3, MotoS3FileSystem
from sandbox.snowflake.copy_batch import copy_into_batched
from sandbox.snowflake.functions import support_python_functions
from sandbox.snowflake.storage_integration import ASSUME_ROLE_FAILED, StorageIntegration

# `import fakesnow.server` binds the submodule over the `fakesnow.server` function: take the
# function first, then the module (for its shared DuckDB connection).
_serve = fakesnow.server
import fakesnow.server as fakesnow_server_module  # noqa: E402
from fakesnow.instance import FakeSnow  # noqa: E402

logger = logging.getLogger(__name__)

SANDBOX_AWS_KEY = "testing"

# The PATTERN of the COPY being run (None: no PATTERN), read by the file listing below.
_copy_pattern: contextvars.ContextVar[re.Pattern[str] | None] = contextvars.ContextVar(
    "snowsage_copy_pattern", default=None
)


def _pattern_of(copy: exp.Copy) -> tuple[exp.Copy, re.Pattern[str] | None]:
    """The COPY without its PATTERN parameter, and that pattern compiled."""
    params = list(copy.args.get("params") or [])
    named = [p for p in params if isinstance(p.this, exp.Var) and p.this.name.upper() == "PATTERN"]
    if not named:
        return copy, None
    if any(isinstance(p.this, exp.Var) and p.this.name.upper() == "FILES" for p in params):
        raise NotImplementedError("COPY with both FILES and PATTERN")
    expression = named[0].expression
    if not (isinstance(expression, exp.Literal) and expression.is_string):
        raise snowflake.connector.errors.ProgrammingError(
            msg="SQL compilation error: PATTERN must be a string literal", errno=1003, sqlstate="42000"
        )
    stripped = copy.copy()
    stripped.set("params", [p for p in params if p not in named])
    return stripped, re.compile(expression.name)


def _matching(urls: list[str]) -> list[str]:
    pattern = _copy_pattern.get()
    if pattern is None:
        return urls
    # Matched against the file's path in the bucket (for a stage on the bucket root, its stage
    # path), the whole path: Snowflake's PATTERN is anchored.
    return [url for url in urls if pattern.fullmatch(url.split("://", 1)[-1].split("/", 1)[-1])]


_COPY_INTO = "copy_into"  # fakesnow.cursor's name for fakesnow.copy_into.copy_into
_SOURCE_GLOB = "_source_glob"  # fakesnow.copy_into's listing of a COPY's files


def support_copy_pattern() -> None:
    """Teach fakesnow's COPY INTO <table> the PATTERN option (idempotent)."""
    # fakesnow.cursor imported copy_into by name: it is replaced there (the name it calls).
    copy_into = vars(fakesnow_cursor)[_COPY_INTO]
    if getattr(copy_into, "snowsage_pattern", False):
        return
    source_glob = vars(fakesnow_copy_into)[_SOURCE_GLOB]

    def copy_with_pattern(duck_conn: Any, database: Any, schema: Any, copy: exp.Copy, *args: Any) -> Any:
        stripped, pattern = _pattern_of(copy)
        token = _copy_pattern.set(pattern)
        try:
            return copy_into_batched(copy_into, duck_conn, database, schema, stripped, *args)
        finally:
            _copy_pattern.reset(token)

    def glob_with_pattern(source: str, duck_conn: Any) -> list[str]:
        return _matching(source_glob(source, duck_conn))

    copy_with_pattern.snowsage_pattern = True  # type: ignore[attr-defined]
    setattr(fakesnow_cursor, _COPY_INTO, copy_with_pattern)
    setattr(fakesnow_copy_into, _SOURCE_GLOB, glob_with_pattern)


_HANDLE_CSV = "handle_csv"  # fakesnow.copy_into's FILE_FORMAT -> DuckDB read_csv translation
NO_DELIMITER = "\x00"


def support_field_delimiter_none() -> None:
    """Teach fakesnow's CSV reading FIELD_DELIMITER = NONE, one field per line (idempotent)."""
    handle_csv = vars(fakesnow_copy_into)[_HANDLE_CSV]
    if getattr(handle_csv, "snowsage_delimiter_none", False):
        return

    def handle_csv_with_none(options: dict[str, Any]) -> Any:
        delimiter = options.get("FIELD_DELIMITER")
        if delimiter is None or str(delimiter).upper() != "NONE":
            return handle_csv(options)
        return handle_csv({**options, "FIELD_DELIMITER": NO_DELIMITER})

    handle_csv_with_none.snowsage_delimiter_none = True  # type: ignore[attr-defined]
    setattr(fakesnow_copy_into, _HANDLE_CSV, handle_csv_with_none)


# Snowflake answers a statement that is still running with "query in progress" (GS code 333333)
# and a getResultUrl the connector polls (connector 4.8.1 network.py, _post_request's "ping pong");
# its SQL API documents the same after 45 s (developer-guide/sql-api/handling-responses: 202 and a
# statementStatusUrl). fakesnow holds the HTTP request until the statement ends: past the
# connector's socket timeout (60 s, network.py DEFAULT_SOCKET_CONNECT_TIMEOUT) the connector sends
# the request again, fakesnow runs the statement a second time on the session's DuckDB connection
# while the first still runs, and DuckDB refuses ("connection is busy", 002002). That failed the
# 10,000-file export (a long COPY INTO). `answer_long_statements_in_progress` answers
# as Snowflake does instead.
IN_PROGRESS_AFTER_SECONDS = 45.0
QUERY_IN_PROGRESS_CODE = "333333"
_QUERY_REQUEST = "/queries/v1/query-request"
_QUERY_RESULT = "/queries/{query_id}/result"


def answer_long_statements_in_progress(after_seconds: float = IN_PROGRESS_AFTER_SECONDS) -> None:
    """Answer a statement still running after ``after_seconds`` with "query in progress" and a
    result URL, which answers the same way until the statement ends, then with its result."""
    router = fakesnow_server_module.app.router
    index, route = next(
        (i, r) for i, r in enumerate(router.routes) if isinstance(r, Route) and r.path == _QUERY_REQUEST
    )
    original = getattr(route.endpoint, "snowsage_original", route.endpoint)
    running: dict[str, asyncio.Task[Any]] = {}

    async def answer(task: asyncio.Task[Any], query_id: str) -> Any:
        done, _ = await asyncio.wait({task}, timeout=after_seconds)
        if task in done:
            running.pop(query_id, None)
            return task.result()
        running[query_id] = task
        return JSONResponse(
            {
                "code": QUERY_IN_PROGRESS_CODE,
                "data": {"queryId": query_id, "getResultUrl": _QUERY_RESULT.format(query_id=query_id)},
                "message": "query in progress",
                "success": True,
            }
        )

    async def query_request(request: Request) -> Any:
        return await answer(asyncio.ensure_future(original(request)), str(uuid.uuid4()))

    async def query_result(request: Request) -> Any:
        query_id = request.path_params["query_id"]
        task = running.get(query_id)
        if task is None:
            return JSONResponse(
                {"success": False, "code": "000709", "message": f"Statement {query_id} not found"}
            )
        return await answer(task, query_id)

    query_request.snowsage_original = original  # type: ignore[attr-defined]
    router.routes[index] = Route(_QUERY_REQUEST, query_request, methods=["POST"])
    router.routes[:] = [r for r in router.routes if not (isinstance(r, Route) and r.path == _QUERY_RESULT)]
    router.routes.append(Route(_QUERY_RESULT, query_result, methods=["GET"]))


@dataclass
class SnowflakeSandbox:
    """A running fakesnow server. `connect_kwargs` work from this and other processes."""

    host: str
    port: int
    connect_kwargs: dict[str, Any]
    s3_endpoint_url: str
    _stack: contextlib.ExitStack = field(repr=False)

    def connect(self, database: str | None = None, schema: str | None = None, **extra: Any) -> Any:
        kwargs = dict(self.connect_kwargs)
        if database:
            kwargs["database"] = database
        if schema:
            kwargs["schema"] = schema
        return snowflake.connector.connect(**kwargs, **extra)

    def stop(self) -> None:
        self._stack.close()

    def __enter__(self) -> SnowflakeSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def s3_filesystem(s3_endpoint_url: str) -> s3fs.S3FileSystem:
    return s3fs.S3FileSystem(
        endpoint_url=s3_endpoint_url,
        key=SANDBOX_AWS_KEY,
        secret=SANDBOX_AWS_KEY,
        client_kwargs={"region_name": "us-east-1"},
        use_listings_cache=False,
        skip_instance_cache=True,
    )


# The storage integration each stage bucket is reached through (set once the stack, and so its
# role, exists): every stage read and write is made as its role (sandbox/snowflake/storage_integration.py).
_INTEGRATIONS: dict[str, StorageIntegration] = {}


def use_storage_integration(bucket: str, integration: StorageIntegration | None) -> None:
    """The integration the stages on ``bucket`` go through (None: none any more)."""
    if integration is None:
        _INTEGRATIONS.pop(bucket, None)
    else:
        _INTEGRATIONS[bucket] = integration


def stage_principal(bucket: str) -> Principal | None:
    """The role session the stages on ``bucket`` act as; None without an integration (the administrator)."""
    integration = _INTEGRATIONS.get(bucket)
    if integration is None:
        return None
    try:
        return integration.principal()
    except iam_enforcement.AccessDenied as denied:
        raise snowflake.connector.errors.ProgrammingError(
            msg=f"{ASSUME_ROLE_FAILED} ({denied.message})", errno=STAGE_ACCESS_DENIED, sqlstate="XX000"
        ) from None


# Snowflake documents no code of its own for a stage request S3 refused: the sandbox's message
# carries S3's AccessDenied and its reason (errno 9999: a sandbox error, as in functions.py).
STAGE_ACCESS_DENIED = 9999


def stage_objects() -> InProcessS3:
    """moto's S3 in process, as the storage integration's role."""
    return InProcessS3(principal=stage_principal)


def register_s3(duck_conn: Any) -> None:
    """Route DuckDB's s3:// reads to moto (replacing an earlier registration).

    They read moto's S3 backend in this process (sandbox/aws/moto_s3.py): a COPY INTO of 100,000
    staged files made 100,000 s3fs requests to the moto server otherwise. moto must
    therefore serve in this process, as the sandbox and the tests run it."""
    with contextlib.suppress(Exception):
        duck_conn.unregister_filesystem("s3")
    duck_conn.register_filesystem(MotoS3FileSystem(stage_objects()))


def open_stage_file(url: str, mode: str) -> Any:
    """COPY FILES' reads and writes of an s3:// stage, as the storage integration's role."""
    try:
        if "r" in mode:
            return MotoS3FileSystem(stage_objects()).open(url, mode)
        bucket, _, key = url.removeprefix("s3://").partition("/")
        return _PutOnClose(stage_objects(), bucket, key)
    except ClientError as error:
        raise snowflake.connector.errors.ProgrammingError(
            msg=f"Failed to access remote file {url}: {error.response['Error'].get('Message')}",
            errno=STAGE_ACCESS_DENIED,
            sqlstate="XX000",
        ) from None


class _PutOnClose(io.BytesIO):
    """A written stage file: stored when closed (a refusal surfaces as Snowflake's error then)."""

    def __init__(self, objects: InProcessS3, bucket: str, key: str) -> None:
        super().__init__()
        self._target = (objects, bucket, key)

    def close(self) -> None:
        if not self.closed:
            objects, bucket, key = self._target
            try:
                objects.put(bucket, key, self.getvalue())
            except ClientError as error:
                raise snowflake.connector.errors.ProgrammingError(
                    msg=f"Failed to access remote file s3://{bucket}/{key}: "
                    f"{error.response['Error'].get('Message')}",
                    errno=STAGE_ACCESS_DENIED,
                    sqlstate="XX000",
                ) from None
            finally:
                super().close()


def start_snowflake(
    s3_endpoint_url: str,
    port: int | None = None,
    host: str = "127.0.0.1",
    fresh: bool = True,
    network_timeout: int = 30,
) -> SnowflakeSandbox:
    """Start fakesnow's server in a thread; its stages read moto S3 at `s3_endpoint_url`.

    `port=None` picks a free port. `fresh=True` starts from an empty database (the previous
    server's tables are gone); `fresh=False` keeps the process's shared one. fakesnow's own
    kwargs give the connector a 1 s network timeout, too short for a million-row COPY or view:
    `network_timeout` replaces it (the connector retries a failed request until it runs out).
    """
    support_copy_pattern()
    support_field_delimiter_none()

    answer_long_statements_in_progress()
    if fresh:
        fakesnow_server_module.shared_fs = FakeSnow()
    register_s3(fakesnow_server_module.shared_fs.duck_conn)
    # CREATE FUNCTION … LANGUAGE PYTHON and COPY FILES (sandbox/snowflake/functions.py).
    support_python_functions(fakesnow_server_module.shared_fs.duck_conn, open_stage_file)
    stack = contextlib.ExitStack()
    kwargs: dict[str, Any] = stack.enter_context(_serving(port, host))
    kwargs["network_timeout"] = network_timeout
    logger.info("fakesnow serving on %s:%s, stages read %s", kwargs["host"], kwargs["port"], s3_endpoint_url)
    return SnowflakeSandbox(
        host=str(kwargs["host"]),
        port=int(kwargs["port"]),
        connect_kwargs=kwargs,
        s3_endpoint_url=s3_endpoint_url,
        _stack=stack,
    )


@contextlib.contextmanager
def _serving(port: int | None, host: str) -> Iterator[dict[str, Any]]:
    with _serve(port=port, host=host) as kwargs:
        yield dict(kwargs)
