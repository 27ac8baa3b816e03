"""Through a running sandbox's AWS endpoint: it refuses what the real services refuse.

The requests go over HTTP as a user's CLI or a Lambda's boto3 sends them; the state machines are
throwaway ones, run by the sandbox's Step Functions interpreter like the pipeline's.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from sandbox import pipeline_run
from sandbox.aws import aws_validation, moto_patches
from sandbox.services import Sandbox
from tests.sandbox.conftest import allow_all_role
from tooling.sample_data import SAMPLE_DATASET, load_sample_data

ROLE_ARN = "arn:aws:iam::123456789012:role/validation-test"
XGBOOST_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as running:
        allow_all_role(running.client("iam"), ROLE_ARN.rsplit("/", 1)[-1])
        yield running


def error_of(call: Any, **request: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as caught:
        call(**request)
    response: Any = caught.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return dict(response["Error"])


def run_state_machine(
    sandbox: Sandbox, definition: dict[str, Any], execution_input: Any = None
) -> dict[str, Any]:
    sfn = sandbox.client("stepfunctions")
    arn = sfn.create_state_machine(
        name=f"validation-{uuid.uuid4().hex[:8]}", definition=json.dumps(definition), roleArn=ROLE_ARN
    )["stateMachineArn"]
    execution = sfn.start_execution(
        stateMachineArn=arn, name=f"run-{uuid.uuid4().hex[:8]}", input=json.dumps(execution_input or {})
    )["executionArn"]
    moto_patches.wait_for_execution_end(execution)
    described = sfn.describe_execution(executionArn=execution)
    described["history"] = sfn.get_execution_history(executionArn=execution)["events"]
    return dict(described)


# --------------------------------------------------------------------------------------------
# The acceptance requests
# --------------------------------------------------------------------------------------------


def test_create_model_package_with_a_semicolon_in_a_metadata_value_is_refused(sandbox: Sandbox) -> None:
    sagemaker = sandbox.client("sagemaker")
    group = f"validation-{uuid.uuid4().hex[:8]}"
    sagemaker.create_model_package_group(ModelPackageGroupName=group)
    error = error_of(
        sagemaker.create_model_package,
        ModelPackageGroupName=group,
        ModelApprovalStatus="Approved",
        CustomerMetadataProperties={"gate": "auc 0.91 >= 0.90; better than champion (0.89)"},
    )
    assert error["Code"] == "ValidationException"
    assert "at 'customerMetadataProperties.gate' failed to satisfy constraint" in error["Message"]
    assert sagemaker.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"] == []


def test_create_model_package_group_named_bad_name_is_refused(sandbox: Sandbox) -> None:
    sagemaker = sandbox.client("sagemaker")
    error = error_of(sagemaker.create_model_package_group, ModelPackageGroupName="bad_name")
    assert error["Code"] == "ValidationException"
    assert "Value 'bad_name' at 'modelPackageGroupName'" in error["Message"]
    names = [
        g["ModelPackageGroupName"]
        for g in sagemaker.list_model_package_groups()["ModelPackageGroupSummaryList"]
    ]
    assert "bad_name" not in names


def test_sns_publish_with_a_120_character_subject_is_refused(sandbox: Sandbox) -> None:
    sns = sandbox.client("sns")
    error = error_of(sns.publish, TopicArn=sandbox.topic_arn, Subject="S" * 120, Message="body")
    assert (error["Code"], error["Message"]) == ("InvalidParameter", "Invalid parameter: Subject")
    sns.publish(TopicArn=sandbox.topic_arn, Subject="S" * 99, Message="body")  # under 100: accepted


def test_an_over_long_or_ill_formed_execution_name_is_refused(sandbox: Sandbox) -> None:
    sfn = sandbox.client("stepfunctions")
    error = error_of(
        sfn.start_execution, stateMachineArn=sandbox.state_machine_arn, name="r" * 81, input="{}"
    )
    assert error["Code"] == "ValidationException"
    assert "Member must have length less than or equal to 80" in error["Message"]
    error = error_of(sfn.start_execution, stateMachineArn=sandbox.state_machine_arn, name="run 1", input="{}")
    assert (error["Code"], error["Message"]) == ("InvalidName", "Invalid Name: 'run 1'")
    assert sfn.list_executions(stateMachineArn=sandbox.state_machine_arn)["executions"] == []


def test_other_protocols_are_checked_too(sandbox: Sandbox) -> None:
    """IAM (query protocol) and Lambda (rest-json, members in the URL)."""
    iam_error = error_of(
        sandbox.client("iam").create_role, RoleName="bad role", AssumeRolePolicyDocument="{}"
    )
    assert iam_error["Code"] == "ValidationError"
    lambda_error = error_of(sandbox.client("lambda").invoke, FunctionName="no such function", Payload=b"{}")
    assert lambda_error["Code"] == "ValidationException"
    assert "at 'functionName'" in lambda_error["Message"]


def test_the_checks_fail_silently_once_the_hook_is_removed(sandbox: Sandbox) -> None:
    """The refusals above come from aws_validation's hook, not from moto: without it they pass."""
    sagemaker = sandbox.client("sagemaker")
    aws_validation.uninstall()
    try:
        sagemaker.create_model_package_group(ModelPackageGroupName="unchecked_name")
    finally:
        aws_validation.install()
    error = error_of(sagemaker.create_model_package_group, ModelPackageGroupName="unchecked_name")
    assert "failed to satisfy constraint" in error["Message"]  # not moto's duplicate-name answer


def test_coverage_records_what_was_checked_and_refused(sandbox: Sandbox) -> None:
    before = aws_validation.coverage().get(("sagemaker", "CreateModelPackageGroup", "refused"), 0)
    error_of(sandbox.client("sagemaker").create_model_package_group, ModelPackageGroupName="bad_name")
    after = aws_validation.coverage()
    assert after[("sagemaker", "CreateModelPackageGroup", "refused")] == before + 1
    assert after.get(("cloudformation", "CreateStack", "checked"), 0) >= 1  # the deploy went through it


# --------------------------------------------------------------------------------------------
# Step Functions: the optimized SageMaker integration, States.* errors, payload size
# --------------------------------------------------------------------------------------------


def test_the_optimized_sagemaker_integration_is_checked_against_the_model(sandbox: Sandbox) -> None:
    """It calls the emulator directly (no HTTP): moto_patches checks the request itself."""
    parameters = {
        "TrainingJobName": f"job-{uuid.uuid4().hex[:8]}",
        "AlgorithmSpecification": {"TrainingImage": XGBOOST_IMAGE, "TrainingInputMode": "File"},
        "RoleArn": ROLE_ARN,
        "OutputDataConfig": {"S3OutputPath": f"s3://{sandbox.bucket}/out/"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        "Tags": [{"Key": "gate", "Value": "auc 0.91; better (champion)"}],  # the emulator ignores tags
        "HyperParameters": {"num_round": "1"},
        "InputDataConfig": [
            {
                "ChannelName": "train",
                "ContentType": "text/csv",
                "DataSource": {
                    "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{sandbox.bucket}/t/"}
                },
            }
        ],
    }
    definition = {
        "StartAt": "Train",
        "States": {
            "Train": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sagemaker:createTrainingJob.sync",
                "Parameters": parameters,
                "End": True,
            }
        },
    }
    described = run_state_machine(sandbox, definition)
    assert described["status"] == "FAILED"
    assert described["error"] == "SageMaker.AmazonSageMakerException"
    assert "Error Code: ValidationException" in described["cause"]
    assert "at 'tags.1.member.value'" in described["cause"]


def test_a_fail_state_with_a_project_error_name_keeps_it(sandbox: Sandbox) -> None:
    definition = {
        "StartAt": "RunFailed",
        "States": {"RunFailed": {"Type": "Fail", "Error": "Snowsage.RunFailed", "Cause": "kept"}},
    }
    described = run_state_machine(sandbox, definition)
    assert (described["status"], described["error"], described["cause"]) == (
        "FAILED",
        "Snowsage.RunFailed",
        "kept",
    )


def test_a_state_output_over_256_kb_fails_with_data_limit_exceeded(sandbox: Sandbox) -> None:
    """service-quotas (Step Functions): 256 KB per state input or output; States.ALL does not
    catch States.DataLimitExceeded (concepts-error-handling)."""
    half = "x" * 140_000
    definition = {
        "StartAt": "Double",
        "States": {
            "Double": {
                "Type": "Pass",
                "Parameters": {"a.$": "$.s", "b.$": "$.s"},
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}],
                "End": True,
            },
            "Caught": {"Type": "Succeed"},
        },
    }
    described = run_state_machine(sandbox, definition, {"s": half})
    assert described["status"] == "FAILED"
    assert described["error"] == "States.DataLimitExceeded"
    small = run_state_machine(sandbox, definition, {"s": "x" * 1000})
    assert small["status"] == "SUCCEEDED"


# --------------------------------------------------------------------------------------------
# The pipeline's own traffic
# --------------------------------------------------------------------------------------------


def test_every_request_of_a_pipeline_run_is_read_and_checked(sandbox: Sandbox) -> None:
    """A run from the export (Lambdas' boto3, aws-sdk, sns and lambda tasks) goes through the
    hook: every service it calls is checked, and no request is skipped as unreadable."""
    with sandbox.snowflake_connection() as connection:
        load_sample_data(connection, 3000, 7, s3_client=sandbox.client("s3"), bucket=sandbox.bucket)
    aws_validation.reset_coverage()
    pipeline_run.run_from_export(sandbox, SAMPLE_DATASET)
    seen = aws_validation.coverage()
    skipped = {key: count for key, count in seen.items() if key[2].startswith("skipped")}
    assert skipped == {}
    checked = {(service, operation) for service, operation, outcome in seen if outcome != "skipped"}
    assert {
        ("lambda", "Invoke"),
        ("secretsmanager", "GetSecretValue"),
        ("sagemaker", "CreateModelPackageGroup"),
        ("sagemaker", "CreateModelPackage"),
        ("sns", "Publish"),
        ("stepfunctions", "StartExecution"),
    } <= checked
