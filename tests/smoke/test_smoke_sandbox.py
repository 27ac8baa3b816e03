"""The smoke's real plan, waits and teardown, run against the sandbox's endpoints (make test).

A throwaway stack is deployed into a running sandbox next to its own, with a throwaway fakesnow
database; the plan must pass its checks and delete exactly what it created, also when a step
fails halfway.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from sandbox.services import Sandbox
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


def test_the_smoke_passes_in_the_sandbox_and_deletes_all_it_created(sandbox: Sandbox) -> None:
    platform = SandboxPlatform(sandbox)
    names = SmokeNames("5a0b1e")
    lines: list[str] = []
    report = run_smoke(platform, names, sample_rows=SAMPLE_ROWS, say=lines.append)

    assert report.error is None, "\n".join(lines)
    assert [(check.name, check.passed) for check in report.checks] == [
        ("execution succeeded", True),
        ("ML_RUNS row SUCCEEDED", True),
        ("rows loaded = rows scored", True),
        ("bad manifest: execution FAILED", True),
        ("bad manifest: ML_RUNS row FAILED", True),
    ], "\n".join(lines)
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
    ]
    assert f"S3 bucket {names.resource_prefix}-data-123456789012-us-east-1" in report.created
    assert f"Snowflake database {names.database}" in report.created
    # What it printed: each resource as it was created, then as it was deleted.
    assert [line for line in lines if line.startswith("created")] == [f"created  {n}" for n in report.created]
    assert [line for line in lines if line.startswith("deleted")] == [f"deleted  {n}" for n in report.deleted]
    assert_nothing_left(platform, names, report)


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
        ("export", "fa11e2", "SageMaker models"),
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
