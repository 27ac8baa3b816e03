"""The smoke's pieces without a sandbox: names and their limits, the ledger, the waits."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from smoke.ledger import Ledger
from smoke.names import ROLE_NAME_MAX, STATE_MACHINE_NAME_MAX, SmokeNames
from smoke.paths import alarm_name
from smoke.plan import Check, SmokeError, SmokeReport, delete_log_bucket, execution_arn, wait_for_execution
from snowsage.names import SNOWFLAKE_IDENTIFIER

# --- names ------------------------------------------------------------------------------------------


def test_unique_names_fit_the_limits_the_stack_name_feeds() -> None:
    names = SmokeNames.unique()
    assert len(names.stack + "-pipeline") <= STATE_MACHINE_NAME_MAX
    assert len(names.stack + "-snowflake-storage") <= ROLE_NAME_MAX
    assert names.stack != SmokeNames.unique().stack
    for identifier in (
        names.database,
        names.warehouse,
        names.admin_role,
        names.pipeline_role,
        names.pipeline_user,
        names.integration,
    ):
        assert SNOWFLAKE_IDENTIFIER.fullmatch(identifier)
        assert identifier.startswith("SNOWSAGE_SMOKE_")


def test_a_token_that_makes_a_name_too_long_is_refused() -> None:
    with pytest.raises(ValueError, match="longer than 64"):
        SmokeNames("a" * 32)


def test_a_token_that_breaks_the_resource_prefix_is_refused() -> None:
    with pytest.raises(ValueError, match="resource prefix"):
        SmokeNames("abcdef1234")  # smk + 10 > 12 characters


def test_sql_variables_give_every_account_object_a_smoke_name() -> None:
    names = SmokeNames("abc123")
    variables = names.sql_variables("bucket-x", "arn:aws:iam::123456789012:role/r")
    assert variables["database"] == "SNOWSAGE_SMOKE_ABC123"
    assert variables["pipeline_user"] == "SNOWSAGE_SMOKE_ABC123_USER"
    assert variables["integration"] == "SNOWSAGE_SMOKE_ABC123_S3"
    assert {"warehouse", "admin_role", "pipeline_role", "schema", "bucket", "aws_role_arn"} <= set(variables)


# --- ledger -----------------------------------------------------------------------------------------


def test_the_ledger_deletes_newest_first_and_goes_on_after_a_failed_deletion() -> None:
    calls: list[str] = []
    lines: list[str] = []
    ledger = Ledger(lines.append)

    def stuck() -> None:
        calls.append("b")
        raise RuntimeError("bucket not empty")

    ledger.add("thing", "a", lambda: calls.append("a"))
    ledger.add("thing", "b", stuck)
    ledger.add("thing", "c", lambda: calls.append("c"))
    ledger.teardown()

    assert calls == ["c", "b", "a"]
    assert [str(resource) for resource in ledger.deleted] == ["thing c", "thing a"]
    assert [(str(resource), error) for resource, error in ledger.failed] == [
        ("thing b", "RuntimeError: bucket not empty")
    ]
    assert [str(resource) for resource in ledger.left_behind] == ["thing b"]
    assert "NOT deleted thing b: RuntimeError: bucket not empty" in lines


# --- waits ------------------------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class FakeStepFunctions:
    """DescribeExecution answers: absent for ``absent_polls`` polls, then each status in turn."""

    class exceptions:
        class ExecutionDoesNotExist(Exception):
            pass

    def __init__(self, absent_polls: int, statuses: list[str]) -> None:
        self.absent_polls = absent_polls
        self.statuses = statuses
        self.calls = 0

    def describe_execution(self, executionArn: str) -> dict[str, Any]:
        self.calls += 1
        if self.calls <= self.absent_polls:
            raise self.exceptions.ExecutionDoesNotExist(executionArn)
        index = min(self.calls - self.absent_polls - 1, len(self.statuses) - 1)
        return {"name": "x", "status": self.statuses[index]}


def _wait(sfn: FakeStepFunctions, clock: FakeClock, start: float = 30, run: float = 100) -> dict[str, Any]:
    return wait_for_execution(
        sfn,
        "arn",
        sleep=clock.sleep,
        clock=clock,
        poll_seconds=5,
        start_timeout=start,
        run_timeout=run,
    )


def test_the_wait_follows_an_execution_from_absent_to_its_end() -> None:
    sfn, clock = FakeStepFunctions(absent_polls=3, statuses=["RUNNING", "RUNNING", "FAILED"]), FakeClock()
    assert _wait(sfn, clock)["status"] == "FAILED"
    assert sfn.calls == 6


def test_an_execution_that_never_starts_times_out() -> None:
    sfn, clock = FakeStepFunctions(absent_polls=1000, statuses=["RUNNING"]), FakeClock()
    with pytest.raises(SmokeError, match="no execution arn within 30 s"):
        _wait(sfn, clock)


def test_an_execution_that_never_ends_times_out() -> None:
    sfn, clock = FakeStepFunctions(absent_polls=0, statuses=["RUNNING"]), FakeClock()
    with pytest.raises(SmokeError, match="still RUNNING after 100 s"):
        _wait(sfn, clock)


def test_the_execution_arn_is_derived_from_the_state_machine_arn() -> None:
    machine = "arn:aws:states:eu-west-1:123456789012:stateMachine:snowsage-smoke-abc123-pipeline"
    assert execution_arn(machine, "merchant_risk-1") == (
        "arn:aws:states:eu-west-1:123456789012:execution:snowsage-smoke-abc123-pipeline:merchant_risk-1"
    )
    with pytest.raises(SmokeError):
        execution_arn("arn:aws:lambda:eu-west-1:123456789012:function:f", "x")


# --- a late access-log delivery ---------------------------------------------------------------------


class LateLogsS3:
    """An access-log bucket S3 keeps delivering into: DeleteBucket says BucketNotEmpty ``late`` times."""

    class exceptions:
        ClientError = ClientError

    def __init__(self, late: int) -> None:
        self.late = late
        self.deletes = 0

    def head_bucket(self, Bucket: str) -> None:
        pass

    def get_paginator(self, operation: str) -> Any:
        class Pages:
            def paginate(self, **_: Any) -> list[dict[str, Any]]:
                return [{}]

        return Pages()

    def delete_bucket(self, Bucket: str) -> None:
        self.deletes += 1
        if self.deletes <= self.late:
            raise ClientError({"Error": {"Code": "BucketNotEmpty", "Message": "not empty"}}, "DeleteBucket")


def test_a_late_access_log_delivery_is_emptied_again_then_tolerated() -> None:
    pauses: list[float] = []
    s3 = LateLogsS3(late=1)
    delete_log_bucket(s3, "logs", pauses.append)  # emptied again after one late log: deleted
    assert (s3.deletes, len(pauses)) == (2, 1)

    ledger = Ledger(lambda _: None)
    ledger.add("S3 bucket", "logs", lambda: delete_log_bucket(LateLogsS3(late=99), "logs", lambda _: None))
    ledger.teardown()
    assert ledger.failed == [] and ledger.deleted == []
    [(resource, note)] = ledger.kept
    assert str(resource) == "S3 bucket logs" and "aws s3 rb s3://logs --force" in note


def test_a_report_with_a_kept_resource_still_passes() -> None:
    report = SmokeReport(
        SmokeNames("abc123"), checks=[Check("x", True, "ok")], kept=[("S3 bucket logs", "late")]
    )
    assert report.ok


def test_an_alarm_notice_is_read_from_snss_envelope() -> None:
    """CloudWatch publishes the alarm as JSON, SNS wraps it (Message) for the SQS subscriber."""
    alarm = json.dumps({"AlarmName": "snowsage-smoke-abc123-PipelineFailedAlarm-X", "NewStateValue": "ALARM"})
    assert alarm_name(json.dumps({"Type": "Notification", "Message": alarm})) == (
        "snowsage-smoke-abc123-PipelineFailedAlarm-X"
    )
    run_notice = json.dumps({"Type": "Notification", "Message": json.dumps({"run_id": "r"})})
    assert alarm_name(run_notice) is None
    assert alarm_name("not json") is None
