"""The dataset's real-time endpoint: the champion behind it, changed only by a promotion, safely.

DeployEndpoint (under the dataset's promotion lease) puts the promoted model in a new endpoint
config, then creates the endpoint or updates it with deployment guardrails: a blue/green update
whose baking period is watched by three CloudWatch alarms (server errors, client errors, model
latency); an alarm that trips rolls the endpoint back to the old fleet by itself (SageMaker
developer guide, "Deployment guardrails", "Auto-Rollback Configuration and Monitoring").
RemoveEndpoint deletes it when the dataset's ENDPOINT is 'NONE'. SettleEndpoint reads
DescribeEndpoint, and the state machine asks it again while the endpoint changes; once it settles
it records the outcome in ML_MODELS (a rollback leaves the endpoint InService on its old config)
and deletes the endpoint configs and models no longer in service. docs/contracts.md, "Real-time
endpoint", has the whole contract.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from botocore.exceptions import ClientError

from snowsage.errors import EndpointBusy, EndpointDeploymentFailed, EndpointRefused, EndpointUnavailable
from snowsage.models import (
    DeployEndpointRequest,
    EndpointAction,
    EndpointDeployment,
    EndpointOutcome,
    EndpointOutcomeStatus,
    EndpointPlan,
    ModelEndpointStatus,
    SettleEndpointRequest,
)
from snowsage.names import endpoint_alarm_names
from snowsage.settings import DeployEndpointSettings

# Blue/green needs the new config's variant to have the old one's name (deployment-guardrails-exclusions).
VARIANT_NAME = "AllTraffic"
METRICS_NAMESPACE = "AWS/SageMaker"
# API_DescribeEndpoint EndpointStatus values an endpoint passes through on its way to InService or
# Failed; RollingBack too (a rolled-back update comes back InService on its old config).
PENDING = frozenset({"Creating", "Updating", "SystemUpdating", "RollingBack"})
TAG_ENDPOINT = "snowsage:endpoint"
TAG_MODEL_VERSION = "snowsage:model-version"
TAG_RUN_ID = "snowsage:run-id"
TAG_DATASET = "snowsage:dataset"
# How long creating the fleet may take besides the baking periods, before the run gives up waiting.
PROVISIONING_ALLOWANCE_SECONDS = 3600
# BlueGreenUpdatePolicy MaximumExecutionTimeoutInSeconds: 600..28800 (API_BlueGreenUpdatePolicy).
EXECUTION_TIMEOUT_RANGE = (600, 28800)
# Error codes a retry can help with (SageMaker's CommonErrors: throttling, its own failures).
TRANSIENT_CODES = frozenset(
    {"ThrottlingException", "Throttling", "InternalFailure", "ServiceUnavailable", "RequestLimitExceeded"}
)


# --- requests (pure) -----------------------------------------------------------------------------


def production_variant(plan: EndpointPlan, model_name: str) -> dict[str, Any]:
    """API_ProductionVariant: ServerlessConfig, or an instance type and count."""
    variant: dict[str, Any] = {"VariantName": VARIANT_NAME, "ModelName": model_name}
    if plan.kind == "SERVERLESS":
        variant["ServerlessConfig"] = {
            "MemorySizeInMB": plan.memory_mb,
            "MaxConcurrency": plan.max_concurrency,
        }
    else:
        variant.update(InstanceType=plan.instance_type, InitialInstanceCount=plan.instance_count)
    return variant


def tags(dataset: str, run_id: str, endpoint: str, model_version: int) -> list[dict[str, str]]:
    """What SettleEndpoint reads back: whose config it is, and the model version behind it."""
    return [
        {"Key": TAG_DATASET, "Value": dataset},
        {"Key": TAG_RUN_ID, "Value": run_id},
        {"Key": TAG_ENDPOINT, "Value": endpoint},
        {"Key": TAG_MODEL_VERSION, "Value": str(model_version)},
    ]


def rollback_alarms(endpoint: str) -> list[str]:
    return list(endpoint_alarm_names(endpoint))


def deployment_config(plan: EndpointPlan, baking_seconds: int) -> dict[str, Any]:
    """API_DeploymentConfig: blue/green with auto-rollback on the endpoint's alarms.

    Several instances: a canary of one instance bakes first, then the rest (deployment-guardrails-
    blue-green-canary: at most half the fleet). One instance, or serverless: all at once, then the
    final baking period (TerminationWaitInSeconds) before the old fleet goes. Serverless endpoints
    are excluded from rolling deployments only (deployment-guardrails-exclusions).
    """
    if plan.kind == "INSTANCE" and (plan.instance_count or 1) >= 2:
        routing: dict[str, Any] = {
            "Type": "CANARY",
            "CanarySize": {"Type": "INSTANCE_COUNT", "Value": 1},
            "WaitIntervalInSeconds": baking_seconds,
        }
    else:
        routing = {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0}
    low, high = EXECUTION_TIMEOUT_RANGE
    timeout = min(high, max(low, PROVISIONING_ALLOWANCE_SECONDS + 2 * baking_seconds))
    return {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": routing,
            "TerminationWaitInSeconds": baking_seconds,
            "MaximumExecutionTimeoutInSeconds": timeout,
        },
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": name} for name in rollback_alarms(plan.name)]},
    }


def alarm_requests(endpoint: str, settings: DeployEndpointSettings) -> list[dict[str, Any]]:
    """PutMetricAlarm for each rollback alarm: the rate of 5XX and of 4XX answers (each invocation
    counts 0 or 1, so the Average is the rate) and the average ModelLatency (microseconds) of the
    endpoint's variant, per minute (monitoring-cloudwatch, "Endpoint invocation metrics";
    deployment-guardrails-configuration, its alarm examples). A 4XX counts: a new model that
    refuses the rows clients send (fewer features, say) breaks them as surely as a crash."""
    server, client, latency = endpoint_alarm_names(endpoint)
    dimensions = [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": VARIANT_NAME}]
    common: dict[str, Any] = {
        "Namespace": METRICS_NAMESPACE,
        "Dimensions": dimensions,
        "Statistic": "Average",
        "Period": 60,
        "EvaluationPeriods": 1,
        "DatapointsToAlarm": 1,
        "ComparisonOperator": "GreaterThanThreshold",
        "TreatMissingData": "notBreaching",
        "AlarmActions": [settings.notification_topic_arn],
    }
    rate = settings.endpoint_error_rate_threshold
    return [
        {
            **common,
            "AlarmName": name,
            "AlarmDescription": f"{endpoint}: the rate of {kind} answers is above {rate:g}; a deployment"
            " rolls back (Snowsage)",
            "MetricName": metric,
            "Threshold": rate,
        }
        for name, kind, metric in (
            (server, "5XX", "Invocation5XXErrors"),
            (client, "4XX", "Invocation4XXErrors"),
        )
    ] + [
        {
            **common,
            "AlarmName": latency,
            "AlarmDescription": f"{endpoint}: model latency above"
            f" {settings.endpoint_latency_threshold_ms} ms; a deployment rolls back (Snowsage)",
            "MetricName": "ModelLatency",
            "Threshold": float(settings.endpoint_latency_threshold_ms * 1000),
        }
    ]


def max_polls(settings: DeployEndpointSettings) -> int:
    """How many DescribeEndpoint polls the state machine makes before it gives up waiting."""
    seconds = PROVISIONING_ALLOWANCE_SECONDS + 2 * settings.endpoint_baking_seconds
    return max(1, math.ceil(seconds / settings.endpoint_poll_seconds))


# --- SageMaker, behind a small adapter -------------------------------------------------------------


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _message(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Message", error))


@contextmanager
def _calling(what: str) -> Iterator[None]:
    """A SageMaker or CloudWatch error as the pipeline's: throttling and service faults retried."""
    try:
        yield
    except ClientError as error:
        code = _code(error)
        text = f"{what}: {code}: {_message(error)}"
        if code in TRANSIENT_CODES:
            raise EndpointUnavailable(text) from error
        raise EndpointRefused(text) from error


def _not_found(error: ClientError) -> bool:
    """DescribeEndpoint(Config) of a missing resource: ValidationException, "Could not find ...";
    botocore's EndpointDeleted waiter takes that error as the endpoint being gone."""
    return _code(error) == "ValidationException" and "Could not find" in _message(error)


class SageMaker:
    """The endpoint calls the Lambdas make, with errors translated (``_calling``)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def describe_endpoint(self, name: str) -> dict[str, Any] | None:
        with _calling(f"DescribeEndpoint {name}"):
            try:
                return dict(self.client.describe_endpoint(EndpointName=name))
            except ClientError as error:
                if _not_found(error):
                    return None
                raise

    def describe_endpoint_config(self, name: str) -> dict[str, Any] | None:
        with _calling(f"DescribeEndpointConfig {name}"):
            try:
                return dict(self.client.describe_endpoint_config(EndpointConfigName=name))
            except ClientError as error:
                if _not_found(error):
                    return None
                raise

    def config_tags(self, arn: str) -> dict[str, str]:
        with _calling(f"ListTags {arn}"):
            found: dict[str, str] = {}
            for page in self.client.get_paginator("list_tags").paginate(ResourceArn=arn):
                found.update({tag["Key"]: tag["Value"] for tag in page.get("Tags", [])})
            return found

    def endpoint_configs(self, prefix: str) -> list[dict[str, Any]]:
        with _calling(f"ListEndpointConfigs {prefix}"):
            found: list[dict[str, Any]] = []
            for page in self.client.get_paginator("list_endpoint_configs").paginate(NameContains=prefix):
                found.extend(page.get("EndpointConfigs", []))
            return found

    def delete_endpoint_config(self, name: str) -> None:
        with _calling(f"DeleteEndpointConfig {name}"):
            try:
                self.client.delete_endpoint_config(EndpointConfigName=name)
            except ClientError as error:
                if not _not_found(error):
                    raise

    def delete_model(self, name: str) -> None:
        with _calling(f"DeleteModel {name}"):
            try:
                self.client.delete_model(ModelName=name)
            except ClientError as error:
                if not _not_found(error):
                    raise


def _config_models(description: dict[str, Any] | None) -> set[str]:
    variants = (description or {}).get("ProductionVariants") or []
    return {str(variant["ModelName"]) for variant in variants if variant.get("ModelName")}


def clean_up(sagemaker: SageMaker, endpoint: str, prefix: str, *, endpoint_gone: bool = False) -> list[str]:
    """Delete the endpoint's configs (tagged with its name) and their models, except the config in
    service, the one an update is moving to, and every model those use. ``endpoint_gone``: the
    endpoint is being deleted, so nothing is kept. Returns what was deleted."""
    current = None if endpoint_gone else sagemaker.describe_endpoint(endpoint)
    keep: set[str] = set()
    if current is not None:
        keep.add(str(current.get("EndpointConfigName") or ""))
        pending = current.get("PendingDeploymentSummary") or {}
        keep.add(str(pending.get("EndpointConfigName") or ""))
    kept_models: set[str] = set()
    for name in keep - {""}:
        kept_models |= _config_models(sagemaker.describe_endpoint_config(name))
    deleted: list[str] = []
    for summary in sagemaker.endpoint_configs(f"{prefix}-"):
        name = str(summary["EndpointConfigName"])
        if (
            name in keep
            or sagemaker.config_tags(str(summary["EndpointConfigArn"])).get(TAG_ENDPOINT) != endpoint
        ):
            continue
        models = _config_models(sagemaker.describe_endpoint_config(name))
        sagemaker.delete_endpoint_config(name)
        deleted.append(f"endpoint config {name}")
        for model in sorted(models - kept_models):
            sagemaker.delete_model(model)
            deleted.append(f"model {model}")
    return deleted


# --- DeployEndpoint / RemoveEndpoint ---------------------------------------------------------------


def deploy_endpoint(
    request: DeployEndpointRequest, client: Any, cloudwatch: Any, settings: DeployEndpointSettings
) -> EndpointDeployment:
    """The promoted model behind the endpoint: create it, or update it blue/green (idempotent: a
    retry finds its config and its update under way)."""
    plan, model = request.endpoint, request.model
    if plan.kind == "NONE" or model is None or request.model_name is None:
        raise EndpointRefused(f"endpoint {plan.name}: nothing to deploy (ENDPOINT {plan.kind}, no model)")
    sagemaker = SageMaker(client)
    for alarm in alarm_requests(plan.name, settings):
        with _calling(f"PutMetricAlarm {alarm['AlarmName']}"):
            cloudwatch.put_metric_alarm(**alarm)
    labels = tags(request.dataset, request.run_id, plan.name, model.model_version)
    if sagemaker.describe_endpoint_config(plan.config_name) is None:
        with _calling(f"CreateEndpointConfig {plan.config_name}"):
            client.create_endpoint_config(
                EndpointConfigName=plan.config_name,
                ProductionVariants=[production_variant(plan, request.model_name)],
                Tags=labels,
            )
    current = sagemaker.describe_endpoint(plan.name)
    action = _start(client, sagemaker, plan, current, settings, labels)
    return EndpointDeployment(
        endpoint_name=plan.name,
        action=action,
        config_name=plan.config_name,
        model_name=request.model_name,
        model_version=model.model_version,
        poll_seconds=settings.endpoint_poll_seconds,
        max_polls=max_polls(settings),
    )


def _start(  # noqa: PLR0917  (the deployment's parts, passed on from deploy_endpoint)
    client: Any,
    sagemaker: SageMaker,
    plan: EndpointPlan,
    current: dict[str, Any] | None,
    settings: DeployEndpointSettings,
    labels: list[dict[str, str]],
) -> EndpointAction:
    if current is None:
        with _calling(f"CreateEndpoint {plan.name}"):
            client.create_endpoint(
                EndpointName=plan.name,
                EndpointConfigName=plan.config_name,
                Tags=[tag for tag in labels if tag["Key"] in {TAG_DATASET, TAG_ENDPOINT}],
            )
        return "create"
    status = str(current["EndpointStatus"])
    pending = (current.get("PendingDeploymentSummary") or {}).get("EndpointConfigName")
    if plan.config_name in {current.get("EndpointConfigName"), pending}:
        return "create" if status == "Creating" else "update"  # a retry of this run's call
    if status in {"Failed", "UpdateRollbackFailed", "OutOfService"}:
        raise EndpointRefused(
            f"endpoint {plan.name} is {status} ({current.get('FailureReason') or 'no reason given'}):"
            " delete it (python -m snowsage_setup.endpoint delete --dataset <dataset>) and the next"
            " promoted run creates it again"
        )
    if status in PENDING or status == "Deleting":
        raise EndpointBusy(f"endpoint {plan.name} is {status} (not by this run): retrying later")
    with _calling(f"UpdateEndpoint {plan.name}"):
        client.update_endpoint(
            EndpointName=plan.name,
            EndpointConfigName=plan.config_name,
            RetainAllVariantProperties=False,
            DeploymentConfig=deployment_config(plan, settings.endpoint_baking_seconds),
        )
    return "update"


def remove_endpoint(
    request: DeployEndpointRequest, client: Any, cloudwatch: Any, settings: DeployEndpointSettings
) -> EndpointDeployment:
    """ENDPOINT 'NONE': delete the endpoint if there is one, its alarms, its configs and their models."""
    plan = request.endpoint
    sagemaker = SageMaker(client)
    current = sagemaker.describe_endpoint(plan.name)
    action: EndpointAction = "none"
    if current is not None:
        if current["EndpointStatus"] != "Deleting":
            with _calling(f"DeleteEndpoint {plan.name}"):
                client.delete_endpoint(EndpointName=plan.name)
        with _calling(f"DeleteAlarms {plan.name}"):
            cloudwatch.delete_alarms(AlarmNames=rollback_alarms(plan.name))
        clean_up(sagemaker, plan.name, settings.resource_prefix, endpoint_gone=True)
        action = "delete"
    return EndpointDeployment(
        endpoint_name=plan.name,
        action=action,
        poll_seconds=settings.endpoint_poll_seconds,
        max_polls=max_polls(settings),
    )


# --- SettleEndpoint --------------------------------------------------------------------------------


class EndpointRecords(Protocol):
    """Where the outcome goes: ML_MODELS.ENDPOINT_STATUS of a model version (IN_SERVICE retires
    the dataset's others; DELETED: whichever was in service) (snowsage.snowflake.endpoint_records)."""

    def __call__(
        self, dataset: str, endpoint: str, status: ModelEndpointStatus, version: int | None
    ) -> None: ...


def serving_version(sagemaker: SageMaker, description: dict[str, Any]) -> int | None:
    """The model version the endpoint's config in service carries (its tag), if any."""
    config = sagemaker.describe_endpoint_config(str(description.get("EndpointConfigName") or ""))
    if config is None:
        return None
    version = sagemaker.config_tags(str(config["EndpointConfigArn"])).get(TAG_MODEL_VERSION)
    return int(version) if version and version.isdigit() else None


def settle_endpoint(
    request: SettleEndpointRequest, client: Any, records: EndpointRecords, prefix: str
) -> EndpointOutcome:
    """What the deployment came to: CREATED/UPDATED (the new config InService), ROLLED_BACK (InService
    on the old config: aws-controllers-k8s/sagemaker-controller#7, terraform-provider-aws#48997),
    DELETED; a Failed endpoint or one still changing fails the run (EndpointDeploymentFailed)."""
    deployment = request.deployment
    name = deployment.endpoint_name
    if deployment.action == "delete":
        records(request.dataset, name, "DELETED", None)
        return EndpointOutcome(endpoint_name=name, status="DELETED", model_version=None)
    sagemaker = SageMaker(client)
    description = sagemaker.describe_endpoint(name)
    if description is None:
        raise EndpointDeploymentFailed(
            f"endpoint {name} disappeared while deploying {deployment.config_name}"
        )
    status = str(description["EndpointStatus"])
    reason = description.get("FailureReason") or None
    if status in PENDING:
        if request.polls_left > 0:
            return EndpointOutcome(endpoint_name=name, settled=False)
        raise EndpointDeploymentFailed(
            f"endpoint {name} is still {status} after {deployment.max_polls} polls every"
            f" {deployment.poll_seconds} s; the run stops waiting (the endpoint goes on)"
        )
    if status != "InService":
        records(request.dataset, name, "FAILED", deployment.model_version)
        raise EndpointDeploymentFailed(f"endpoint {name} is {status}: {reason or 'no reason given'}")
    if description.get("EndpointConfigName") == deployment.config_name:
        created: EndpointOutcomeStatus = "CREATED" if deployment.action == "create" else "UPDATED"
        outcome = EndpointOutcome(endpoint_name=name, status=created, model_version=deployment.model_version)
        records(request.dataset, name, "IN_SERVICE", deployment.model_version)
    else:
        kept = description.get("EndpointConfigName")
        outcome = EndpointOutcome(
            endpoint_name=name,
            status="ROLLED_BACK",
            model_version=serving_version(sagemaker, description),
            reason=reason or f"the update to {deployment.config_name} was rolled back; {kept} serves",
        )
        records(request.dataset, name, "ROLLED_BACK", deployment.model_version)
    clean_up(sagemaker, name, prefix)
    return outcome
