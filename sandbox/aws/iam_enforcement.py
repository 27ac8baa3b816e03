"""Who may do it: every call into the sandbox's AWS is authorized for the principal that makes it.

Details: sandbox/README.md, "aws/iam_enforcement.py".
"""

from __future__ import annotations

import ast
import contextlib
import datetime as dt
import functools
import json
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from moto.awslambda.utils import get_backend as lambda_backend
from moto.core.authorization import ActionAuthenticatorMixin
from moto.core.exceptions import ServiceException
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.core.responses import ActionResult, BaseResponse
from moto.iam.access_control import PermissionResult
from moto.iam.models import iam_backends
from moto.kms.models import kms_backends
from moto.s3.exceptions import S3ClientError
from moto.s3.models import FakeBucket, s3_backends
from moto.secretsmanager.models import secretsmanager_backends
from moto.sns.models import sns_backends
from moto.sqs.models import sqs_backends
from moto.sts.models import sts_backends

from sandbox.aws import aws_validation
from sandbox.aws.iam_policy import (
    Decision,
    Policy,
    Principal,
    Request,
    account_of,
    denial_message,
    evaluate,
    missing_context_keys,
    parse_policy,
)

LOG = logging.getLogger(__name__)

__all__ = [
    "ADMIN_ACCESS_KEY_ID",
    "AccessDenied",
    "RecordedDecision",
    "Session",
    "acting_as",
    "authorize",
    "check",
    "current_principal",
    "decisions",
    "install",
    "installed",
    "reset_decisions",
    "role_session",
    "service_principal",
    "uninstall",
]

# The sandbox administrator's access key (README, docs/sam-local.md): moto's usual "testing".
ADMIN_ACCESS_KEY_ID: Final = "testing"
ADMIN_NAME: Final = "sandbox-administrator"
PARTITION: Final = "aws"
# AdministratorAccess (aws-managed-policy/latest/reference/AdministratorAccess).
ADMINISTRATOR_ACCESS: Final = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}


def _aws_managed_key_policy(account: str, region: str, service: str) -> dict[str, Any]:
    """The key policy of an AWS managed key (``alias/aws/<service>``), as AWS writes it: any
    principal of the account, through the service only (kms key-policy-default, "AWS managed keys").
    No service principal is named, so CloudWatch alarms cannot use the aws/sns key."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": f"Allow access through {service.upper()} for all principals in the account",
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": [
                    "kms:Encrypt",
                    "kms:Decrypt",
                    "kms:ReEncrypt*",
                    "kms:GenerateDataKey*",
                    "kms:CreateGrant",
                    "kms:DescribeKey",
                ],
                "Resource": "*",
                "Condition": {
                    "StringEquals": {
                        "kms:CallerAccount": account,
                        "kms:ViaService": f"{service}.{region}.amazonaws.com",
                    }
                },
            },
            {
                "Sid": "Allow direct access to key metadata to the account",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                "Action": ["kms:Describe*", "kms:Get*", "kms:List*", "kms:RevokeGrant"],
                "Resource": "*",
            },
        ],
    }


# --------------------------------------------------------------------------------------------
# Denials
# --------------------------------------------------------------------------------------------


class AccessDenied(Exception):
    """A refused authorization: ``code`` and ``message`` as the service answers it."""

    def __init__(self, request: Request, decision: Decision, code: str = "AccessDenied") -> None:
        self.request = request
        self.decision = decision
        self.code = code
        self.message = denial_message(request, decision)
        super().__init__(self.message)


class _Refused(ServiceException):
    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message
        self.http_status_code = status


# --------------------------------------------------------------------------------------------
# The record
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordedDecision:
    principal: str  # the principal's ARN (a role session: the session)
    role: str | None  # the role whose policies applied, if any
    action: str
    resource: str
    context: tuple[tuple[str, str], ...]
    allowed: bool
    allowed_by: tuple[str, ...]  # "<policy>#<sid>"
    request: Request = field(compare=False, hash=False)


_RECORD: dict[tuple[Any, ...], RecordedDecision] = {}
_RECORD_LOCK = threading.Lock()
# Context keys that differ per call and say nothing about the grant: left out of the record.
_UNRECORDED_KEYS: Final = frozenset({"aws:currenttime", "aws:epochtime"})


def _record(request: Request, decision: Decision) -> None:
    context = tuple(
        sorted(
            (k, json.dumps(v, default=str))
            for k, v in request.context.items()
            if k.lower() not in _UNRECORDED_KEYS
        )
    )
    entry = RecordedDecision(
        principal=request.principal.arn,
        role=request.principal.role_arn,
        action=request.action,
        resource=request.resource,
        context=context,
        allowed=decision.allowed,
        allowed_by=tuple(f"{m.policy}#{m.sid}" for m in decision.allowed_by),
        request=request,
    )
    key = (entry.principal, entry.action, entry.resource, context, entry.allowed)
    with _RECORD_LOCK:
        _RECORD.setdefault(key, entry)


def decisions() -> list[RecordedDecision]:
    with _RECORD_LOCK:
        return list(_RECORD.values())


def reset_decisions() -> None:
    with _RECORD_LOCK:
        _RECORD.clear()


# --------------------------------------------------------------------------------------------
# Principals and their policies
# --------------------------------------------------------------------------------------------


def _iam(account: str) -> Any:
    return iam_backends[account][PARTITION]


def admin_principal(account: str) -> Principal:
    return Principal(arn=f"arn:{PARTITION}:iam::{account}:user/{ADMIN_NAME}", account=account)


def service_principal(service: str) -> Principal:
    return Principal(arn=service, service=service)


@dataclass(frozen=True)
class Session:
    """STS credentials of a role session, and the principal they stand for."""

    principal: Principal
    access_key_id: str
    secret_access_key: str
    session_token: str

    def environment(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_SESSION_TOKEN": self.session_token,
        }


_SESSIONS: dict[tuple[str, str], Session] = {}
_BY_KEY: dict[str, Principal] = {}
_SESSION_LOCK = threading.RLock()


def _document(document: Any) -> str:
    """A policy document as JSON text: moto keeps CloudFormation's as JSON, a dict, or a repr."""
    if isinstance(document, Mapping):
        return json.dumps(document, sort_keys=True)
    return _text_document(str(document))


@functools.lru_cache(maxsize=1024)
def _text_document(text: str) -> str:
    try:
        json.loads(text)
    except ValueError:
        return json.dumps(ast.literal_eval(text), sort_keys=True)
    return text


def _role(role_arn: str) -> Any:
    account = account_of(role_arn)
    if account is None:
        return None
    try:
        return _iam(account).get_role_by_arn(role_arn)
    except Exception:  # NotFoundException: no such role
        return None


def _managed_document(policy: Any) -> str:
    version = next(v for v in policy.versions if v.is_default)
    return _document(version.document)


def identity_policies(principal: Principal) -> list[Policy]:
    """The identity-based policies of the principal (inline and managed; none for a service)."""
    if principal.is_service or principal.account is None:
        return []
    if principal.arn == admin_principal(principal.account).arn:
        return [parse_policy("AdministratorAccess", "identity", ADMINISTRATOR_ACCESS)]
    found: list[Policy] = []
    if principal.role_arn is not None:
        role = _role(principal.role_arn)
        if role is None:
            return []
        for name, document in role.policies.items():
            found.append(parse_policy(f"{role.name}/{name}", "identity", _document(document)))
        for policy in role.managed_policies.values():
            found.append(parse_policy(policy.name, "identity", _managed_document(policy)))
        return found
    backend = _iam(principal.account)
    name = principal.arn.rsplit("/", 1)[-1]
    with contextlib.suppress(Exception):
        user = backend.get_user(name)
        for policy_name, document in user.policies.items():
            found.append(parse_policy(f"{name}/{policy_name}", "identity", _document(document)))
        for policy in user.managed_policies.values():
            found.append(parse_policy(policy.name, "identity", _managed_document(policy)))
        for group in backend.get_groups_for_user(name):
            for policy_name, document in group.policies.items():
                found.append(parse_policy(f"{group.name}/{policy_name}", "identity", _document(document)))
            for policy in group.managed_policies.values():
                found.append(parse_policy(policy.name, "identity", _managed_document(policy)))
    return found


def _region_of(arn: str, default: str) -> str:
    parts = arn.split(":")
    return parts[3] if len(parts) > 3 and parts[3] else default


def resource_policies(  # noqa: PLR0911  (one answer per kind of resource policy)
    resource: str, region: str, action: str = "sts:AssumeRole"
) -> tuple[list[Policy], bool]:
    """The resource's own policy for ``action`` and whether it must allow (KMS keys; a role's trust
    policy, which is its policy for sts:AssumeRole only)."""
    parts = resource.split(":")
    if len(parts) < 6 or parts[0] != "arn":
        return [], False
    service, account, rest = parts[2], parts[4], parts[5]
    region = _region_of(resource, region)
    with contextlib.suppress(Exception):
        if service == "s3":
            bucket = s3_backends[_default_account()][PARTITION].get_bucket(rest.split("/", 1)[0])
            return (
                [parse_policy(f"bucket policy of {bucket.name}", "resource", bucket.policy.decode())]
                if bucket.policy
                else []
            ), False
        if service == "iam" and rest.startswith("role/") and action.lower().startswith("sts:assumerole"):
            role = _role(resource)
            if role is not None:
                return [
                    parse_policy(
                        f"trust policy of {role.name}",
                        "resource",
                        _document(role.assume_role_policy_document),
                    )
                ], True
        if service == "kms":
            return [_key_policy(resource, account, region)], True
        if service == "sns":
            topic = sns_backends[account][region].topics[":".join(parts[:6])]
            return [parse_policy(f"topic policy of {topic.name}", "resource", topic.policy)], False
        if service == "sqs":
            queue = sqs_backends[account][region].queues[rest]
            return (
                [parse_policy(f"queue policy of {rest}", "resource", queue.policy)] if queue.policy else []
            ), False
        if service == "lambda":
            function = lambda_backend(account, region).get_function(parts[6])
            statements = function.policy.statements
            return (
                [parse_policy(f"resource policy of {parts[6]}", "resource", {"Statement": statements})]
                if statements
                else []
            ), False
    return [], False


def _key_policy(key_arn: str, account: str, region: str) -> Policy:
    backend = kms_backends[account][region]
    key = backend.keys[backend.any_id_to_key_id(key_arn.rsplit("/", 1)[-1])]
    managed = next((alias for alias in key.aliases if alias.startswith("alias/aws/")), None)
    if managed is not None:
        document: Any = _aws_managed_key_policy(account, region, managed.removeprefix("alias/aws/"))
        return parse_policy(f"key policy of {managed} (AWS managed)", "resource", document)
    return parse_policy(f"key policy of {key.id}", "resource", _document(key.policy))


def key_arn(key_id: str, account: str, region: str) -> str:
    """The ARN of a key named by id, ARN, alias or alias ARN (an AWS managed alias makes its key)."""
    backend = kms_backends[account][region]
    alias = backend.get_alias_name(key_id)
    if alias.startswith("alias/aws/") and backend.get_key_id_from_alias(alias) is None:
        # AWS creates an AWS managed key when a service first uses it (kms concepts, aws-managed-key).
        key = backend.create_key(
            None, "ENCRYPT_DECRYPT", "SYMMETRIC_DEFAULT", f"Default key for {alias}", None
        )
        key.key_manager = "AWS"
        backend.create_alias(key.id, alias)
    raw = backend.any_id_to_key_id(key_id)
    return str(backend.keys[raw].arn)


def _default_account() -> str:
    return str(DEFAULT_ACCOUNT_ID)


# --------------------------------------------------------------------------------------------
# Authorizing
# --------------------------------------------------------------------------------------------

_ENFORCING = threading.Event()
_PolicyEdit = Callable[[Policy], Policy | None]


def base_context(principal: Principal, *, secure_transport: bool = True) -> dict[str, Any]:
    """Global condition keys every request carries (reference_policies_condition-keys)."""
    now = dt.datetime.now(dt.UTC)
    context: dict[str, Any] = {
        "aws:SecureTransport": "true" if secure_transport else "false",
        "aws:CurrentTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "aws:EpochTime": str(int(now.timestamp())),
    }
    if not principal.is_service:
        context["aws:PrincipalArn"] = principal.role_arn or principal.arn
        if principal.account:
            context["aws:PrincipalAccount"] = principal.account
    return context


def check(
    principal: Principal,
    action: str,
    resource: str,
    context: Mapping[str, Any] | None = None,
    *,
    region: str = "us-east-1",
    edit: _PolicyEdit | None = None,
    record: bool = True,
) -> tuple[Request, Decision]:
    """Evaluate one request (``edit`` rewrites or drops policies first: the least-privilege replay)."""
    full = {**base_context(principal), **dict(context or {})}
    request = Request(principal, action, resource, full)
    identity = identity_policies(principal)
    resource_side, required = resource_policies(resource, region, action)
    if edit is not None:
        identity = [p for p in (edit(p) for p in identity) if p is not None]
        resource_side = [p for p in (edit(p) for p in resource_side) if p is not None]
    decision = evaluate(request, identity, resource_side, resource_policy_required=required)
    if record:
        _record(request, decision)
    return request, decision


def authorize(
    principal: Principal,
    action: str,
    resource: str,
    context: Mapping[str, Any] | None = None,
    *,
    code: str = "AccessDenied",
    region: str = "us-east-1",
) -> None:
    """Raise ``AccessDenied`` (with the service's ``code``) unless the policies allow the request."""
    if not _ENFORCING.is_set():
        return
    request, decision = check(principal, action, resource, context, region=region)
    if not decision.allowed:
        LOG.info("denied: %s", denial_message(request, decision))
        raise AccessDenied(request, decision, code)


# --------------------------------------------------------------------------------------------
# Sessions: roles assumed by a service or by a principal
# --------------------------------------------------------------------------------------------


def role_session(
    role_arn: str,
    *,
    assumed_by: Principal,
    session_name: str,
    context: Mapping[str, Any] | None = None,
    region: str = "us-east-1",
) -> Session:
    """STS credentials for ``role_arn``, once its trust policy lets ``assumed_by`` assume it
    (sts:AssumeRole; id_roles_terms-and-concepts: the trust policy is the role's resource policy)."""
    authorize(assumed_by, "sts:AssumeRole", role_arn, context, region=region)
    with _SESSION_LOCK:
        key = (role_arn, session_name)
        session = _SESSIONS.get(key)
        if session is not None:
            return session
        account = account_of(role_arn) or _default_account()
        assumed = sts_backends[account][PARTITION].assume_role(
            region_name=region,
            role_session_name=session_name,
            role_arn=role_arn,
            policy="",
            duration=43200,
            external_id=str((context or {}).get("sts:ExternalId", "")),
        )
        principal = Principal(arn=assumed.arn, account=account, role_arn=role_arn)
        session = Session(principal, assumed.access_key_id, assumed.secret_access_key, assumed.session_token)
        _SESSIONS[key] = session
        _BY_KEY[session.access_key_id] = principal
        return session


def service_assumes(
    role_arn: str,
    service: str,
    session_name: str,
    *,
    source_arn: str | None = None,
    region: str = "us-east-1",
) -> Session:
    """A service (``lambda.amazonaws.com``, ``states.amazonaws.com``, …) assumes a role of this account."""
    account = account_of(role_arn) or _default_account()
    context: dict[str, Any] = {"aws:SourceAccount": account}
    if source_arn:
        context["aws:SourceArn"] = source_arn
    return role_session(
        role_arn,
        assumed_by=service_principal(service),
        session_name=session_name[:64],
        context=context,
        region=region,
    )


def principal_for_access_key(access_key_id: str, account: str) -> Principal | None:
    if access_key_id == ADMIN_ACCESS_KEY_ID:
        return admin_principal(account)
    with _SESSION_LOCK:
        known = _BY_KEY.get(access_key_id)
    if known is not None:
        return known
    for backend_account in list(sts_backends):
        with contextlib.suppress(Exception):
            for assumed in sts_backends[backend_account][PARTITION].assumed_roles:
                if assumed.access_key_id == access_key_id:
                    return Principal(arn=assumed.arn, account=assumed.account_id, role_arn=assumed.role_arn)
    with contextlib.suppress(Exception):
        for user in _iam(account).users.values():
            if any(key.access_key_id == access_key_id for key in user.access_keys):
                return Principal(arn=user.arn, account=account)
    return None


_acting = threading.local()


@contextlib.contextmanager
def acting_as(principal: Principal | None) -> Iterator[None]:
    """The sandbox's in-process stand-ins (the SageMaker emulator, Snowflake's stage) make their S3
    calls as ``principal`` inside this block (this thread only)."""
    previous = getattr(_acting, "principal", None)
    _acting.principal = principal
    try:
        yield
    finally:
        _acting.principal = previous


def current_principal() -> Principal | None:
    principal: Principal | None = getattr(_acting, "principal", None)
    return principal


# --------------------------------------------------------------------------------------------
# HTTP requests: action, resource and context from what moto received
# --------------------------------------------------------------------------------------------

# IAM's service prefix where it differs from the signing name (Service Authorization Reference).
_PREFIX: Final = {"monitoring": "cloudwatch", "stepfunctions": "states"}
# API operations authorized as another action (Service Authorization Reference, "Actions").
_ACTION_NAMES: Final = {("lambda", "Invoke"): "InvokeFunction", ("lambda", "InvokeAsync"): "InvokeFunction"}
# Request members naming a resource, and the ARN of that resource type (Service Authorization
# Reference, "Resource types defined by …"). SageMaker puts names in ARNs in lower case.
_NAME_ARNS: Final[dict[tuple[str, str], str]] = {
    ("sagemaker", "TrainingJobName"): "training-job/{lower}",
    ("sagemaker", "TransformJobName"): "transform-job/{lower}",
    ("sagemaker", "HyperParameterTuningJobName"): "hyper-parameter-tuning-job/{lower}",
    ("sagemaker", "ModelName"): "model/{lower}",
    ("sagemaker", "ModelPackageGroupName"): "model-package-group/{lower}",
    ("sagemaker", "EndpointName"): "endpoint/{lower}",
    ("sagemaker", "EndpointConfigName"): "endpoint-config/{lower}",
    ("cloudwatch", "AlarmName"): "alarm:{name}",
    ("lambda", "FunctionName"): "function:{name}",
    ("sns", "Name"): "{name}",
    ("secretsmanager", "SecretId"): "secret:{name}",
    ("events", "Name"): "rule/{name}",
    ("logs", "logGroupName"): "log-group:{name}",
    ("dynamodb", "TableName"): "table/{name}",  # Service Authorization Reference, Amazon DynamoDB
    ("iam", "RoleName"): "role/{name}",
    ("iam", "UserName"): "user/{name}",
}
# Actions that define no resource type: IAM authorizes them only on "*".
_NO_RESOURCE: Final = frozenset(
    {
        "sagemaker:ListModelPackages",
        "sagemaker:ListModelPackageGroups",
        "sagemaker:ListTrainingJobs",
        "sagemaker:ListTransformJobs",
        "sagemaker:ListModels",
        "sagemaker:ListHyperParameterTuningJobs",
        "states:ListStateMachines",
        "sns:ListTopics",
        "sqs:ListQueues",
        "lambda:ListFunctions",
        "secretsmanager:ListSecrets",
        "cloudwatch:PutMetricData",
        "sts:GetCallerIdentity",
    }
)


def _arn_member(params: Mapping[str, Any], service: str) -> str | None:
    for value in params.values():
        if isinstance(value, str) and value.startswith("arn:") and value.split(":")[2:3] == [service]:
            return value
    return None


def _secret_arn(secret_id: str, account: str, region: str) -> str:
    with contextlib.suppress(Exception):
        return str(secretsmanager_backends[account][region].secrets[secret_id].arn)
    return f"arn:{PARTITION}:secretsmanager:{region}:{account}:secret:{secret_id}"


def resource_for(  # noqa: PLR0911  (one answer per way a request names its resource)
    prefix: str, operation: str, params: Mapping[str, Any], region: str, account: str
) -> str:
    """The resource ARN IAM authorizes the operation against (``*`` where it defines none)."""
    action = f"{prefix}:{operation}"
    if action in _NO_RESOURCE:
        return "*"
    if prefix == "lambda" and "FunctionName" in params:
        name = str(params["FunctionName"])
        if not name.startswith("arn:"):
            name = f"arn:{PARTITION}:lambda:{region}:{account}:function:{name}"
        qualifier = params.get("Qualifier")
        return f"{name}:{qualifier}" if qualifier and name.count(":") == 6 else name
    if prefix == "secretsmanager" and "SecretId" in params:
        secret = str(params["SecretId"])
        return secret if secret.startswith("arn:") else _secret_arn(secret, account, region)
    if prefix == "sqs" and "QueueUrl" in params:
        return (
            f"arn:{PARTITION}:sqs:{region}:{account}:{str(params['QueueUrl']).rstrip('/').rsplit('/', 1)[-1]}"
        )
    if prefix == "kms" and "KeyId" in params:
        with contextlib.suppress(Exception):
            return key_arn(str(params["KeyId"]), account, region)
    alarms = params.get("AlarmNames")
    if prefix == "cloudwatch" and isinstance(alarms, list) and alarms:
        return _alarm_arn(str(alarms[0]), region, account)  # the others: implied()
    if prefix == "sagemaker" and operation == "CreateModelPackage" and params.get("ModelPackageGroupName"):
        group = str(params["ModelPackageGroupName"]).lower()
        return f"arn:{PARTITION}:sagemaker:{region}:{account}:model-package/{group}/*"
    arn = None if prefix == "iam" else _arn_member(params, prefix)
    if arn is not None:
        return arn
    for (service, member), template in _NAME_ARNS.items():
        if service == prefix and isinstance(params.get(member), str):
            name = str(params[member])
            if name.startswith("arn:"):
                return name
            path = template.format(name=name, lower=name.lower())
            scope = "" if prefix == "iam" else region
            return f"arn:{PARTITION}:{prefix}:{scope}:{account}:{path}"
    return "*"


def _alarm_arn(name: str, region: str, account: str) -> str:
    return f"arn:{PARTITION}:cloudwatch:{region}:{account}:alarm:{name}"


@dataclass(frozen=True)
class Implied:
    """A further authorization one request needs (an action AWS checks beside the operation's own)."""

    action: str
    resource: str
    context: dict[str, Any]
    code: str


# The service principal a role passed in a request goes to (id_roles_use_passrole).
_PASSED_TO: Final = {
    "sagemaker": "sagemaker.amazonaws.com",
    "states": "states.amazonaws.com",
    "lambda": "lambda.amazonaws.com",
}
_ROLE_MEMBERS: Final = ("RoleArn", "ExecutionRoleArn", "roleArn", "Role")


def passed_roles(params: Any) -> list[str]:
    """Role ARNs anywhere in a request (CreateHyperParameterTuningJob nests its RoleArn)."""
    found: list[str] = []
    if isinstance(params, Mapping):
        for key, value in params.items():
            if key in _ROLE_MEMBERS and isinstance(value, str) and ":role/" in value:
                found.append(value)
            else:
                found.extend(passed_roles(value))
    elif isinstance(params, list):
        for item in params:
            found.extend(passed_roles(item))
    return found


def implied(
    prefix: str,
    operation: str,
    params: Mapping[str, Any],
    *,
    resource: str,
    principal: Principal,
    region: str,
) -> list[Implied]:
    """Authorizations AWS makes beside the operation's own action."""
    extra: list[Implied] = []
    if operation.startswith(("Create", "Update")) and prefix in _PASSED_TO:
        # iam:PassRole, with iam:PassedToService (id_roles_use_passrole).
        for role in passed_roles(params):
            extra.append(
                Implied(
                    "iam:PassRole", role, {"iam:PassedToService": _PASSED_TO[prefix]}, "AccessDeniedException"
                )
            )
    if prefix == "sagemaker" and operation.startswith("Create") and params.get("Tags"):
        # "To add tags when you create a resource, you need sagemaker:AddTags" (sagemaker
        # security_iam_id-based-policy-examples, "Control access by tags"; API_AddTags).
        extra.append(Implied("sagemaker:AddTags", resource, {}, "AccessDeniedException"))
    if prefix == "sns" and operation == "Publish":
        extra.extend(sns_key_use(resource, principal, region))
    extra.extend(_endpoint_implied(prefix, operation, params, resource))
    return extra


def _endpoint_implied(prefix: str, operation: str, params: Mapping[str, Any], resource: str) -> list[Implied]:
    """Endpoint and alarm authorizations besides the first resource the request names."""
    account, region = account_of(resource) or _default_account(), _region_of(resource, "us-east-1")
    extra: list[Implied] = []
    if prefix == "cloudwatch" and isinstance(params.get("AlarmNames"), list):
        # DeleteAlarms, DescribeAlarms: authorized on each alarm (Service Authorization Reference, CloudWatch)
        for name in params["AlarmNames"][1:]:
            extra.append(
                Implied(f"cloudwatch:{operation}", _alarm_arn(str(name), region, account), {}, "AccessDenied")
            )
    if (
        prefix == "sagemaker"
        and operation in {"CreateEndpoint", "UpdateEndpoint"}
        and params.get("EndpointConfigName")
    ):
        # Both act on the endpoint and the config they name (Service Authorization Reference, SageMaker:
        # CreateEndpoint and UpdateEndpoint list the endpoint and endpoint-config resource types).
        config_name = str(params["EndpointConfigName"]).lower()
        config = f"arn:{PARTITION}:sagemaker:{region}:{account}:endpoint-config/{config_name}"
        extra.append(Implied(f"sagemaker:{operation}", config, {}, "AccessDeniedException"))
        rollback = ((params.get("DeploymentConfig") or {}).get("AutoRollbackConfiguration") or {}).get(
            "Alarms"
        ) or []
        for alarm in rollback:
            # deployment-guardrails-configuration: "permission to perform the cloudwatch:DescribeAlarms
            # action on the auto-rollback alarms you specify"
            arn = _alarm_arn(str(alarm.get("AlarmName")), region, account)
            extra.append(Implied("cloudwatch:DescribeAlarms", arn, {}, "AccessDeniedException"))
    return extra


def sns_key_use(topic_arn: str, principal: Principal, region: str) -> list[Implied]:
    """A publisher to an encrypted topic needs kms:GenerateDataKey* and kms:Decrypt on its key
    (SNS developer guide, sns-key-management: "Allow a user to send messages to a topic with SSE")."""
    account = account_of(topic_arn) or _default_account()
    topic = None
    with contextlib.suppress(Exception):
        topic = sns_backends[account][_region_of(topic_arn, region)].topics[topic_arn]
    if topic is None or not topic.kms_master_key_id:
        return []
    key = key_arn(topic.kms_master_key_id, account, _region_of(topic_arn, region))
    context: dict[str, Any] = {"kms:ViaService": f"sns.{_region_of(topic_arn, region)}.amazonaws.com"}
    if principal.account:
        context["kms:CallerAccount"] = principal.account
    return [
        Implied(action, key, context, "KMSAccessDenied") for action in ("kms:GenerateDataKey", "kms:Decrypt")
    ]


# The error a denied HTTP request gets, per service: (code, HTTP status).
_DENIAL_CODES: Final = {
    "sns": ("AuthorizationError", 403),
    "sqs": ("AccessDenied", 403),
    "iam": ("AccessDenied", 403),
    "sts": ("AccessDenied", 403),
    "cloudwatch": ("AccessDenied", 403),
    "cloudformation": ("AccessDenied", 403),
    "lambda": ("AccessDeniedException", 403),
}


def _denial_code(prefix: str) -> tuple[str, int]:
    return _DENIAL_CODES.get(prefix, ("AccessDeniedException", 400))


def _access_key(response: BaseResponse) -> str | None:
    header = response.headers.get("Authorization") or ""
    if "Credential=" in header:
        return header.split("Credential=", 1)[1].split("/", 1)[0]
    credential = (
        response.querystring.get("X-Amz-Credential") if isinstance(response.querystring, dict) else None
    )
    if credential:
        return str(credential[0]).split("/", 1)[0]
    return None


def _secure(response: BaseResponse) -> bool:
    # The sandbox's listener stands in for the service's HTTPS endpoint; a request a proxy
    # reports as plain HTTP is not secure (docs/contracts.md, "aws:SecureTransport").
    return str(response.headers.get("X-Forwarded-Proto", "https")).lower() != "http"


def _http_principal(response: BaseResponse) -> Principal | None:
    key = _access_key(response)
    if key is None:
        return None
    return principal_for_access_key(key, str(response.current_account))


def _refusal_for_http(response: BaseResponse) -> _Refused | None:
    """Authorize a request to one of moto's JSON/query/rest-json services."""
    read = aws_validation.read_request(response)
    if read is None:
        return None
    service, operation, params = read
    prefix = _PREFIX.get(service, service)
    if f"{prefix}:{operation}" == "sts:GetCallerIdentity":
        return None  # always allowed, whatever the policies (API_GetCallerIdentity)
    principal = _http_principal(response)
    code, status = _denial_code(prefix)
    if principal is None:
        return _Refused("InvalidClientTokenId", "The security token included in the request is invalid.", 403)
    region = str(getattr(response, "region", "us-east-1") or "us-east-1")
    account = str(response.current_account)
    action = f"{prefix}:{_ACTION_NAMES.get((prefix, operation), operation)}"
    resource = resource_for(prefix, operation, params, region, account)
    context = {
        **base_context(principal, secure_transport=_secure(response)),
        **_request_context(prefix, operation, params),
    }
    checks = [Implied(action, resource, context, code)]
    checks += [
        Implied(i.action, i.resource, {**context, **i.context}, i.code)
        for i in implied(prefix, operation, params, resource=resource, principal=principal, region=region)
    ]
    for item in checks:
        request, decision = check(principal, item.action, item.resource, item.context, region=region)
        if not decision.allowed:
            LOG.info("denied: %s", denial_message(request, decision))
            item_code = item.code if item.code != "AccessDeniedException" else code
            return _Refused(item_code, denial_message(request, decision), status)
    return None


def _request_context(prefix: str, operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Service condition keys the request sets (Service Authorization Reference, "Condition keys")."""
    context: dict[str, Any] = {}
    if prefix == "sts" and operation == "AssumeRole" and params.get("ExternalId"):
        context["sts:ExternalId"] = params["ExternalId"]
    if prefix == "cloudwatch" and operation == "PutMetricData" and params.get("Namespace"):
        context["cloudwatch:namespace"] = params["Namespace"]
    return context


def _authorizing_call_action(original: Callable[[BaseResponse], Any]) -> Callable[[BaseResponse], Any]:
    def call_action(self: BaseResponse) -> Any:
        refused = _refusal_for_http(self) if _ENFORCING.is_set() else None
        if refused is None:
            return original(self)
        _, headers, body = self.serialized(ActionResult(refused))
        headers, body = self._enrich_response(headers, body)
        return refused.http_status_code, headers, body

    call_action.__wrapped__ = original  # type: ignore[attr-defined]
    return call_action


def _authorize_s3(self: Any, bucket_name: str | None = None, key_name: str | None = None) -> None:
    """``ActionAuthenticatorMixin._authenticate_and_authorize_s3_action``: moto's hook on S3 requests."""
    if not _ENFORCING.is_set():
        return
    principal = _http_principal(self)
    if principal is None:
        raise S3ClientError(
            "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records."
        )
    operation = str(self.data.get("Action") or self._get_action())
    arn = f"{bucket_name or '*'}/{key_name}" if key_name else (bucket_name or "*")
    context = base_context(principal, secure_transport=_secure(self))
    if operation == "ListBucket":
        prefix = self.querystring.get("prefix") if isinstance(self.querystring, dict) else None
        if prefix:
            context["s3:prefix"] = prefix[0]
    request, decision = check(principal, f"s3:{operation}", f"arn:{PARTITION}:s3:::{arn}", context)
    if not decision.allowed:
        LOG.info("denied: %s", denial_message(request, decision))
        raise S3ClientError("AccessDenied", denial_message(request, decision))


# --------------------------------------------------------------------------------------------
# S3 calls made in process (the stand-ins): authorized as the acting principal
# --------------------------------------------------------------------------------------------


def authorize_s3(
    operation: str,
    bucket: str,
    key: str | None = None,
    *,
    prefix: str | None = None,
    principal: Principal | None = None,
) -> None:
    """Authorize an in-process S3 call of a stand-in (no principal: the sandbox administrator's)."""
    if principal is None or not _ENFORCING.is_set():
        return
    context: dict[str, Any] = {}
    if prefix:
        context["s3:prefix"] = prefix
    resource = f"arn:{PARTITION}:s3:::{bucket}" + (f"/{key}" if key is not None else "")
    authorize(principal, f"s3:{operation}", resource, context)


# --------------------------------------------------------------------------------------------
# install
# --------------------------------------------------------------------------------------------

_ORIGINALS: list[tuple[Any, str, Any]] = []
_INSTALL_LOCK = threading.Lock()


def _neutral_bucket_permission(self: Any, action: str, resource: str) -> Any:
    return PermissionResult.NEUTRAL


def install() -> None:
    """Enforce from now on (idempotent): wraps whatever ``call_action`` is current."""
    with _INSTALL_LOCK:
        if _ENFORCING.is_set():
            return
        reset_decisions()  # a new sandbox: a new record
        _ORIGINALS.append((BaseResponse, "call_action", BaseResponse.__dict__["call_action"]))
        BaseResponse.call_action = _authorizing_call_action(BaseResponse.__dict__["call_action"])  # type: ignore[method-assign,assignment]
        _ORIGINALS.append(
            (
                ActionAuthenticatorMixin,
                "_authenticate_and_authorize_s3_action",
                ActionAuthenticatorMixin.__dict__["_authenticate_and_authorize_s3_action"],
            )
        )
        ActionAuthenticatorMixin._authenticate_and_authorize_s3_action = _authorize_s3  # type: ignore[method-assign]
        # moto's own bucket-policy check ignores conditions (a TLS-only deny would refuse all):
        # the bucket policy is evaluated with the identity policies in _authorize_s3 instead.
        _ORIGINALS.append((FakeBucket, "get_permission", FakeBucket.__dict__["get_permission"]))
        FakeBucket.get_permission = _neutral_bucket_permission  # type: ignore[method-assign]
        _ENFORCING.set()


def uninstall() -> None:
    with _INSTALL_LOCK:
        _ENFORCING.clear()
        for owner, name, original in reversed(_ORIGINALS):
            setattr(owner, name, original)
        _ORIGINALS.clear()
        with _SESSION_LOCK:
            _SESSIONS.clear()
            _BY_KEY.clear()


def installed() -> bool:
    return _ENFORCING.is_set()


# --------------------------------------------------------------------------------------------
# iam:SimulatePrincipalPolicy
# --------------------------------------------------------------------------------------------


def _principal_of(arn: str, account: str) -> Principal:
    if ":role/" in arn:
        return Principal(arn=arn, account=account_of(arn) or account, role_arn=arn)
    return Principal(arn=arn, account=account_of(arn) or account)


def simulate_principal_policy(params: Mapping[str, Any], account: str) -> dict[str, Any]:
    """API_SimulatePrincipalPolicy: the identity policies of ``PolicySourceArn`` (and
    ``PolicyInputList``, ``ResourcePolicy``) judged for each action and resource. Only the context
    the caller gives is used; condition keys it lacks are reported in ``MissingContextValues``."""
    principal = _principal_of(str(params["PolicySourceArn"]), account)
    context = {
        str(entry["ContextKeyName"]): list(entry.get("ContextKeyValues", []))
        for entry in params.get("ContextEntries", []) or []
    }
    identity = identity_policies(principal) + [
        parse_policy(f"PolicyInputList.{index + 1}", "identity", document)
        for index, document in enumerate(params.get("PolicyInputList", []) or [])
    ]
    resource_side = (
        [parse_policy("ResourcePolicy", "resource", params["ResourcePolicy"])]
        if params.get("ResourcePolicy")
        else []
    )
    results = []
    for action in params.get("ActionNames", []) or []:
        for resource in params.get("ResourceArns") or ["*"]:
            request = Request(principal, str(action), str(resource), context)
            decision = evaluate(request, identity, resource_side)
            missing = sorted(
                {
                    key
                    for policy in identity + resource_side
                    for statement in policy.statements
                    if statement.action_matches(request.action)
                    and statement.resource_matches(request.resource)
                    for key in missing_context_keys(statement, context)
                }
            )
            matched = list(decision.allowed_by) + ([decision.denied_by] if decision.denied_by else [])
            results.append(
                {
                    "EvalActionName": str(action),
                    "EvalResourceName": str(resource),
                    "EvalDecision": decision.decision,
                    "MatchedStatements": [
                        {
                            "SourcePolicyId": m.policy,
                            "SourcePolicyType": "resource" if m.kind == "resource" else "IAM Policy",
                        }
                        for m in matched
                    ],
                    "MissingContextValues": missing,
                }
            )
    return {"EvaluationResults": results, "IsTruncated": False}
