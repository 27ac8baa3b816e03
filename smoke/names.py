"""Unique, valid names for one smoke run: a throwaway stack, database and account objects."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from snowsage.names import RESOURCE_PREFIX_PATTERN

# The stack name is inlined into named resources: the state machine "<stack>-pipeline" (1-80
# characters, API_CreateStateMachine) and the storage role "<stack>-snowflake-storage" (1-64,
# API_CreateRole). A stack name itself is at most 128 (API_CreateStack).
STATE_MACHINE_NAME_MAX = 80
ROLE_NAME_MAX = 64
STATE_MACHINE_SUFFIX = "-pipeline"
STORAGE_ROLE_SUFFIX = "-snowflake-storage"
TOKEN_BYTES = 3  # six hex digits: unique enough for runs that live minutes and are torn down


@dataclass(frozen=True)
class SmokeNames:
    """Every name one smoke run creates, from one random token."""

    token: str

    @classmethod
    def unique(cls) -> SmokeNames:
        return cls(secrets.token_hex(TOKEN_BYTES))

    def __post_init__(self) -> None:
        if not self.token.isalnum() or self.token.lower() != self.token:
            raise ValueError(f"token {self.token!r} must be lower-case letters and digits")
        limits = {
            self.stack + STATE_MACHINE_SUFFIX: STATE_MACHINE_NAME_MAX,
            self.stack + STORAGE_ROLE_SUFFIX: ROLE_NAME_MAX,
        }
        for name, limit in limits.items():
            if len(name) > limit:
                raise ValueError(f"{name!r} is longer than {limit} characters: use a shorter token")
        if not RESOURCE_PREFIX_PATTERN.fullmatch(self.resource_prefix):
            raise ValueError(f"resource prefix {self.resource_prefix!r} must match the template's pattern")

    # -- AWS -------------------------------------------------------------------------------------

    @property
    def stack(self) -> str:
        return f"snowsage-smoke-{self.token}"

    @property
    def resource_prefix(self) -> str:
        """The template's ResourcePrefix (SageMaker names, the bucket name): ^[a-z][a-z0-9]{0,11}$."""
        return f"smk{self.token}"

    @property
    def secret(self) -> str:
        return f"{self.stack}/snowflake"

    @property
    def alarm_queue(self) -> str:
        """The SQS queue the alarm step subscribes to the notification topic (1-80 characters)."""
        return f"{self.stack}-alarms"

    @property
    def model_package_group_prefix(self) -> str:
        return f"{self.resource_prefix}-"

    # -- Snowflake -------------------------------------------------------------------------------

    @property
    def _upper(self) -> str:
        return f"SNOWSAGE_SMOKE_{self.token.upper()}"

    @property
    def database(self) -> str:
        return self._upper

    @property
    def schema(self) -> str:
        return "ML"

    @property
    def warehouse(self) -> str:
        return f"{self._upper}_WH"

    @property
    def admin_role(self) -> str:
        return f"{self._upper}_ADMIN"

    @property
    def pipeline_role(self) -> str:
        return f"{self._upper}_PIPELINE"

    @property
    def pipeline_user(self) -> str:
        return f"{self._upper}_USER"

    @property
    def integration(self) -> str:
        return f"{self._upper}_S3"

    def sql_variables(self, bucket: str, aws_role_arn: str) -> dict[str, str]:
        """The ``-D`` values of snowsage_setup/apply.py: every account-level object gets a smoke name."""
        return {
            "bucket": bucket,
            "aws_role_arn": aws_role_arn,
            "database": self.database,
            "schema": self.schema,
            "warehouse": self.warehouse,
            "admin_role": self.admin_role,
            "pipeline_role": self.pipeline_role,
            "pipeline_user": self.pipeline_user,
            "integration": self.integration,
        }
