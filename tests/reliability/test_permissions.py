"""The sandbox refuses what IAM refuses: a run whose principal lacks a permission fails in the state
that made the call, recorded in ML_RUNS; the two permission fixes of template.yaml, reverted, fail;
the alarms' notices reach a subscribed queue; denials have the service's own error."""

from __future__ import annotations

import functools
import json
import subprocess
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from sandbox.aws import iam_enforcement, moto_patches
from sandbox.aws.least_privilege import revoked
from sandbox.services import Sandbox
from sandbox.snowflake import functions
from tests.reliability.helpers import export_quietly, ml_run, name_for, start


@functools.cache
def snowpark() -> bool:
    """The Snowflake-runtime venv holds Snowpark (asked once, when a test needs it)."""
    check = [str(functions.runtime_python()), "-c", "import snowflake.snowpark"]
    return subprocess.run(check, capture_output=True, check=False).returncode == 0


ALARMS = (
    "PipelineFailedAlarm",
    "StartPipelineDeadLetterAlarm",
    "DatasetStaleAlarm",
    "ExecutionOutcomeDeadLetterAlarm",
)


def role(sb: Sandbox, logical_id: str) -> str:
    return sb.deployed.resources[logical_id]


def session_client(
    sb: Sandbox, logical_id: str, service: str, principal: str = "lambda.amazonaws.com"
) -> Any:
    """A client with STS credentials of one of the stack's roles, as its service gets them."""
    arn = sb.client("iam").get_role(RoleName=role(sb, logical_id))["Role"]["Arn"]
    session = iam_enforcement.service_assumes(arn, principal, "test")
    return boto3.client(
        service,
        endpoint_url=sb.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id=session.access_key_id,
        aws_secret_access_key=session.secret_access_key,
        aws_session_token=session.session_token,
    )


# --- a run without a permission -----------------------------------------------------------------


def test_a_state_machine_role_without_create_training_job_fails_the_run_in_train(sb: Sandbox) -> None:
    export_quietly(sb, "20261207t010000z")
    with revoked(sb.client("iam"), role(sb, "PipelineStateMachineRole"), "sagemaker:CreateTrainingJob"):
        result = start(sb, "20261207t010000z")
    assert (result.status, result.execution.failed_state) == ("FAILED", "Train")
    row = ml_run(sb, name_for("20261207t010000z"))
    assert (row["STATUS"], row["FAILED_STATE"], row["ERROR"]) == (
        "FAILED",
        "Train",
        "SageMaker.AmazonSageMakerException",
    )
    assert "Error Code: AccessDeniedException" in row["CAUSE"]
    assert "is not authorized to perform: sagemaker:CreateTrainingJob" in row["CAUSE"]
    assert "because no identity-based policy allows the sagemaker:CreateTrainingJob action" in row["CAUSE"]


def test_a_function_role_without_list_bucket_fails_the_run_in_prepare_run(sb: Sandbox) -> None:
    export_quietly(sb, "20261207t020000z")
    with revoked(sb.client("iam"), role(sb, "PrepareRunFunctionRole"), "s3:ListBucket"):
        start(sb, "20261207t020000z")
    row = ml_run(sb, name_for("20261207t020000z"))
    assert (row["STATUS"], row["FAILED_STATE"]) == ("FAILED", "PrepareRun")
    assert "AccessDenied" in row["CAUSE"] and "s3:ListBucket" in row["CAUSE"]


def test_a_state_machine_role_without_invoke_fails_the_run_in_that_state(sb: Sandbox) -> None:
    export_quietly(sb, "20261207t030000z")
    function = sb.client("lambda").get_function(FunctionName=sb.deployed.functions["EvaluateModelFunction"])
    arn = function["Configuration"]["FunctionArn"]
    with revoked(
        sb.client("iam"), role(sb, "PipelineStateMachineRole"), "lambda:InvokeFunction", resource=arn
    ):
        result = start(sb, "20261207t030000z")
    assert result.execution.failed_state == "EvaluateModel"
    row = ml_run(sb, name_for("20261207t030000z"))
    # Step Functions' name for a Lambda API error it has no class for (concepts-error-handling).
    assert row["ERROR"] == "Lambda.AWSLambdaException"
    assert "Error Code: AccessDeniedException" in row["CAUSE"] and "lambda:InvokeFunction" in row["CAUSE"]


# --- the two permission fixes, reverted ----------------------------------------------------------


def test_reverted_storage_role_write_fails_a_snowflake_engine_run_in_train_in_snowflake(sb: Sandbox) -> None:
    """TrainInSnowflake's COPY FILES writes models/<dataset>/<run>/snowflake/ as the storage role."""
    if not snowpark():
        pytest.skip("the Snowflake-runtime venv lacks snowflake-snowpark-python")
    export = "20261207t040000z"
    with sb.snowflake_connection() as connection:
        connection.cursor().execute(
            "UPDATE ML_DATASETS SET TRAINING_ENGINE = 'SNOWFLAKE' WHERE NAME = 'merchant_risk'"
        )
    try:
        export_quietly(sb, export)
        with revoked(
            sb.client("iam"), role(sb, "SnowflakeStorageRole"), "s3:PutObject", sid="WriteSnowflakeModels"
        ):
            result = start(sb, export)
        assert result.execution.failed_state == "TrainInSnowflake"
        row = ml_run(sb, name_for(export))
        assert row["FAILED_STATE"] == "TrainInSnowflake"
        assert (
            "assumed-role/snowsage-snowflake-storage/snowflake is not authorized to perform: s3:PutObject"
            in row["CAUSE"]
        )
        assert "/snowflake/" in row["CAUSE"]
    finally:
        with sb.snowflake_connection() as connection:
            connection.cursor().execute(
                "UPDATE ML_DATASETS SET TRAINING_ENGINE = 'SAGEMAKER' WHERE NAME = 'merchant_risk'"
            )


@pytest.fixture
def alarm_queue(sb: Sandbox) -> Any:
    url = sb.subscribe_queue(f"alarms-{len(moto_patches.alarm_action_deliveries())}")
    sqs = sb.client("sqs")

    def received() -> list[dict[str, Any]]:
        found = []
        while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            for message in messages:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                envelope = json.loads(message["Body"])
                found.append({"subject": envelope.get("Subject"), **json.loads(envelope["Message"])})
        return found

    return received


def _alarm(sb: Sandbox, logical_id: str, state: str) -> None:
    sb.client("cloudwatch").set_alarm_state(
        AlarmName=sb.deployed.resources[logical_id], StateValue=state, StateReason=f"test: {state}"
    )


def test_every_alarm_notice_reaches_a_subscribed_queue(sb: Sandbox, alarm_queue: Any) -> None:
    for logical_id in ALARMS:
        _alarm(sb, logical_id, "ALARM")
    notices = alarm_queue()
    assert sorted(n["AlarmName"] for n in notices) == sorted(sb.deployed.resources[a] for a in ALARMS)
    assert all(n["NewStateValue"] == "ALARM" and n["subject"].startswith('ALARM: "') for n in notices)
    for logical_id in ALARMS:
        _alarm(sb, logical_id, "OK")  # no OKActions: nothing is sent
    assert alarm_queue() == []


def test_reverted_aws_managed_key_keeps_every_alarm_notice_from_the_topic(
    sb: Sandbox, alarm_queue: Any
) -> None:
    sns = sb.client("sns")
    shipped = sns.get_topic_attributes(TopicArn=sb.topic_arn)["Attributes"]["KmsMasterKeyId"]
    sns.set_topic_attributes(
        TopicArn=sb.topic_arn, AttributeName="KmsMasterKeyId", AttributeValue="alias/aws/sns"
    )
    try:
        _alarm(sb, "PipelineFailedAlarm", "ALARM")
        assert alarm_queue() == []
        failed = moto_patches.alarm_action_deliveries()[-1]
        assert failed.outcome == "failed"
        assert failed.detail.startswith(
            "KMSAccessDenied: User: cloudwatch.amazonaws.com is not authorized to perform:"
            " kms:GenerateDataKey"
        )
        assert failed.detail.endswith(
            "because no resource-based policy allows the kms:GenerateDataKey action"
        )
    finally:
        sns.set_topic_attributes(
            TopicArn=sb.topic_arn, AttributeName="KmsMasterKeyId", AttributeValue=shipped
        )
        _alarm(sb, "PipelineFailedAlarm", "OK")


# --- who may do what, and the errors ---------------------------------------------------------------


def test_each_function_runs_as_its_own_role(sb: Sandbox) -> None:
    identity = session_client(sb, "PrepareRunFunctionRole", "sts").get_caller_identity()
    assert ":assumed-role/" + role(sb, "PrepareRunFunctionRole") + "/" in identity["Arn"]
    # The runs above made their calls as the state machine's and PrepareRun's roles.
    recorded = {d.role for d in iam_enforcement.decisions() if d.role}
    assert any(role(sb, "PipelineStateMachineRole") in r for r in recorded)
    assert any(role(sb, "PrepareRunFunctionRole") in r for r in recorded)


def test_denials_carry_each_services_own_error(sb: Sandbox) -> None:
    secrets = session_client(sb, "PrepareRunFunctionRole", "secretsmanager")
    with pytest.raises(ClientError) as denied:
        secrets.get_secret_value(SecretId=sb.secret_arn)
    assert denied.value.response["Error"]["Code"] == "AccessDeniedException"
    assert denied.value.response["Error"]["Message"].endswith(
        "because no identity-based policy allows the secretsmanager:GetSecretValue action"
    )
    with pytest.raises(ClientError) as denied:
        session_client(sb, "PrepareRunFunctionRole", "sns").publish(TopicArn=sb.topic_arn, Message="x")
    assert denied.value.response["Error"]["Code"] == "AuthorizationError"
    with pytest.raises(ClientError) as denied:
        session_client(sb, "PrepareRunFunctionRole", "s3").put_object(
            Bucket=sb.bucket, Key="exports/x", Body=b"x"
        )
    assert denied.value.response["Error"]["Code"] == "AccessDenied"
    assert "s3:PutObject" in denied.value.response["Error"]["Message"]


def test_the_tls_only_bucket_policy_refuses_a_request_over_plain_http(sb: Sandbox) -> None:
    s3 = sb.client("s3")
    s3.meta.events.register(
        "before-sign.s3.GetObject",
        lambda request, **_: request.headers.__setitem__("X-Forwarded-Proto", "http"),
    )
    s3.put_object(Bucket=sb.bucket, Key="exports/tls-check", Body=b"x")
    with pytest.raises(ClientError) as denied:
        s3.get_object(Bucket=sb.bucket, Key="exports/tls-check")
    assert denied.value.response["Error"]["Code"] == "AccessDenied"
    assert denied.value.response["Error"]["Message"].endswith(
        "with an explicit deny in a resource-based policy"
    )


def test_eventbridge_needs_the_functions_resource_policy(sb: Sandbox) -> None:
    lambda_client = sb.client("lambda")
    function = sb.deployed.functions["StartPipelineFunction"]
    policy = json.loads(lambda_client.get_policy(FunctionName=function)["Policy"])
    statement = policy["Statement"][0]
    lambda_client.remove_permission(FunctionName=function, StatementId=statement["Sid"])
    try:
        sb.client("s3").put_object(
            Bucket=sb.bucket, Key="exports/merchant_risk/nopermission/manifest.json", Body=b"{}"
        )
        moto_patches.wait_for_event_deliveries()
        delivery = moto_patches.event_deliveries()[-1]
        assert delivery.outcome == "failed"
        assert "events.amazonaws.com is not authorized to perform: lambda:InvokeFunction" in delivery.detail
    finally:
        condition = statement.get("Condition", {}).get("ArnLike", {}).get("AWS:SourceArn")
        lambda_client.add_permission(
            FunctionName=function,
            StatementId=statement["Sid"],
            Action="lambda:InvokeFunction",
            Principal="events.amazonaws.com",
            **({"SourceArn": condition} if condition else {}),
        )


def test_sns_delivers_to_a_queue_only_with_its_queue_policy(sb: Sandbox) -> None:
    sqs, sns = sb.client("sqs"), sb.client("sns")
    url = sqs.create_queue(QueueName="no-policy")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=sb.topic_arn, Protocol="sqs", Endpoint=arn)
    sns.publish(TopicArn=sb.topic_arn, Message="hello")
    assert sqs.receive_message(QueueUrl=url).get("Messages", []) == []


def test_simulate_principal_policy_answers_as_iam_does(sb: Sandbox) -> None:
    iam = sb.client("iam")
    arn = iam.get_role(RoleName=role(sb, "SageMakerExecutionRole"))["Role"]["Arn"]
    results = iam.simulate_principal_policy(
        PolicySourceArn=arn,
        ActionNames=["ecr:GetAuthorizationToken", "cloudwatch:PutMetricData", "ec2:CreateNetworkInterface"],
    )["EvaluationResults"]
    decisions = {r["EvalActionName"]: (r["EvalDecision"], r.get("MissingContextValues", [])) for r in results}
    assert decisions == {
        "ecr:GetAuthorizationToken": ("allowed", []),
        "cloudwatch:PutMetricData": ("implicitDeny", ["cloudwatch:namespace"]),
        "ec2:CreateNetworkInterface": ("implicitDeny", []),
    }
    with_namespace = iam.simulate_principal_policy(
        PolicySourceArn=arn,
        ActionNames=["cloudwatch:PutMetricData"],
        ContextEntries=[
            {
                "ContextKeyName": "cloudwatch:namespace",
                "ContextKeyValues": ["/aws/sagemaker/TrainingJobs"],
                "ContextKeyType": "string",
            }
        ],
    )["EvaluationResults"]
    assert with_namespace[0]["EvalDecision"] == "allowed"
