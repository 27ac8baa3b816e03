"""Snowflake's storage integration in the sandbox: the stage's S3 calls made as the integration's role.

Details: sandbox/README.md, "snowflake/storage_integration.py".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Final

from moto.iam.models import iam_backends

from sandbox.aws import iam_enforcement
from sandbox.aws.iam_policy import Principal

# Stands for Snowflake's AWS account and the IAM user DESC INTEGRATION reports (an example shape:
# arn:aws:iam::<account>:user/<id>-s; the external ID <locator>_SFCRole=<n>_<random>).
SNOWFLAKE_AWS_ACCOUNT: Final = "210987654321"
SNOWFLAKE_IAM_USER: Final = "sandbox-snowflake-s"
SNOWFLAKE_IAM_USER_ARN: Final = f"arn:aws:iam::{SNOWFLAKE_AWS_ACCOUNT}:user/{SNOWFLAKE_IAM_USER}"
SNOWFLAKE_EXTERNAL_ID: Final = "SANDBOX_SFCRole=2_sandboxExternalId0="
# Snowflake's own message when the role cannot be assumed (data-load-s3-config-storage-integration).
ASSUME_ROLE_FAILED: Final = (
    "Error assuming AWS_ROLE. Please verify the role and externalId are configured correctly in your"
    " AWS policy."
)


def create_snowflake_user() -> None:
    """Snowflake's IAM user, in its own account, allowed to assume roles (Snowflake's side)."""
    backend = iam_backends[SNOWFLAKE_AWS_ACCOUNT]["aws"]
    if SNOWFLAKE_IAM_USER not in backend.users:
        backend.create_user(region_name="us-east-1", user_name=SNOWFLAKE_IAM_USER)
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}],
    }
    backend.put_user_policy(SNOWFLAKE_IAM_USER, "assume-customer-roles", json.dumps(policy))


@dataclass(frozen=True)
class StorageIntegration:
    """CREATE STORAGE INTEGRATION … STORAGE_AWS_ROLE_ARN, and what DESC INTEGRATION reports."""

    role_arn: str
    iam_user_arn: str = SNOWFLAKE_IAM_USER_ARN
    external_id: str = SNOWFLAKE_EXTERNAL_ID

    def principal(self) -> Principal:
        """The role session Snowflake reads and writes the stage as (the trust policy checked each time)."""
        user = Principal(arn=self.iam_user_arn, account=SNOWFLAKE_AWS_ACCOUNT)
        session = iam_enforcement.role_session(
            self.role_arn,
            assumed_by=user,
            session_name="snowflake",
            context={"sts:ExternalId": self.external_id},
        )
        return session.principal
