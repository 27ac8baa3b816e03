"""The smoke's platform on a real AWS account and a real Snowflake account.

AWS: ``sam build`` once, ``sam deploy`` of a uniquely named stack with parameter overrides,
``sam delete`` at the end. Snowflake: key-pair login as snowsage_setup/apply.py makes it, the setup
files of snowflake/setup/ rendered for the throwaway names and run by apply.py's ``run``,
``CALL EXPORT_DATASET``, and DROP statements at the end.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TextIO

import boto3
import snowflake.connector
from snowflake.connector.pandas_tools import write_pandas

from smoke.names import SmokeNames
from smoke.plan import delete_model_package_group
from snowsage.names import SNOWFLAKE_IDENTIFIER
from snowsage_setup.apply import connection_kwargs
from snowsage_setup.apply import run as run_statements
from snowsage_setup.sqlscript import SETUP_DIR, load_statements, setup_files, with_defaults
from tooling.sample_data import SAMPLE_SEED, generate

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BUILT_TEMPLATE = PROJECT_ROOT / ".aws-sam" / "build" / "template.yaml"
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
# IAM is eventually consistent ("Changes that I make are not always immediately visible",
# IAM/latest/UserGuide/troubleshoot_general: "we recommend ... retry"): the first EXPORT_DATASET
# after the storage role's trust policy is set may find Snowflake unable to assume it yet. Snowflake
# reports that as "Error assuming AWS_ROLE" (or S3's AccessDenied while the role's policy spreads):
# the smoke retries on those, with backoff, for at most IAM_PROPAGATION_WAIT_SECONDS.
IAM_NOT_YET = re.compile(r"Error assuming AWS_ROLE|Access ?Denied", re.IGNORECASE)
IAM_PROPAGATION_WAIT_SECONDS = 300.0
IAM_RETRY_FIRST_SECONDS = 5.0
IAM_RETRY_MAX_SECONDS = 60.0
BASE64 = re.compile(r"[A-Za-z0-9+/=]+")


class RealPlatform:
    name = "AWS and Snowflake"
    account_level_objects = True
    poll_seconds = 15.0  # DescribeExecution is throttled per account: poll gently
    start_timeout_seconds = 180.0  # S3 -> EventBridge -> Lambda -> StartExecution takes seconds
    run_timeout_seconds = 3600.0  # a training and a transform job, each minutes to start
    # EventBridge -> the safety net -> ML_RUNS, and alarm -> SNS -> SQS: seconds, at most minutes.
    notice_timeout_seconds = 300.0

    def __init__(
        self,
        env: Mapping[str, str],
        sam: str,
        out: TextIO = sys.stdout,
        *,
        session: Any = None,
        runner: Callable[..., Any] = subprocess.run,
        sleeper: Callable[[float], None] = time.sleep,
    ) -> None:
        self.env = dict(env)
        self.sam = sam
        self.out = out
        self.session: Any = session or boto3.Session()
        self.region = str(self.session.region_name)
        self._run = runner
        self._sleep = sleeper
        self._built = False

    def client(self, service: str) -> Any:
        return self.session.client(service)

    def template_parameters(self) -> dict[str, str]:
        # `make smoke-errors` deploys without Snowflake: any valid account name will do there.
        return {"SnowflakeAccount": self.env.get("SNOWFLAKE_ACCOUNT") or "smoke-errors"}

    # -- the stack -------------------------------------------------------------------------------

    def _sam(self, *args: str) -> None:
        # sam build needs python3.12 on PATH: the venv's first (as `make build`).
        path = f"{Path(self.sam).parent}{os.pathsep}{self.env.get('PATH', os.environ.get('PATH', ''))}"
        environment = {**os.environ, **self.env, "PATH": path, "SAM_CLI_TELEMETRY": "0"}
        command = [self.sam, *args]
        self.out.write(f"$ {' '.join(command)}\n")
        self.out.flush()
        self._run(command, cwd=PROJECT_ROOT, env=environment, check=True)

    def deploy(self, stack: str, parameters: dict[str, str]) -> dict[str, str]:
        if not self._built:
            self._sam("build")
            self._built = True
        overrides = [f"{key}={value}" for key, value in parameters.items()]
        self._sam(
            "deploy",
            "--template-file",
            str(BUILT_TEMPLATE),
            "--stack-name",
            stack,
            "--region",
            self.region,
            "--resolve-s3",
            "--s3-prefix",
            stack,
            "--capabilities",
            *CAPABILITIES,
            "--no-confirm-changeset",
            "--no-fail-on-empty-changeset",
            "--tags",
            f"snowsage:smoke={stack}",
            "--parameter-overrides",
            *overrides,
        )
        stack_description = self.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
        return {item["OutputKey"]: item["OutputValue"] for item in stack_description.get("Outputs", [])}

    def delete_stack(self, stack: str) -> None:
        self._sam("delete", "--stack-name", stack, "--region", self.region, "--no-prompts")

    # -- Snowflake -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def snowflake(self, names: SmokeNames, *, ready: bool) -> Iterator[Any]:
        """A key-pair session as ACCOUNTADMIN (the setup's first apply needs it, docs/snowflake.md);
        ``ready``: in the smoke's warehouse and schema."""
        connection = snowflake.connector.connect(**connection_kwargs(self.env))
        try:
            cursor = connection.cursor()
            try:
                cursor.execute("USE ROLE ACCOUNTADMIN")
                if ready:
                    cursor.execute(f"USE WAREHOUSE {names.warehouse}")
                    cursor.execute(f"USE SCHEMA {names.database}.{names.schema}")
            finally:
                cursor.close()
            yield connection
        finally:
            connection.close()

    def apply_setup(self, connection: Any, variables: dict[str, str]) -> None:
        statements = load_statements(setup_files(SETUP_DIR), with_defaults(variables))
        run_statements(statements, connection, self.out)

    def storage_trust(self, connection: Any, names: SmokeNames) -> dict[str, str]:
        """DESC INTEGRATION's IAM user and external id, for the stack's storage role (desc-integration)."""
        cursor = connection.cursor()
        try:
            cursor.execute(f"DESC INTEGRATION {names.integration}")
            properties = {str(row[0]): str(row[2]) for row in cursor.fetchall()}
        finally:
            cursor.close()
        return {
            "SnowflakeStorageIamUserArn": properties["STORAGE_AWS_IAM_USER_ARN"],
            "SnowflakeStorageExternalId": properties["STORAGE_AWS_EXTERNAL_ID"],
        }

    def set_public_key(self, connection: Any, names: SmokeNames, public_key: str) -> None:
        """ALTER USER … SET RSA_PUBLIC_KEY (key-pair-auth): the secret holds the private half."""
        if not BASE64.fullmatch(public_key):
            raise ValueError("the public key must be base64 (DER body without PEM armour)")
        cursor = connection.cursor()
        try:
            cursor.execute("USE ROLE ACCOUNTADMIN")
            cursor.execute(f"ALTER USER {names.pipeline_user} SET RSA_PUBLIC_KEY = '{public_key}'")
        finally:
            cursor.close()

    def load_sample(self, connection: Any, bucket: str, rows: int) -> int:
        """The sample tables through the connector's own stage (write_pandas): the storage role only
        reads exports/ and predictions/, so staging in the bucket would be refused."""
        data = generate(rows, seed=SAMPLE_SEED)
        for table, frame in (
            ("MERCHANT_TRANSACTIONS", data.transactions),
            ("MERCHANT_RISK_LABELS", data.labels),
        ):
            success, _, loaded, _ = write_pandas(connection, frame, table, use_logical_type=True)
            if not success or loaded != len(frame):
                raise RuntimeError(f"write_pandas loaded {loaded} of {len(frame)} rows into {table}")
        return len(data.transactions)

    def export(self, connection: Any, bucket: str, dataset: str) -> dict[str, Any]:
        """CALL EXPORT_DATASET, again while IAM has not yet spread the storage role (IAM_NOT_YET)."""
        waited, delay = 0.0, IAM_RETRY_FIRST_SECONDS
        while True:
            try:
                value = self._call_export(connection, dataset)
                break
            except snowflake.connector.errors.ProgrammingError as error:
                if not IAM_NOT_YET.search(str(error)) or waited + delay > IAM_PROPAGATION_WAIT_SECONDS:
                    raise
                self.out.write(f"the storage role is not usable yet ({error.msg}); again in {delay:.0f} s\n")
                self._sleep(delay)
                waited, delay = waited + delay, min(delay * 2, IAM_RETRY_MAX_SECONDS)
        manifest: dict[str, Any] = json.loads(value) if isinstance(value, str) else dict(value)
        return manifest

    @staticmethod
    def _call_export(connection: Any, dataset: str) -> Any:
        cursor = connection.cursor()
        try:
            cursor.execute("CALL EXPORT_DATASET(%s)", (dataset,))
            return cursor.fetchone()[0]
        finally:
            cursor.close()

    def drop(self, names: SmokeNames, kind: str, name: str) -> None:
        if not SNOWFLAKE_IDENTIFIER.fullmatch(name):
            raise ValueError(f"{name!r} is not a plain identifier")
        with self.snowflake(names, ready=False) as connection:
            cursor = connection.cursor()
            try:
                cursor.execute(f"DROP {kind} IF EXISTS {name}")
            finally:
                cursor.close()

    # -- SageMaker -------------------------------------------------------------------------------

    def delete_model_package_group(self, group: str) -> None:
        delete_model_package_group(self.client("sagemaker"), group)

    def sleep(self, seconds: float) -> None:
        self._sleep(seconds)

    def start_and_stop(self, state_machine_arn: str, name: str, document: str) -> None:
        """The execution is stopped seconds into PrepareRun, as an operator would stop it."""
        sfn = self.client("stepfunctions")
        arn = sfn.start_execution(stateMachineArn=state_machine_arn, name=name, input=document)[
            "executionArn"
        ]
        sfn.stop_execution(executionArn=arn, error="Snowsage.Smoke", cause="stopped by the smoke")
