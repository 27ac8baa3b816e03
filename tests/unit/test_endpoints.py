"""The dataset's real-time endpoint: its settings, the requests DeployEndpoint makes, and what
SettleEndpoint reads from DescribeEndpoint (docs/contracts.md, "Real-time endpoint")."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from snowsage import endpoints
from snowsage.errors import EndpointDeploymentFailed, InvalidModelSettings
from snowsage.model_settings import ResolvedEndpoint
from snowsage.models import EndpointDeployment, EndpointPlan, SettleEndpointRequest
from snowsage.plan import endpoint_plan
from snowsage.settings import DeployEndpointSettings
from snowsage.snowflake.endpoint_records import MARK_DELETED, MARK_VERSION, RETIRE_OTHERS, endpoint_statements
from tests.unit.test_model_settings import _resolve

SETTINGS = DeployEndpointSettings(notification_topic_arn="arn:aws:sns:us-east-1:123456789012:t")
SERVERLESS = EndpointPlan(
    kind="SERVERLESS", name="snowsage-d", config_name="snowsage-r-endpoint", memory_mb=2048, max_concurrency=5
)
INSTANCES = EndpointPlan(
    kind="INSTANCE", name="snowsage-d", config_name="c", instance_type="ml.m5.large", instance_count=3
)


def test_no_endpoint_asked_for_plans_none_and_an_explicit_none_plans_a_removal() -> None:
    """A dataset without ENDPOINT (the template's NONE) gets no endpoint states at all."""
    assert endpoint_plan(ResolvedEndpoint("NONE", "template"), "snowsage", "d", "r") is None
    removal = endpoint_plan(_resolve(row={"endpoint": "NONE"}).endpoint, "snowsage", "d", "r")
    assert removal is not None and removal.kind == "NONE"


def test_a_serverless_row_resolves_its_sizes_and_refuses_bad_ones() -> None:
    resolved = _resolve(row={"endpoint": "SERVERLESS", "endpoint_memory_mb": 4096}).endpoint
    assert (resolved.kind, resolved.memory_mb, resolved.max_concurrency) == ("SERVERLESS", 4096, 5)
    with pytest.raises(InvalidModelSettings, match="ENDPOINT_MEMORY_MB"):
        _resolve(row={"endpoint": "SERVERLESS", "endpoint_memory_mb": 1000})
    with pytest.raises(InvalidModelSettings, match=r"ML_DATASETS\.ENDPOINT"):
        _resolve(row={"endpoint": "REALTIME"})


def test_serverless_and_single_instance_updates_shift_all_at_once_then_bake() -> None:
    config = endpoints.deployment_config(SERVERLESS, baking_seconds=300)
    policy = config["BlueGreenUpdatePolicy"]
    assert policy["TrafficRoutingConfiguration"] == {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0}
    assert policy["TerminationWaitInSeconds"] == 300
    assert 600 <= policy["MaximumExecutionTimeoutInSeconds"] <= 28800
    assert [alarm["AlarmName"] for alarm in config["AutoRollbackConfiguration"]["Alarms"]] == [
        "snowsage-d-server-errors",
        "snowsage-d-client-errors",
        "snowsage-d-latency",
    ]


def test_several_instances_bake_a_canary_of_one_first() -> None:
    routing = endpoints.deployment_config(INSTANCES, baking_seconds=120)["BlueGreenUpdatePolicy"]
    assert routing["TrafficRoutingConfiguration"] == {
        "Type": "CANARY",
        "CanarySize": {"Type": "INSTANCE_COUNT", "Value": 1},
        "WaitIntervalInSeconds": 120,
    }


def test_the_alarms_watch_the_error_rates_and_latency_of_the_endpoints_variant() -> None:
    alarms = {alarm["MetricName"]: alarm for alarm in endpoints.alarm_requests("snowsage-d", SETTINGS)}
    assert set(alarms) == {"Invocation5XXErrors", "Invocation4XXErrors", "ModelLatency"}
    assert alarms["Invocation5XXErrors"]["Threshold"] == 0.05
    assert alarms["ModelLatency"]["Threshold"] == 500_000.0  # microseconds
    for alarm in alarms.values():
        assert alarm["Dimensions"] == [
            {"Name": "EndpointName", "Value": "snowsage-d"},
            {"Name": "VariantName", "Value": "AllTraffic"},
        ]
        assert alarm["Statistic"] == "Average" and alarm["TreatMissingData"] == "notBreaching"


def test_ml_models_keeps_one_version_in_service() -> None:
    assert endpoint_statements("IN_SERVICE", 2) == [RETIRE_OTHERS, MARK_VERSION]
    assert endpoint_statements("ROLLED_BACK", 2) == [MARK_VERSION]
    assert endpoint_statements("DELETED", None) == [MARK_DELETED]


class Described:
    """DescribeEndpoint(Config) and ListTags answers, as SageMaker gives them."""

    def __init__(self, endpoint: dict[str, Any] | None, configs: dict[str, int]) -> None:
        self.endpoint = endpoint
        self.configs = configs  # config name -> model version tag

    def describe_endpoint(self, EndpointName: str) -> dict[str, Any]:
        if self.endpoint is None:
            error = {"Error": {"Code": "ValidationException", "Message": "Could not find endpoint"}}
            raise ClientError(error, "DescribeEndpoint")  # type: ignore[arg-type]
        return self.endpoint

    def describe_endpoint_config(self, EndpointConfigName: str) -> dict[str, Any]:
        return {"EndpointConfigArn": f"arn/{EndpointConfigName}", "ProductionVariants": []}

    def get_paginator(self, operation: str) -> Any:
        configs = self.configs

        class Pages:
            def paginate(self, **kwargs: Any) -> list[dict[str, Any]]:
                if operation == "list_tags":
                    version = configs[kwargs["ResourceArn"].removeprefix("arn/")]
                    return [{"Tags": [{"Key": endpoints.TAG_MODEL_VERSION, "Value": str(version)}]}]
                return [{"EndpointConfigs": []}]

        return Pages()


def _settle(described: Described, polls_left: int = 3) -> tuple[Any, list[tuple[str, int | None]]]:
    recorded: list[tuple[str, int | None]] = []
    deployment = EndpointDeployment(
        endpoint_name="snowsage-d", action="update", config_name="new", model_name="m", model_version=2,
        poll_seconds=30, max_polls=10,
    )  # fmt: skip
    request = SettleEndpointRequest(
        execution_name="e", dataset="d", run_id="r", deployment=deployment, polls_left=polls_left
    )
    outcome = endpoints.settle_endpoint(
        request,
        described,
        lambda dataset, name, status, version: recorded.append((status, version)),
        "snowsage",
    )
    return outcome, recorded


def test_an_update_in_service_on_the_new_config_is_updated() -> None:
    outcome, recorded = _settle(
        Described({"EndpointStatus": "InService", "EndpointConfigName": "new"}, {"new": 2})
    )
    assert (outcome.status, outcome.model_version) == ("UPDATED", 2)
    assert recorded == [("IN_SERVICE", 2)]


def test_in_service_on_the_old_config_is_a_rollback_serving_the_old_version() -> None:
    described = Described(
        {"EndpointStatus": "InService", "EndpointConfigName": "old", "FailureReason": "alarm x in ALARM"},
        {"old": 1},
    )
    outcome, recorded = _settle(described)
    assert (outcome.status, outcome.model_version, outcome.reason) == ("ROLLED_BACK", 1, "alarm x in ALARM")
    assert recorded == [("ROLLED_BACK", 2)]


def test_still_updating_asks_again_until_no_poll_is_left() -> None:
    updating = Described({"EndpointStatus": "Updating", "EndpointConfigName": "old"}, {})
    outcome, recorded = _settle(updating, polls_left=1)
    assert outcome.settled is False and recorded == []
    with pytest.raises(EndpointDeploymentFailed, match="still Updating"):
        _settle(updating, polls_left=0)


def test_a_failed_endpoint_fails_the_run_and_is_recorded() -> None:
    failed = Described({"EndpointStatus": "Failed", "EndpointConfigName": "new", "FailureReason": "ping"}, {})
    with pytest.raises(EndpointDeploymentFailed, match="Failed: ping"):
        _settle(failed)
