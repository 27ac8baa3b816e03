"""The policy evaluator against the IAM user guide's rules (no sandbox: documents in, decisions out)."""

from __future__ import annotations

from typing import Any

from sandbox.aws.iam_policy import Principal, Request, evaluate, parse_policy

ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/Worker"
SESSION = Principal(arn=f"arn:aws:sts::{ACCOUNT}:assumed-role/Worker/s", account=ACCOUNT, role_arn=ROLE)
BUCKET = "arn:aws:s3:::data"


def identity(*statements: dict[str, Any]) -> Any:
    return parse_policy("identity", "identity", {"Version": "2012-10-17", "Statement": list(statements)})


def resource(*statements: dict[str, Any]) -> Any:
    return parse_policy("resource", "resource", {"Version": "2012-10-17", "Statement": list(statements)})


def allowed(request: Request, *policies: Any, required: bool = False) -> bool:
    identities = [p for p in policies if p.kind == "identity"]
    resources = [p for p in policies if p.kind == "resource"]
    return evaluate(request, identities, resources, resource_policy_required=required).allowed


def test_no_policy_is_an_implicit_deny_with_aws_reason() -> None:
    decision = evaluate(Request(SESSION, "s3:GetObject", f"{BUCKET}/k"))
    assert not decision.allowed
    assert decision.reason == "no identity-based policy allows the s3:GetObject action"
    assert decision.decision == "implicitDeny"


def test_an_explicit_deny_wins_over_any_allow() -> None:
    policy = identity(
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "s3:PutObject", "Resource": f"{BUCKET}/*"},
    )
    assert allowed(Request(SESSION, "s3:GetObject", f"{BUCKET}/k"), policy)
    decision = evaluate(Request(SESSION, "s3:PutObject", f"{BUCKET}/k"), [policy])
    assert decision.decision == "explicitDeny"
    assert decision.reason == "with an explicit deny in an identity-based policy"


def test_actions_match_case_insensitively_and_resources_with_wildcards_across_slashes() -> None:
    policy = identity(
        {"Effect": "Allow", "Action": "S3:getobject", "Resource": f"{BUCKET}/models/*/snowflake/*"}
    )
    assert allowed(Request(SESSION, "s3:GetObject", f"{BUCKET}/models/ds/run/snowflake/model.tar.gz"), policy)
    assert not allowed(
        Request(SESSION, "s3:GetObject", f"{BUCKET}/models/ds/run/sagemaker/model.tar.gz"), policy
    )
    assert not allowed(Request(SESSION, "s3:GetObject", "arn:aws:s3:::DATA/models/a/snowflake/b"), policy)


def test_not_action_and_not_resource() -> None:
    policy = identity({"Effect": "Allow", "NotAction": "s3:Delete*", "NotResource": f"{BUCKET}/private/*"})
    assert allowed(Request(SESSION, "s3:GetObject", f"{BUCKET}/public/x"), policy)
    assert not allowed(Request(SESSION, "s3:DeleteObject", f"{BUCKET}/public/x"), policy)
    assert not allowed(Request(SESSION, "s3:GetObject", f"{BUCKET}/private/x"), policy)


def test_a_condition_on_a_missing_key_is_false_unless_if_exists_negated_or_for_all_values() -> None:
    listing = identity(
        {
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": BUCKET,
            "Condition": {"StringLike": {"s3:prefix": ["exports/*"]}},
        }
    )
    assert allowed(Request(SESSION, "s3:ListBucket", BUCKET, {"s3:prefix": "exports/ds/"}), listing)
    assert not allowed(Request(SESSION, "s3:ListBucket", BUCKET, {"s3:prefix": "models/"}), listing)
    assert not allowed(Request(SESSION, "s3:ListBucket", BUCKET), listing)  # no prefix: no match
    for operator, expected in (
        ("StringLikeIfExists", True),
        ("StringNotLike", True),
        ("ForAllValues:StringLike", True),
    ):
        policy = identity(
            {
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": BUCKET,
                "Condition": {operator: {"s3:prefix": "x/*"}},
            }
        )
        assert allowed(Request(SESSION, "s3:ListBucket", BUCKET), policy) is expected, operator


def test_the_tls_only_deny_applies_to_plain_http_only() -> None:
    bucket_policy = resource(
        {
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [BUCKET, f"{BUCKET}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    )
    grant = identity({"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"{BUCKET}/*"})
    assert allowed(
        Request(SESSION, "s3:GetObject", f"{BUCKET}/k", {"aws:SecureTransport": "true"}), grant, bucket_policy
    )
    plain = evaluate(
        Request(SESSION, "s3:GetObject", f"{BUCKET}/k", {"aws:SecureTransport": "false"}),
        [grant],
        [bucket_policy],
    )
    assert plain.reason == "with an explicit deny in a resource-based policy"


def test_a_resource_policy_naming_the_role_allows_alone_naming_the_account_delegates() -> None:
    queue = "arn:aws:sqs:us-east-1:123456789012:q"
    named = resource(
        {"Effect": "Allow", "Principal": {"AWS": ROLE}, "Action": "sqs:SendMessage", "Resource": queue}
    )
    assert allowed(Request(SESSION, "sqs:SendMessage", queue), named)
    account = resource(
        {"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sqs:SendMessage", "Resource": queue}
    )
    assert not allowed(Request(SESSION, "sqs:SendMessage", queue), account)


def test_a_service_principal_is_judged_by_the_resource_policy_and_its_conditions() -> None:
    cloudwatch = Principal(arn="cloudwatch.amazonaws.com", service="cloudwatch.amazonaws.com")
    key = "arn:aws:kms:us-east-1:123456789012:key/k"
    key_policy = resource(
        {
            "Effect": "Allow",
            "Principal": {"Service": "cloudwatch.amazonaws.com"},
            "Action": ["kms:GenerateDataKey*", "kms:Decrypt"],
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}},
        }
    )
    ok = Request(cloudwatch, "kms:GenerateDataKey", key, {"aws:SourceAccount": ACCOUNT})
    assert allowed(ok, key_policy, required=True)
    assert not allowed(
        Request(cloudwatch, "kms:GenerateDataKey", key, {"aws:SourceAccount": "999999999999"}),
        key_policy,
        required=True,
    )
    assert not allowed(ok, required=True)


def test_a_key_policy_must_allow_the_account_statement_lets_iam_policies_decide() -> None:
    key = "arn:aws:kms:us-east-1:123456789012:key/k"
    grant = identity({"Effect": "Allow", "Action": "kms:Decrypt", "Resource": key})
    request = Request(SESSION, "kms:Decrypt", key)
    assert not allowed(request, grant, required=True)  # no key policy statement for the account
    root = resource(
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Action": "kms:*",
            "Resource": "*",
        }
    )
    assert allowed(request, grant, root, required=True)
    assert not allowed(request, root, required=True)  # delegation alone grants nothing


def test_cross_account_needs_both_the_identity_and_the_trust_policy() -> None:
    user = Principal(arn="arn:aws:iam::210987654321:user/snowflake", account="210987654321")
    trust = resource(
        {
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::210987654321:user/snowflake"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"sts:ExternalId": "abc"}},
        }
    )
    may_assume = identity({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"})
    assert allowed(
        Request(user, "sts:AssumeRole", ROLE, {"sts:ExternalId": "abc"}), may_assume, trust, required=True
    )
    assert not allowed(
        Request(user, "sts:AssumeRole", ROLE, {"sts:ExternalId": "xyz"}), may_assume, trust, required=True
    )
    assert not allowed(Request(user, "sts:AssumeRole", ROLE, {"sts:ExternalId": "abc"}), trust, required=True)


def test_arn_and_pass_role_conditions() -> None:
    passing = identity(
        {
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": ROLE,
            "Condition": {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
        }
    )
    assert allowed(
        Request(SESSION, "iam:PassRole", ROLE, {"iam:PassedToService": "sagemaker.amazonaws.com"}), passing
    )
    assert not allowed(
        Request(SESSION, "iam:PassRole", ROLE, {"iam:PassedToService": "lambda.amazonaws.com"}), passing
    )
    rule = "arn:aws:events:us-east-1:123456789012:rule/r"
    queue_policy = resource(
        {
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": "*",
            "Condition": {"ArnEquals": {"aws:SourceArn": [rule]}},
        }
    )
    events = Principal(arn="events.amazonaws.com", service="events.amazonaws.com")
    assert allowed(
        Request(events, "sqs:SendMessage", "arn:aws:sqs:us-east-1:123456789012:q", {"aws:SourceArn": rule}),
        queue_policy,
    )
    assert not allowed(
        Request(
            events, "sqs:SendMessage", "arn:aws:sqs:us-east-1:123456789012:q", {"aws:SourceArn": rule + "x"}
        ),
        queue_policy,
    )
