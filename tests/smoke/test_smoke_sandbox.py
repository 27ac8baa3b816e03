"""The smoke's real plan, waits and teardown, run against the sandbox's endpoints (make test).

A throwaway stack is deployed into a running sandbox next to its own, with a throwaway fakesnow
database; the plan must pass its checks and delete exactly what it created, also when a step
fails halfway.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from sandbox.services import Sandbox
from smoke import permissions
from smoke.names import SmokeNames
from smoke.plan import SmokeReport, run_smoke
from smoke.sandboxed import SandboxPlatform

pytestmark = pytest.mark.e2e

SAMPLE_ROWS = 20_000


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as running:
        yield running


def _kinds(names: list[str]) -> list[str]:
    return [name.rsplit(" ", 1)[0] for name in names]


def assert_nothing_left(platform: SandboxPlatform, names: SmokeNames, report: SmokeReport) -> None:
    """Every resource it created was deleted (newest first), and the services agree."""
    assert report.not_deleted == []
    assert report.deleted == list(reversed(report.created))
    cloudformation = platform.client("cloudformation")
    live = [
        stack["StackName"]
        for stack in cloudformation.list_stacks()["StackSummaries"]
        if stack["StackStatus"] != "DELETE_COMPLETE"
    ]
    assert names.stack not in live
    s3 = platform.client("s3")
    buckets = {bucket["Name"] for bucket in s3.list_buckets()["Buckets"]}
    assert not {name for name in buckets if name.startswith((names.stack, names.resource_prefix))}
    secrets = platform.client("secretsmanager").list_secrets()["SecretList"]
    assert names.secret not in {secret["Name"] for secret in secrets}
    machines = platform.client("stepfunctions").list_state_machines()["stateMachines"]
    assert not [machine for machine in machines if machine["name"].startswith(names.stack)]
    groups = platform.client("sagemaker").list_model_package_groups()["ModelPackageGroupSummaryList"]
    assert not [g for g in groups if g["ModelPackageGroupName"].startswith(names.resource_prefix)]
    assert names.database not in platform.databases()
    # The serverless endpoint the promoted run created, its configs, models and alarms.
    sagemaker, prefix = platform.client("sagemaker"), names.resource_prefix
    assert sagemaker.list_endpoints(NameContains=prefix)["Endpoints"] == []
    assert sagemaker.list_endpoint_configs(NameContains=prefix)["EndpointConfigs"] == []
    assert sagemaker.list_models(NameContains=prefix)["Models"] == []
    assert platform.client("cloudwatch").describe_alarms(AlarmNamePrefix=prefix)["MetricAlarms"] == []
    queues = platform.client("sqs").list_queues(QueueNamePrefix=names.alarm_queue).get("QueueUrls", [])
    assert queues == []
    alarms = platform.client("cloudwatch").describe_alarms(AlarmNamePrefix=names.stack)["MetricAlarms"]
    assert alarms == []


# Every path smoke/paths.py walks, in order; then one check per alarm of the stack.
PATH_CHECKS = [
    "tuned run: execution succeeded through DeployEndpoint, Tune",
    "tuned run: ML_RUNS row SUCCEEDED",
    "tuned run: rows loaded = rows scored",
    "tuned run: ML_RUNS endpoint CREATED",
    "tuned run: endpoint InService",
    "warm-started run: execution succeeded through TuneWarm",
    "warm-started run: ML_RUNS row SUCCEEDED",
    "warm-started run: rows loaded = rows scored",
    "one training job: execution succeeded through Train",
    "one training job: ML_RUNS row SUCCEEDED",
    "one training job: rows loaded = rows scored",
    "trained in Snowflake: execution succeeded through TrainInSnowflake",
    "trained in Snowflake: ML_RUNS row SUCCEEDED",
    "trained in Snowflake: rows loaded = rows scored",
    "trained in Snowflake: trained by snowflake:",
    "score only: execution succeeded through SelectModel",
    "score only: ML_RUNS row SUCCEEDED",
    "score only: rows loaded = rows scored",
    "bad manifest: execution FAILED",
    "bad manifest: ML_RUNS row FAILED",
    "stopped run: execution ABORTED",
    "stopped run: the safety net recorded it ABORTED",
    "StalenessCheck ran: merchant_risk is not stale",
]
ALARMS = [
    "DatasetStaleAlarm",
    "ExecutionOutcomeDeadLetterAlarm",
    "PipelineFailedAlarm",
    "StartPipelineDeadLetterAlarm",
]


@dataclass
class Walked:
    platform: SandboxPlatform
    names: SmokeNames
    report: SmokeReport
    lines: list[str]
    calls: set[str]  # the plan's calls (the checks below make their own)


@pytest.fixture(scope="module")
def walked(sandbox: Sandbox) -> Walked:
    """The whole smoke, once: every path, then the teardown."""
    platform = SandboxPlatform(sandbox)
    names = SmokeNames("5a0b1e")
    lines: list[str] = []
    report = run_smoke(platform, names, sample_rows=SAMPLE_ROWS, say=lines.append)
    return Walked(platform, names, report, lines, set(platform.calls))


def test_the_smoke_walks_every_path_in_the_sandbox_and_deletes_all_it_created(walked: Walked) -> None:
    report, lines = walked.report, walked.lines
    assert report.error is None, "\n".join(lines)
    results = [(check.name, check.passed) for check in report.checks]
    assert results[: len(PATH_CHECKS)] == [(name, True) for name in PATH_CHECKS], "\n".join(lines)
    assert [name for name, _ in results[len(PATH_CHECKS) :]] == [
        f"alarm {alarm}: its action reached the subscribed queue" for alarm in ALARMS
    ]
    assert report.ok
    # The transform's start-up, which no AWS page gives (docs/benchmarks.md takes it as a parameter).
    assert set(report.measured) == {
        "transform provisioning s (not billed)",
        "transform billed s (start-up and the sample's rows)",
    }
    assert all(seconds >= 0 for seconds in report.measured.values())
    assert [line for line in lines if line.startswith("measured")] == [
        f"measured  {name}: {seconds:.1f}" for name, seconds in report.measured.items()
    ]
    assert _kinds(report.created) == [
        "Secrets Manager secret",
        "CloudFormation stack",
        "S3 bucket",  # the access-log bucket (retained by the stack)
        "S3 bucket",  # the data bucket (retained), deleted first
        "Snowflake database",
        "SageMaker model package group",
        "SageMaker models",
        "SageMaker endpoint",
        "SQS queue",
        "SNS subscription",
    ]
    assert f"S3 bucket {walked.names.resource_prefix}-data-123456789012-us-east-1" in report.created
    assert f"Snowflake database {walked.names.database}" in report.created
    # What it printed: each resource as it was created, then as it was deleted.
    assert [line for line in lines if line.startswith("created")] == [f"created  {n}" for n in report.created]
    assert [line for line in lines if line.startswith("deleted")] == [f"deleted  {n}" for n in report.deleted]
    assert_nothing_left(walked.platform, walked.names, report)


def test_each_alarm_action_reaches_the_subscribed_queue(walked: Walked) -> None:
    """SetAlarmState(ALARM) -> the alarm's action publishes to the topic (its customer managed key)
    -> the smoke's subscribed queue, through the queue policy the plan set: one notice per alarm."""
    alarms = [check for check in walked.report.checks if check.name.startswith("alarm ")]
    assert [check.name for check in alarms] == [
        f"alarm {alarm}: its action reached the subscribed queue" for alarm in ALARMS
    ]
    assert all(check.passed for check in alarms), [str(check) for check in alarms]
    assert all(check.detail.startswith("notice for ") for check in alarms)
    assert walked.report.ok


def test_every_call_the_plan_makes_is_in_the_documented_permissions(walked: Walked) -> None:
    """docs/smoke.md's list (smoke/permissions.py) covers each call the plan made here."""
    made = walked.calls
    assert {
        "cloudwatch:SetAlarmState",
        "sqs:SetQueueAttributes",
        "stepfunctions:StartExecution",
        "stepfunctions:StopExecution",
        "sns:Subscribe",
        "lambda:Invoke",
    } <= made, sorted(made)
    assert made <= permissions.PLAN_CALLS, sorted(made - permissions.PLAN_CALLS)


class FailingPlatform(SandboxPlatform):
    """The sandbox platform with one step that raises (a fault injected midway)."""

    def __init__(self, sandbox: Sandbox, failing_step: str) -> None:
        super().__init__(sandbox)
        self.failing_step = failing_step

    def __getattribute__(self, name: str) -> Any:
        if name != "failing_step" and name == object.__getattribute__(self, "failing_step"):

            def fail(*args: Any, **kwargs: Any) -> Any:
                raise RuntimeError(f"injected failure in {name}")

            return fail
        return super().__getattribute__(name)


@pytest.mark.parametrize(
    ("step", "token", "last_created"),
    [
        ("apply_setup", "fa11a1", "Snowflake database"),
        ("export", "fa11e2", "SageMaker endpoint"),
    ],
)
def test_a_step_failing_midway_still_deletes_everything_created(
    sandbox: Sandbox, step: str, token: str, last_created: str
) -> None:
    platform = FailingPlatform(sandbox, step)
    names = SmokeNames(token)
    report = run_smoke(platform, names, sample_rows=SAMPLE_ROWS, say=lambda _: None)

    assert report.error == f"RuntimeError: injected failure in {step}"
    assert not report.ok
    kinds = _kinds(report.created)
    assert kinds[:2] == ["Secrets Manager secret", "CloudFormation stack"]
    assert kinds[-1] == last_created
    assert_nothing_left(platform, names, report)
