"""docs/smoke.md's permission list is what smoke/permissions.py derives: it cannot fall behind."""

from __future__ import annotations

from smoke import permissions


def _documented() -> str:
    text = permissions.SMOKE_DOC.read_text(encoding="utf-8")
    return text[text.index(permissions.BEGIN) : text.index(permissions.END) + len(permissions.END)]


def test_the_page_lists_exactly_what_the_template_and_the_plan_need() -> None:
    assert _documented() == permissions.current_document(), "run: python -m smoke permissions --write"


def test_what_an_earlier_hand_written_list_lacked_is_derived() -> None:
    every = set().union(*permissions.smoke_actions(permissions.translated_template()).values())
    assert {
        "iam:CreatePolicy",
        "iam:DeletePolicy",
        "iam:CreatePolicyVersion",
        "iam:ListPolicyVersions",
        "cloudwatch:PutDashboard",
        "cloudwatch:DeleteDashboards",
        "s3:PutEncryptionConfiguration",
        "s3:PutLifecycleConfiguration",
        "cloudformation:GetTemplate",
        "states:StartExecution",
        "states:StopExecution",
        "cloudwatch:SetAlarmState",
        "lambda:InvokeFunction",
    } <= every


def test_a_resource_type_brings_its_handlers_permissions() -> None:
    """A resource added to the template adds what CloudFormation needs to create and delete it."""
    kms = permissions.stack_actions({"AWS::KMS::Key"})
    assert {"kms:CreateKey", "kms:ScheduleKeyDeletion", "kms:PutKeyPolicy"} <= kms
    assert "kms:CreateKey" not in permissions.stack_actions({"AWS::S3::Bucket"})


def test_every_plan_call_has_its_iam_action() -> None:
    assert permissions.action_of("stepfunctions:StartExecution") == "states:StartExecution"
    assert permissions.action_of("s3:ListObjectsV2") == "s3:ListBucket"
    assert permissions.action_of("sts:GetCallerIdentity") == ""
    for call in permissions.PLAN_CALLS:
        assert ":" in call and permissions.action_of(call) != call.split(":")[0] + ":", call
