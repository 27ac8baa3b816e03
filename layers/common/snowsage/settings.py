"""Environment models, validated once at cold start.

Each function reads only the variables it needs, through one of these models; template.yaml
sets them (a template test checks that every field here is set for the functions that use it).
A field's environment variable is its name upper-cased.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator

from snowsage.models import EndpointInstanceType, EndpointKind, TrainingInstanceType, TransformInstanceType
from snowsage.names import validate_resource_prefix
from snowsage.prices import DEFAULT_CREDIT_PRICE_USD, DEFAULT_WAREHOUSE_SIZE, WAREHOUSE_CREDITS_PER_HOUR


class EnvSettings(BaseModel):
    # defer_build: only the settings class a function reads is built, at its cold start (from_env).
    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        env = os.environ if environ is None else environ
        values = {name: env[name.upper()] for name in cls.model_fields if name.upper() in env}
        return cls.model_validate(values)

    @classmethod
    def variable_names(cls) -> list[str]:
        return [name.upper() for name in cls.model_fields]


class StartPipelineSettings(EnvSettings):
    state_machine_arn: str


class PrepareRunSettings(EnvSettings):
    bucket_name: str
    resource_prefix: str = "snowsage"
    training_instance_type: TrainingInstanceType = "ml.m5.large"
    training_instance_count: int = Field(default=1, ge=1)
    training_volume_size_gb: int = Field(default=30, ge=1)
    transform_instance_type: TransformInstanceType = "ml.m5.large"
    transform_instance_count: int = Field(default=1, ge=1)
    hyperparameters: dict[str, str]
    evaluation_metric: str = "validation:auc"
    evaluation_threshold: float = 0.75
    use_spot_training: bool = False
    max_runtime_seconds: int = Field(default=3600, ge=1)
    max_wait_seconds: int = Field(default=7200, ge=1)
    transform_timeout_seconds: int = Field(default=3600, ge=1)
    # The template's real-time endpoint defaults (a dataset's row and the input override them).
    endpoint_type: EndpointKind = "NONE"
    endpoint_memory_size_mb: int = 2048
    endpoint_max_concurrency: int = 5
    endpoint_instance_type: EndpointInstanceType = "ml.m5.large"
    endpoint_instance_count: int = Field(default=1, ge=1)

    @field_validator("resource_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        return validate_resource_prefix(value)

    @field_validator("hyperparameters", mode="before")
    @classmethod
    def _json_object(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = json.loads(value)
        if not isinstance(value, dict):
            raise ValueError("HYPERPARAMETERS must be a JSON object")
        return {str(key): str(item) for key, item in value.items()}


class DeployEndpointSettings(EnvSettings):
    """DeployEndpoint: how a promoted model reaches the endpoint (blue/green, baking, the alarms that
    roll it back) and how often the state machine looks (docs/contracts.md, "Real-time endpoint")."""

    resource_prefix: str = "snowsage"
    endpoint_baking_seconds: int = Field(default=600, ge=0, le=3600)
    endpoint_poll_seconds: int = Field(default=30, ge=1)
    endpoint_error_rate_threshold: float = Field(default=0.05, gt=0, le=1)
    endpoint_latency_threshold_ms: int = Field(default=500, ge=1)
    notification_topic_arn: str  # the alarms notify the run topic too


class SnowflakeSettings(EnvSettings):
    """Where and how to reach Snowflake. Host/port/protocol are empty in production."""

    snowflake_account: str
    snowflake_warehouse: str
    snowflake_database: str
    snowflake_schema: str
    snowflake_role: str
    snowflake_secret_arn: str
    snowflake_stage: str = "ML_STAGE"
    snowflake_host: str = ""
    snowflake_port: str = ""
    snowflake_protocol: str = ""
    # How long the driver keeps trying: to log in (a refused connection is retried until then),
    # and for any one request (its own retries included).
    snowflake_login_timeout: int = Field(default=30, ge=1)
    snowflake_network_timeout: int = Field(default=120, ge=1)
    # All statements of one invocation together (snowsage.snowflake.connection): each gets the
    # time left, and STATEMENT_TIMEOUT_IN_SECONDS stops any one of them after it.
    snowflake_statement_timeout: int = Field(default=60, ge=1)


class EvaluateModelSettings(SnowflakeSettings):
    """EvaluateModel: the promotion lease's table, and Snowflake for the champion's metric on this export."""

    promotion_lease_table: str


class RecordRunSettings(SnowflakeSettings):
    """RecordRun: ML_RUNS in Snowflake, and what the run's warehouse time costs (snowsage.cost)."""

    # WAREHOUSE_SIZE of SNOWFLAKE_WAREHOUSE (credits per hour: snowsage.prices), and the account's
    # USD per credit (the template's defaults: X-Small, on-demand Standard edition in AWS US East).
    snowflake_warehouse_size: str = DEFAULT_WAREHOUSE_SIZE
    snowflake_credit_price_usd: float = Field(default=DEFAULT_CREDIT_PRICE_USD, ge=0)
    promotion_lease_table: str  # the run gives its promotion lease back when it records itself

    @field_validator("snowflake_warehouse_size")
    @classmethod
    def _size(cls, value: str) -> str:
        if value.upper() not in WAREHOUSE_CREDITS_PER_HOUR:
            raise ValueError(f"{value!r} is not a warehouse size: {', '.join(WAREHOUSE_CREDITS_PER_HOUR)}")
        return value.upper()


class SettleEndpointSettings(SnowflakeSettings):
    """SettleEndpoint: SageMaker (the endpoint's outcome, old configs) and ML_MODELS in Snowflake."""

    resource_prefix: str = "snowsage"


class ExecutionOutcomeSettings(SnowflakeSettings):
    """RecordExecutionOutcome: ML_RUNS in Snowflake, the topic the run notices go to, and the
    promotion lease a crashed run may still hold."""

    notification_topic_arn: str
    promotion_lease_table: str
