"""The real platform's commands and SQL, with the clouds replaced by recorders (no account used)."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from smoke import real
from smoke.names import SmokeNames
from smoke.real import IAM_PROPAGATION_SECONDS, RealPlatform

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

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self.connection.rows

    def fetchone(self) -> tuple[Any, ...]:
        return self.connection.rows[0]

    def close(self) -> None:
        pass


class FakeConnection:
    def __init__(self, rows: list[tuple[Any, ...]] | None = None) -> None:
        self.statements: list[str] = []
        self.rows = rows or []
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
    assert sleeps == [IAM_PROPAGATION_SECONDS]  # only after the deploy that creates the storage role


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
