"""The smoke's platform in the sandbox: the same plan against moto, fakesnow and the emulator.

A second, throwaway stack is deployed into a running ``Sandbox`` (next to its own), the setup
SQL goes into a throwaway fakesnow database, and EXPORT_DATASET is the sandbox's emulation. What
the sandbox cannot do is said where it is skipped.
"""

from __future__ import annotations

import importlib
import time
from contextlib import AbstractContextManager
from datetime import UTC, datetime
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
from smoke.paths import template_alarms
from smoke.plan import delete_bucket, wait_for_execution
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
        notice_timeout_seconds: float = 20,
    ) -> None:
        self.sandbox = sandbox
        self.poll_seconds = poll_seconds
        self.start_timeout_seconds = start_timeout_seconds
        self.run_timeout_seconds = run_timeout_seconds
        self.notice_timeout_seconds = notice_timeout_seconds
        self.stacks: dict[str, DeployedStack] = {}
        self.calls: set[str] = set()  # "<service>:<Operation>" of every call the plan made
        self._export_ids: set[str] = set()

    def client(self, service: str) -> Any:
        client = self.sandbox.client(service)
        client.meta.events.register("before-call.*.*", self._record)
        if service == "cloudformation":
            client.meta.events.register(
                "after-call.cloudformation.DescribeStackResources", self._list_alarms_made_outside
            )
        return client

    def _record(self, model: Any, **_: Any) -> None:
        self.calls.add(f"{model.service_model.service_name}:{model.name}")

    def _list_alarms_made_outside(self, parsed: dict[str, Any], **_: Any) -> None:
        """The alarms sandbox.aws.deploy made with PutMetricAlarm (moto's CloudFormation skips the
        type), listed among the stack's resources as CloudFormation lists them on AWS."""
        items = parsed.get("StackResources") or []
        deployed = self.stacks.get(str(items[0].get("StackName"))) if items else None
        if deployed is None:
            return
        for logical_id in template_alarms():
            if logical_id in deployed.resources:
                items.append(
                    {
                        "StackName": deployed.stack_name,
                        "LogicalResourceId": logical_id,
                        "PhysicalResourceId": deployed.resources[logical_id],
                        "ResourceType": "AWS::CloudWatch::Alarm",
                        "ResourceStatus": "CREATE_COMPLETE",
                    }
                )

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
            # The endpoint's creation is seconds here: look every second, not every 30.
            "EndpointPollSeconds": "1",
            # A promoted warm-started run updates it blue/green: bake one second, not ten minutes.
            "EndpointBakingSeconds": "1",
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
        machine, created through the Step Functions API, the alarms and the code artifacts bucket).
        SAM CLI's calls, not the plan's: made through unrecorded clients (SAM_CLI_ACTIONS lists them)."""
        self.sandbox.client("cloudformation").delete_stack(StackName=stack)
        deployed = self.stacks.pop(stack, None)
        if deployed is not None:
            use_storage_integration(deployed.outputs["DataBucketName"], None)
            alarms = [deployed.resources[i] for i in template_alarms() if i in deployed.resources]
            if alarms:
                self.sandbox.client("cloudwatch").delete_alarms(AlarmNames=alarms)
            sfn = self.sandbox.client("stepfunctions")
            for arn in deployed.state_machines.values():
                sfn.delete_state_machine(stateMachineArn=arn)
        delete_bucket(self.sandbox.client("s3"), f"{stack}-sandbox-artifacts")

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
        """EXPORT_DATASET names an export by its UTC second; the sandbox runs exports within one."""
        export_id = f"{datetime.now(UTC):%Y%m%dt%H%M%Sz}"
        while export_id in self._export_ids:
            export_id = f"{export_id.split('-', maxsplit=1)[0]}-{len(self._export_ids)}"
        self._export_ids.add(export_id)
        return export_dataset(connection, self.client("s3"), bucket, dataset, export_id)

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

    def start_and_stop(self, state_machine_arn: str, name: str, document: str) -> None:
        """Stopped while its PrepareRun runs, as tests/reliability/test_safety_net.py stops one: moto's
        interpreter, stopped while a SageMaker task's request is being built, sends that request
        empty and runs the Catch (FAILED, not ABORTED), so the moment is chosen rather than raced."""
        runtime = self.sandbox.runtime
        if runtime is None:
            raise RuntimeError("the sandbox is not running")
        sfn = self.client("stepfunctions")
        arn = f"{state_machine_arn.replace(':stateMachine:', ':execution:')}:{name}"
        original = runtime.invoke

        def stop_while_preparing(fn: Any, event: Any) -> tuple[str, bool, str]:
            if isinstance(event, dict) and event.get("execution_name") == name:
                sfn.stop_execution(executionArn=arn, error="Snowsage.Smoke", cause="stopped by the smoke")
            return original(fn, event)

        runtime.invoke = stop_while_preparing  # type: ignore[method-assign]
        try:
            sfn.start_execution(stateMachineArn=state_machine_arn, name=name, input=document)
            wait_for_execution(
                sfn,
                arn,
                sleep=self.sleep,
                poll_seconds=self.poll_seconds,
                start_timeout=self.start_timeout_seconds,
                run_timeout=self.run_timeout_seconds,
            )
        finally:
            runtime.invoke = original  # type: ignore[method-assign]


def _duck() -> Any:
    """fakesnow's shared DuckDB connection (sandbox.snowflake.server imported fakesnow.server first)."""
    return importlib.import_module("fakesnow.server").shared_fs.duck_conn
