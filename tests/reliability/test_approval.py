"""A promoted model becomes the champion only once ML_PREDICT_<DATASET> serves it.

RegisterModel registers a promoted candidate PendingManualApproval; PublishModel approves it right
after publishing the function. A run that fails in between (here: its batch transform) leaves the
champion, the latest Approved package, and the function on the previous model (chaos invariant 4).
"""

from __future__ import annotations

import pytest

from sandbox.chaos.invariants import check_champion
from sandbox.services import Sandbox
from tests.reliability.helpers import DATASET, export_quietly, ml_run, rerun, start

pytestmark = pytest.mark.e2e

EXPORT = "approve-on-publish"


def _statuses(sb: Sandbox) -> list[str]:
    """The dataset's model packages' approval statuses, oldest first."""
    sagemaker = sb.client("sagemaker")
    group = f"snowsage-{DATASET.replace('_', '-')}"
    packages = sagemaker.list_model_packages(ModelPackageGroupName=group, SortBy="CreationTime")
    return [summary["ModelApprovalStatus"] for summary in packages["ModelPackageSummaryList"]]


def _promoted(sb: Sandbox, execution_name: str) -> bool:
    with sb.snowflake_connection() as connection:
        cursor = connection.cursor()
        cursor.execute("SELECT PROMOTED FROM ML_RUNS WHERE EXECUTION_NAME = %s", (execution_name,))
        (row,) = cursor.fetchall()
    return bool(row[0])


def test_a_promoted_run_failing_before_publication_leaves_the_champion_served(sb: Sandbox) -> None:
    export_quietly(sb, EXPORT)
    first = start(sb, EXPORT)
    assert first.status == "SUCCEEDED"
    assert _statuses(sb) == ["Approved"]
    assert check_champion(sb, DATASET) == []

    # The same export again: the same candidate ties the champion, and a tie promotes.
    assert sb.emulator is not None
    sb.emulator.faults.fail_next_transform("ClientError: injected failure")
    failed = rerun(sb, EXPORT, suffix="transform-fails")
    assert failed.status == "FAILED"
    assert ml_run(sb, failed.execution.name)["FAILED_STATE"] == "Score"
    assert _promoted(sb, failed.execution.name)
    # Registered, never published: pending, so v1 stays the champion its function serves.
    assert _statuses(sb) == ["Approved", "PendingManualApproval"]
    assert check_champion(sb, DATASET) == []

    again = rerun(sb, EXPORT)
    assert again.status == "SUCCEEDED" and _promoted(sb, again.execution.name)
    assert _statuses(sb) == ["Approved", "PendingManualApproval", "Approved"]
    assert check_champion(sb, DATASET) == []
