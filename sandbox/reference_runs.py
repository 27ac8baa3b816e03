"""The reference runs behind events/: the same data, export and executions every time.

``scripts/refresh_events.py`` writes events/ from what these runs hand each function;
``tests/e2e/test_events.py`` replays events/ against a sandbox prepared the same way; and
``python -m sandbox serve --with-sample-data`` prepares a served sandbox so that
``sam local invoke -e events/...`` finds the objects the events name.
"""

from __future__ import annotations

from dataclasses import dataclass

from sandbox import pipeline_run
from sandbox.services import Sandbox
from tooling.sample_data import SAMPLE_DATASET, SAMPLE_SEED, load_sample_data

SAMPLE_ROWS = 50_000  # 200 merchants: enough held-out rows for a stable validation AUC
SAMPLE_EXPORT_ID = "20261126t020000z"
FAILED_EXECUTION_NAME = "merchant_risk-missing-export"


@dataclass
class ReferenceRuns:
    succeeded: pipeline_run.RunResult
    failed: pipeline_run.RunResult


def load_reference_data(sandbox: Sandbox) -> None:
    with sandbox.snowflake_connection() as connection:
        load_sample_data(
            connection, SAMPLE_ROWS, SAMPLE_SEED, s3_client=sandbox.client("s3"), bucket=sandbox.bucket
        )


def run_reference(sandbox: Sandbox) -> ReferenceRuns:
    """Sample data, one export started by its S3 event, and one hand start that fails in PrepareRun."""
    load_reference_data(sandbox)
    succeeded = pipeline_run.run_from_export(sandbox, SAMPLE_DATASET, export_id=SAMPLE_EXPORT_ID)
    failed = pipeline_run.start_by_hand(
        sandbox,
        {"manifest": f"s3://{sandbox.bucket}/exports/{SAMPLE_DATASET}/not-exported/manifest.json"},
        name=FAILED_EXECUTION_NAME,
    )
    return ReferenceRuns(succeeded=succeeded, failed=failed)
