"""The smoke's platform in the sandbox: the same plan against moto, fakesnow and the emulator.

A second, throwaway stack is deployed into a running ``Sandbox`` (next to its own), the setup
SQL goes into a throwaway fakesnow database, and EXPORT_DATASET is the sandbox's emulation. What
the sandbox cannot do is said where it is skipped.
"""

from __future__ import annotations

import importlib
import time
from contextlib import AbstractContextManager
from typing import Any

from moto.sagemaker.models import sagemaker_backends

from sandbox.aws.deploy import DeployedStack, deploy
from sandbox.services import REGION, SETUP_SQL, Sandbox
from sandbox.snowflake.export import export_dataset
from sandbox.snowflake.server import use_storage_integration
from sandbox.snowflake.setup import apply_setup
from sandbox.snowflake.storage_integration import (
    SNOWFLAKE_EXTERNAL_ID,
    SNOWFLAKE_IAM_USER_ARN,
    StorageIntegration,
)
from smoke.names import SmokeNames
from smoke.plan import delete_bucket
from snowsage.names import SNOWFLAKE_IDENTIFIER as IDENTIFIER
from tooling.sample_data import SAMPLE_SEED, load_sample_data


class SandboxPlatform:
    name = "the sandbox"
    region = REGION
    account_level_objects = False  # fakesnow has no roles, users, warehouses or integrations

    def __init__(
        self,
        sandbox: Sandbox,
        *,
        poll_seconds: float = 0.1,
        start_timeout_seconds: float = 60,
        run_timeout_seconds: float = 300,
    ) -> None:
        self.sandbox = sandbox
        self.poll_seconds = poll_seconds
        self.start_timeout_seconds = start_timeout_seconds
        self.run_timeout_seconds = run_timeout_seconds
        self.stacks: dict[str, DeployedStack] = {}

    def client(self, service: str) -> Any:
        return self.sandbox.client(service)

    def template_parameters(self) -> dict[str, str]:
        snowflake = self.sandbox.snowflake
        return {
            "SnowflakeAccount": "sandbox",
            "SnowflakeHost": snowflake.host,
            "SnowflakePort": str(snowflake.port),
            "SnowflakeProtocol": "http",
            # What DESC INTEGRATION reports on Snowflake: the sandbox's stand-in user and external id.
            "SnowflakeStorageIamUserArn": SNOWFLAKE_IAM_USER_ARN,
            "SnowflakeStorageExternalId": SNOWFLAKE_EXTERNAL_ID,
        }

    def deploy(self, stack: str, parameters: dict[str, str]) -> dict[str, str]:
        if self.sandbox.runtime is None:
            raise RuntimeError("the sandbox is not running")
        deployed = deploy(
            session=self.sandbox.session,
            endpoint_url=self.sandbox.endpoint_url,
            runtime=self.sandbox.runtime,
            stack_name=stack,
            parameters=parameters,
        )
        self.stacks[stack] = deployed
        # CREATE STORAGE INTEGRATION, which fakesnow skips: the stages on this stack's bucket go
        # through its storage role, as the sandbox's own stack's do.
        use_storage_integration(
            deployed.outputs["DataBucketName"],
            StorageIntegration(role_arn=deployed.outputs["SnowflakeStorageRoleArn"]),
        )
        return deployed.outputs

    def delete_stack(self, stack: str) -> None:
        """``sam delete``: the stack, plus what sandbox.aws.deploy made outside CloudFormation (the state
        machine, created through the Step Functions API, and the code artifacts bucket)."""
        self.client("cloudformation").delete_stack(StackName=stack)
        deployed = self.stacks.pop(stack, None)
        if deployed is not None:
            use_storage_integration(deployed.outputs["DataBucketName"], None)
            sfn = self.client("stepfunctions")
            for arn in deployed.state_machines.values():
                sfn.delete_state_machine(stateMachineArn=arn)
        delete_bucket(self.client("s3"), f"{stack}-sandbox-artifacts")

    def snowflake(self, names: SmokeNames, *, ready: bool) -> AbstractContextManager[Any]:
        connection: AbstractContextManager[Any] = self.sandbox.snowflake.connect(
            database=names.database, schema=names.schema
        )
        return connection

    def apply_setup(self, connection: Any, variables: dict[str, str]) -> None:
        apply_setup(connection, SETUP_SQL, variables)

    def storage_trust(self, connection: Any, names: SmokeNames) -> dict[str, str]:
        return {}  # known before the first deploy (template_parameters): no second deploy

    def set_public_key(self, connection: Any, names: SmokeNames, public_key: str) -> None:
        """fakesnow has no users (ALTER USER is skipped by sandbox.snowflake.setup); it accepts any key."""

    def load_sample(self, connection: Any, bucket: str, rows: int) -> int:
        report = load_sample_data(connection, rows, SAMPLE_SEED, s3_client=self.client("s3"), bucket=bucket)
        return report.transactions

    def export(self, connection: Any, bucket: str, dataset: str) -> dict[str, Any]:
        return export_dataset(connection, self.client("s3"), bucket, dataset)

    def delete_model_package_group(self, group: str) -> None:
        """moto has no DeleteModelPackage(Group): remove the group and its packages from its backend,
        as API_DeleteModelPackage and API_DeleteModelPackageGroup do on AWS."""
        account = self.client("sts").get_caller_identity()["Account"]
        backend = sagemaker_backends[account][self.region]
        gone = {arn for arn, item in backend.model_packages.items() if item.model_package_group_name == group}
        for arn in gone:
            del backend.model_packages[arn]
        for name, arn in list(backend.model_package_name_mapping.items()):
            if arn in gone:
                del backend.model_package_name_mapping[name]
        backend.model_package_groups.pop(group, None)

    def drop(self, names: SmokeNames, kind: str, name: str) -> None:
        """fakesnow cannot parse DROP DATABASE: detach the DuckDB database fakesnow attached for it
        (DROP DATABASE removes a database and everything in it, sql-reference/sql/drop-database)."""
        if kind != "DATABASE":
            raise ValueError(f"the sandbox creates no Snowflake {kind.lower()}")
        if not IDENTIFIER.fullmatch(name):
            raise ValueError(f"{name!r} is not a plain identifier")
        _duck().execute(f"DETACH DATABASE IF EXISTS {name}")

    def databases(self) -> set[str]:
        """The databases fakesnow holds (for tests: is the smoke's gone?)."""
        rows = _duck().execute("SELECT database_name FROM duckdb_databases()")
        return {str(row[0]).upper() for row in rows.fetchall()}

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def _duck() -> Any:
    """fakesnow's shared DuckDB connection (sandbox.snowflake.server imported fakesnow.server first)."""
    return importlib.import_module("fakesnow.server").shared_fs.duck_conn
