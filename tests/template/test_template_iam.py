"""Least privilege in template.yaml: no wildcard resources beyond what AWS requires, scoped PassRole."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.aws.least_privilege import SDK_VPC_ACTIONS
from tests.template.template_model import (
    as_list,
    identity_statements,
    resources,
    sam_policy_templates,
    snowflake_functions,
    sub_text,
)
from tooling.template import project

# Actions AWS authorizes only against Resource "*" (each is commented where it is granted).
STAR_RESOURCE_ACTIONS = {
    # Step Functions vended-log delivery to CloudWatch Logs
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
    # X-Ray (SAM adds AWSXrayWriteOnlyAccess; listed in case a statement grants them directly)
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    # ECR registry login, account-wide
    "ecr:GetAuthorizationToken",
    # no resource type in the Service Authorization Reference
    "cloudwatch:PutMetricData",
    "sagemaker:ListModelPackages",
    "sagemaker:ListModelPackageGroups",
    "sagemaker:ListEndpointConfigs",
}
# Star-resource actions that must carry a condition narrowing them.
CONDITIONED = {"cloudwatch:PutMetricData": "cloudwatch:namespace"}
# The VPC network-interface actions the SageMaker SDK v3 requires on "*" of a training role it accepts
# (its role validation): granted to the notebook's experiment role alone (test_notebook_resources.py).
SDK_VALIDATED_ACTIONS = {"NotebookTrainingRole": set(SDK_VPC_ACTIONS)}
# Who may pass which role (always to SageMaker alone).
PASSED_ROLES = {"PipelineStateMachine": "SageMakerExecutionRole", "NotebookRole": "NotebookTrainingRole"}
SAGEMAKER_PREFIX = "${ResourcePrefix}-"


def _allows() -> list[tuple[str, dict[str, Any]]]:
    return [(owner, st) for owner, st in identity_statements() if st.get("Effect") == "Allow"]


def test_there_are_statements_to_check() -> None:
    owners = {owner for owner, _ in _allows()}
    assert {"PipelineStateMachine", "SageMakerExecutionRole", "PrepareRunFunction"} <= owners


def test_no_wildcard_actions() -> None:
    for owner, statement in _allows():
        for action in as_list(statement["Action"]):
            assert action != "*" and not action.endswith(":*"), f"{owner}: {action}"


def test_star_resources_only_for_actions_aws_requires_it_for() -> None:
    for owner, statement in _allows():
        if "*" not in as_list(statement["Resource"]):
            continue
        assert as_list(statement["Resource"]) == ["*"], (
            f"{owner}: mix '*' with scoped ARNs in separate statements"
        )
        actions = set(as_list(statement["Action"]))
        allowed = STAR_RESOURCE_ACTIONS | SDK_VALIDATED_ACTIONS.get(owner, set())
        assert actions <= allowed, f"{owner}: {sorted(actions - allowed)} on '*'"
        for action in actions & set(CONDITIONED):
            conditions = {key for block in statement.get("Condition", {}).values() for key in block}
            assert CONDITIONED[action] in conditions, (
                f"{owner}: {action} needs a {CONDITIONED[action]} condition"
            )


def test_pass_role_is_scoped_to_the_sagemaker_role_and_service() -> None:
    seen = []
    for owner, statement in _allows():
        if "iam:PassRole" not in as_list(statement["Action"]):
            continue
        seen.append(owner)
        assert as_list(statement["Action"]) == ["iam:PassRole"], owner
        assert statement["Resource"] == {"Fn::GetAtt": [PASSED_ROLES[owner], "Arn"]}, owner
        assert statement["Condition"] == {
            "StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}
        }, owner
    assert sorted(seen) == sorted(PASSED_ROLES)


def test_sagemaker_access_is_scoped_to_the_resource_prefix() -> None:
    for owner, statement in _allows():
        actions = as_list(statement["Action"])
        if not any(action.startswith("sagemaker:") for action in actions) or statement["Resource"] == "*":
            continue
        for resource in as_list(statement["Resource"]):
            arn = sub_text(resource)
            assert ":sagemaker:" in arn, f"{owner}: {arn}"
            name = arn.split(":", 5)[5].split("/", 1)[1]
            assert name.startswith(SAGEMAKER_PREFIX), f"{owner}: {arn} is not scoped to the prefix"


def test_state_machine_invokes_exactly_its_task_functions() -> None:
    invoked = {
        params["FunctionName"]["Ref"]
        for kind, params in sam_policy_templates("PipelineStateMachine")
        if kind == "LambdaInvokePolicy"
    }
    assert invoked == project().task_functions()
    # and those are the functions its tasks name (the two EventBridge targets are not among them)
    assert invoked == set(project().functions) - {
        name for name, function in project().functions.items() if function.asynchronous
    }


def test_state_machine_can_run_the_sync_sagemaker_jobs() -> None:
    statements = [st for owner, st in _allows() if owner == "PipelineStateMachine"]
    actions = {action for st in statements for action in as_list(st["Action"])}
    assert {
        "sagemaker:CreateTrainingJob",
        "sagemaker:DescribeTrainingJob",
        "sagemaker:StopTrainingJob",
        "sagemaker:CreateTransformJob",
        "sagemaker:DescribeTransformJob",
        "sagemaker:StopTransformJob",
        "sagemaker:CreateModel",
        "sagemaker:CreateHyperParameterTuningJob",
        "sagemaker:DescribeHyperParameterTuningJob",
        "sagemaker:StopHyperParameterTuningJob",
        "sagemaker:ListTrainingJobsForHyperParameterTuningJob",
        "events:PutTargets",
        "events:PutRule",
        "events:DescribeRule",
    } <= actions
    rules = next(st for st in statements if "events:PutRule" in as_list(st["Action"]))
    names = {sub_text(resource).rsplit("/", 1)[1] for resource in rules["Resource"]}
    assert names == {
        "StepFunctionsGetEventsForSageMakerTrainingJobsRule",
        "StepFunctionsGetEventsForSageMakerTransformJobsRule",
        "StepFunctionsGetEventsForSageMakerTuningJobsRule",
    }


def test_state_machine_publishes_to_the_notification_topic_only() -> None:
    sns = [
        params
        for kind, params in sam_policy_templates("PipelineStateMachine")
        if kind == "SNSPublishMessagePolicy"
    ]
    assert sns == [{"TopicName": {"Fn::GetAtt": ["NotificationTopic", "TopicName"]}}]


def test_only_the_snowflake_functions_read_the_secret_and_only_it() -> None:
    readers: dict[str, list[dict[str, Any]]] = {}
    for owner, statement in _allows():
        if statement["Resource"] == NOTIFICATION_KEY:
            continue  # the run topic's key (next test)
        if owner == "NotebookRole":
            continue  # its own user's secret, not the pipeline's (test_notebook_resources.py)
        if any(action.startswith(("secretsmanager:", "kms:")) for action in as_list(statement["Action"])):
            readers.setdefault(owner, []).append(statement)
    assert set(readers) == set(snowflake_functions())
    for owner, statements in readers.items():
        granted = {
            (action, str(statement["Resource"]))
            for statement in statements
            for action in as_list(statement["Action"])
        }
        assert granted == {
            ("secretsmanager:GetSecretValue", str({"Ref": "SnowflakeSecretArn"})),
            ("kms:Decrypt", str({"Ref": "SnowflakeSecretKmsKeyArn"})),
        }, owner
        (decrypt,) = [statement for statement in statements if statement["Action"] == "kms:Decrypt"]
        assert set(decrypt["Condition"]["StringEquals"]) == {"kms:ViaService"}, owner


NOTIFICATION_KEY = {"Fn::GetAtt": ["NotificationKey", "Arn"]}


def test_only_the_topics_publishers_use_its_key_and_only_through_sns() -> None:
    """A publisher to an encrypted topic needs kms:GenerateDataKey* and kms:Decrypt on its key (SNS
    developer guide, sns-key-management); through SNS only (kms:ViaService)."""
    users = {owner: st for owner, st in _allows() if st["Resource"] == NOTIFICATION_KEY}
    assert set(users) == {"PipelineStateMachine", "RecordExecutionOutcomeFunction"}
    for statement in users.values():
        assert set(as_list(statement["Action"])) == {"kms:GenerateDataKey*", "kms:Decrypt"}
        assert set(statement["Condition"]["StringEquals"]) == {"kms:ViaService"}


def test_functions_without_aws_data_access_get_none() -> None:
    """S3 access is for PrepareRun (exports/ only); Snowflake moves the predictions bytes."""
    for owner, statement in _allows():
        s3 = [action for action in as_list(statement["Action"]) if action.startswith("s3:")]
        if owner in project().functions and s3:
            assert owner == "PrepareRunFunction", owner


def test_prepare_run_reads_only_exports_and_training_code() -> None:
    statements = [st for owner, st in _allows() if owner == "PrepareRunFunction"]
    get = next(st for st in statements if st["Action"] == "s3:GetObject")
    # code/*: script mode's source archives, which PrepareRun checks (docs/contracts.md).
    assert [sub_text(item) for item in get["Resource"]] == [
        "${DataBucket.Arn}/exports/*",
        "${DataBucket.Arn}/code/*",
    ]
    listing = next(st for st in statements if st["Action"] == "s3:ListBucket")
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["exports/*", "code/*"]}}


def test_record_run_reads_executions_of_this_state_machine() -> None:
    machine_name = resources()["PipelineStateMachine"]["Properties"]["Name"]
    assert sub_text(machine_name) == "${AWS::StackName}-pipeline"
    statements = [st for owner, st in _allows() if owner == "RecordRunFunction"]
    history = next(st for st in statements if "states:GetExecutionHistory" in as_list(st["Action"]))
    assert sub_text(history["Resource"]).endswith(":execution:${AWS::StackName}-pipeline:*")


def test_record_run_reads_only_the_trials_of_the_pipelines_tuning_jobs() -> None:
    """A tuned run's cost (snowsage.cost.TuningTrials): list a tuning job's trials, describe each."""
    statements = [st for owner, st in _allows() if owner == "RecordRunFunction"]
    sagemaker = {
        action: sub_text(st["Resource"])
        for st in statements
        for action in as_list(st["Action"])
        if action.startswith("sagemaker:")
    }
    prefix = ":${AWS::AccountId}:"
    assert sagemaker == {
        "sagemaker:ListTrainingJobsForHyperParameterTuningJob": (
            f"arn:${{AWS::Partition}}:sagemaker:${{AWS::Region}}{prefix}hyper-parameter-tuning-job/{SAGEMAKER_PREFIX}*"
        ),
        "sagemaker:DescribeTrainingJob": (
            f"arn:${{AWS::Partition}}:sagemaker:${{AWS::Region}}{prefix}training-job/{SAGEMAKER_PREFIX}*"
        ),
    }


def test_record_execution_outcome_reads_this_state_machine_and_publishes_to_the_topic() -> None:
    statements = [st for owner, st in _allows() if owner == "RecordExecutionOutcomeFunction"]
    reads = next(st for st in statements if "states:GetExecutionHistory" in as_list(st["Action"]))
    assert set(as_list(reads["Action"])) == {"states:GetExecutionHistory"}
    assert sub_text(reads["Resource"]).endswith(":execution:${AWS::StackName}-pipeline:*")
    templates = dict(sam_policy_templates("RecordExecutionOutcomeFunction"))
    assert templates["SNSPublishMessagePolicy"] == {
        "TopicName": {"Fn::GetAtt": ["NotificationTopic", "TopicName"]}
    }
    assert not [
        st for st in statements if any(a.startswith(("s3:", "sagemaker:")) for a in as_list(st["Action"]))
    ]


def test_start_pipeline_starts_only_the_pipeline() -> None:
    assert sam_policy_templates("StartPipelineFunction") == [
        (
            "StepFunctionsExecutionPolicy",
            {"StateMachineName": {"Fn::GetAtt": ["PipelineStateMachine", "Name"]}},
        )
    ]


def test_sagemaker_role_is_assumed_by_sagemaker_only() -> None:
    role = resources()["SageMakerExecutionRole"]["Properties"]
    (statement,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "sagemaker.amazonaws.com"}
    assert "ManagedPolicyArns" not in role


def test_sagemaker_role_writes_only_job_outputs() -> None:
    statements = [st for owner, st in _allows() if owner == "SageMakerExecutionRole"]
    writes = {
        sub_text(resource)
        for st in statements
        if "s3:PutObject" in as_list(st["Action"])
        for resource in as_list(st["Resource"])
    }
    assert writes == {
        "${DataBucket.Arn}/models/*",
        "${DataBucket.Arn}/checkpoints/*",
        "${DataBucket.Arn}/predictions/*",
    }
    for st in statements:
        if "s3:ListBucket" in as_list(st["Action"]):
            assert "s3:prefix" in st["Condition"]["StringLike"]


@pytest.mark.parametrize("kind", ["training-job", "transform-job"])
def test_sync_jobs_may_list_their_tags(kind: str) -> None:
    """Step Functions "sagemaker-iam": the .sync policies for training and transform include
    sagemaker:ListTags."""
    statements = [st for owner, st in _allows() if owner == "PipelineStateMachine"]
    granted = [
        st
        for st in statements
        if "sagemaker:ListTags" in as_list(st["Action"])
        and any(f":{kind}/" in sub_text(resource) for resource in as_list(st["Resource"]))
    ]
    assert granted, f"sagemaker:ListTags is not granted on {kind}"


def test_only_register_model_writes_the_registry() -> None:
    writes = {"sagemaker:CreateModelPackageGroup", "sagemaker:CreateModelPackage"}
    writers = {owner for owner, st in _allows() if writes & set(as_list(st["Action"]))}
    assert writers == {"RegisterModelFunction"}


def test_prepare_run_reads_the_registry_and_describes_only_this_stacks_tuning_jobs() -> None:
    """A warm start (snowsage/warm_start.py) reads the champion as EvaluateModel does and describes its
    tuning job: reads only, scoped to the resource prefix."""
    policies = resources()["PrepareRunFunction"]["Properties"]["Policies"]
    assert {"Ref": "ModelRegistryReadPolicy"} in policies
    statements = [st for owner, st in _allows() if owner == "PrepareRunFunction"]
    actions = {a for st in statements for a in as_list(st["Action"]) if a.startswith("sagemaker:")}
    assert actions == {
        "sagemaker:DescribeModelPackage",
        "sagemaker:ListModelPackages",
        "sagemaker:ListModelPackageGroups",
        "sagemaker:DescribeHyperParameterTuningJob",
    }
    (describe,) = [st for st in statements if st["Action"] == "sagemaker:DescribeHyperParameterTuningJob"]
    assert sub_text(describe["Resource"]).endswith(f":hyper-parameter-tuning-job/{SAGEMAKER_PREFIX}*")
