"""Contracts of moto 5.2.5 that the sandbox's patches (sandbox/aws/moto_patches.py) rely on.

These run small throwaway state machines and handlers (written to tmp dirs, not the project's)
against a moto server on 127.0.0.1, like the sandbox does. When moto is upgraded, every test here
must pass again before the sandbox can be trusted: each one pins a patch point or a behaviour.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import textwrap
import threading
import types
import uuid
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import boto3
import moto
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer
from moto.stepfunctions import models as sfn_models

from sandbox.aws import moto_patches
from sandbox.aws.lambda_runtime import LambdaRuntime
from sandbox.aws.moto_patches import RetrySleepRecorder
from sandbox.sagemaker import SageMakerEmulator
from sandbox.services import ACCOUNT_ID
from tests.sandbox.conftest import allow_all_role

REGION = "us-east-1"
ACCOUNT = "123456789012"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/contract-role"
XGBOOST_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
BUCKET = "contract-bucket"
ISO_MILLIS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def test_moto_version_is_the_one_the_patches_were_verified_against() -> None:
    assert moto.__version__ == moto_patches.MOTO_VERSION == "5.2.5", (
        f"moto {moto.__version__} is installed but sandbox/aws/moto_patches.py was verified against "
        f"{moto_patches.MOTO_VERSION}: re-run and fix every contract in tests/sandbox/test_moto_contract.py, "
        "then update MOTO_VERSION"
    )


# --------------------------------------------------------------------------------------------
# Throwaway handlers
# --------------------------------------------------------------------------------------------

HANDLERS = {
    "echo": """
        import os
        import tinylib

        def handler(event, context):
            print("echo got", event)
            return {
                "doubled": event["x"] * 2,
                "function_name": context.function_name,
                "greeting": tinylib.greet(os.environ.get("GREETING", "")),
                "remaining_ok": context.get_remaining_time_in_millis() > 0,
                "trace_disabled": os.environ.get("POWERTOOLS_TRACE_DISABLED"),
            }
    """,
    "boom": """
        class CustomBoom(Exception):
            pass

        def handler(event, context):
            raise CustomBoom("it broke: " + str(event.get("why")))
    """,
    "flaky": """
        import logging

        class TransientError(Exception):
            pass

        CALLS = {}

        def handler(event, context):
            key = event["key"]
            CALLS.setdefault(key, []).append(event["retry"])
            logging.getLogger("flaky").warning("attempt %s", event["retry"])
            if len(CALLS[key]) <= event["fail_times"]:
                raise TransientError(f"attempt {len(CALLS[key])}")
            return {"retries_seen": CALLS[key]}
    """,
    "states_error": """
        def handler(event, context):
            raise type("States.Foo", (Exception,), {})("a task error in the States. namespace")
    """,
    "sink": """
        def handler(event, context):
            print("sink received", event.get("detail-type"))
            return {"ok": True}
    """,
    "s3user": """
        import os
        import boto3

        def handler(event, context):
            s3 = boto3.client("s3")
            s3.put_object(Bucket=event["bucket"], Key=event["key"], Body=b"from the handler")
            keys = [o["Key"] for o in s3.list_objects_v2(Bucket=event["bucket"]).get("Contents", [])]
            return {"keys": keys, "endpoint": os.environ.get("AWS_ENDPOINT_URL")}
    """,
}


@dataclass
class Sandbox:
    endpoint: str
    runtime: LambdaRuntime
    emulator: SageMakerEmulator
    functions: dict[str, str]  # short name -> function ARN

    def client(self, service: Any) -> Any:
        return boto3.client(service, region_name=REGION, endpoint_url=self.endpoint)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    saved_env = dict(os.environ)
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
        }
    )
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    root = tmp_path_factory.mktemp("handlers")
    layer = root / "layer"
    (layer / "tinylib").mkdir(parents=True)
    (layer / "tinylib" / "__init__.py").write_text("def greet(name):\n    return f'hello {name}'\n")
    runtime = LambdaRuntime(endpoint_url=endpoint, region=REGION)
    emulator = SageMakerEmulator(
        boto3.client("s3", region_name=REGION, endpoint_url=endpoint), region=REGION, account_id=ACCOUNT
    )
    emulator.nthread = 1
    moto_patches.install(emulator=emulator, lambda_runtime=runtime)
    moto_patches.enable_state_machine_execution(endpoint)
    try:
        allow_all_role(boto3.client("iam", region_name=REGION, endpoint_url=endpoint), "contract-role")
        lam = boto3.client("lambda", region_name=REGION, endpoint_url=endpoint)
        functions = {}
        for short, source in HANDLERS.items():
            code_dir = root / short
            code_dir.mkdir()
            (code_dir / "app.py").write_text(textwrap.dedent(source))
            archive = root / f"{short}.zip"
            with zipfile.ZipFile(archive, "w") as zf:
                zf.write(code_dir / "app.py", "app.py")
            physical = f"contract-{short}-{uuid.uuid4().hex[:8]}"  # like CloudFormation's names
            created = lam.create_function(
                FunctionName=physical,
                Runtime="python3.12",
                Role=ROLE_ARN,
                Handler="app.handler",
                Code={"ZipFile": archive.read_bytes()},
                Timeout=30,
                Environment={"Variables": {"GREETING": "contract"}},
            )
            runtime.register(physical, code_dir, "app.handler", [layer])
            functions[short] = created["FunctionArn"]
        boto3.client("s3", region_name=REGION, endpoint_url=endpoint).create_bucket(Bucket=BUCKET)
        yield Sandbox(endpoint, runtime, emulator, functions)
    finally:
        moto_patches.wait_for_event_deliveries(timeout=30)
        moto_patches.uninstall()
        try:
            import urllib.request

            urllib.request.urlopen(
                urllib.request.Request(
                    f"{endpoint}/moto-api/config",
                    data=json.dumps({"stepfunctions": {"execute_state_machine": False}}).encode(),
                    headers={"Content-Type": "application/json"},
                    method="POST",
                ),
                timeout=10,
            ).close()
        finally:
            server.stop()
            os.environ.clear()
            os.environ.update(saved_env)


def run_state_machine(sb: Sandbox, definition: dict[str, Any], execution_input: Any = None) -> dict[str, Any]:
    """Create a throwaway state machine, run it to the end, return DescribeExecution + history."""
    sfn = sb.client("stepfunctions")
    name = f"contract-{uuid.uuid4().hex[:12]}"
    arn = sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE_ARN)[
        "stateMachineArn"
    ]
    execution_arn = sfn.start_execution(
        stateMachineArn=arn, name=f"run-{uuid.uuid4().hex[:12]}", input=json.dumps(execution_input or {})
    )["executionArn"]
    moto_patches.wait_for_execution_end(execution_arn)
    described: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
    described["history"] = sfn.get_execution_history(executionArn=execution_arn)["events"]
    described["parsed_output"] = json.loads(described["output"]) if "output" in described else None
    return described


def _single_task(resource: str, parameters: dict[str, Any], **extra: Any) -> dict[str, Any]:
    state = {"Type": "Task", "Resource": resource, "Parameters": parameters, "End": True, **extra}
    return {"StartAt": "T", "States": {"T": state}}


# --------------------------------------------------------------------------------------------
# a. Lambda
# --------------------------------------------------------------------------------------------


def test_lambda_invoke_task_and_bare_arn_run_the_handler(sandbox: Sandbox) -> None:
    definition = {
        "StartAt": "Invoke",
        "States": {
            "Invoke": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": sandbox.functions["echo"], "Payload": {"x.$": "$.x"}},
                "ResultSelector": {"result.$": "$.Payload", "status.$": "$.StatusCode"},
                "ResultPath": "$.invoke",
                "Next": "Bare",
            },
            "Bare": {
                "Type": "Task",
                "Resource": sandbox.functions["echo"],
                "Parameters": {"x.$": "$.invoke.result.doubled"},
                "ResultPath": "$.bare",
                "End": True,
            },
        },
    }
    result = run_state_machine(sandbox, definition, {"x": 21})
    assert result["status"] == "SUCCEEDED", result
    output = result["parsed_output"]
    assert output["invoke"]["status"] == 200
    assert output["invoke"]["result"]["doubled"] == 42
    assert output["invoke"]["result"]["function_name"].startswith("contract-echo-")
    assert output["invoke"]["result"]["greeting"] == "hello contract"  # env var + layer import
    assert output["invoke"]["result"]["remaining_ok"] is True
    assert output["invoke"]["result"]["trace_disabled"] == "true"
    assert output["bare"]["doubled"] == 84
    echo_runs = [i for i in sandbox.runtime.invocations if i.function.startswith("contract-echo-")]
    assert any("echo got {'x': 21}" in i.logs for i in echo_runs)
    log_group = f"/aws/lambda/{echo_runs[0].function}"
    streams = sandbox.client("logs").describe_log_streams(logGroupName=log_group)["logStreams"]
    assert streams, "handler logs were not copied to moto's CloudWatch Logs"


def test_lambda_exception_is_caught_with_error_name_and_cause(sandbox: Sandbox) -> None:
    definition = _single_task(
        "arn:aws:states:::lambda:invoke",
        {"FunctionName": sandbox.functions["boom"], "Payload": {"why": "testing"}},
        Catch=[{"ErrorEquals": ["CustomBoom"], "ResultPath": "$.error", "Next": "Caught"}],
    )
    definition["States"]["T"].pop("End")
    definition["States"]["Caught"] = {"Type": "Pass", "End": True}
    result = run_state_machine(sandbox, definition, {"keep": 1})
    assert result["status"] == "SUCCEEDED", result
    error = result["parsed_output"]["error"]
    assert error["Error"] == "CustomBoom"
    cause = json.loads(error["Cause"])
    assert cause["errorType"] == "CustomBoom"
    assert cause["errorMessage"] == "it broke: testing"
    assert isinstance(cause["stackTrace"], list)
    assert result["parsed_output"]["keep"] == 1


def test_fail_state_fails_the_execution_without_moto_error_logs(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    definition = {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Nope", "Cause": "on purpose"}}}
    with caplog.at_level(logging.INFO, logger="moto.stepfunctions.parser"):
        result = run_state_machine(sandbox, definition)
    assert result["status"] == "FAILED"
    assert (result["error"], result["cause"]) == ("Nope", "on purpose")
    noisy = [
        r for r in caplog.records if r.name.startswith("moto.stepfunctions") and r.levelno >= logging.ERROR
    ]
    assert noisy == [], "moto's failure-event ERROR log is not silenced"


def test_retry_backoff_max_delay_jitter_and_retry_count(sandbox: Sandbox) -> None:
    key_a, key_b = uuid.uuid4().hex, uuid.uuid4().hex
    definition = {
        "StartAt": "Backoff",
        "States": {
            "Backoff": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {
                    "FunctionName": sandbox.functions["flaky"],
                    "Payload": {"key": key_a, "fail_times": 3, "retry.$": "$$.State.RetryCount"},
                },
                "Retry": [
                    {
                        "ErrorEquals": ["TransientError"],
                        "IntervalSeconds": 1,
                        "BackoffRate": 2,
                        "MaxDelaySeconds": 3,
                        "MaxAttempts": 3,
                    }
                ],
                "ResultSelector": {"seen.$": "$.Payload.retries_seen"},
                "ResultPath": "$.a",
                "Next": "Jitter",
            },
            "Jitter": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {
                    "FunctionName": sandbox.functions["flaky"],
                    "Payload": {"key": key_b, "fail_times": 2, "retry.$": "$$.State.RetryCount"},
                },
                "Retry": [
                    {
                        "ErrorEquals": ["TransientError"],
                        "IntervalSeconds": 2,
                        "BackoffRate": 2,
                        "MaxAttempts": 2,
                        "JitterStrategy": "FULL",
                    }
                ],
                "ResultSelector": {"seen.$": "$.Payload.retries_seen"},
                "ResultPath": "$.b",
                "End": True,
            },
        },
    }
    # No wall-clock check (shared machines): the recorder received every delay, so none was slept.
    with RetrySleepRecorder() as sleeps:
        result = run_state_machine(sandbox, definition)
    assert result["status"] == "SUCCEEDED", result
    assert result["parsed_output"]["a"]["seen"] == [0, 1, 2, 3]
    assert result["parsed_output"]["b"]["seen"] == [0, 1, 2]
    delays = sleeps.retry_delays
    assert delays[:3] == [1, 2, 3], delays  # 1, 1*2, min(1*4, MaxDelaySeconds 3)
    assert len(delays) == 5
    assert 0 <= delays[3] <= 2
    assert 0 <= delays[4] <= 4
    flaky_logs = [i.logs for i in sandbox.runtime.invocations if i.function.startswith("contract-flaky-")]
    assert any("attempt 2" in logs for logs in flaky_logs)  # stdlib logging is captured


def test_wait_state_goes_through_the_sleep_hook(sandbox: Sandbox) -> None:
    definition = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 600, "End": True}}}
    with RetrySleepRecorder() as sleeps:
        result = run_state_machine(sandbox, definition)
    assert result["status"] == "SUCCEEDED"
    assert sleeps.wait_delays == [600.0]


# --------------------------------------------------------------------------------------------
# b. SageMaker optimized integration
# --------------------------------------------------------------------------------------------


def _upload_training_data(sb: Sandbox, prefix: str) -> None:
    s3 = sb.client("s3")
    rows = []
    for i in range(40):
        label = i % 2
        rows.append(f"{label},{i * 0.1 + label:.3f},{(i % 7) * 0.5:.3f}")
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}train/part-0.csv", Body="\n".join(rows).encode() + b"\n")


def _training_parameters(prefix: str) -> dict[str, Any]:
    return {
        "TrainingJobName.$": "$.job_name",
        "RoleArn": ROLE_ARN,
        "AlgorithmSpecification": {"TrainingImage": XGBOOST_IMAGE, "TrainingInputMode": "File"},
        "HyperParameters": {"num_round": "3", "objective": "binary:logistic", "max_depth": "2"},
        "InputDataConfig": [
            {
                "ChannelName": "train",
                "ContentType": "text/csv",
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": f"s3://{BUCKET}/{prefix}train/",
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
            }
        ],
        "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/{prefix}models/"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
    }


def test_create_training_job_sync_returns_the_describe_fields(sandbox: Sandbox) -> None:
    prefix = f"sync-ok-{uuid.uuid4().hex[:6]}/"
    _upload_training_data(sandbox, prefix)
    job_name = f"contract-train-{uuid.uuid4().hex[:8]}"
    definition = _single_task(
        "arn:aws:states:::sagemaker:createTrainingJob.sync",
        _training_parameters(prefix),
        ResultSelector={
            "job_name.$": "$.TrainingJobName",
            "status.$": "$.TrainingJobStatus",
            "model_data_url.$": "$.ModelArtifacts.S3ModelArtifacts",
            "created.$": "$.CreationTime",
            "all.$": "$",
        },
    )
    result = run_state_machine(sandbox, definition, {"job_name": job_name})
    assert result["status"] == "SUCCEEDED", result
    output = result["parsed_output"]
    assert output["job_name"] == job_name
    assert output["status"] == "Completed"
    assert output["model_data_url"] == f"s3://{BUCKET}/{prefix}models/{job_name}/output/model.tar.gz"
    assert isinstance(output["created"], int) and output["created"] > 1_600_000_000_000  # epoch millis
    assert output["all"]["TrainingJobArn"].endswith(f"training-job/{job_name}")
    submitted = [e for e in result["history"] if e["type"] == "TaskSubmitted"]
    assert submitted and "TrainingJobArn" in submitted[0]["taskSubmittedEventDetails"]["output"]


def test_create_training_job_sync_failure_is_states_task_failed(sandbox: Sandbox) -> None:
    prefix = f"sync-fail-{uuid.uuid4().hex[:6]}/"
    _upload_training_data(sandbox, prefix)
    sandbox.emulator.faults.fail_next_training("AlgorithmError: contract failure")
    definition = _single_task(
        "arn:aws:states:::sagemaker:createTrainingJob.sync",
        _training_parameters(prefix),
        Catch=[{"ErrorEquals": ["States.TaskFailed"], "ResultPath": "$.error", "Next": "Caught"}],
    )
    definition["States"]["T"].pop("End")
    definition["States"]["Caught"] = {"Type": "Pass", "End": True}
    result = run_state_machine(sandbox, definition, {"job_name": f"contract-fail-{uuid.uuid4().hex[:8]}"})
    assert result["status"] == "SUCCEEDED", result
    error = result["parsed_output"]["error"]
    assert error["Error"] == "States.TaskFailed"
    cause = json.loads(error["Cause"])
    assert cause["TrainingJobStatus"] == "Failed"
    assert "contract failure" in cause["FailureReason"]


def test_create_time_throttling_is_sagemaker_error_name_and_retried(sandbox: Sandbox) -> None:
    prefix = f"throttle-{uuid.uuid4().hex[:6]}/"
    _upload_training_data(sandbox, prefix)
    sandbox.emulator.faults.fail_create("create_training_job", "ThrottlingException", times=2)
    definition = _single_task(
        "arn:aws:states:::sagemaker:createTrainingJob",
        _training_parameters(prefix),
        Retry=[
            {"ErrorEquals": ["SageMaker.AmazonSageMakerException"], "IntervalSeconds": 5, "MaxAttempts": 3}
        ],
    )
    job_name = f"contract-throttle-{uuid.uuid4().hex[:8]}"
    with RetrySleepRecorder() as sleeps:
        result = run_state_machine(sandbox, definition, {"job_name": job_name})
    assert result["status"] == "SUCCEEDED", result
    assert result["parsed_output"] == {
        "TrainingJobArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/{job_name}"
    }
    assert sleeps.retry_delays == [5, 10]
    failures = [e["taskFailedEventDetails"] for e in result["history"] if e["type"] == "TaskFailed"]
    assert [f["error"] for f in failures] == ["SageMaker.AmazonSageMakerException"] * 2
    assert "Rate exceeded" in failures[0]["cause"]
    sandbox.emulator.wait(job_name, timeout=20)


def test_create_model_request_response_and_http_describe(sandbox: Sandbox) -> None:
    key = f"models/{uuid.uuid4().hex[:6]}/model.tar.gz"
    sandbox.client("s3").put_object(Bucket=BUCKET, Key=key, Body=b"not really a model")
    model_name = f"contract-model-{uuid.uuid4().hex[:8]}"
    definition = _single_task(
        "arn:aws:states:::sagemaker:createModel",
        {
            "ModelName": model_name,
            "ExecutionRoleArn": ROLE_ARN,
            "PrimaryContainer": {"Image": XGBOOST_IMAGE, "ModelDataUrl": f"s3://{BUCKET}/{key}"},
        },
    )
    result = run_state_machine(sandbox, definition)
    assert result["status"] == "SUCCEEDED", result
    assert result["parsed_output"] == {"ModelArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model/{model_name}"}
    # c. the same model through moto's SageMaker HTTP API
    sm = sandbox.client("sagemaker")
    described = sm.describe_model(ModelName=model_name)
    assert described["PrimaryContainer"]["ModelDataUrl"] == f"s3://{BUCKET}/{key}"
    assert described["CreationTime"].tzinfo is not None
    with pytest.raises(ClientError) as duplicate:
        sm.create_model(
            ModelName=model_name,
            ExecutionRoleArn=ROLE_ARN,
            PrimaryContainer={"Image": XGBOOST_IMAGE, "ModelDataUrl": f"s3://{BUCKET}/{key}"},
        )
    assert duplicate.value.response["Error"]["Code"] == "ValidationException"
    assert duplicate.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    sm.delete_model(ModelName=model_name)


@pytest.mark.filterwarnings("ignore:Exception\\(SagemakerClientError\\) with code:UserWarning")
def test_sagemaker_http_api_routes_jobs_to_the_emulator(sandbox: Sandbox) -> None:
    prefix = f"http-{uuid.uuid4().hex[:6]}/"
    _upload_training_data(sandbox, prefix)
    sm = sandbox.client("sagemaker")
    job_name = f"contract-http-{uuid.uuid4().hex[:8]}"
    request = {k: v for k, v in _training_parameters(prefix).items() if not k.endswith(".$")}
    created = sm.create_training_job(TrainingJobName=job_name, **request)
    assert created["TrainingJobArn"].endswith(job_name)
    with pytest.raises(ClientError) as duplicate:
        sm.create_training_job(TrainingJobName=job_name, **request)
    assert duplicate.value.response["Error"]["Code"] == "ResourceInUse"
    sandbox.emulator.wait(job_name, timeout=20)
    described = sm.describe_training_job(TrainingJobName=job_name)
    assert described["TrainingJobStatus"] == "Completed"
    assert described["CreationTime"].tzinfo is not None
    assert described["ModelArtifacts"]["S3ModelArtifacts"].endswith(f"{job_name}/output/model.tar.gz")
    with pytest.raises(ClientError) as missing:
        sm.describe_transform_job(TransformJobName="contract-no-such-job")
    assert missing.value.response["Error"]["Code"] == "ValidationException"  # as AWS answers it
    assert "contract-no-such-job" in missing.value.response["Error"]["Message"]
    sandbox.emulator.faults.fail_create("create_training_job", "ThrottlingException")
    no_retries = Config(retries={"total_max_attempts": 1, "mode": "standard"})
    with pytest.raises(ClientError) as throttled:
        boto3.client(
            "sagemaker", region_name=REGION, endpoint_url=sandbox.endpoint, config=no_retries
        ).create_training_job(TrainingJobName=f"{job_name}-2", **request)
    assert throttled.value.response["Error"]["Code"] == "ThrottlingException"
    assert throttled.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


# --------------------------------------------------------------------------------------------
# aws-sdk SageMaker (moto's own backend) and datetimes
# --------------------------------------------------------------------------------------------


def test_aws_sdk_model_packages_and_duplicate_group_error_name(sandbox: Sandbox) -> None:
    group = f"contract-group-{uuid.uuid4().hex[:8]}"
    sdk = "arn:aws:states:::aws-sdk:sagemaker:"
    definition = {
        "StartAt": "Group",
        "States": {
            "Group": {
                "Type": "Task",
                "Resource": sdk + "createModelPackageGroup",
                "Parameters": {"ModelPackageGroupName": group},
                "ResultPath": "$.group",
                "Next": "Package",
            },
            "Package": {
                "Type": "Task",
                "Resource": sdk + "createModelPackage",
                "Parameters": {
                    "ModelPackageGroupName": group,
                    "ModelApprovalStatus": "Approved",
                    "InferenceSpecification": {
                        "Containers": [{"Image": XGBOOST_IMAGE, "ModelDataUrl": f"s3://{BUCKET}/m.tar.gz"}],
                        "SupportedContentTypes": ["text/csv"],
                        "SupportedResponseMIMETypes": ["text/csv"],
                    },
                },
                "ResultPath": "$.package",
                "Next": "List",
            },
            "List": {
                "Type": "Task",
                "Resource": sdk + "listModelPackages",
                "Parameters": {"ModelPackageGroupName": group, "ModelApprovalStatus": "Approved"},
                "ResultPath": "$.list",
                "Next": "Describe",
            },
            "Describe": {
                "Type": "Task",
                "Resource": sdk + "describeModelPackage",
                "Parameters": {"ModelPackageName.$": "$.package.ModelPackageArn"},
                "ResultPath": "$.described",
                "Next": "Duplicate",
            },
            "Duplicate": {
                "Type": "Task",
                "Resource": sdk + "createModelPackageGroup",
                "Parameters": {"ModelPackageGroupName": group},
                "Catch": [
                    {
                        "ErrorEquals": ["SageMaker.ValidationException"],
                        "ResultPath": "$.error",
                        "Next": "Done",
                    }
                ],
                "ResultPath": "$.duplicate",
                "Next": "Done",
            },
            "Done": {"Type": "Pass", "End": True},
        },
    }
    result = run_state_machine(sandbox, definition)
    assert result["status"] == "SUCCEEDED", result  # DescribeExecution works: output had datetimes
    output = result["parsed_output"]
    assert output["group"]["ModelPackageGroupArn"].endswith(group)
    summaries = output["list"]["ModelPackageSummaryList"]
    assert [s["ModelPackageArn"] for s in summaries] == [output["package"]["ModelPackageArn"]]
    assert ISO_MILLIS.match(summaries[0]["CreationTime"]), summaries[0]["CreationTime"]
    assert output["described"]["ModelApprovalStatus"] == "Approved"
    assert ISO_MILLIS.match(output["described"]["CreationTime"])
    assert output["error"]["Error"] == "SageMaker.ValidationException"
    assert "already exists" in output["error"]["Cause"]


def test_create_model_package_client_token_is_idempotent(sandbox: Sandbox) -> None:
    """Patch c: API_CreateModelPackage's ClientToken makes a repeated call answer with its package."""
    sagemaker = sandbox.client("sagemaker")
    group = f"contract-token-{uuid.uuid4().hex[:8]}"
    sagemaker.create_model_package_group(ModelPackageGroupName=group)
    request = {
        "ModelPackageGroupName": group,
        "ModelApprovalStatus": "Approved",
        "InferenceSpecification": {
            "Containers": [
                {
                    "Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/x:1",
                    "ModelDataUrl": "s3://b/m.tar.gz",
                }
            ],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
    }
    first = sagemaker.create_model_package(**request, ClientToken="token-a")["ModelPackageArn"]
    again = sagemaker.create_model_package(**request, ClientToken="token-a")["ModelPackageArn"]
    other = sagemaker.create_model_package(**request, ClientToken="token-b")["ModelPackageArn"]
    untokened = sagemaker.create_model_package(**request)["ModelPackageArn"]
    assert again == first
    assert [arn.rsplit("/", 1)[1] for arn in (first, other, untokened)] == ["1", "2", "3"]


def test_update_model_package_approves_and_keeps_what_it_does_not_name(sandbox: Sandbox) -> None:
    """Patch c: API_UpdateModelPackage sets ModelApprovalStatus and leaves the package's metadata as it
    was (moto 5.2.5 erased it); the approved package is then what ListModelPackages(Approved) lists."""
    sagemaker = sandbox.client("sagemaker")
    group = f"contract-approve-{uuid.uuid4().hex[:8]}"
    sagemaker.create_model_package_group(ModelPackageGroupName=group)
    arn = sagemaker.create_model_package(
        ModelPackageGroupName=group,
        ModelApprovalStatus="PendingManualApproval",
        InferenceSpecification={
            "Containers": [
                {
                    "Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/x:1",
                    "ModelDataUrl": "s3://b/m.tar.gz",
                }
            ],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
        CustomerMetadataProperties={"metric_name": "validation:auc", "metric_value": "0.9"},
    )["ModelPackageArn"]

    def approved() -> list[str]:
        listed = sagemaker.list_model_packages(ModelPackageGroupName=group, ModelApprovalStatus="Approved")
        return [summary["ModelPackageArn"] for summary in listed["ModelPackageSummaryList"]]

    assert approved() == []
    for _ in range(2):  # approving an Approved package again changes nothing
        assert (
            sagemaker.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")[
                "ModelPackageArn"
            ]
            == arn
        )
    described = sagemaker.describe_model_package(ModelPackageName=arn)
    assert described["ModelApprovalStatus"] == "Approved"
    assert described["CustomerMetadataProperties"] == {"metric_name": "validation:auc", "metric_value": "0.9"}
    assert approved() == [arn]


def test_execution_start_time_is_an_iso_string_usable_in_states_format(sandbox: Sandbox) -> None:
    definition = {
        "StartAt": "P",
        "States": {
            "P": {
                "Type": "Pass",
                "Parameters": {
                    "start.$": "$$.Execution.StartTime",
                    "message.$": "States.Format('started at {}', $$.Execution.StartTime)",
                },
                "End": True,
            }
        },
    }
    result = run_state_machine(sandbox, definition)
    assert result["status"] == "SUCCEEDED", result
    output = result["parsed_output"]
    assert ISO_MILLIS.match(output["start"]), output
    assert output["message"] == f"started at {output['start']}"


# --------------------------------------------------------------------------------------------
# e. JSONPath: an index in the middle of a path
# --------------------------------------------------------------------------------------------


def test_mid_path_index_yields_the_scalar_in_choice_and_parameters(sandbox: Sandbox) -> None:
    definition = {
        "StartAt": "Pick",
        "States": {
            "Pick": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.items[0].kind", "StringEquals": "a", "Next": "Matched"}],
                "Default": "Fell",
            },
            "Matched": {
                "Type": "Pass",
                "Parameters": {"kind.$": "$.items[0].kind", "all_kinds.$": "$.items[*].kind"},
                "End": True,
            },
            "Fell": {"Type": "Fail", "Error": "FellThrough"},
        },
    }
    result = run_state_machine(sandbox, definition, {"items": [{"kind": "a"}]})
    assert result["status"] == "SUCCEEDED", result
    assert result["parsed_output"] == {"kind": "a", "all_kinds": ["a"]}


# --------------------------------------------------------------------------------------------
# d. EventBridge targets
# --------------------------------------------------------------------------------------------


def _lambda_target(sandbox: Sandbox, rule: str, rule_arn: str) -> None:
    """The sink function as the rule's target, with the permission EventBridge needs to invoke it
    (it invokes as events.amazonaws.com: the function's policy must allow it)."""
    sandbox.client("events").put_targets(
        Rule=rule, Targets=[{"Id": "sink", "Arn": sandbox.functions["sink"]}]
    )
    sandbox.client("lambda").add_permission(
        FunctionName=sandbox.functions["sink"],
        StatementId=rule,
        Action="lambda:InvokeFunction",
        Principal="events.amazonaws.com",
        SourceArn=rule_arn,
    )


def test_s3_object_created_wildcard_rule_invokes_the_lambda_target(sandbox: Sandbox) -> None:
    s3, events = sandbox.client("s3"), sandbox.client("events")
    bucket = f"contract-events-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_notification_configuration(
        Bucket=bucket, NotificationConfiguration={"EventBridgeConfiguration": {}}
    )
    rule = f"contract-s3-{uuid.uuid4().hex[:8]}"
    pattern = {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {
            "bucket": {"name": [bucket]},
            "object": {"key": [{"wildcard": "exports/*/manifest.json"}]},
        },
    }
    _lambda_target(sandbox, rule, events.put_rule(Name=rule, EventPattern=json.dumps(pattern))["RuleArn"])
    before = len(sandbox.runtime.invocations)
    s3.put_object(Bucket=bucket, Key="exports/ds/data.csv", Body=b"1,2\n")
    s3.put_object(Bucket=bucket, Key="exports/ds/manifest.json", Body=b"{}")
    moto_patches.wait_for_event_deliveries()
    sink_runs = [i for i in sandbox.runtime.invocations[before:] if i.function.startswith("contract-sink-")]
    assert len(sink_runs) == 1, sink_runs
    event = sink_runs[0].event
    assert event["detail"]["object"]["key"] == "exports/ds/manifest.json"
    assert event["detail"]["bucket"]["name"] == bucket
    assert event["detail-type"] == "Object Created"
    assert re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$", event["time"])
    assert event["id"] != "17793124-05d4-b198-2fde-7ededc63b103"
    assert not sink_runs[0].errored
    assert "sink received Object Created" in sink_runs[0].logs


def test_rule_with_states_target_starts_an_execution(sandbox: Sandbox) -> None:
    sfn, events = sandbox.client("stepfunctions"), sandbox.client("events")
    machine = sfn.create_state_machine(
        name=f"contract-target-{uuid.uuid4().hex[:8]}",
        definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}),
        roleArn=ROLE_ARN,
    )["stateMachineArn"]
    rule = f"contract-sfn-{uuid.uuid4().hex[:8]}"
    source = f"contract.{uuid.uuid4().hex[:6]}"
    events.put_rule(Name=rule, EventPattern=json.dumps({"source": [source]}))
    events.put_targets(Rule=rule, Targets=[{"Id": "sm", "Arn": machine, "RoleArn": ROLE_ARN}])
    events.put_events(Entries=[{"Source": source, "DetailType": "Ping", "Detail": json.dumps({"n": 7})}])
    moto_patches.wait_for_event_deliveries()  # the delivery has started the execution
    executions = sfn.list_executions(stateMachineArn=machine)["executions"]
    assert len(executions) == 1
    moto_patches.wait_for_execution_end(executions[0]["executionArn"])
    described = sfn.describe_execution(executionArn=executions[0]["executionArn"])
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"])["detail"] == {"n": 7}
    assert json.loads(described["input"])["source"] == source


# --------------------------------------------------------------------------------------------
# k. Step Functions execution status change events
# --------------------------------------------------------------------------------------------


def _status_change_sink(sandbox: Sandbox, machine: str) -> Any:
    """A rule on the machine's status changes -> sink; returns a reader of what the sink got."""
    events = sandbox.client("events")
    rule = f"contract-status-{uuid.uuid4().hex[:8]}"
    pattern = {
        "source": ["aws.states"],
        "detail-type": ["Step Functions Execution Status Change"],
        "detail": {"stateMachineArn": [machine]},
    }
    _lambda_target(sandbox, rule, events.put_rule(Name=rule, EventPattern=json.dumps(pattern))["RuleArn"])
    before = len(sandbox.runtime.invocations)

    def received() -> list[dict[str, Any]]:
        moto_patches.wait_for_event_deliveries()
        runs = [i for i in sandbox.runtime.invocations[before:] if i.function.startswith("contract-sink-")]
        return [i.event for i in runs if i.event["detail"]["stateMachineArn"] == machine]

    return received


def _wait_until_ended(sfn: Any, execution_arn: str) -> dict[str, Any]:
    moto_patches.wait_for_execution_end(execution_arn)
    described: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
    return described


def test_ended_executions_send_status_change_events_of_aws_shape(sandbox: Sandbox) -> None:
    """cw-events: one event per end, ``detail`` as DescribeExecution, dates in epoch millis."""
    sfn = sandbox.client("stepfunctions")
    machine = sfn.create_state_machine(
        name=f"contract-status-{uuid.uuid4().hex[:8]}",
        definition=json.dumps(
            {
                "StartAt": "Choose",
                "States": {
                    "Choose": {
                        "Type": "Choice",
                        "Choices": [{"Variable": "$.fail", "BooleanEquals": True, "Next": "Broken"}],
                        "Default": "Done",
                    },
                    "Broken": {"Type": "Fail", "Error": "Contract.Broken", "Cause": "on purpose"},
                    "Done": {"Type": "Pass", "Result": {"ok": True}, "End": True},
                },
            }
        ),
        roleArn=ROLE_ARN,
    )["stateMachineArn"]
    received = _status_change_sink(sandbox, machine)
    ended = {}
    for name, document in (("ok", {"fail": False}), ("broken", {"fail": True})):
        arn = sfn.start_execution(stateMachineArn=machine, name=name, input=json.dumps(document))[
            "executionArn"
        ]
        ended[name] = _wait_until_ended(sfn, arn)
    events = received()
    by_name = {event["detail"]["name"]: event for event in events}
    assert sorted(by_name) == ["broken", "ok"]  # one event each, none for RUNNING
    assert len(events) == 2

    ok, broken = by_name["ok"], by_name["broken"]
    assert (ok["source"], ok["detail-type"]) == ("aws.states", "Step Functions Execution Status Change")
    assert ok["resources"] == [ended["ok"]["executionArn"]]
    assert re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$", ok["time"])
    detail = ok["detail"]
    assert (detail["status"], detail["executionArn"]) == ("SUCCEEDED", ended["ok"]["executionArn"])
    assert detail["startDate"] == int(ended["ok"]["startDate"].timestamp() * 1000)
    assert detail["stopDate"] == int(ended["ok"]["stopDate"].timestamp() * 1000)
    assert json.loads(detail["input"]) == {"fail": False}
    assert detail["inputDetails"] == {"included": True}
    assert json.loads(detail["output"]) == {"ok": True}
    assert detail["outputDetails"] == {"included": True}
    failed = broken["detail"]
    assert (failed["status"], failed["error"], failed["cause"]) == ("FAILED", "Contract.Broken", "on purpose")
    assert (failed["output"], failed["outputDetails"]) == (None, None)


def test_a_wait_for_deliveries_waits_for_one_listed_while_its_thread_starts(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A wait that ran while a status change delivery was listed but not yet started dropped it
    (its thread not alive) and returned before the sink was invoked: the event was missed."""
    sfn = sandbox.client("stepfunctions")
    machine = sfn.create_state_machine(
        name=f"contract-held-{uuid.uuid4().hex[:8]}",
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
        roleArn=ROLE_ARN,
    )["stateMachineArn"]
    received = _status_change_sink(sandbox, machine)
    moto_patches.wait_for_event_deliveries()  # from here, every listed thread is this test's
    at_start, waited, joined = threading.Event(), threading.Event(), threading.Event()

    class Held(threading.Thread):
        """The sink's delivery holds in start() until a wait has taken its list (it joins a thread),
        and runs only once a wait joins it or the test is over: an ordering, not a timing."""

        def start(self) -> None:
            if self.name.startswith("eventbridge-contract-status-"):
                at_start.set()
                waited.wait(300)
            super().start()

        def join(self, timeout: float | None = None) -> None:
            waited.set()
            if self.name.startswith("eventbridge-"):
                joined.set()
            super().join(timeout)

        def run(self) -> None:
            if self.name.startswith("eventbridge-"):
                joined.wait(300)
            super().run()

    # Only the patches module's threads are held: it reads ``threading.Thread`` when it starts one.
    shim = types.SimpleNamespace(**{**vars(threading), "Thread": Held})
    monkeypatch.setattr(moto_patches, "threading", shim)
    try:
        arn = sfn.start_execution(stateMachineArn=machine, name="held")["executionArn"]
        moto_patches.wait_for_execution_end(arn)
        assert at_start.wait(300), "the status change event was not delivered to the sink's rule"
        events = received()
    finally:
        waited.set()
        joined.set()
    assert [event["detail"]["status"] for event in events] == ["SUCCEEDED"]


def test_a_stopped_execution_sends_an_aborted_event(sandbox: Sandbox) -> None:
    sfn = sandbox.client("stepfunctions")
    machine = sfn.create_state_machine(
        name=f"contract-abort-{uuid.uuid4().hex[:8]}",
        definition=json.dumps(
            {"StartAt": "Hold", "States": {"Hold": {"Type": "Wait", "Seconds": 60, "End": True}}}
        ),
        roleArn=ROLE_ARN,
    )["stateMachineArn"]
    received = _status_change_sink(sandbox, machine)
    entered, released = threading.Event(), threading.Event()

    def hold(kind: str, seconds: float) -> None:
        """The Wait state's sleep: says it was entered, then holds until the test has stopped it."""
        if kind == "wait":
            entered.set()
            released.wait(300)

    previous = moto_patches.set_sleep_hook(hold)
    try:
        arn = sfn.start_execution(stateMachineArn=machine, name="held")["executionArn"]
        assert entered.wait(300), "the Wait state was not entered"
        sfn.stop_execution(executionArn=arn, error="Contract.Stopped", cause="by hand")
    finally:
        released.set()
        moto_patches.set_sleep_hook(previous)
    assert _wait_until_ended(sfn, arn)["status"] == "ABORTED"
    assert [event["detail"]["status"] for event in received()] == ["ABORTED"]


# --------------------------------------------------------------------------------------------
# Lambda runtime: boto3 inside a handler, direct invoke
# --------------------------------------------------------------------------------------------


def test_boto3_inside_a_handler_reaches_moto(sandbox: Sandbox) -> None:
    lam = sandbox.client("lambda")
    key = f"from-handler/{uuid.uuid4().hex[:6]}.txt"
    response = lam.invoke(
        FunctionName=sandbox.functions["s3user"],
        Payload=json.dumps({"bucket": BUCKET, "key": key}).encode(),
        LogType="Tail",
    )
    assert "FunctionError" not in response
    payload = json.loads(response["Payload"].read())
    assert key in payload["keys"]
    assert payload["endpoint"] == sandbox.endpoint
    body = sandbox.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert body == b"from the handler"
    assert os.environ.get("AWS_ENDPOINT_URL") != sandbox.endpoint  # restored after the call


def test_boto3_invoke_of_a_failing_handler_returns_the_error_payload(sandbox: Sandbox) -> None:
    response = sandbox.client("lambda").invoke(
        FunctionName=sandbox.functions["boom"], Payload=json.dumps({"why": "direct"}).encode()
    )
    assert response["FunctionError"]
    payload = json.loads(response["Payload"].read())
    assert payload["errorType"] == "CustomBoom"
    assert payload["errorMessage"] == "it broke: direct"


def test_install_is_idempotent_and_swaps_the_collaborators(sandbox: Sandbox) -> None:
    patched = len(moto_patches._STATE.originals)
    other_runtime = LambdaRuntime(endpoint_url=sandbox.endpoint)
    moto_patches.install(emulator=sandbox.emulator, lambda_runtime=other_runtime)
    try:
        assert moto_patches.installed()
        assert len(moto_patches._STATE.originals) == patched
        assert moto_patches._STATE.runtime is other_runtime
    finally:
        moto_patches.install(emulator=sandbox.emulator, lambda_runtime=sandbox.runtime)


def test_cloudformation_drops_novalue_elements_from_lists(sandbox: Sandbox) -> None:
    """h: a conditional IAM policy (``!If [..., !Ref AWS::NoValue]``) must not break the role."""
    template = {
        "Parameters": {"KmsKey": {"Type": "String", "Default": ""}},
        "Conditions": {"HasKey": {"Fn::Not": [{"Fn::Equals": [{"Ref": "KmsKey"}, ""]}]}},
        "Resources": {
            "Role": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "AssumeRolePolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "lambda.amazonaws.com"},
                                "Action": "sts:AssumeRole",
                            }
                        ],
                    },
                    "Policies": [
                        {
                            "PolicyName": "always",
                            "PolicyDocument": {
                                "Version": "2012-10-17",
                                "Statement": [
                                    {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}
                                ],
                            },
                        },
                        {
                            "Fn::If": [
                                "HasKey",
                                {
                                    "PolicyName": "kms",
                                    "PolicyDocument": {
                                        "Version": "2012-10-17",
                                        "Statement": [
                                            {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}
                                        ],
                                    },
                                },
                                {"Ref": "AWS::NoValue"},
                            ]
                        },
                    ],
                },
            }
        },
    }
    name = f"novalue-{uuid.uuid4().hex[:6]}"
    cloudformation = sandbox.client("cloudformation")
    cloudformation.create_stack(StackName=name, TemplateBody=json.dumps(template))
    assert cloudformation.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    role = cloudformation.describe_stack_resources(StackName=name)["StackResources"][0]["PhysicalResourceId"]
    assert sandbox.client("iam").list_role_policies(RoleName=role)["PolicyNames"] == ["always"]


def test_a_generated_role_name_fits_iams_64_characters(sandbox: Sandbox) -> None:
    """m: a long stack name and logical id still give a role IAM accepts, its policy attachable."""
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    logical_id = "RecordExecutionOutcomeFunctionRole"
    template = {
        "Resources": {
            logical_id: {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": trust}}
        }
    }
    name = f"snowsage-smoke-{uuid.uuid4().hex[:6]}"
    cloudformation = sandbox.client("cloudformation")
    cloudformation.create_stack(StackName=name, TemplateBody=json.dumps(template))
    role = cloudformation.describe_stack_resources(StackName=name)["StackResources"][0]["PhysicalResourceId"]
    suffix = role.rsplit("-", 1)[-1]
    assert len(f"{name}-{logical_id}-{suffix}") > moto_patches.ROLE_NAME_MAX >= len(role)
    assert role.startswith("snowsage-smoke-") and "-RecordExecution" in role
    iam = sandbox.client("iam")
    policy = iam.create_policy(
        PolicyName=f"{name}-p",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}],
            }
        ),
    )["Policy"]["Arn"]
    iam.attach_role_policy(RoleName=role, PolicyArn=policy)  # IAM's roleName limit, checked by the sandbox


def _stack_with_role(sandbox: Sandbox, name: str) -> tuple[str, str]:
    """A stack holding one role, and a customer managed policy: (role name, policy ARN)."""
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    template = {
        "Resources": {"Role": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": trust}}}
    }
    cloudformation = sandbox.client("cloudformation")
    cloudformation.create_stack(StackName=name, TemplateBody=json.dumps(template))
    role = cloudformation.describe_stack_resources(StackName=name)["StackResources"][0]["PhysicalResourceId"]
    document = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}],
    }
    policy = sandbox.client("iam").create_policy(PolicyName=f"{name}-p", PolicyDocument=json.dumps(document))
    return role, policy["Policy"]["Arn"]


def test_deleting_a_stack_detaches_what_its_managed_policy_arns_attached(sandbox: Sandbox) -> None:
    """n: DeleteStack detaches the policies the stack attached (API_DeleteRole: none may remain)."""
    name = f"contract-detach-{uuid.uuid4().hex[:6]}"
    role, policy = _stack_with_role(sandbox, name)
    iam = sandbox.client("iam")
    iam.attach_role_policy(RoleName=role, PolicyArn=policy)  # as the deploy attaches ManagedPolicyArns
    moto_patches.record_stack_attachment(ACCOUNT_ID, role, policy)
    sandbox.client("cloudformation").delete_stack(StackName=name)
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_role(RoleName=role)
    assert iam.get_policy(PolicyArn=policy)["Policy"]["AttachmentCount"] == 0


def test_a_policy_attached_by_hand_still_blocks_the_roles_deletion(sandbox: Sandbox) -> None:
    """n detaches only the stack's own attachments: another keeps DeleteRole's DeleteConflict."""
    name = f"contract-keep-{uuid.uuid4().hex[:6]}"
    role, policy = _stack_with_role(sandbox, name)
    iam = sandbox.client("iam")
    iam.attach_role_policy(RoleName=role, PolicyArn=policy)  # not recorded: not the stack's
    with contextlib.suppress(ClientError):  # moto raises it from DeleteStack; AWS ends in DELETE_FAILED
        sandbox.client("cloudformation").delete_stack(StackName=name)
    assert iam.get_role(RoleName=role)["Role"]["RoleName"] == role
    with pytest.raises(iam.exceptions.DeleteConflictException):
        iam.delete_role(RoleName=role)


# --------------------------------------------------------------------------------------------
# No patch for a Fail state re-raising a States.* error (concepts-error-handling)
# --------------------------------------------------------------------------------------------


def test_fail_state_error_path_cannot_re_raise_a_states_error(sandbox: Sandbox) -> None:
    """Error names "must not begin with the States. prefix": re-raising a caught States.TaskFailed
    through ErrorPath ends the execution with States.Runtime, as the reference interpreter does.
    (An earlier patch let it through; the sandbox must not relax a rule AWS enforces.)"""
    definition = {
        "StartAt": "Caught",
        "States": {
            "Caught": {
                "Type": "Pass",
                "Result": {"Error": "States.TaskFailed", "Cause": "the job failed"},
                "ResultPath": "$.error",
                "Next": "RunFailed",
            },
            "RunFailed": {"Type": "Fail", "ErrorPath": "$.error.Error", "CausePath": "$.error.Cause"},
        },
    }
    described = run_state_machine(sandbox, definition)
    assert described["status"] == "FAILED"
    assert described["error"] == "States.Runtime"
    assert "MUST NOT begin with the prefix 'States.'" in described["cause"]


def test_concurrent_starts_with_one_name_start_one_execution(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Patch j: API_StartExecution names are unique; moto checks the name, then appends.

    The race is forced: the first caller to find the name free waits (up to 5 s) for a second
    caller to look too. Serialised, the second cannot look before the first has started.
    """
    sfn = sandbox.client("stepfunctions")
    machine = sfn.create_state_machine(
        name=f"contract-{uuid.uuid4().hex[:12]}",
        definition=json.dumps(
            {"StartAt": "Hold", "States": {"Hold": {"Type": "Wait", "Seconds": 60, "End": True}}}
        ),
        roleArn=ROLE_ARN,
    )["stateMachineArn"]
    original = sfn_models.StateMachine._handle_name_input_idempotency
    looked: list[object] = []
    second_looked = threading.Event()
    count_lock = threading.Lock()

    def look_then_linger(self: Any, name: str, execution_input: str) -> Any:
        found = original(self, name, execution_input)
        with count_lock:
            looked.append(found)
            first = len(looked) == 1
        if first:
            second_looked.wait(timeout=5)
        else:
            second_looked.set()
        return found

    monkeypatch.setattr(sfn_models.StateMachine, "_handle_name_input_idempotency", look_then_linger)
    with ThreadPoolExecutor(max_workers=2) as pool:
        arns = list(
            pool.map(
                lambda _: sfn.start_execution(stateMachineArn=machine, name="one-name", input="{}")[
                    "executionArn"
                ],
                range(2),
            )
        )
    executions = sfn.list_executions(stateMachineArn=machine)["executions"]
    for execution in executions:
        sfn.stop_execution(executionArn=execution["executionArn"])
    assert len(looked) == 2 and looked[0] is None and looked[1] is not None
    assert len(executions) == 1 and set(arns) == {executions[0]["executionArn"]}


def test_a_task_error_named_like_a_states_error_is_not_catchable(sandbox: Sandbox) -> None:
    """The same rule for a task's error: a Lambda whose errorType is States.Foo does not raise
    States.Foo (which Catch could match) but ends the execution with States.Runtime."""
    definition = _single_task(
        "arn:aws:states:::lambda:invoke",
        {"FunctionName": sandbox.functions["states_error"], "Payload": {}},
        Catch=[{"ErrorEquals": ["States.ALL"], "Next": "Caught"}],
    )
    definition["States"]["T"].pop("End")
    definition["States"]["Caught"] = {"Type": "Succeed"}
    described = run_state_machine(sandbox, definition)
    assert described["status"] == "FAILED"
    assert described["error"] == "States.Runtime"
    assert "States.Foo" in described["cause"]
