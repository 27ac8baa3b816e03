"""The smoke plan: create -> run a good export and a bad manifest -> check -> tear down (always).

Every step talks to AWS through boto3 clients and to Snowflake through a DB-API connection that
a ``Platform`` hands out; only what differs between the real clouds and the sandbox (deploying
and deleting the stack, applying the setup SQL, loading the sample data, EXPORT_DATASET) is the
platform's. Each resource is recorded in the ``Ledger`` the moment it may exist, so the teardown
deletes exactly what this run created, also when a step fails halfway.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from smoke.ledger import Ledger
from smoke.names import SmokeNames
from snowsage.names import execution_name, model_package_group
from tooling.sample_data import SAMPLE_DATASET as DATASET

PREDICTIONS_TABLE = "MERCHANT_RISK_PREDICTIONS"
BAD_MANIFEST_VERSION = 99  # docs/contracts.md: PrepareRun accepts version 1 only
TRANSFORM_TIMES = ("CreationTime", "TransformStartTime", "TransformEndTime")  # API_DescribeTransformJob
# The smoke checks the plumbing, not the model: a low bar keeps a small sample's model promoted.
EVALUATION_THRESHOLD = "0.5"
TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}
S3_DELETE_BATCH = 1000  # API_DeleteObjects: at most 1000 keys per request


class SmokeError(RuntimeError):
    """A step of the smoke cannot go on (a timeout, a resource not where it should be)."""


class Platform(Protocol):
    """Where the smoke runs: the real clouds (smoke.real) or the sandbox (smoke.sandboxed)."""

    name: str
    region: str
    poll_seconds: float
    start_timeout_seconds: float
    run_timeout_seconds: float
    account_level_objects: bool  # does the Snowflake setup create roles, a user, a warehouse, …?

    def client(self, service: str) -> Any: ...
    def template_parameters(self) -> dict[str, str]: ...
    def deploy(self, stack: str, parameters: dict[str, str]) -> dict[str, str]: ...
    def delete_stack(self, stack: str) -> None: ...
    def snowflake(self, names: SmokeNames, *, ready: bool) -> AbstractContextManager[Any]: ...
    def apply_setup(self, connection: Any, variables: dict[str, str]) -> None: ...
    def storage_trust(self, connection: Any, names: SmokeNames) -> dict[str, str]: ...
    def set_public_key(self, connection: Any, names: SmokeNames, public_key: str) -> None: ...
    def load_sample(self, connection: Any, bucket: str, rows: int) -> int: ...
    def export(self, connection: Any, bucket: str, dataset: str) -> dict[str, Any]: ...
    def delete_model_package_group(self, group: str) -> None: ...
    def drop(self, names: SmokeNames, kind: str, name: str) -> None: ...
    def sleep(self, seconds: float) -> None: ...


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str

    def __str__(self) -> str:
        return f"{'PASS' if self.passed else 'FAIL'}  {self.name}: {self.detail}"


@dataclass
class SmokeReport:
    names: SmokeNames
    checks: list[Check] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    not_deleted: list[tuple[str, str]] = field(default_factory=list)
    error: str | None = None
    # Seconds measured on the account that no AWS page gives (the transform's start-up)
    measured: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        passed = bool(self.checks) and all(check.passed for check in self.checks)
        return self.error is None and passed and not self.not_deleted

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "stack": self.names.stack,
            "database": self.names.database,
            "checks": [{"name": c.name, "passed": c.passed, "detail": c.detail} for c in self.checks],
            "created": self.created,
            "deleted": self.deleted,
            "not_deleted": [{"resource": name, "error": error} for name, error in self.not_deleted],
            "error": self.error,
            "measured": self.measured,
        }


def run_smoke(
    platform: Platform, names: SmokeNames, *, sample_rows: int, say: Callable[[str], None] = print
) -> SmokeReport:
    """The whole smoke; the teardown runs whatever happened (also on Ctrl-C, which then propagates)."""
    ledger = Ledger(say)
    report = SmokeReport(names)
    say(f"smoke on {platform.name}: stack {names.stack}, Snowflake database {names.database}")
    try:
        _Smoke(platform, names, ledger, report, say).run(sample_rows)
    except Exception as error:  # reported; the teardown below still runs
        report.error = f"{type(error).__name__}: {error}"
        say(f"FAILED: {report.error}")
    finally:
        say("teardown: deleting what this run created, newest first")
        ledger.teardown()
        report.created = [str(resource) for resource in ledger.created]
        report.deleted = [str(resource) for resource in ledger.deleted]
        report.not_deleted = [(str(resource), error) for resource, error in ledger.failed]
    return report


def deploy_stack(
    platform: Platform, names: SmokeNames, ledger: Ledger, say: Callable[[str], None] = print
) -> dict[str, str]:
    """The stack alone, with its secret (a throwaway key), recorded in ``ledger``: for probes that
    need no Snowflake (smoke.errors). Returns the stack's outputs."""
    smoke = _Smoke(platform, names, ledger, SmokeReport(names), say)
    private_key, _ = _key_pair()
    smoke.deploy(smoke.create_secret(private_key))
    return smoke.outputs


class _Smoke:
    def __init__(
        self,
        platform: Platform,
        names: SmokeNames,
        ledger: Ledger,
        report: SmokeReport,
        say: Callable[[str], None],
    ) -> None:
        self.platform = platform
        self.names = names
        self.ledger = ledger
        self.report = report
        self.say = say
        self.outputs: dict[str, str] = {}

    def run(self, sample_rows: int) -> None:
        private_key, public_key = _key_pair()
        secret_arn = self.create_secret(private_key)
        parameters = self.deploy(secret_arn)
        bucket = self.outputs["DataBucketName"]
        self.record_snowflake_objects()
        with self.platform.snowflake(self.names, ready=False) as connection:
            variables = self.names.sql_variables(bucket, self.outputs["SnowflakeStorageRoleArn"])
            self.platform.apply_setup(connection, variables)
            trust = self.platform.storage_trust(connection, self.names)
            if trust:
                self.say("deploying again with the storage integration's IAM user and external id")
                self.outputs = self.platform.deploy(self.names.stack, {**parameters, **trust})
            self.platform.set_public_key(connection, self.names, public_key)
        self.record_sagemaker_objects()
        with self.platform.snowflake(self.names, ready=True) as connection:
            loaded = self.platform.load_sample(connection, bucket, sample_rows)
            self.say(f"loaded {loaded:,} sample transactions")
            manifest = self.platform.export(connection, bucket, DATASET)
            self.say(f"EXPORT_DATASET('{DATASET}') wrote export {manifest['export_id']}")
            self.check_good_run(connection, manifest)
            self.check_bad_manifest(connection, manifest, bucket)

    # -- create ----------------------------------------------------------------------------------

    def create_secret(self, private_key: str) -> str:
        secrets = self.platform.client("secretsmanager")
        response = secrets.create_secret(
            Name=self.names.secret,
            Description="Snowsage smoke: the pipeline user's key pair (deleted by the smoke)",
            SecretString=json.dumps({"user": self.names.pipeline_user, "private_key": private_key}),
        )
        arn: str = response["ARN"]
        # API_DeleteSecret: ForceDeleteWithoutRecovery skips the 7-30 day recovery window.
        self.ledger.add(
            "Secrets Manager secret",
            self.names.secret,
            lambda: secrets.delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True),
        )
        return arn

    def deploy(self, secret_arn: str) -> dict[str, str]:
        parameters = {
            **self.platform.template_parameters(),
            "ResourcePrefix": self.names.resource_prefix,
            "SnowflakeDatabase": self.names.database,
            "SnowflakeSchema": self.names.schema,
            "SnowflakeWarehouse": self.names.warehouse,
            "SnowflakeRole": self.names.pipeline_role,
            "SnowflakeSecretArn": secret_arn,
            "EvaluationThreshold": EVALUATION_THRESHOLD,
        }
        self.ledger.add("CloudFormation stack", self.names.stack, self.delete_stack)
        try:
            self.outputs = self.platform.deploy(self.names.stack, parameters)
        finally:
            # DeletionPolicy Retain: the buckets outlive the stack, also a rolled-back one.
            self.record_retained_buckets()
        return parameters

    def record_retained_buckets(self) -> None:
        cloudformation = self.platform.client("cloudformation")
        if not _stack_exists(cloudformation, self.names.stack):
            return
        resources = cloudformation.describe_stack_resources(StackName=self.names.stack)["StackResources"]
        buckets = [
            (item["LogicalResourceId"], item["PhysicalResourceId"])
            for item in resources
            if item.get("ResourceType") == "AWS::S3::Bucket" and item.get("PhysicalResourceId")
        ]
        # The data bucket writes access logs into the other: record it last so it goes first.
        buckets.sort(key=lambda item: item[0] == "DataBucket")
        s3 = self.platform.client("s3")
        for _, bucket in buckets:
            self.ledger.add("S3 bucket", bucket, functools.partial(delete_bucket, s3, bucket))

    def delete_stack(self) -> None:
        if _stack_exists(self.platform.client("cloudformation"), self.names.stack):
            self.platform.delete_stack(self.names.stack)

    def record_snowflake_objects(self) -> None:
        """Account-level objects first, the database last: the database is dropped first."""
        names = self.names
        if self.platform.account_level_objects:
            for kind, name in (
                ("STORAGE INTEGRATION", names.integration),
                ("WAREHOUSE", names.warehouse),
                ("ROLE", names.admin_role),
                ("ROLE", names.pipeline_role),
                ("USER", names.pipeline_user),
            ):
                self.ledger.add(f"Snowflake {kind.lower()}", name, self._dropper(kind, name))
        self.ledger.add("Snowflake database", names.database, self._dropper("DATABASE", names.database))

    def _dropper(self, kind: str, name: str) -> Callable[[], None]:
        return lambda: self.platform.drop(self.names, kind, name)

    def record_sagemaker_objects(self) -> None:
        """What the pipeline's runs create in SageMaker outside the stack (jobs cannot be deleted)."""
        group = model_package_group(self.names.resource_prefix, DATASET)
        self.ledger.add(
            "SageMaker model package group", group, lambda: self.platform.delete_model_package_group(group)
        )
        sagemaker = self.platform.client("sagemaker")
        prefix = self.names.model_package_group_prefix
        self.ledger.add("SageMaker models", f"{prefix}*", lambda: delete_models(sagemaker, prefix))

    # -- run and check -------------------------------------------------------------------------

    def check_good_run(self, connection: Any, manifest: dict[str, Any]) -> None:
        name = execution_name(DATASET, manifest["export_id"])
        self.say(f"waiting for execution {name} (started by the manifest's S3 event)")
        execution = self.wait_for_execution(name)
        self.check("execution succeeded", execution["status"] == "SUCCEEDED", _outcome(execution))
        row = ml_runs_row(connection, name)
        self.check(
            "ML_RUNS row SUCCEEDED",
            row is not None and row["STATUS"] == "SUCCEEDED",
            f"{row}" if row else "no ML_RUNS row",
        )
        if row is None:
            return
        expected = int(manifest["score"]["rows"])
        loaded, scored = row["ROWS_LOADED"], row["ROWS_SCORED"]
        predictions = prediction_count(connection, str(row["RUN_ID"]))
        self.check(
            "rows loaded = rows scored",
            loaded is not None and int(loaded) == int(scored or -1) == expected == predictions,
            f"exported {expected}, scored {scored}, loaded {loaded}, {PREDICTIONS_TABLE} has {predictions}",
        )
        self.measure_transform(row.get("TRANSFORM_JOB"))

    def measure_transform(self, job: str | None) -> None:
        """The batch transform's start-up on this account, of which AWS documents no figure: CreationTime
        to TransformStartTime is not billed, TransformStartTime to TransformEndTime is
        (API_DescribeTransformJob). docs/benchmarks.md's scoring model takes both as parameters."""
        if not job:
            return
        described = self.platform.client("sagemaker").describe_transform_job(TransformJobName=job)
        created, started, ended = (described.get(key) for key in TRANSFORM_TIMES)
        if created is None or started is None or ended is None:
            return
        self.report.measured.update(
            {
                "transform provisioning s (not billed)": (started - created).total_seconds(),
                "transform billed s (start-up and the sample's rows)": (ended - started).total_seconds(),
            }
        )
        for name, seconds in self.report.measured.items():
            self.say(f"measured  {name}: {seconds:.1f}")

    def check_bad_manifest(self, connection: Any, manifest: dict[str, Any], bucket: str) -> None:
        export_id = f"{manifest['export_id']}-bad"
        bad = {**manifest, "export_id": export_id, "version": BAD_MANIFEST_VERSION}
        key = f"exports/{DATASET}/{export_id}/manifest.json"
        self.platform.client("s3").put_object(
            Bucket=bucket, Key=key, Body=json.dumps(bad).encode(), ContentType="application/json"
        )
        name = execution_name(DATASET, export_id)
        self.say(f"bad manifest (version {BAD_MANIFEST_VERSION}) at {key}: waiting for {name}")
        execution = self.wait_for_execution(name)
        self.check("bad manifest: execution FAILED", execution["status"] == "FAILED", _outcome(execution))
        row = ml_runs_row(connection, name)
        self.check(
            "bad manifest: ML_RUNS row FAILED",
            row is not None and row["STATUS"] == "FAILED",
            f"{row}" if row else "no ML_RUNS row",
        )

    def check(self, name: str, passed: bool, detail: str) -> None:
        check = Check(name, passed, detail)
        self.report.checks.append(check)
        self.say(str(check))

    def wait_for_execution(self, name: str) -> dict[str, Any]:
        state_machine = self.outputs["PipelineStateMachineArn"]
        return wait_for_execution(
            self.platform.client("stepfunctions"),
            execution_arn(state_machine, name),
            sleep=self.platform.sleep,
            poll_seconds=self.platform.poll_seconds,
            start_timeout=self.platform.start_timeout_seconds,
            run_timeout=self.platform.run_timeout_seconds,
        )


# --- waits -----------------------------------------------------------------------------------------


def execution_arn(state_machine_arn: str, name: str) -> str:
    """An execution's ARN is its state machine's with ``execution`` and its name (API_DescribeExecution)."""
    prefix, marker, machine = state_machine_arn.rpartition(":stateMachine:")
    if not marker:
        raise SmokeError(f"{state_machine_arn} is not a state machine ARN")
    return f"{prefix}:execution:{machine}:{name}"


def wait_for_execution(
    sfn: Any,
    arn: str,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    poll_seconds: float,
    start_timeout: float,
    run_timeout: float,
) -> dict[str, Any]:
    """DescribeExecution until the execution exists (the S3 event starts it), then until it ends."""
    started_waiting = clock()
    running_since: float | None = None
    while True:
        try:
            execution: dict[str, Any] = sfn.describe_execution(executionArn=arn)
        except sfn.exceptions.ExecutionDoesNotExist:
            if clock() - started_waiting > start_timeout:
                raise SmokeError(f"no execution {arn} within {start_timeout:.0f} s of the export") from None
        else:
            if execution["status"] in TERMINAL:
                return execution
            running_since = running_since if running_since is not None else clock()
            if clock() - running_since > run_timeout:
                raise SmokeError(f"execution {arn} still {execution['status']} after {run_timeout:.0f} s")
        sleep(poll_seconds)


def _outcome(execution: dict[str, Any]) -> str:
    text = f"{execution['name']} {execution['status']}"
    if execution.get("error"):
        text += f" ({execution['error']}: {str(execution.get('cause') or '')[:300]})"
    return text


# --- Snowflake reads -------------------------------------------------------------------------------


def ml_runs_row(connection: Any, name: str) -> dict[str, Any] | None:
    cursor = connection.cursor()
    try:
        cursor.execute(
            "SELECT RUN_ID, STATUS, FAILED_STATE, ERROR, ROWS_SCORED, ROWS_LOADED, TRANSFORM_JOB"
            " FROM ML_RUNS WHERE EXECUTION_NAME = %s",
            (name,),
        )
        columns = [column[0] for column in cursor.description]
        rows = cursor.fetchall()
    finally:
        cursor.close()
    return dict(zip(columns, rows[0], strict=True)) if len(rows) == 1 else None


def prediction_count(connection: Any, run_id: str) -> int:
    cursor = connection.cursor()
    try:
        cursor.execute(f"SELECT COUNT(*) FROM {PREDICTIONS_TABLE} WHERE RUN_ID = %s", (run_id,))  # noqa: S608
        return int(cursor.fetchone()[0])
    finally:
        cursor.close()


# --- AWS deletions ---------------------------------------------------------------------------------


def _stack_exists(cloudformation: Any, stack: str) -> bool:
    try:
        stacks = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    except cloudformation.exceptions.ClientError as error:
        if "does not exist" in str(
            error
        ):  # API_DescribeStacks: ValidationError "Stack with id … does not exist"
            return False
        raise
    return any(item["StackStatus"] != "DELETE_COMPLETE" for item in stacks)


def _bucket_entries(s3: Any, bucket: str) -> Iterator[dict[str, str]]:
    """Every object version and delete marker (the buckets are versioned), then plain objects."""
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for item in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
            yield {"Key": item["Key"], "VersionId": item["VersionId"]}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            yield {"Key": item["Key"]}


def delete_bucket(s3: Any, bucket: str) -> None:
    """Empty the bucket (every version) and delete it; a bucket already gone is fine."""
    try:
        s3.head_bucket(Bucket=bucket)
    except s3.exceptions.ClientError as error:
        if error.response.get("Error", {}).get("Code") in {"404", "NoSuchBucket"}:
            return
        raise
    batch: list[dict[str, str]] = []
    for entry in _bucket_entries(s3, bucket):
        batch.append(entry)
        if len(batch) == S3_DELETE_BATCH:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
            batch = []
    if batch:
        s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
    s3.delete_bucket(Bucket=bucket)


def delete_model_package_group(sagemaker: Any, group: str) -> None:
    """Its model packages first (API_DeleteModelPackageGroup needs an empty group), then the group."""
    groups = sagemaker.list_model_package_groups(NameContains=group)["ModelPackageGroupSummaryList"]
    if not any(item["ModelPackageGroupName"] == group for item in groups):
        return
    paginator = sagemaker.get_paginator("list_model_packages")
    for page in paginator.paginate(ModelPackageGroupName=group):
        for package in page["ModelPackageSummaryList"]:
            sagemaker.delete_model_package(ModelPackageName=package["ModelPackageArn"])
    sagemaker.delete_model_package_group(ModelPackageGroupName=group)


def delete_models(sagemaker: Any, prefix: str) -> None:
    for page in sagemaker.get_paginator("list_models").paginate(NameContains=prefix):
        for model in page["Models"]:
            if model["ModelName"].startswith(prefix):
                sagemaker.delete_model(ModelName=model["ModelName"])


# --- keys ------------------------------------------------------------------------------------------


def _key_pair() -> tuple[str, str]:
    """A fresh RSA key pair: the private key (PEM, PKCS#8) for the secret, the public key's body
    (base64 DER, no PEM armour) for ALTER USER … SET RSA_PUBLIC_KEY (key-pair-auth)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    body = "".join(line for line in public_pem.splitlines() if not line.startswith("-----"))
    return private, body
