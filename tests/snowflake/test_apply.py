"""snowsage_setup/apply.py: dry run renders without connecting; key-pair only; file selection."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import snowflake.connector

from snowsage_setup import apply
from snowsage_setup.packages import AnacondaTermsNotAccepted, PackagePinMissing
from snowsage_setup.sqlscript import SETUP_DIR, SqlScriptError

from .conftest import BUCKET, ROLE_ARN

DEFINES = ["-D", f"bucket={BUCKET}", "-D", f"aws_role_arn={ROLE_ARN}"]


@pytest.fixture
def no_connect(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("--dry-run must not connect")

    monkeypatch.setattr(snowflake.connector, "connect", refuse)


def test_dry_run_prints_rendered_sql_without_connecting(no_connect: None) -> None:
    out = io.StringIO()
    assert apply.main(["--dry-run", *DEFINES, "-D", "database=PROD_ML"], out=out) == 0
    text = out.getvalue()
    assert "&{" not in text
    assert "URL = 's3://snowsage-test/'" in text
    assert f"STORAGE_AWS_ROLE_ARN = '{ROLE_ARN}'" in text
    assert "CREATE DATABASE IF NOT EXISTS PROD_ML" in text
    assert "-- 40_tasks.sql:" in text
    assert text.index("00_account.sql") < text.index("30_export_procedure.sql") < text.index("40_tasks.sql")


def test_only_selects_files_by_glob(no_connect: None) -> None:
    out = io.StringIO()
    assert apply.main(["--dry-run", "--only", "3*", *DEFINES], out=out) == 0
    sources = {
        line.split(":")[0]
        for line in out.getvalue().splitlines()
        if line.startswith("-- ") and ".sql:" in line
    }
    assert sources == {"-- 30_export_procedure.sql", "-- 35_training_procedure.sql"}


def test_extra_paths_add_a_dataset(no_connect: None) -> None:
    out = io.StringIO()
    example = SETUP_DIR.parent / "examples" / "txn_refund.sql"
    assert apply.main(["--dry-run", *DEFINES, str(example)], out=out) == 0
    assert "CREATE OR ALTER TASK EXPORT_TXN_REFUND" in out.getvalue()


def test_missing_variables_fail_before_connecting(
    no_connect: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert apply.main(["--dry-run"], out=io.StringIO()) == 2
    assert "missing variables: aws_role_arn, bucket" in capsys.readouterr().err


def test_runs_as_a_module_from_anywhere() -> None:
    """What the README runs, from outside the repository: the venv alone makes the package importable."""
    result = subprocess.run(
        [sys.executable, "-m", "snowsage_setup.apply", "--dry-run", "--only", "40_*", *DEFINES],
        capture_output=True,
        text=True,
        check=True,
        cwd="/",
    )
    assert "CALL EXPORT_DATASET('merchant_risk')" in result.stdout


def private_key(folder: Path, passphrase: bytes) -> Path:
    """A PKCS#8 PEM key file, as `openssl genrsa | openssl pkcs8 -topk8` makes it."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase),
    )
    path = folder / "rsa_key.p8"
    path.write_bytes(pem)
    return path


def test_connection_is_key_pair_only(tmp_path: Path) -> None:
    path = private_key(tmp_path, b"s3cret")
    env = {
        "SNOWFLAKE_ACCOUNT": "org-acct",
        "SNOWFLAKE_USER": "DEPLOYER",
        "SNOWFLAKE_PRIVATE_KEY_PATH": str(path),
        "SNOWFLAKE_PRIVATE_KEY_PASSPHRASE": "s3cret",
        "SNOWFLAKE_ROLE": "ACCOUNTADMIN",
    }
    kwargs = apply.connection_kwargs(env)
    assert kwargs["account"] == "org-acct"
    assert kwargs["role"] == "ACCOUNTADMIN"
    assert isinstance(kwargs["private_key"], bytes)
    assert "password" not in kwargs

    with pytest.raises(SqlScriptError, match="key-pair"):
        apply.connection_kwargs({**env, "SNOWFLAKE_PASSWORD": "nope"})
    with pytest.raises(SqlScriptError, match="SNOWFLAKE_PRIVATE_KEY_PATH"):
        apply.connection_kwargs({k: v for k, v in env.items() if k != "SNOWFLAKE_PRIVATE_KEY_PATH"})


def test_run_prints_describe_results() -> None:
    class Cursor:
        def __init__(self) -> None:
            self.sql: list[str] = []
            self.description = [("property",), ("property_value",)]

        def execute(self, sql: str) -> None:
            self.sql.append(sql)

        def fetchall(self) -> list[tuple[str, str]]:
            return [("STORAGE_AWS_EXTERNAL_ID", "ABC_SFCRole=1")]

        def close(self) -> None:
            pass

    class Conn:
        cur = Cursor()

        def cursor(self) -> Cursor:
            return self.cur

    from snowsage_setup.sqlscript import split_statements

    out = io.StringIO()
    apply.run(split_statements("USE ROLE R; DESC INTEGRATION I;"), Conn(), out)
    assert "property=STORAGE_AWS_EXTERNAL_ID, property_value=ABC_SFCRole=1" in out.getvalue()
    assert Conn.cur.sql == ["USE ROLE R", "DESC INTEGRATION I"]


class StatusCursor:
    """Answers every statement with one status row; GRANTs get ``grant_status``."""

    def __init__(self, grant_status: str) -> None:
        self.grant_status = grant_status
        self.sql: list[str] = []
        self.description = [("status",)]

    def execute(self, sql: str) -> None:
        self.sql.append(sql)

    def fetchall(self) -> list[tuple[str]]:
        last = self.sql[-1]
        return [(self.grant_status if last.startswith("GRANT") else "Statement executed successfully.",)]

    def close(self) -> None:
        pass


class StatusConnection:
    def __init__(self, cursor: StatusCursor) -> None:
        self.cur = cursor

    def cursor(self) -> StatusCursor:
        return self.cur


def test_a_grant_that_was_not_executed_fails_the_apply() -> None:
    from snowsage_setup.sqlscript import split_statements

    statements = split_statements("USE ROLE R; GRANT USAGE ON DATABASE D TO ROLE P; CREATE TABLE T (A INT);")
    cursor = StatusCursor("Grant not executed: Insufficient privileges.")
    out = io.StringIO()
    with pytest.raises(
        apply.StatementNotExecuted, match=r"<sql>:1: GRANT was not carried out: Grant not executed"
    ):
        apply.run(statements, StatusConnection(cursor), out)
    assert cursor.sql == ["USE ROLE R", "GRANT USAGE ON DATABASE D TO ROLE P"]  # stops at the refusal

    granted = StatusCursor("Statement executed successfully.")
    apply.run(statements, StatusConnection(granted), io.StringIO())
    assert len(granted.sql) == 3


def test_main_exits_non_zero_when_a_grant_is_not_executed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cursor = StatusCursor("Grant not executed: Insufficient privileges.")

    class Conn(StatusConnection):
        def __enter__(self) -> StatusConnection:
            return self

        def __exit__(self, *exc: object) -> None:
            pass

    sql = tmp_path / "grant.sql"
    sql.write_text("GRANT USAGE ON DATABASE D TO ROLE P;\n")
    monkeypatch.setattr(apply, "connection_kwargs", lambda env: {})
    monkeypatch.setattr(snowflake.connector, "connect", lambda **kwargs: Conn(cursor))
    out = io.StringIO()
    assert apply.main([str(sql)], out=out) == 1
    assert "NOT EXECUTED" in out.getvalue()


PYTHON_PROCEDURE = (
    "CREATE OR REPLACE PROCEDURE P() RETURNS VARIANT LANGUAGE PYTHON RUNTIME_VERSION = '3.11'"
    " PACKAGES = ('snowflake-snowpark-python', 'xgboost==1.7.3') HANDLER = 'h' AS $$\ndef h(s): return 1\n$$"
)


class ChannelCursor:
    """INFORMATION_SCHEMA.PACKAGES answers with ``channel`` rows (package, version, runtime);
    ``refuse_create`` makes the CREATE PROCEDURE fail with that message (a ProgrammingError)."""

    def __init__(self, channel: list[tuple[str, str, str]], refuse_create: str | None = None) -> None:
        self.channel = channel
        self.refuse_create = refuse_create
        self.sql: list[str] = []
        self.description = [("status",)]
        self.rows: list[tuple[str, ...]] = []

    def execute(self, sql: str, binds: Any = None) -> None:
        self.sql.append(sql)
        if "INFORMATION_SCHEMA.PACKAGES" in sql:
            self.rows = [row for row in self.channel if row[0] in binds and row[2] in binds]
        elif sql.startswith("CREATE OR REPLACE PROCEDURE") and self.refuse_create:
            raise snowflake.connector.errors.ProgrammingError(msg=self.refuse_create, errno=3001)

    def fetchall(self) -> list[tuple[str, ...]]:
        return self.rows

    def close(self) -> None:
        pass


def _statements() -> list[Any]:
    from snowsage_setup.sqlscript import split_statements

    return split_statements(f"USE ROLE R; {PYTHON_PROCEDURE};")


def test_the_pins_are_checked_against_the_channel_before_the_first_python_object() -> None:
    offered = [
        ("snowflake-snowpark-python", "1.56.0", "3.11"),
        ("xgboost", "1.7.3", "3.11"),
        ("pandas", "2.2.3", "3.11"),
    ]
    cursor = ChannelCursor(offered)
    apply.run(_statements(), StatusConnection(cursor), io.StringIO())  # type: ignore[arg-type]
    assert cursor.sql[0] == "USE ROLE R"
    assert "INFORMATION_SCHEMA.PACKAGES" in cursor.sql[1] and cursor.sql[2].startswith(
        "CREATE OR REPLACE PROCEDURE"
    )

    lacking = ChannelCursor([row if row[0] != "xgboost" else ("xgboost", "2.1.4", "3.11") for row in offered])
    with pytest.raises(
        PackagePinMissing,
        match=r"xgboost==1.7.3 is not on Snowflake's Anaconda channel for Python 3.11"
        r" \(INFORMATION_SCHEMA.PACKAGES lists: 2.1.4\)",
    ):
        apply.run(_statements(), StatusConnection(lacking), io.StringIO())  # type: ignore[arg-type]
    assert not any(sql.startswith("CREATE") for sql in lacking.sql)  # stopped before the CREATE


def test_a_create_refused_for_the_anaconda_terms_says_to_accept_them() -> None:
    offered = [
        ("snowflake-snowpark-python", "1.56.0", "3.11"),
        ("xgboost", "1.7.3", "3.11"),
        ("pandas", "2.2.3", "3.11"),
    ]
    cursor = ChannelCursor(
        offered,
        refuse_create="Anaconda terms must be accepted by ORGADMIN to use Anaconda 3rd party packages.",
    )
    with pytest.raises(
        AnacondaTermsNotAccepted, match="ORGADMIN must accept the Snowflake Third Party Terms"
    ):
        apply.run(_statements(), StatusConnection(cursor), io.StringIO())  # type: ignore[arg-type]
    other = ChannelCursor(offered, refuse_create="SQL compilation error: syntax error")
    with pytest.raises(snowflake.connector.errors.ProgrammingError, match="syntax error"):
        apply.run(_statements(), StatusConnection(other), io.StringIO())  # type: ignore[arg-type]


def test_apply_runs_on_the_sandbox_snowflake_as_on_an_account(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`python -m snowsage_setup.apply` with a key pair against the Snowflake `sandbox serve` runs:
    the connector's splitting and one statement at a time, over HTTP (fakesnow cannot run roles,
    grants or tasks, so the file applied here is the dataset's tables and views)."""
    from sandbox.snowflake.server import start_snowflake

    with start_snowflake("http://127.0.0.1:9") as server:  # no stage is read: any S3 endpoint
        with server.connect() as connection:
            connection.cursor().execute("CREATE DATABASE IF NOT EXISTS SNOWSAGE")
            connection.cursor().execute("CREATE SCHEMA IF NOT EXISTS SNOWSAGE.ML")
        env = {
            "SNOWFLAKE_ACCOUNT": "fakesnow",
            "SNOWFLAKE_USER": "DEPLOYER",
            "SNOWFLAKE_PRIVATE_KEY_PATH": str(private_key(tmp_path, b"s3cret")),
            "SNOWFLAKE_PRIVATE_KEY_PASSPHRASE": "s3cret",
            "SNOWFLAKE_HOST": server.host,
            "SNOWFLAKE_PORT": str(server.port),
            "SNOWFLAKE_PROTOCOL": "http",
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        out = io.StringIO()
        assert apply.main(["--only", "10_*", *DEFINES], out=out) == 0, out.getvalue()
        with server.connect("SNOWSAGE", "ML") as connection:
            cursor = connection.cursor()
            cursor.execute("SELECT COUNT(*) FROM MERCHANT_FEATURES")
            assert cursor.fetchone() == (0,)  # the view exists, over the (empty) tables the file made
    assert "10_merchant_features.sql" in out.getvalue() and "CREATE VIEW … ok" in out.getvalue()
