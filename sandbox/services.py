"""The sandbox: AWS (moto) and Snowflake (fakesnow) on loopback, with the stack deployed into them.

Details: sandbox/README.md, "services.py".
"""

from __future__ import annotations

import json
import logging
import os
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import boto3
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from moto.server import ThreadedMotoServer

from sandbox.aws import iam_enforcement, moto_patches
from sandbox.aws.cloudwatch import CloudWatchStandIn
from sandbox.aws.deploy import DeployedStack, deploy
from sandbox.aws.lambda_runtime import LambdaRuntime
from sandbox.aws.moto_s3 import InProcessS3Client
from sandbox.sagemaker import SageMakerEmulator
from sandbox.snowflake.server import SnowflakeSandbox, stage_objects, start_snowflake, use_storage_integration
from sandbox.snowflake.setup import SetupReport, apply_setup
from sandbox.snowflake.storage_integration import (
    SNOWFLAKE_EXTERNAL_ID,
    SNOWFLAKE_IAM_USER_ARN,
    StorageIntegration,
    create_snowflake_user,
)
from snowsage_setup import training_code
from tooling.template import PROJECT_ROOT

logger = logging.getLogger("sandbox")

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account
SANDBOX_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}
SNOWFLAKE_DATABASE = "SNOWSAGE"
SNOWFLAKE_SCHEMA = "ML"
SETUP_SQL = sorted((PROJECT_ROOT / "snowflake" / "setup").glob("*.sql"))
# Services that log every request at INFO; their own start-up re-configures logging, so the
# sandbox quiets them after they are up.
CHATTY_LOGGERS = (
    "werkzeug",
    "uvicorn",
    "uvicorn.error",
    "uvicorn.access",
    "fakesnow",
    "fakesnow.server",
    "botocore",
    "snowflake",
    "moto",
)


def quiet_services(level: int = logging.WARNING) -> None:
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(level)


def lambda_credentials(function: Any) -> dict[str, str]:
    """What Lambda gives a function: STS credentials of its execution role (lambda-intro-execution-role)."""
    session = iam_enforcement.service_assumes(
        str(function.role),
        "lambda.amazonaws.com",
        str(function.function_name),
        source_arn=str(function.function_arn),
    )
    return session.environment()


def reset_moto(endpoint_url: str) -> None:
    request = urllib.request.Request(f"{endpoint_url}/moto-api/reset", method="POST")  # noqa: S310 (loopback)
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        response.read()


def throwaway_private_key() -> str:
    """A fresh RSA key in PEM: the sandbox's secret has the production shape, and no value of worth."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@dataclass
class SandboxConfig:
    host: str = "127.0.0.1"
    aws_port: int = 0
    snowflake_port: int | None = None
    stack_name: str = "snowsage"
    setup_sql: list[Path] = field(default_factory=lambda: list(SETUP_SQL))
    secret_document: dict[str, str] | None = None
    template_parameters: dict[str, str] = field(default_factory=dict)
    quiet: bool = True


class Sandbox:
    """Start with ``with Sandbox() as sandbox:``; everything stops when the block ends."""

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        self._server: ThreadedMotoServer | None = None
        self._snowflake: SnowflakeSandbox | None = None
        self._saved_env: dict[str, str | None] = {}
        self.endpoint_url = ""
        self.session: Any = None
        self.runtime: LambdaRuntime | None = None
        self.emulator: SageMakerEmulator | None = None
        self.stack: DeployedStack | None = None
        self.secret_arn = ""
        self.setup_report: SetupReport | None = None

    # -- lifecycle --------------------------------------------------------------------------------

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> Self:
        started = time.perf_counter()
        self._apply_env(SANDBOX_CREDENTIALS)
        self._server = ThreadedMotoServer(
            ip_address=self.config.host, port=self.config.aws_port, verbose=False
        )
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"
        # moto keeps its state per process, not per server: start every sandbox from nothing.
        reset_moto(self.endpoint_url)
        self.session = boto3.Session(region_name=REGION)
        self.runtime = LambdaRuntime(
            endpoint_url=self.endpoint_url, region=REGION, credentials=lambda_credentials
        )
        # The emulator is a stand-in: it reads and writes moto's S3 in process (moto_s3.py).
        # Endpoint metrics and rollback alarms live in moto's CloudWatch (sandbox/aws/cloudwatch.py).
        self.emulator = SageMakerEmulator(
            self.stand_in_s3(),
            region=REGION,
            endpoint_url=self.endpoint_url,
            cloudwatch=CloudWatchStandIn(ACCOUNT_ID, REGION),
        )
        moto_patches.install(emulator=self.emulator, lambda_runtime=self.runtime)
        moto_patches.enable_state_machine_execution(self.endpoint_url)
        self._snowflake = start_snowflake(
            self.endpoint_url, port=self.config.snowflake_port, host=self.config.host
        )
        if self.config.quiet:
            quiet_services()
        self.secret_arn = self._create_secret()
        create_snowflake_user()
        self.stack = deploy(
            session=self.session,
            endpoint_url=self.endpoint_url,
            runtime=self.runtime,
            stack_name=self.config.stack_name,
            parameters=self._template_parameters(),
        )
        # Snowflake's stages read and write the bucket as the storage integration's role.
        use_storage_integration(
            self.bucket, StorageIntegration(role_arn=self.stack.outputs["SnowflakeStorageRoleArn"])
        )
        # The datasets' training scripts, as `make upload-training` deploys them (script mode).
        training_code.upload(self.client("s3"), self.bucket)
        with self.snowflake_connection() as connection:
            self.setup_report = apply_setup(connection, self.config.setup_sql, self.sql_variables())
        logger.info(
            "sandbox up in %.1f s: AWS %s, Snowflake %s",
            time.perf_counter() - started,
            self.endpoint_url,
            self.snowflake.port,
        )
        return self

    def stop(self) -> None:
        if self.stack is not None:
            use_storage_integration(self.bucket, None)
        if self._snowflake is not None:
            self._snowflake.stop()
            self._snowflake = None
        if self.emulator is not None:
            self.emulator.endpoints.close()
        if self._server is not None:
            moto_patches.uninstall()
            self._server.stop()
            self._server = None
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env.clear()

    # -- accessors --------------------------------------------------------------------------------

    def client(self, service: str) -> Any:
        return self.session.client(service, endpoint_url=self.endpoint_url)

    def stand_in_s3(self) -> InProcessS3Client:
        """An S3 client for the sandbox's stand-ins (the emulator, the export): objects are read,
        written and listed in moto's backend in process, not over HTTP (sandbox/aws/moto_s3.py).
        The production code (the Lambdas, the state machine) keeps ``client("s3")``."""
        return InProcessS3Client(self.client("s3"))

    def stage_s3(self) -> InProcessS3Client:
        """The S3 client Snowflake's stage stand-ins use (the export's unload): as the storage
        integration's role, which must pass the role's trust policy and its external ID."""
        return InProcessS3Client(self.client("s3"), stage_objects())

    def subscribe_queue(self, name: str, topic_arn: str | None = None, *, raw: bool = False) -> str:
        """A new SQS queue subscribed to the topic (default: the run topic), with the queue policy
        SNS needs to deliver to it (sns subscribe-sqs-queue-to-sns-topic); returns the queue URL."""
        topic = topic_arn or self.topic_arn
        sqs = self.client("sqs")
        url: str = sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "sns.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": arn,
                    "Condition": {"ArnEquals": {"aws:SourceArn": topic}},
                }
            ],
        }
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
        attributes = {"RawMessageDelivery": "true"} if raw else {}
        self.client("sns").subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes=attributes)
        return url

    @property
    def snowflake(self) -> SnowflakeSandbox:
        if self._snowflake is None:
            raise RuntimeError("the sandbox is not running")
        return self._snowflake

    @property
    def deployed(self) -> DeployedStack:
        if self.stack is None:
            raise RuntimeError("the sandbox is not running")
        return self.stack

    @property
    def bucket(self) -> str:
        return self.deployed.outputs["DataBucketName"]

    @property
    def state_machine_arn(self) -> str:
        return self.deployed.outputs["PipelineStateMachineArn"]

    @property
    def topic_arn(self) -> str:
        return self.deployed.outputs["NotificationTopicArn"]

    def snowflake_connection(self) -> Any:
        return self.snowflake.connect(database=SNOWFLAKE_DATABASE, schema=SNOWFLAKE_SCHEMA)

    def sql_variables(self) -> dict[str, str]:
        """The deployment-specific ``&{name}`` values of snowflake/ (the rest keep their defaults)."""
        return {
            "bucket": self.bucket,
            "database": SNOWFLAKE_DATABASE,
            "schema": SNOWFLAKE_SCHEMA,
            "aws_role_arn": self.deployed.outputs.get(
                "SnowflakeStorageRoleArn",
                f"arn:aws:iam::123456789012:role/{self.config.stack_name}-snowflake",
            ),
        }

    # -- set-up steps -----------------------------------------------------------------------------

    def _apply_env(self, values: dict[str, str]) -> None:
        for name, value in values.items():
            self._saved_env.setdefault(name, os.environ.get(name))
            os.environ[name] = value

    def _create_secret(self) -> str:
        document = self.config.secret_document or {
            "user": "SNOWSAGE_PIPELINE_USER",
            "private_key": throwaway_private_key(),
        }
        response = self.client("secretsmanager").create_secret(
            Name=f"{self.config.stack_name}/snowflake", SecretString=json.dumps(document)
        )
        arn: str = response["ARN"]
        return arn

    def _template_parameters(self) -> dict[str, str]:
        parameters = {
            "SnowflakeAccount": "sandbox",
            "SnowflakeWarehouse": "SNOWSAGE_WH",
            "SnowflakeDatabase": SNOWFLAKE_DATABASE,
            "SnowflakeSchema": SNOWFLAKE_SCHEMA,
            "SnowflakeRole": "SNOWSAGE_PIPELINE",
            "SnowflakeSecretArn": self.secret_arn,
            "SnowflakeHost": self.snowflake.host,
            "SnowflakePort": str(self.snowflake.port),
            "SnowflakeProtocol": "http",
            # What DESC INTEGRATION reports: the template then creates the storage role.
            "SnowflakeStorageIamUserArn": SNOWFLAKE_IAM_USER_ARN,
            "SnowflakeStorageExternalId": SNOWFLAKE_EXTERNAL_ID,
            # The optional notebook instance and its roles, deployed as a user opts in to them; the
            # sandbox's Snowflake has one user, so the notebook signs in with the pipeline's key pair.
            "CreateNotebook": "true",
            "NotebookSnowflakeSecretArn": self.secret_arn,
        }
        parameters.update(self.config.template_parameters)
        return parameters
