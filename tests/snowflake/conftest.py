"""Fixtures: one moto S3 server and one fakesnow server (stages read moto) for the module tree.

Each test that needs Snowflake objects gets its own database (the `database` variable of the
setup SQL), so tests share the servers but not their tables.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from sandbox.snowflake.server import SnowflakeSandbox, start_snowflake
from sandbox.snowflake.setup import SetupReport, apply_setup
from snowsage.snowflake.connection import ConnectionFactory
from snowsage_setup.sqlscript import EXAMPLES_DIR, setup_files

BUCKET = "snowsage-test"
ROLE_ARN = "arn:aws:iam::123456789012:role/snowsage-snowflake"


@pytest.fixture(scope="session", autouse=True)
def _quiet_servers() -> None:
    for name in ("uvicorn", "uvicorn.access", "uvicorn.error", "fakesnow", "fakesnow.server", "werkzeug"):
        logging.getLogger(name).setLevel(logging.WARNING)


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="module")
def s3(s3_endpoint: str) -> Any:
    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture(scope="module")
def snowflake_sandbox(s3_endpoint: str) -> Iterator[SnowflakeSandbox]:
    sandbox = start_snowflake(s3_endpoint)
    try:
        yield sandbox
    finally:
        sandbox.stop()


def variables(database: str) -> dict[str, str]:
    return {"bucket": BUCKET, "aws_role_arn": ROLE_ARN, "database": database}


@pytest.fixture
def database() -> str:
    return f"T_{uuid.uuid4().hex[:12].upper()}"


@pytest.fixture
def conn(snowflake_sandbox: SnowflakeSandbox, database: str, s3: Any) -> Iterator[Any]:
    connection = snowflake_sandbox.connect()
    try:
        yield connection
    finally:
        connection.close()


def apply_all(conn: Any, database: str, extra: list[Path] | None = None) -> SetupReport:
    return apply_setup(conn, [*setup_files(), *(extra or [])], variables(database))


@pytest.fixture
def setup_conn(conn: Any, database: str) -> Any:
    """A connection whose database holds every object of snowflake/setup (current schema ML)."""
    apply_all(conn, database)
    return conn


@pytest.fixture
def factory(snowflake_sandbox: SnowflakeSandbox, setup_conn: Any, database: str) -> ConnectionFactory:
    """The Lambdas' connection factory, on the test's database (schema ML, set up)."""
    return ConnectionFactory(
        open=lambda tag: snowflake_sandbox.connect(database=database, schema="ML"),
        statement_budget_seconds=120,
    )


SECOND_DATASET = EXAMPLES_DIR / "txn_refund.sql"


def query(conn: Any, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    cur = conn.cursor()
    try:
        cur.execute(sql, params)
        return list(cur.fetchall())
    finally:
        cur.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # fakesnow 0.12.1 warns on every Arrow result it builds; it is its own business
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.filterwarnings("ignore:Arrow output on a DB-API result"))
