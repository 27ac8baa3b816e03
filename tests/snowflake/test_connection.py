"""The driver's time limits, session parameters, transient errors and cache directories."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from snowflake.connector.errors import OperationalError, ProgrammingError

from snowsage.errors import SnowflakeUnavailable
from snowsage.settings import SnowflakeSettings
from snowsage.snowflake.connection import (
    KeyPairCredentials,
    connect_kwargs,
    is_transient,
    point_driver_caches_at,
    session,
)
from tests.snowflake.fake_driver import FakeClock, FakeConnection, FakeCursor, factory_for

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = SnowflakeSettings.from_env(
    {
        "SNOWFLAKE_ACCOUNT": "myorg-myaccount",
        "SNOWFLAKE_WAREHOUSE": "SNOWSAGE_WH",
        "SNOWFLAKE_DATABASE": "SNOWSAGE",
        "SNOWFLAKE_SCHEMA": "ML",
        "SNOWFLAKE_ROLE": "SNOWSAGE_PIPELINE",
        "SNOWFLAKE_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:snowsage-AbCdEf",
        "SNOWFLAKE_STATEMENT_TIMEOUT": "600",
    }
)

# What Snowflake answers when STATEMENT_TIMEOUT_IN_SECONDS stops a statement, and what the
# connector raises when its own cancel timer (cursor.execute's timeout=) fires (cursor.py).
STATEMENT_TIMEOUT = ProgrammingError(
    msg="Statement reached its statement or warehouse timeout of 600 second(s) and was canceled.",
    errno=630,
    sqlstate="57014",
)
CLIENT_CANCEL = ProgrammingError(
    msg="SQL execution was cancelled by the client due to a timeout. Error message received from"
    " the server: SQL execution canceled",
    errno=604,
    sqlstate="57014",
)


def _credentials() -> KeyPairCredentials:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return KeyPairCredentials.model_validate({"user": "SNOWSAGE_PIPELINE_USER", "private_key": pem})


def test_sessions_carry_the_statement_timeout_and_the_run_id_as_query_tag() -> None:
    kwargs = connect_kwargs(SETTINGS, _credentials(), query_tag="merchant-risk-20261126t020000z")
    assert kwargs["session_parameters"] == {
        "STATEMENT_TIMEOUT_IN_SECONDS": 600,
        "LOCK_TIMEOUT": 90,
        "QUERY_TAG": "merchant-risk-20261126t020000z",
    }
    assert (kwargs["login_timeout"], kwargs["network_timeout"]) == (30, 120)


def test_every_statement_gets_the_time_left_of_the_budget() -> None:
    cursor = FakeCursor()
    clock = FakeClock()
    with session(factory_for(FakeConnection(cursor), budget=600, clock=clock), "run-1") as snowflake:
        snowflake.execute("CREATE TEMPORARY TABLE T (ID VARCHAR)")
        clock.now += 450.5
        snowflake.execute("COPY INTO T FROM @S/p/")
        clock.now += 149
        with pytest.raises(SnowflakeUnavailable, match="600 s budget"):
            snowflake.execute("INSERT INTO P SELECT * FROM T")
    # Never None: without timeout= connector 4.8.1 cancels any statement after network_timeout.
    assert cursor.executed == [("CREATE", 600), ("COPY", 149)]


def test_the_session_adds_up_its_statements_time_failed_ones_included() -> None:
    """The run's warehouse time (snowsage.cost): the statements' time, not the time between them."""
    clock = FakeClock()
    failing = ProgrammingError(msg="Numeric value 'x' is not recognized", errno=100038)
    cursor = FakeCursor(seconds={"CALL": 12.5, "COPY": 2.25}, clock=clock, failures={"INSERT": failing})
    cursor.seconds["INSERT"] = 0.125
    with session(factory_for(FakeConnection(cursor), clock=clock), "run-1") as snowflake:
        snowflake.execute("CALL TRAIN_MODEL('d', 'r', '{}', 'validation:auc')")
        clock.now += 100  # the Lambda's own work between statements
        snowflake.execute("COPY INTO T FROM @S/p/")
        with pytest.raises(ProgrammingError):
            snowflake.execute("INSERT INTO P SELECT * FROM T")
    assert snowflake.elapsed_seconds == 12.5 + 2.25 + 0.125
    assert snowflake.warehouse_seconds() == 14.875


@pytest.mark.parametrize("error", [STATEMENT_TIMEOUT, CLIENT_CANCEL], ids=["000630", "client-cancel"])
def test_a_statement_that_runs_out_of_time_is_transient(error: ProgrammingError) -> None:
    connection = FakeConnection(FakeCursor(failures={"COPY": error}))
    with (
        pytest.raises(SnowflakeUnavailable, match="ProgrammingError"),
        session(factory_for(connection), "run-1") as snowflake,
    ):
        snowflake.execute("COPY INTO T FROM @S/p/")
    assert connection.closed


def test_other_sql_errors_stay_permanent() -> None:
    missing = ProgrammingError(
        msg="Object 'P' does not exist or not authorized.", errno=2003, sqlstate="42S02"
    )
    assert not is_transient(missing)
    assert is_transient(OperationalError(msg="Read timed out.", errno=250003))
    connection = FakeConnection(FakeCursor(failures={"INSERT": missing}))
    with pytest.raises(ProgrammingError), session(factory_for(connection), "run-1") as snowflake:
        snowflake.execute("INSERT INTO P SELECT 1")


def _dead_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


# Runs in a fresh interpreter, so the connector is imported the way the Lambda imports it: by
# the factory's first connect.
_CONNECT_WITH_AN_UNWRITABLE_HOME = """
import json, sys
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
import snowsage.snowflake.connection as connection
from snowsage.settings import SnowflakeSettings

pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
).decode()
credentials = connection.KeyPairCredentials.model_validate({"user": "U", "private_key": pem})
connection.fetch_credentials = lambda arn: credentials
try:
    connection.connection_factory(SnowflakeSettings.from_env(json.loads(sys.argv[1]))).open("run-1")
except connection.SnowflakeUnavailable:
    pass
from snowflake.connector import ocsp_snowflake, token_cache
print(json.dumps({
    "ocsp": ocsp_snowflake.OCSPCache.CACHE_DIR,
    "validation": getattr(ocsp_snowflake.OCSP_RESPONSE_VALIDATION_CACHE, "file_path", None),
    "credentials": str(token_cache.FileTokenCache.find_cache_dir()),
}))
"""


def test_the_driver_writes_its_caches_under_tmp_not_home(tmp_path: Path) -> None:
    # HOME that cannot be created or written, as on Lambda (a file where its parent should be:
    # unwritable even for root, who ignores permission bits).
    (tmp_path / "not-a-directory").write_text("")
    home = tmp_path / "not-a-directory" / "home"
    temp = tmp_path / "tmp"
    temp.mkdir()
    settings_env = {
        **{name.upper(): str(value) for name, value in SETTINGS.model_dump().items()},
        "SNOWFLAKE_HOST": "127.0.0.1",
        "SNOWFLAKE_PORT": str(_dead_port()),
        "SNOWFLAKE_PROTOCOL": "http",
        "SNOWFLAKE_LOGIN_TIMEOUT": "1",
    }
    env = {key: value for key, value in os.environ.items() if not key.startswith(("SF_", "XDG_"))}
    env.update(HOME=str(home), TMPDIR=str(temp), PYTHONPATH=f"{ROOT / 'layers' / 'common'}")
    done = subprocess.run(
        [sys.executable, "-c", _CONNECT_WITH_AN_UNWRITABLE_HOME, json.dumps(settings_env)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    root = temp / "snowflake"
    assert seen == {
        "ocsp": str(root / "ocsp"),
        "validation": str(root / "home" / ".cache" / "snowflake" / "ocsp_response_validation_cache.json"),
        "credentials": str(root / "credentials"),
    }
    assert (root / "credentials").stat().st_mode & 0o777 == 0o700  # the token cache insists on 0700


def test_a_writable_home_is_kept(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "SF_OCSP_RESPONSE_CACHE_DIR": str(tmp_path / "mine")}
    point_driver_caches_at(tmp_path / "root", env)
    assert env == {
        "HOME": str(tmp_path),
        "SF_OCSP_RESPONSE_CACHE_DIR": str(tmp_path / "mine"),
        "SF_TEMPORARY_CREDENTIAL_CACHE_DIR": str(tmp_path / "root" / "credentials"),
    }
