"""Bucket, event rule, dead letters, logging: the production settings template.yaml must keep."""

from __future__ import annotations

import re

import pytest
import yaml

from tests.template.template_model import ROOT, as_list, functions, resources, sub_text

MANIFEST = "exports/merchant_risk/20261126t100000z/manifest.json"


def _wildcard(pattern: str) -> re.Pattern[str]:
    """EventBridge's wildcard operator: '*' matches any run of characters, '/' included."""
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")))


def test_bucket_sends_events_to_eventbridge() -> None:
    bucket = resources()["DataBucket"]["Properties"]
    assert bucket["NotificationConfiguration"] == {"EventBridgeConfiguration": {"EventBridgeEnabled": True}}


def test_bucket_is_private_encrypted_and_versioned() -> None:
    bucket = resources()["DataBucket"]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert len(bucket["PublicAccessBlockConfiguration"]) == 4
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert resources()["DataBucket"]["DeletionPolicy"] == "Retain"


def test_bucket_lifecycle_expires_transient_data_but_never_models() -> None:
    rules = resources()["DataBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    expiring = {rule.get("Prefix", ""): rule for rule in rules if "ExpirationInDays" in rule}
    assert {"exports/", "predictions/"} <= set(expiring)
    assert all(prefix and not prefix.startswith("models") for prefix in expiring), "models/ must never expire"
    assert any("NoncurrentVersionExpiration" in rule for rule in rules)
    assert any("AbortIncompleteMultipartUpload" in rule for rule in rules)
    assert all(rule["Status"] == "Enabled" for rule in rules)


@pytest.mark.parametrize(
    ("policy", "bucket"), [("DataBucketPolicy", "DataBucket"), ("AccessLogBucketPolicy", "AccessLogBucket")]
)
def test_bucket_policy_denies_plain_http(policy: str, bucket: str) -> None:
    props = resources()[policy]["Properties"]
    assert props["Bucket"] == {"Ref": bucket}
    deny = [st for st in props["PolicyDocument"]["Statement"] if st["Effect"] == "Deny"]
    assert len(deny) == 1
    (statement,) = deny
    assert statement["Principal"] == "*"
    assert statement["Action"] == "s3:*"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert {sub_text(r) for r in statement["Resource"]} == {
        str({"Fn::GetAtt": [bucket, "Arn"]}),
        f"${{{bucket}.Arn}}/*",
    }


def test_manifest_rule_pattern() -> None:
    events = resources()["StartPipelineFunction"]["Properties"]["Events"]
    (event,) = events.values()
    assert event["Type"] == "EventBridgeRule"
    pattern = event["Properties"]["Pattern"]
    assert pattern["source"] == ["aws.s3"]
    assert pattern["detail-type"] == ["Object Created"]
    assert pattern["detail"]["bucket"]["name"] == [{"Ref": "DataBucket"}]
    (key_filter,) = pattern["detail"]["object"]["key"]
    assert list(key_filter) == ["wildcard"], (
        "one operator per filter: prefix+suffix in one dict is not an AND"
    )
    assert key_filter["wildcard"] == "exports/*/*/manifest.json"
    matcher = _wildcard(key_filter["wildcard"])
    assert matcher.fullmatch(MANIFEST)
    for other in (
        "exports/merchant_risk/20261126t100000z/train/data_0_0_0.csv",
        "exports/merchant_risk/manifest.json",
        "models/merchant_risk/run/manifest.json",
        "predictions/merchant_risk/run/manifest.json.out",
    ):
        assert not matcher.fullmatch(other), other


def test_a_failed_start_is_never_lost() -> None:
    props = resources()["StartPipelineFunction"]["Properties"]
    (event,) = props["Events"].values()
    dlq = {"Fn::GetAtt": ["StartPipelineDeadLetterQueue", "Arn"]}
    assert event["Properties"]["DeadLetterConfig"] == {"Arn": dlq}
    assert event["Properties"]["RetryPolicy"]["MaximumRetryAttempts"] > 0
    assert props["DeadLetterQueue"] == {"Type": "SQS", "TargetArn": dlq}
    policy = resources()["StartPipelineDeadLetterQueuePolicy"]["Properties"]["PolicyDocument"]
    allow = next(st for st in policy["Statement"] if st["Effect"] == "Allow")
    assert allow["Principal"] == {"Service": "events.amazonaws.com"}
    assert allow["Condition"]["ArnEquals"]["aws:SourceArn"] == {
        "Fn::GetAtt": ["StartPipelineFunctionManifestCreated", "Arn"]
    }


def test_outcome_rule_takes_only_endings_of_this_state_machine() -> None:
    """step-functions/latest/dg/cw-events: source aws.states, one detail-type, status in detail."""
    (event,) = resources()["RecordExecutionOutcomeFunction"]["Properties"]["Events"].values()
    assert event["Type"] == "EventBridgeRule"
    assert event["Properties"]["Pattern"] == {
        "source": ["aws.states"],
        "detail-type": ["Step Functions Execution Status Change"],
        "detail": {
            "status": ["FAILED", "TIMED_OUT", "ABORTED"],
            "stateMachineArn": [{"Ref": "PipelineStateMachine"}],
        },
    }


def test_an_unrecorded_outcome_is_never_lost() -> None:
    props = resources()["RecordExecutionOutcomeFunction"]["Properties"]
    (event,) = props["Events"].values()
    dlq = {"Fn::GetAtt": ["ExecutionOutcomeDeadLetterQueue", "Arn"]}
    assert event["Properties"]["DeadLetterConfig"] == {"Arn": dlq}
    assert event["Properties"]["RetryPolicy"]["MaximumRetryAttempts"] > 0
    assert props["DeadLetterQueue"] == {"Type": "SQS", "TargetArn": dlq}
    assert props["EventInvokeConfig"]["MaximumRetryAttempts"] == 2
    policy = resources()["ExecutionOutcomeDeadLetterQueuePolicy"]["Properties"]["PolicyDocument"]
    allow = next(st for st in policy["Statement"] if st["Effect"] == "Allow")
    assert allow["Principal"] == {"Service": "events.amazonaws.com"}
    assert allow["Condition"]["ArnEquals"]["aws:SourceArn"] == [
        {"Fn::GetAtt": ["RecordExecutionOutcomeFunctionExecutionEnded", "Arn"]},
        {"Fn::GetAtt": ["StalenessCheckFunctionHourly", "Arn"]},  # the staleness check's schedule
    ]
    alarm = resources()["ExecutionOutcomeDeadLetterAlarm"]["Properties"]
    assert alarm["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["ExecutionOutcomeDeadLetterQueue", "QueueName"]}}
    ]


def test_state_machine_logs_and_traces() -> None:
    props = resources()["PipelineStateMachine"]["Properties"]
    assert props["Logging"]["Level"] == "ALL"
    assert props["Logging"]["IncludeExecutionData"] == {"Fn::If": ["IncludeExecutionData", True, False]}
    (destination,) = props["Logging"]["Destinations"]
    assert destination["CloudWatchLogsLogGroup"]["LogGroupArn"] == {
        "Fn::GetAtt": ["PipelineStateMachineLogGroup", "Arn"]
    }
    assert props["Tracing"] == {"Enabled": True}


def test_every_log_group_has_retention() -> None:
    groups = {name: res for name, res in resources().items() if res["Type"] == "AWS::Logs::LogGroup"}
    functions = [name for name, res in resources().items() if res["Type"] == "AWS::Serverless::Function"]
    assert len(groups) == len(functions) + 1  # one per function, one for the state machine
    for name, group in groups.items():
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}, name
    for name, res in resources().items():
        if res["Type"] == "AWS::Serverless::Function":
            assert res["Properties"]["LoggingConfig"]["LogGroup"]["Ref"] in groups, name


def test_topic_is_encrypted_with_a_key_cloudwatch_may_use() -> None:
    """Not the AWS managed alias/aws/sns: CloudWatch alarm actions cannot use it (SNS developer guide,
    sns-key-management, "Enable compatibility between event sources from AWS services and encrypted
    topics"); the key's policy lets cloudwatch.amazonaws.com use it, for this account only."""
    assert resources()["NotificationTopic"]["Properties"]["KmsMasterKeyId"] == {"Ref": "NotificationKey"}
    key = resources()["NotificationKey"]["Properties"]
    assert key["EnableKeyRotation"] is True
    (cloudwatch,) = [
        st
        for st in key["KeyPolicy"]["Statement"]
        if st.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert set(cloudwatch["Action"]) == {"kms:GenerateDataKey*", "kms:Decrypt"}
    assert cloudwatch["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}


# Each check the template suppresses: the resource type checkov runs it on, and what its reason must
# talk about (www.checkov.io, "Resource scans"). A new suppression needs its line here.
SUPPRESSIBLE: dict[str, tuple[frozenset[str], str]] = {
    "CKV_AWS_18": (frozenset({"AWS::S3::Bucket"}), r"access[- ]log"),
    "CKV_AWS_27": (frozenset({"AWS::SQS::Queue"}), r"encrypt|SSE"),
    "CKV_AWS_28": (frozenset({"AWS::DynamoDB::Table"}), r"restore|backup"),
    "CKV_AWS_119": (frozenset({"AWS::DynamoDB::Table"}), r"\bKMS\b|\bCMK\b"),
    "CKV_AWS_115": (frozenset({"AWS::Serverless::Function"}), r"concurrency"),
    "CKV_AWS_116": (frozenset({"AWS::Serverless::Function"}), r"\bDLQ\b|dead-letter"),
    "CKV_AWS_117": (frozenset({"AWS::Serverless::Function"}), r"\bVPC\b"),
    "CKV_AWS_158": (frozenset({"AWS::Logs::LogGroup"}), r"\bKMS\b|\bCMK\b"),
    "CKV_AWS_173": (frozenset({"AWS::Serverless::Function"}), r"[Ee]nvironment"),
}


CHECKOV_CONFIG = ROOT / ".checkov.yaml"
# "  - CKV_AWS_115  # reason": the config's skip-check list, each entry with its reason on its line.
CHECKOV_SKIP = re.compile(r"^\s*-\s*(CKV_[A-Z0-9_]+)\s*#\s*(.+)$", re.M)


def _project_wide_skips() -> dict[str, str]:
    text = CHECKOV_CONFIG.read_text(encoding="utf-8")
    listed = yaml.safe_load(text)["skip-check"]
    reasons = dict(CHECKOV_SKIP.findall(text))
    assert sorted(reasons) == sorted(listed), "every skip-check entry carries its reason on its line"
    return reasons


def _justified(where: str, check: str, kinds: set[str], reason: str) -> None:
    assert check in SUPPRESSIBLE, f"{where}: {check} is not in SUPPRESSIBLE"
    types, subject = SUPPRESSIBLE[check]
    assert kinds & types, f"{where}: {check} applies to {sorted(types)}, which the template has none of"
    assert re.search(subject, reason), (
        f"{where}: the reason for {check} says nothing about /{subject}/: {reason!r}"
    )


def test_checkov_suppressions_are_justified() -> None:
    """A suppression names a check that applies to its resource (or, project-wide, to resources the
    template has), and a reason about that check."""
    kinds = {res["Type"] for res in resources().values()}
    skips = _project_wide_skips()
    for check, reason in skips.items():
        _justified(".checkov.yaml", check, kinds, reason)
    local = 0
    for name, res in resources().items():
        for skip in res.get("Metadata", {}).get("checkov", {}).get("skip", []):
            local += 1
            assert skip["id"] not in skips, f"{name}: {skip['id']} is already skipped project-wide"
            _justified(name, skip["id"], {res["Type"]}, skip.get("comment", ""))
    assert skips and local, (
        "no suppression found: have .checkov.yaml or the template's checkov metadata moved?"
    )


def test_every_asynchronously_invoked_function_has_a_dead_letter_queue() -> None:
    """What CKV_AWS_116, skipped project-wide, would check where it matters: the functions an event
    source invokes asynchronously keep failed events; the state machine's synchronous ones need none."""
    asynchronous = [name for name, function in functions().items() if function.asynchronous]
    assert asynchronous
    for name in asynchronous:
        properties = functions()[name].properties
        assert properties["DeadLetterQueue"]["Type"] == "SQS", name
        for event in functions()[name].events.values():
            assert "Arn" in event.properties["DeadLetterConfig"], name


def test_outputs_name_what_operators_and_snowflake_need() -> None:
    from tests.template.template_model import template

    outputs = template()["Outputs"]
    assert {
        "DataBucketName",
        "PipelineStateMachineArn",
        "NotificationTopicArn",
        "SageMakerExecutionRoleArn",
        "SnowflakeStorageRoleArn",
        "StartPipelineFunctionName",
        "PrepareRunFunctionName",
        "EvaluateModelFunctionName",
        "SelectModelFunctionName",
        "LoadPredictionsFunctionName",
        "PublishModelFunctionName",
        "TrainInSnowflakeFunctionName",
        "ScoreInSnowflakeFunctionName",
        "RecordRunFunctionName",
        "RecordExecutionOutcomeFunctionName",
        "ExecutionOutcomeDeadLetterQueueUrl",
    } <= set(outputs)
    role = resources()["SnowflakeStorageRole"]["Properties"]["RoleName"]
    assert sub_text(outputs["SnowflakeStorageRoleArn"]["Value"]).endswith("role/" + sub_text(role))
    assert as_list(outputs["DataBucketName"]["Value"]) == [{"Ref": "DataBucket"}]
