"""A granted permission is a used permission: every action the deployed template grants, replayed.

Details: sandbox/README.md, "aws/least_privilege.py".
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from moto.iam.models import iam_backends

from sandbox.aws import iam_enforcement
from sandbox.aws.iam_policy import Policy, Statement

__all__ = ["KEPT", "SANDBOX_GAPS", "Grant", "Outcome", "exercised", "granted", "render", "revoked"]


@dataclass(frozen=True)
class Grant:
    """One action one statement grants: ``policy`` is the name the evaluator records it under."""

    owner: str  # the logical id of the role or resource the policy belongs to
    policy: str
    sid: str
    action: str
    role: str | None = None  # an identity policy's role: only that role's requests exercise it

    @property
    def key(self) -> str:
        return f"{self.policy}#{self.sid}"


# Grants the sandbox cannot exercise because only AWS's side makes the call, each with its reason.
# Keyed by (owner, action); an entry that no longer matches a grant fails the test (stale).
_VENDED_LOGS: Final = (
    "Step Functions sets up the state machine's vended logs (cw-logs-permissions);"
    " the sandbox keeps no CloudWatch Logs delivery"
)
_IMAGE_PULL: Final = (
    "SageMaker pulls the algorithm image with the role (sagemaker-roles); the emulator runs no image"
)
_JOB_LOGS: Final = "SageMaker's agent writes the job's logs with the role; the emulator keeps them in memory"
_LAMBDA_DLQ: Final = (
    "Lambda sends a failed asynchronous invocation to the function's dead-letter queue with the role;"
    " the sandbox's Lambda does not retry or dead-letter"
)
_EVENTS_DLQ: Final = (
    "EventBridge sends an event it could not deliver to the rule's dead-letter queue;"
    " the sandbox's EventBridge does not retry or dead-letter"
)
_NOTEBOOK: Final = (
    "the notebook instance's role (CreateNotebook): only a SageMaker notebook instance on AWS runs as it;"
    " the sandbox deploys it and runs notebooks/quickstart.ipynb with the administrator key"
)
_NOTEBOOK_TRAINING: Final = (
    "the notebook's experiments train as it; these runs start none (tests/notebook trains one as it,"
    " after the SageMaker SDK v3 validates it with SimulatePrincipalPolicy)"
)
_NOTEBOOK_ACTIONS: Final = (
    "sts:AssumeRole",
    "secretsmanager:GetSecretValue",
    "cloudformation:DescribeStacks",
    "s3:GetObject",
    "s3:PutObject",
    "s3:ListBucket",
    "states:StartExecution",
    "states:DescribeExecution",
    "states:GetExecutionHistory",
    "sagemaker:CreateTrainingJob",
    "sagemaker:DescribeTrainingJob",
    "sagemaker:StopTrainingJob",
    "sagemaker:AddTags",
    "sagemaker:DescribeModelPackage",
    "sagemaker:ListModelPackages",
    "sagemaker:ListModelPackageGroups",
    "iam:PassRole",
    "iam:GetRole",
    "iam:SimulatePrincipalPolicy",
    "logs:CreateLogGroup",
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "logs:DescribeLogStreams",
    "logs:GetLogEvents",
)
# The VPC network-interface actions the SageMaker SDK v3 requires on "*" of a training role it accepts.
SDK_VPC_ACTIONS: Final = (
    "ec2:CreateNetworkInterface",
    "ec2:CreateNetworkInterfacePermission",
    "ec2:DeleteNetworkInterface",
    "ec2:DeleteNetworkInterfacePermission",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeVpcs",
    "ec2:DescribeDhcpOptions",
    "ec2:DescribeSubnets",
    "ec2:DescribeSecurityGroups",
)
_NOTEBOOK_TRAINING_ACTIONS: Final = (
    "sts:AssumeRole",
    "s3:GetObject",
    "s3:PutObject",
    "s3:ListBucket",
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:GetDownloadUrlForLayer",
    "ecr:GetAuthorizationToken",
    "logs:CreateLogGroup",
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "logs:DescribeLogStreams",
    "cloudwatch:PutMetricData",
    *SDK_VPC_ACTIONS,
)
_UUID: Final = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
KEPT: Final[dict[tuple[str, str], str]] = {
    **{
        ("PipelineStateMachineRole", f"logs:{action}"): _VENDED_LOGS
        for action in (
            "CreateLogDelivery",
            "GetLogDelivery",
            "UpdateLogDelivery",
            "DeleteLogDelivery",
            "ListLogDeliveries",
            "PutResourcePolicy",
            "DescribeResourcePolicies",
            "DescribeLogGroups",
        )
    },
    ("PipelineStateMachineRole", "sagemaker:ListTags"): (
        "listed for the .sync integrations by Step Functions' sagemaker-iam page;"
        " when it is called is AWS's own"
    ),
    ("PipelineStateMachineRole", "sagemaker:ListTrainingJobsForHyperParameterTuningJob"): (
        "listed for createHyperParameterTuningJob.sync by Step Functions' sample-hyper-tuning IAM example:"
        " the integration's own reading of the trials"
    ),
    **{
        ("SageMakerExecutionRole", f"ecr:{action}"): _IMAGE_PULL
        for action in ("BatchCheckLayerAvailability", "BatchGetImage", "GetDownloadUrlForLayer")
    },
    ("SageMakerExecutionRole", "ecr:GetAuthorizationToken"): (
        f"{_IMAGE_PULL}; the SageMaker SDK v3 checks it with SimulatePrincipalPolicy"
        " (tests/serve/test_sagemaker_sdk_role.py)"
    ),
    **{
        ("SageMakerExecutionRole", f"logs:{action}"): _JOB_LOGS
        for action in ("CreateLogGroup", "CreateLogStream", "PutLogEvents", "DescribeLogStreams")
    },
    ("SageMakerExecutionRole", "cloudwatch:PutMetricData"): (
        "SageMaker's agent publishes the job's metrics with the role; the SDK v3 checks it with"
        " SimulatePrincipalPolicy"
    ),
    ("RecordRunFunctionRole", "sagemaker:DescribeTrainingJob"): (
        "a managed spot tuning job's trials bill BillableTimeInSeconds, read per trial (snowsage.cost."
        "TuningTrials, tests/unit/test_cost.py); the runs here tune on demand, priced from the listing"
    ),
    ("SnowflakeStorageRole", "s3:GetObjectVersion"): (
        "Snowflake reads an object's version when a stage names one; the pipeline's stage reads name none"
    ),
    ("SnowflakeStorageRole", "s3:DeleteObject"): (
        "an unload that overwrites (EXPORT_DATASET re-run on an export id) removes earlier files;"
        " the sandbox's unload writes new ids only"
    ),
    ("SnowflakeStorageRole", "s3:DeleteObjectVersion"): "as s3:DeleteObject, on a versioned bucket",
    ("SnowflakeStorageRole", "s3:GetBucketLocation"): (
        "Snowflake asks for the bucket's region when it sets up the stage"
        " (data-load-s3-config-storage-integration)"
    ),
    ("AccessLogBucket", "s3:PutObject"): (
        "S3 server access logging (logging.s3.amazonaws.com) delivers the data bucket's access logs;"
        " the sandbox writes none"
    ),
    ("StartPipelineDeadLetterQueue", "sqs:SendMessage"): _EVENTS_DLQ,
    ("ExecutionOutcomeDeadLetterQueue", "sqs:SendMessage"): _EVENTS_DLQ,
    ("StartPipelineFunctionRole", "sqs:SendMessage"): _LAMBDA_DLQ,
    ("RecordExecutionOutcomeFunctionRole", "sqs:SendMessage"): _LAMBDA_DLQ,
    ("StalenessCheckFunctionRole", "sqs:SendMessage"): _LAMBDA_DLQ,
    **{("NotebookRole", action): _NOTEBOOK for action in _NOTEBOOK_ACTIONS},
    **{("NotebookTrainingRole", action): _NOTEBOOK_TRAINING for action in _NOTEBOOK_TRAINING_ACTIONS},
    ("StalenessCheckFunction", "lambda:InvokeFunction"): (
        "EventBridge's schedule invokes the function every hour; the sandbox runs no schedules"
        " (the test invokes it directly)"
    ),
}
# Grants a path the sandbox cannot take yet makes unobservable, each with the gap (never "exercised",
# so the report does not depend on a race).
SANDBOX_GAPS: Final[dict[tuple[str, str], str]] = {
    ("PipelineStateMachineRole", "sagemaker:StopHyperParameterTuningJob"): (
        "sandbox gap: a stop during Tune reaches the tuning job only when it lands before the"
        " emulator's trials end, a race on this machine; the test stops Tune all the same"
    ),
    ("PipelineStateMachineRole", "sagemaker:StopTransformJob"): (
        "sandbox gap: Step Functions stops the transform job of a run stopped during Score; moto runs"
        " Score under its TimeoutSeconds in a frame the stop does not reach, so the job runs to its end"
    ),
}
# AWS managed policies SAM attaches: not statements of the template (Lambda writes the logs and
# X-Ray the traces with them; the sandbox does neither).
AWS_MANAGED: Final = frozenset(
    {"AWSLambdaBasicExecutionRole", "AWSXrayWriteOnlyAccess", "AWSXRayDaemonWriteAccess"}
)


def _statements(document: Any) -> list[dict[str, Any]]:
    raw = document if isinstance(document, Mapping) else json.loads(iam_enforcement._document(document))
    statements = raw.get("Statement", [])
    return list(statements) if isinstance(statements, list) else [statements]


def _actions(statement: Mapping[str, Any]) -> list[str]:
    value = statement.get("Action", [])
    return [str(v) for v in (value if isinstance(value, list) else [value])]


def _grants_of(owner: str, policy_name: str, document: Any, role: str | None = None) -> list[Grant]:
    found: list[Grant] = []
    for index, statement in enumerate(_statements(document)):
        if statement.get("Effect") != "Allow":
            continue
        sid = str(statement.get("Sid", f"statement {index + 1}"))
        found.extend(Grant(owner, policy_name, sid, action, role) for action in _actions(statement))
    return found


def granted(resources: Sequence[tuple[str, str, str]], region: str = "us-east-1") -> list[Grant]:
    """Every Allow action of the stack's policies (``resources``: logical id, physical id, type)."""
    account = iam_enforcement._default_account()
    backend = iam_backends[account]["aws"]
    grants: list[Grant] = []
    for logical, physical, kind in resources:
        if kind == "AWS::IAM::Role":
            role = backend.get_role(physical)
            for name, document in role.policies.items():
                grants += _grants_of(logical, f"{role.name}/{name}", document, role.arn)
            for policy in role.managed_policies.values():
                if policy.name not in AWS_MANAGED:
                    grants += _grants_of(
                        logical, policy.name, iam_enforcement._managed_document(policy), role.arn
                    )
            grants += _grants_of(logical, f"trust policy of {role.name}", role.assume_role_policy_document)
            continue
        arn = {
            "AWS::S3::Bucket": f"arn:aws:s3:::{physical}",
            "AWS::SQS::Queue": f"arn:aws:sqs:{region}:{account}:{physical.rstrip('/').rsplit('/', 1)[-1]}",
            "AWS::KMS::Key": f"arn:aws:kms:{region}:{account}:key/{physical.rsplit('/', 1)[-1]}",
            "AWS::Lambda::Function": f"arn:aws:lambda:{region}:{account}:function:{physical}",
        }.get(kind)
        if arn is None:
            continue
        for resource_policy in iam_enforcement.resource_policies(arn, region)[0]:
            grants += [
                Grant(logical, resource_policy.name, s.sid, a)
                for s in resource_policy.statements
                if s.effect == "Allow"
                for a in s.actions
            ]
    return grants


@dataclass(frozen=True)
class Outcome:
    grant: Grant
    exercised_by: iam_enforcement.RecordedDecision | None
    kept: str | None


def _without(policy: Policy, grant: Grant) -> Policy | None:
    if policy.name != grant.policy:
        return policy
    statements: list[Statement] = []
    for statement in policy.statements:
        if statement.sid == grant.sid and grant.action in statement.actions:
            left = statement.without_action(grant.action)
            if left is not None:
                statements.append(left)
            continue
        statements.append(statement)
    return dataclasses.replace(policy, statements=tuple(statements))


def exercised(
    grants: Sequence[Grant], decisions: Iterable[iam_enforcement.RecordedDecision]
) -> list[Outcome]:
    """For each grant: a recorded request it allowed that its removal denies, or why it is kept."""
    allowed = [d for d in decisions if d.allowed]
    outcomes = []
    for grant in grants:
        gap = SANDBOX_GAPS.get((grant.owner, grant.action))
        if gap is not None:
            outcomes.append(Outcome(grant, None, gap))
            continue
        using = sorted(
            (
                d
                for d in allowed
                if grant.key in d.allowed_by and (grant.role is None or d.role == grant.role)
            ),
            key=lambda d: (d.action, d.resource, d.principal),
        )
        hit = None
        for decision in using:
            _, again = iam_enforcement.check(
                decision.request.principal,
                decision.action,
                decision.resource,
                dict(decision.request.context),
                edit=functools.partial(_without, grant=grant),
                record=False,
            )
            if not again.allowed:
                hit = decision
                break
        kept = None if hit else KEPT.get((grant.owner, grant.action))
        outcomes.append(Outcome(grant, hit, kept))
    return outcomes


def _who(decision: iam_enforcement.RecordedDecision, roles: Mapping[str, str]) -> str:
    if decision.role:
        return roles.get(decision.role.rsplit("/", 1)[-1], decision.role)
    return (
        decision.principal.rsplit("/", 1)[-1] if decision.principal.startswith("arn:") else decision.principal
    )


def render(outcomes: Sequence[Outcome], stack: Sequence[tuple[str, str, str]]) -> str:
    """The report's Markdown: the count, then one row per granted action."""
    roles = {physical: logical for logical, physical, kind in stack if kind == "AWS::IAM::Role"}
    # Physical names carry CloudFormation's random suffixes: the report names logical ids.
    names = {
        name: logical
        for logical, physical, _ in stack
        for name in {physical, physical.rstrip("/").rsplit("/", 1)[-1]}
        if len(name) > 3
    }
    used = sum(1 for o in outcomes if o.exercised_by is not None)
    kept = sum(1 for o in outcomes if o.exercised_by is None and o.kept)
    lines = [
        f"**{used} of {len(outcomes)} granted actions exercised** by the sandbox's runs; the other"
        f" {kept} are kept for a path only AWS takes (the reason is in the row);"
        f" {len(outcomes) - used - kept} unexplained.",
        "",
        "| principal or resource | statement | action"
        " | exercised by (whose request its removal denies) or kept because |",
        "|---|---|---|---|",
    ]
    for outcome in sorted(
        outcomes, key=lambda o: (o.grant.owner, o.grant.sid, o.grant.action, o.grant.policy)
    ):
        grant = outcome.grant
        policy = grant.policy.rsplit("/", 1)[-1] if "/" in grant.policy else grant.policy
        for physical, logical in sorted(names.items(), key=lambda item: -len(item[0])):
            policy = policy.replace(physical, logical)
        if outcome.exercised_by is not None:
            why = f"exercised: {_who(outcome.exercised_by, roles)}"
        else:
            why = f"kept: {outcome.kept}" if outcome.kept else "**not exercised**"
        # AWS::Lambda::Permission's statement id is a UUID the service draws on each deploy
        sid = "(generated statement id)" if _UUID.fullmatch(grant.sid) else grant.sid
        for physical, logical in sorted(names.items(), key=lambda item: -len(item[0])):
            sid = sid.replace(physical, logical)
        lines.append(f"| {grant.owner} | {policy}, {sid} | `{grant.action}` | {why} |")
    return "\n".join(lines) + "\n"


def _removed(
    document: Any, action: str, sid: str | None, resource: str | None = None
) -> tuple[dict[str, Any], bool]:
    raw = json.loads(iam_enforcement._document(document))
    statements = raw.get("Statement", [])
    statements = statements if isinstance(statements, list) else [statements]
    kept, changed = [], False
    for statement in statements:
        actions = _actions(statement)
        if (
            action in actions
            and statement.get("Effect") == "Allow"
            and (sid is None or statement.get("Sid") == sid)
            and (resource is None or resource in json.dumps(statement.get("Resource")))
        ):
            changed = True
            rest = [a for a in actions if a != action]
            if not rest:
                continue
            kept.append({**statement, "Action": rest})
            continue
        kept.append(statement)
    return {"Version": "2012-10-17", **raw, "Statement": kept}, changed


@contextlib.contextmanager
def revoked(
    iam: Any, role_name: str, action: str, sid: str | None = None, resource: str | None = None
) -> Iterator[None]:
    """The role's inline and managed policies without ``action`` (only in statement ``sid``, or in
    statements naming ``resource``, if given) for the block, through the IAM API as an
    administrator would edit them; then restored."""
    restore: list[Callable[[], None]] = []
    for name in iam.list_role_policies(RoleName=role_name)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=role_name, PolicyName=name)["PolicyDocument"]
        edited, changed = _removed(document, action, sid, resource)
        if changed:
            if edited["Statement"]:
                iam.put_role_policy(RoleName=role_name, PolicyName=name, PolicyDocument=json.dumps(edited))
            else:
                iam.delete_role_policy(RoleName=role_name, PolicyName=name)
            original = json.dumps(
                {"Version": "2012-10-17", **json.loads(iam_enforcement._document(document))}
            )
            restore.append(
                functools.partial(
                    iam.put_role_policy, RoleName=role_name, PolicyName=name, PolicyDocument=original
                )
            )
    for attached in iam.list_attached_role_policies(RoleName=role_name)["AttachedPolicies"]:
        arn = attached["PolicyArn"]
        version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
        document = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]
        edited, changed = _removed(document, action, sid, resource)
        if changed:
            new = iam.create_policy_version(
                PolicyArn=arn, PolicyDocument=json.dumps(edited), SetAsDefault=True
            )
            new_version = new["PolicyVersion"]["VersionId"]

            def back(arn: str = arn, version: str = version, new_version: str = new_version) -> None:
                iam.set_default_policy_version(PolicyArn=arn, VersionId=version)
                iam.delete_policy_version(PolicyArn=arn, VersionId=new_version)

            restore.append(back)
    if not restore:
        raise ValueError(f"{role_name} grants no {action}" + (f" in {sid}" if sid else ""))
    try:
        yield
    finally:
        for undo in reversed(restore):
            undo()
