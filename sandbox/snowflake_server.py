"""fakesnow as Snowflake, served over HTTP, with its external stages reading moto S3.

COPY INTO from an `s3://` stage needs DuckDB's httpfs, which cannot be downloaded here
(../shared/SANDBOX.md). Instead an `s3fs.S3FileSystem` pointed at moto is registered on
fakesnow's shared DuckDB connection before serving: `@ML_STAGE/predictions/…` then reads moto.

fakesnow keeps one shared in-memory database per process (`fakesnow.server.shared_fs`); every
session of the server uses it. `start_snowflake(fresh=True)` swaps in an empty one.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import fakesnow
import s3fs
import snowflake.connector

# `import fakesnow.server` binds the submodule over the `fakesnow.server` function: take the
# function first, then the module (for its shared DuckDB connection).
_serve = fakesnow.server
import fakesnow.server as fakesnow_server_module  # noqa: E402
from fakesnow.instance import FakeSnow  # noqa: E402

logger = logging.getLogger(__name__)

SANDBOX_AWS_KEY = "testing"


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


def register_s3(duck_conn: Any, s3_endpoint_url: str) -> None:
    """Route DuckDB's s3:// reads to moto (replacing an earlier registration)."""
    with contextlib.suppress(Exception):
        duck_conn.unregister_filesystem("s3")
    duck_conn.register_filesystem(s3_filesystem(s3_endpoint_url))


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
    if fresh:
        fakesnow_server_module.shared_fs = FakeSnow()
    register_s3(fakesnow_server_module.shared_fs.duck_conn, s3_endpoint_url)
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
