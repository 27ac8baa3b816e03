"""The real platform's commands and SQL, with the clouds replaced by recorders (no account used)."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from smoke import real
from smoke.names import SmokeNames
from smoke.real import IAM_PROPAGATION_WAIT_SECONDS, RealPlatform

NAMES = SmokeNames("abc123")


class FakeCloudFormation:
    def describe_stacks(self, StackName: str) -> dict[str, Any]:
        return {"Stacks": [{"Outputs": [{"OutputKey": "DataBucketName", "OutputValue": "b"}]}]}


class FakeSession:
    region_name = "eu-west-1"

    def client(self, service: str) -> Any:
        assert service == "cloudformation"
        return FakeCloudFormation()


class FakeCursor:
    def __init__(self, connection: FakeConnection) -> None:
        self.connection = connection

    def execute(self, statement: str, params: Any = None) -> None:
        self.connection.statements.append(statement if params is None else f"{statement} {params}")
        if self.connection.failures:
            raise self.connection.failures.pop(0)

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self.connection.rows

    def fetchone(self) -> tuple[Any, ...]:
        return self.connection.rows[0]

    def close(self) -> None:
        pass


class FakeConnection:
    def __init__(
        self, rows: list[tuple[Any, ...]] | None = None, failures: list[Exception] | None = None
    ) -> None:
        self.statements: list[str] = []
        self.rows = rows or []
        self.failures = failures or []
        self.closed = False

    def cursor(self) -> FakeCursor:
        return FakeCursor(self)

    def close(self) -> None:
        self.closed = True


def platform() -> tuple[RealPlatform, list[list[str]], list[float]]:
    commands: list[list[str]] = []
    sleeps: list[float] = []
    instance = RealPlatform(
        {"SNOWFLAKE_ACCOUNT": "org-acct"},
        "/venv/bin/sam",
        io.StringIO(),
        session=FakeSession(),
        runner=lambda command, **_: commands.append(command),
        sleeper=sleeps.append,
    )
    return instance, commands, sleeps


def test_deploy_builds_once_and_deploys_the_named_stack_with_its_parameters() -> None:
    smoke, commands, sleeps = platform()
    outputs = smoke.deploy(NAMES.stack, {"ResourcePrefix": "smkabc123", "SnowflakeDatabase": "D"})
    assert outputs == {"DataBucketName": "b"}
    smoke.deploy(NAMES.stack, {"SnowflakeStorageIamUserArn": "arn:aws:iam::1:user/x"})
    assert [command[1] for command in commands] == ["build", "deploy", "deploy"]
    deploy = commands[1]
    assert deploy[deploy.index("--stack-name") + 1] == "snowsage-smoke-abc123"
    assert deploy[deploy.index("--region") + 1] == "eu-west-1"
    assert "--no-confirm-changeset" in deploy
    assert "CAPABILITY_NAMED_IAM" in deploy
    overrides = deploy[deploy.index("--parameter-overrides") + 1 :]
    assert overrides == ["ResourcePrefix=smkabc123", "SnowflakeDatabase=D"]
    assert sleeps == []  # no fixed wait for IAM: the first export retries while the role spreads


def test_delete_stack_is_sam_delete_without_prompts() -> None:
    smoke, commands, _ = platform()
    smoke.delete_stack(NAMES.stack)
    assert commands == [
        ["/venv/bin/sam", "delete", "--stack-name", NAMES.stack, "--region", "eu-west-1", "--no-prompts"]
    ]


def test_the_storage_trust_comes_from_desc_integration() -> None:
    smoke, _, _ = platform()
    connection = FakeConnection(
        [
            ("STORAGE_AWS_IAM_USER_ARN", "String", "arn:aws:iam::999:user/sf", ""),
            ("STORAGE_AWS_EXTERNAL_ID", "String", "EXT_ID", ""),
        ]
    )
    assert smoke.storage_trust(connection, NAMES) == {
        "SnowflakeStorageIamUserArn": "arn:aws:iam::999:user/sf",
        "SnowflakeStorageExternalId": "EXT_ID",
    }
    assert connection.statements == ["DESC INTEGRATION SNOWSAGE_SMOKE_ABC123_S3"]


def test_the_public_key_must_be_base64_before_it_is_inlined() -> None:
    smoke, _, _ = platform()
    connection = FakeConnection()
    smoke.set_public_key(connection, NAMES, "MIIBIjANBgkq+/==")
    assert connection.statements[-1] == (
        "ALTER USER SNOWSAGE_SMOKE_ABC123_USER SET RSA_PUBLIC_KEY = 'MIIBIjANBgkq+/=='"
    )
    with pytest.raises(ValueError, match="base64"):
        smoke.set_public_key(connection, NAMES, "x'; DROP USER y; --")


def test_export_reads_the_manifest_the_procedure_returns() -> None:
    smoke, _, _ = platform()
    manifest = {"export_id": "20261127t000000z", "score": {"rows": 5}}
    connection = FakeConnection([(json.dumps(manifest),)])
    assert smoke.export(connection, "b", "merchant_risk") == manifest
    assert connection.statements == ["CALL EXPORT_DATASET(%s) ('merchant_risk',)"]


def test_drops_run_as_accountadmin_and_refuse_odd_names(monkeypatch: pytest.MonkeyPatch) -> None:
    smoke, _, _ = platform()
    connection = FakeConnection()
    monkeypatch.setattr(real, "connection_kwargs", lambda env: {})
    monkeypatch.setattr(real.snowflake.connector, "connect", lambda **_: connection)
    smoke.drop(NAMES, "STORAGE INTEGRATION", NAMES.integration)
    assert connection.statements == [
        "USE ROLE ACCOUNTADMIN",
        "DROP STORAGE INTEGRATION IF EXISTS SNOWSAGE_SMOKE_ABC123_S3",
    ]
    assert connection.closed
    with pytest.raises(ValueError, match="plain identifier"):
        smoke.drop(NAMES, "DATABASE", "X; DROP DATABASE PROD")


def _refused(message: str) -> Exception:
    return real.snowflake.connector.errors.ProgrammingError(msg=message, errno=91003)


ASSUMING = (
    "SQL execution error: Error assuming AWS_ROLE. Please verify the role and externalId are configured"
    " correctly in your AWS policy."
)


def test_the_first_export_is_retried_while_iam_spreads_the_storage_role() -> None:
    """IAM is eventually consistent (troubleshoot_general): no fixed sleep, but a bounded retry on
    the error Snowflake gives while it cannot assume the role yet."""
    smoke, _, sleeps = platform()
    manifest = {"export_id": "20261127t000000z"}
    denied = "Failure using stage area. Cause: [Access Denied (Status Code: 403; Error Code: AccessDenied)]"
    connection = FakeConnection([(json.dumps(manifest),)], failures=[_refused(ASSUMING), _refused(denied)])
    assert smoke.export(connection, "b", "merchant_risk") == manifest
    assert sleeps == [5.0, 10.0]
    assert len(connection.statements) == 3


def test_the_retry_is_bounded_and_other_errors_are_not_retried() -> None:
    smoke, _, sleeps = platform()
    connection = FakeConnection([("{}",)], failures=[_refused(ASSUMING)] * 50)
    with pytest.raises(real.snowflake.connector.errors.ProgrammingError, match="Error assuming AWS_ROLE"):
        smoke.export(connection, "b", "merchant_risk")
    assert sum(sleeps) <= IAM_PROPAGATION_WAIT_SECONDS and len(sleeps) >= 5
    smoke, _, sleeps = platform()
    connection = FakeConnection([("{}",)], failures=[_refused("EXPORT_DATASET: no enabled ML_DATASETS row")])
    with pytest.raises(real.snowflake.connector.errors.ProgrammingError, match="no enabled"):
        smoke.export(connection, "b", "merchant_risk")
    assert sleeps == []
