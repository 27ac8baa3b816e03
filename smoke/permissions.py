"""What the identity running ``make smoke`` must be allowed, derived from the template and the plan.

Details: docs/smoke.md, "smoke/permissions.py".
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

import cfnlint.data.schemas

BEGIN = "<!-- smoke-permissions: begin (python -m smoke permissions) -->"
END = "<!-- smoke-permissions: end -->"
SCHEMAS = Path(cfnlint.data.schemas.__file__).parent
SMOKE_DOC = Path(__file__).resolve().parents[1] / "docs" / "smoke.md"
HANDLERS = ("create", "read", "update", "delete")

# SAM CLI's own calls (sam build needs none): the change set of the stack with SAM's transform, the
# managed stack and bucket --resolve-s3 creates once per account and region, the uploads; sam delete
# reads the deployed template (GetTemplate) to find the artifacts it removes.
SAM_CLI_ACTIONS = frozenset(
    {
        "cloudformation:CreateChangeSet",
        "cloudformation:DescribeChangeSet",
        "cloudformation:ExecuteChangeSet",
        "cloudformation:DeleteChangeSet",
        "cloudformation:DescribeStacks",
        "cloudformation:DescribeStackEvents",
        "cloudformation:DescribeStackResources",
        "cloudformation:GetTemplate",
        "cloudformation:GetTemplateSummary",
        "cloudformation:DeleteStack",
        "cloudformation:CreateStack",  # aws-sam-cli-managed-default, the first time
        "s3:CreateBucket",
        "s3:PutObject",
        "s3:GetObject",
        "s3:ListBucket",
        "s3:DeleteObject",
        "s3:PutBucketPolicy",
        "s3:PutBucketVersioning",
        "s3:PutEncryptionConfiguration",
        "s3:PutBucketPublicAccessBlock",
        "s3:PutBucketTagging",
    }
)

# The boto3 operations the plan calls (service as boto3 names it : operation).
PLAN_CALLS = frozenset(
    {
        "cloudformation:DescribeStacks",
        "cloudformation:DescribeStackResources",
        "cloudwatch:DeleteAlarms",  # the endpoint's alarms (snowsage_setup.endpoint delete)
        "cloudwatch:SetAlarmState",
        "lambda:Invoke",
        "s3:DeleteBucket",
        "s3:DeleteObject",  # the sandbox stages the sample in the bucket, then deletes it
        "s3:DeleteObjects",
        "s3:HeadBucket",
        "s3:ListObjectVersions",
        "s3:ListObjectsV2",
        "s3:PutObject",
        "sagemaker:DeleteEndpoint",
        "sagemaker:DeleteEndpointConfig",
        "sagemaker:DeleteModel",
        "sagemaker:DeleteModelPackage",
        "sagemaker:DeleteModelPackageGroup",
        "sagemaker:DescribeEndpoint",
        "sagemaker:DescribeEndpointConfig",
        "sagemaker:DescribeTransformJob",  # the start-up it measures
        "sagemaker:ListEndpointConfigs",
        "sagemaker:ListModelPackageGroups",
        "sagemaker:ListModelPackages",
        "sagemaker:ListModels",
        "sagemaker:ListTags",  # which configs belong to the endpoint (their tags)
        "secretsmanager:CreateSecret",
        "secretsmanager:DeleteSecret",
        "sns:Subscribe",
        "sns:Unsubscribe",
        "sqs:CreateQueue",
        "sqs:DeleteQueue",
        "sqs:GetQueueAttributes",
        "sqs:ReceiveMessage",
        "sqs:SetQueueAttributes",
        "stepfunctions:DescribeExecution",
        "stepfunctions:GetExecutionHistory",
        "stepfunctions:StartExecution",
        "stepfunctions:StopExecution",
        "sts:GetCallerIdentity",
    }
)
# Where an IAM action is not "<service prefix>:<operation>" (Service Authorization Reference).
SERVICE_PREFIX = {"stepfunctions": "states"}
ACTION_OF = {
    "lambda:Invoke": "lambda:InvokeFunction",
    "s3:DeleteObjects": "s3:DeleteObject",
    "s3:HeadBucket": "s3:ListBucket",
    "s3:ListObjectVersions": "s3:ListBucketVersions",
    "s3:ListObjectsV2": "s3:ListBucket",
    "sts:GetCallerIdentity": "",  # needs no permission (API_GetCallerIdentity)
}


def action_of(call: str) -> str:
    """The IAM action a boto3 call needs ('' for none)."""
    if call in ACTION_OF:
        return ACTION_OF[call]
    service, operation = call.split(":", 1)
    return f"{SERVICE_PREFIX.get(service, service)}:{operation}"


@cache
def _providers() -> dict[str, str]:
    document: dict[str, str] = json.loads((SCHEMAS / "providers" / "us-east-1.json").read_text())
    return document


def handler_permissions(resource_type: str) -> set[str]:
    """What CloudFormation's handlers of ``resource_type`` need (its registry schema)."""
    schema = json.loads((SCHEMAS / "resources" / f"{_providers()[resource_type]}.json").read_text())
    handlers: dict[str, Any] = schema.get("handlers") or {}
    return {action for name in HANDLERS for action in (handlers.get(name) or {}).get("permissions", [])}


def template_types(translated: dict[str, Any]) -> set[str]:
    return {str(resource["Type"]) for resource in translated["Resources"].values()}


def stack_actions(types: Iterable[str]) -> set[str]:
    return {action for resource_type in types for action in handler_permissions(resource_type)}


def smoke_actions(translated: dict[str, Any]) -> dict[str, set[str]]:
    """The actions by part: the stack's resources, SAM CLI, the plan."""
    return {
        "stack": stack_actions(template_types(translated)),
        "sam": set(SAM_CLI_ACTIONS),
        "plan": {action for action in map(action_of, PLAN_CALLS) if action},
    }


def by_service(actions: Iterable[str]) -> dict[str, list[str]]:
    grouped: dict[str, set[str]] = {}
    for action in actions:
        service, name = action.split(":", 1)
        grouped.setdefault(service, set()).add(name)
    return {service: sorted(names) for service, names in sorted(grouped.items())}


def document(translated: dict[str, Any], types_note: str) -> str:
    parts = smoke_actions(translated)
    every = set().union(*parts.values())
    lines = [
        BEGIN,
        "",
        f"Derived by `python -m smoke permissions` from SAM's transform of template.yaml ({types_note}),"
        " the CloudFormation registry schemas' handler permissions for each of those types, SAM CLI's"
        " own calls and the smoke plan's (smoke/permissions.py; a test keeps this list equal to it).",
        f"{len(every)} actions in {len(by_service(every))} services:",
        "",
    ]
    for service, names in by_service(every).items():
        lines.append(f"* `{service}`: " + ", ".join(f"`{name}`" for name in names))
    lines += ["", END]
    return "\n".join(lines)


def translated_template() -> dict[str, Any]:
    from tooling.template import project  # noqa: PLC0415  # SAM's translator, only when asked

    return project().translate(inline_definitions=False)


def current_document() -> str:
    translated = translated_template()
    types = sorted(template_types(translated))
    return document(translated, f"{len(types)} resource types: " + ", ".join(f"`{t}`" for t in types))


def replace_block(text: str, block: str) -> str:
    start, end = text.index(BEGIN), text.index(END) + len(END)
    return text[:start] + block + text[end:]
