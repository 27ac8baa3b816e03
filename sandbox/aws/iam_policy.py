"""IAM policy evaluation, as AWS's IAM user guide defines it ("Policy evaluation logic").

Details: sandbox/README.md, "aws/iam_policy.py".
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import ipaddress
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

__all__ = [
    "Decision",
    "Policy",
    "Principal",
    "Request",
    "account_of",
    "evaluate",
    "parse_policy",
]

ALLOW: Final = "Allow"
DENY: Final = "Deny"


# --------------------------------------------------------------------------------------------
# Principals and requests
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Principal:
    """Who makes a request: an IAM user, an assumed-role session, or an AWS service."""

    arn: str  # arn:aws:iam::<acct>:user/x, arn:aws:sts::<acct>:assumed-role/<role>/<session>, or the service
    account: str | None = None
    role_arn: str | None = None  # the role of an assumed-role session (arn:aws:iam::<acct>:role/<path><name>)
    service: str | None = None  # cloudwatch.amazonaws.com, …

    @property
    def is_service(self) -> bool:
        return self.service is not None

    def matches_aws(self, value: str) -> tuple[bool, bool]:
        """``(matches, through the account)`` for one ``"AWS"`` principal element value
        (reference_policies_elements_principal: "*", an account, a role, a session, a user)."""
        if value == "*":
            return True, False
        if self.is_service or self.account is None:
            return False, False
        if value in (self.account, f"arn:{_partition(self.arn)}:iam::{self.account}:root"):
            return True, True
        if value == self.arn:
            return True, False
        # A role's ARN names every session of the role.
        return (self.role_arn is not None and value == self.role_arn), False


def _partition(arn: str) -> str:
    parts = arn.split(":")
    return parts[1] if len(parts) > 1 and parts[0] == "arn" else "aws"


def account_of(arn: str) -> str | None:
    parts = arn.split(":")
    # AWS managed policies live in the pseudo-account "aws": no account of anyone's.
    return parts[4] if len(parts) > 5 and parts[0] == "arn" and parts[4].isdigit() else None


@dataclass(frozen=True)
class Request:
    """One authorization: principal, action (``service:Action``), resource ARN, request context."""

    principal: Principal
    action: str
    resource: str
    context: Mapping[str, Any] = field(default_factory=dict)

    @property
    def resource_account(self) -> str | None:
        return account_of(self.resource)


# --------------------------------------------------------------------------------------------
# Policies
# --------------------------------------------------------------------------------------------


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _body(pattern: str) -> str:
    """``*`` any characters (``:`` and ``/`` too), ``?`` one (reference_policies_elements_resource)."""
    return "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)


@functools.lru_cache(maxsize=4096)
def _wildcard(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    return re.compile(_body(pattern), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _any_of(patterns: tuple[str, ...], ignore_case: bool) -> re.Pattern[str] | None:
    """One expression matching any of the patterns (compiled once, when the policy is parsed)."""
    if not patterns:
        return None
    body = "|".join(f"(?:{_body(p)})" for p in patterns)
    return re.compile(body, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _like(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    return _wildcard(pattern, ignore_case).fullmatch(value) is not None


@dataclass(frozen=True)
class Statement:
    sid: str
    effect: str
    actions: tuple[str, ...]
    not_actions: tuple[str, ...]
    resources: tuple[str, ...]
    not_resources: tuple[str, ...]
    has_resource: bool
    principals: tuple[tuple[str, str], ...]  # (type, value): ("AWS", "*"), ("Service", "…")
    not_principals: tuple[tuple[str, str], ...]
    has_principal: bool
    conditions: tuple[tuple[str, str, tuple[str, ...]], ...]  # (operator, key, values)
    action_re: re.Pattern[str] | None = None
    not_action_re: re.Pattern[str] | None = None
    resource_re: re.Pattern[str] | None = None
    not_resource_re: re.Pattern[str] | None = None

    def without_action(self, action: str) -> Statement | None:
        """This statement without ``action`` in its Action list (None when nothing is left)."""
        actions = tuple(a for a in self.actions if a != action)
        if not actions:
            return None
        return dataclasses.replace(self, actions=actions, action_re=_any_of(actions, True))

    def action_matches(self, action: str) -> bool:
        if self.not_action_re is not None:
            return self.not_action_re.fullmatch(action) is None
        return self.action_re is not None and self.action_re.fullmatch(action) is not None

    def resource_matches(self, resource: str) -> bool:
        if not self.has_resource:  # a trust policy or a key policy's implicit resource
            return True
        if self.not_resource_re is not None:
            return self.not_resource_re.fullmatch(resource) is None
        return self.resource_re is not None and self.resource_re.fullmatch(resource) is not None

    def principal_match(self, principal: Principal) -> tuple[bool, bool]:
        """``(matches, only through the principal's account)``; identity policies have no Principal."""
        if not self.has_principal:
            return True, False
        if self.not_principals:
            return not any(
                _principal_value_matches(principal, kind, value)[0] for kind, value in self.not_principals
            ), False
        matched = [_principal_value_matches(principal, kind, value) for kind, value in self.principals]
        direct = any(ok and not via for ok, via in matched)
        if direct:
            return True, False
        return any(ok for ok, _ in matched), True


def _principal_value_matches(principal: Principal, kind: str, value: str) -> tuple[bool, bool]:
    if kind == "*":
        return True, False
    if kind == "Service":
        return principal.service is not None and value.lower() == principal.service.lower(), False
    if kind == "AWS":
        return principal.matches_aws(value)
    return False, False  # Federated, CanonicalUser: not used by this project


def _principals(element: Any) -> tuple[tuple[str, str], ...]:
    if element is None:
        return ()
    if element == "*":
        return (("*", "*"),)
    found: list[tuple[str, str]] = []
    for kind, values in dict(element).items():
        found.extend((str(kind), str(value)) for value in _as_list(values))
    return tuple(found)


def _conditions(block: Any) -> tuple[tuple[str, str, tuple[str, ...]], ...]:
    found = []
    for operator, keys in dict(block or {}).items():
        for key, values in dict(keys).items():
            found.append((str(operator), str(key), tuple(_text(v) for v in _as_list(values))))
    return tuple(found)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _statement(raw: Mapping[str, Any], index: int) -> Statement:
    statement = _raw_statement(raw, index)
    return dataclasses.replace(
        statement,
        action_re=_any_of(statement.actions, True),
        not_action_re=_any_of(statement.not_actions, True),
        resource_re=_any_of(statement.resources, False),
        not_resource_re=_any_of(statement.not_resources, False),
    )


def _raw_statement(raw: Mapping[str, Any], index: int) -> Statement:
    return Statement(
        sid=str(raw.get("Sid", f"statement {index + 1}")),
        effect=str(raw["Effect"]),
        actions=tuple(str(a) for a in _as_list(raw.get("Action"))),
        not_actions=tuple(str(a) for a in _as_list(raw.get("NotAction"))),
        resources=tuple(str(r) for r in _as_list(raw.get("Resource"))),
        not_resources=tuple(str(r) for r in _as_list(raw.get("NotResource"))),
        has_resource="Resource" in raw or "NotResource" in raw,
        principals=_principals(raw.get("Principal")),
        not_principals=_principals(raw.get("NotPrincipal")),
        has_principal="Principal" in raw or "NotPrincipal" in raw,
        conditions=_conditions(raw.get("Condition")),
    )


@dataclass(frozen=True)
class Policy:
    """A parsed policy document and where it came from (for messages and the decision record)."""

    name: str
    kind: str  # identity | resource
    statements: tuple[Statement, ...]


@functools.lru_cache(maxsize=2048)
def _parsed(document: str) -> tuple[Statement, ...]:
    raw = json.loads(document)
    return tuple(
        _statement(statement, index) for index, statement in enumerate(_as_list(raw.get("Statement")))
    )


def parse_policy(name: str, kind: str, document: str | Mapping[str, Any]) -> Policy:
    """A policy from its JSON text or dict (parsed once per distinct text: the cache keeps it)."""
    text = document if isinstance(document, str) else json.dumps(document, sort_keys=True)
    return Policy(name=name, kind=kind, statements=_parsed(text))


# --------------------------------------------------------------------------------------------
# Conditions (reference_policies_elements_condition_operators)
# --------------------------------------------------------------------------------------------


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _date(text: str) -> dt.datetime | None:
    try:
        if re.fullmatch(r"-?\d+(\.\d+)?", text):
            return dt.datetime.fromtimestamp(float(text), tz=dt.UTC)
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    except ValueError:
        return None


def _ip_in(network: str, value: str) -> bool:
    try:
        return ipaddress.ip_address(value) in ipaddress.ip_network(network, strict=False)
    except ValueError:
        return False


def _compare(base: str, expected: str, actual: str) -> bool:  # noqa: PLR0911
    """One policy value against one request value, for the operator without its negation."""
    if base == "StringEquals":
        return actual == expected
    if base == "StringEqualsIgnoreCase":
        return actual.lower() == expected.lower()
    if base == "StringLike":
        return _like(expected, actual)
    if base in ("ArnEquals", "ArnLike"):
        # Arn operators compare each of the six colon-separated parts (wildcards allowed in each).
        want, have = expected.split(":", 5), actual.split(":", 5)
        return len(want) == len(have) == 6 and all(_like(w, h) for w, h in zip(want, have, strict=True))
    if base == "Bool":
        return actual.lower() == expected.lower()
    if base.startswith("Numeric"):
        a, e = _number(actual), _number(expected)
        if a is None or e is None:
            return False
        return {
            "NumericEquals": a == e,
            "NumericLessThan": a < e,
            "NumericLessThanEquals": a <= e,
            "NumericGreaterThan": a > e,
            "NumericGreaterThanEquals": a >= e,
        }.get(base, False)
    if base.startswith("Date"):
        ad, ed = _date(actual), _date(expected)
        if ad is None or ed is None:
            return False
        return {
            "DateEquals": ad == ed,
            "DateLessThan": ad < ed,
            "DateLessThanEquals": ad <= ed,
            "DateGreaterThan": ad > ed,
            "DateGreaterThanEquals": ad >= ed,
        }.get(base, False)
    if base == "IpAddress":
        return _ip_in(expected, actual)
    raise ValueError(f"condition operator {base!r} is not modelled by the sandbox")


_NEGATED: Final = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
    "NumericNotEquals": "NumericEquals",
    "DateNotEquals": "DateEquals",
    "NotIpAddress": "IpAddress",
}


def _context_values(context: Mapping[str, Any], key: str) -> list[str] | None:
    wanted = key.lower()
    for name, value in context.items():
        if name.lower() == wanted:
            return [_text(v) for v in _as_list(value)]
    return None


def condition_holds(operator: str, key: str, expected: Sequence[str], context: Mapping[str, Any]) -> bool:
    """One operator/key pair of a Condition block against the request context."""
    qualifier = ""
    if ":" in operator:
        qualifier, operator = operator.split(":", 1)
    if_exists = operator.endswith("IfExists")
    base = operator.removesuffix("IfExists")
    actual = _context_values(context, key)
    if base == "Null":
        # "true": the key must be absent; "false": present (Null condition operator).
        return any((actual is None) == (value.lower() == "true") for value in expected)
    negated = base in _NEGATED
    positive = _NEGATED.get(base, base)
    if actual is None:
        # A missing key: false, except …IfExists (true), a negated operator (true), and
        # ForAllValues (true over the empty set).
        return if_exists or negated or qualifier == "ForAllValues"

    def one(value: str) -> bool:
        matched = any(_compare(positive, e, value) for e in expected)
        return not matched if negated else matched

    if qualifier == "ForAllValues":
        return all(one(value) for value in actual)
    return any(one(value) for value in actual)


def _conditions_hold(statement: Statement, context: Mapping[str, Any]) -> bool:
    return all(condition_holds(op, key, values, context) for op, key, values in statement.conditions)


def missing_context_keys(statement: Statement, context: Mapping[str, Any]) -> list[str]:
    """Condition keys of ``statement`` the context lacks (SimulatePrincipalPolicy reports them)."""
    return sorted(
        {
            key
            for op, key, _ in statement.conditions
            if _context_values(context, key) is None and not op.startswith("Null")
        }
    )


# --------------------------------------------------------------------------------------------
# The decision
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Match:
    policy: str
    kind: str
    sid: str
    through_account: bool = False


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str  # the clause AWS puts after "because" (troubleshoot_access-denied), or why it is allowed
    allowed_by: tuple[Match, ...] = ()
    denied_by: Match | None = None

    @property
    def decision(self) -> str:
        """SimulatePrincipalPolicy's EvalDecision."""
        if self.allowed:
            return "allowed"
        return "explicitDeny" if self.denied_by is not None else "implicitDeny"


def _matching(policy: Policy, request: Request) -> Iterable[tuple[Statement, bool]]:
    for statement in policy.statements:
        if not statement.action_matches(request.action) or not statement.resource_matches(request.resource):
            continue
        matches, through_account = statement.principal_match(request.principal)
        if matches and _conditions_hold(statement, request.context):
            yield statement, through_account


def evaluate(  # noqa: PLR0911, PLR0912  (the evaluation logic's branches, one answer each)
    request: Request,
    identity: Sequence[Policy] = (),
    resource: Sequence[Policy] = (),
    *,
    resource_policy_required: bool = False,
) -> Decision:
    """Allowed or denied, and why (reference_policies_evaluation-logic, -cross-account)."""
    identity_allows: list[Match] = []
    resource_allows: list[Match] = []
    delegations: list[Match] = []
    for policies, allows in ((identity, identity_allows), (resource, resource_allows)):
        for policy in policies:
            for statement, through_account in _matching(policy, request):
                match = Match(policy.name, policy.kind, statement.sid, through_account)
                if statement.effect == DENY:
                    return Decision(
                        False,
                        f"with an explicit deny in {_article(policy.kind)} {policy.kind}-based policy",
                        denied_by=match,
                    )
                if policy.kind == "resource" and through_account:
                    delegations.append(match)
                else:
                    allows.append(match)
    principal = request.principal
    same_account = principal.account is not None and principal.account == request.resource_account
    if principal.is_service:  # a service principal has no identity policies
        if resource_allows:
            return Decision(True, "a resource-based policy allows it", tuple(resource_allows))
        return Decision(False, f"no resource-based policy allows the {request.action} action")
    cross_account = request.resource_account is not None and not same_account
    if resource_policy_required:
        if cross_account and not identity_allows:
            return Decision(False, f"no identity-based policy allows the {request.action} action")
        if resource_allows:
            return Decision(True, "the resource-based policy allows it", tuple(resource_allows))
        if delegations and identity_allows:
            return Decision(
                True,
                "the resource-based policy delegates to an identity-based policy that allows it",
                tuple(delegations + identity_allows),
            )
        if not delegations:
            return Decision(False, f"no resource-based policy allows the {request.action} action")
        return Decision(False, f"no identity-based policy allows the {request.action} action")
    if not cross_account:
        if resource_allows:
            return Decision(True, "a resource-based policy allows it", tuple(resource_allows))
        if identity_allows:
            return Decision(True, "an identity-based policy allows it", tuple(identity_allows))
        return Decision(False, f"no identity-based policy allows the {request.action} action")
    # Cross-account: the identity policy and the resource policy must both allow.
    if not identity_allows:
        return Decision(False, f"no identity-based policy allows the {request.action} action")
    if not (resource_allows or delegations):
        return Decision(False, f"no resource-based policy allows the {request.action} action")
    return Decision(
        True,
        "identity- and resource-based policies allow it",
        tuple(identity_allows + resource_allows + delegations),
    )


def _article(kind: str) -> str:
    return "an" if kind[0] in "aeiou" else "a"


def denial_message(request: Request, decision: Decision) -> str:
    """AWS's access-denied message (IAM user guide, troubleshoot_access-denied)."""
    return (
        f"User: {request.principal.arn} is not authorized to perform: {request.action} "
        f"on resource: {request.resource} because {decision.reason}"
    )
