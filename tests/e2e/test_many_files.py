"""An export of ~2,000 data files (one row each), end to end: the manifest and the state payload
do not grow with the files, and every scored row is loaded (`make bench-scale` runs
the same at 100,000 files)."""

from __future__ import annotations

import json

import pytest

from sandbox import pipeline_run
from sandbox.aws.executions import largest_state_io
from sandbox.services import Sandbox
from sandbox.snowflake.export import file_count
from tooling.sample_data import SAMPLE_DATASET, load_sample_data

pytestmark = pytest.mark.e2e

MERCHANTS = 1_100  # ~1.8 files a merchant at one row per file: ~2,000 files
STATE_PAYLOAD_GOAL = 16 * 1024


def test_an_export_of_2000_files_runs_end_to_end(sandbox: Sandbox) -> None:
    with sandbox.snowflake_connection() as connection:
        load_sample_data(
            connection,
            MERCHANTS * 20,
            s3_client=sandbox.client("s3"),
            bucket=sandbox.bucket,
            n_merchants=MERCHANTS,
        )
    result = pipeline_run.run_from_export(sandbox, SAMPLE_DATASET, export_id="files-2000", rows_per_file=1)
    manifest = result.manifest
    files = {name: file_count(manifest[name]) for name in ("train", "validation", "score")}

    assert result.status == "SUCCEEDED", (result.execution.failed_state, result.execution.error)
    assert sum(files.values()) >= 1_900, files
    # Version 2's summary: files, rows and bytes per section, no per-file list.
    assert all(isinstance(manifest[name]["files"], int) for name in files)
    assert len(json.dumps(manifest).encode()) < 4_096  # a few KB, whatever the number of files
    largest, where = largest_state_io(sandbox.client("stepfunctions"), result.execution.arn)
    assert largest < STATE_PAYLOAD_GOAL, where
    plan = (result.execution.output or {})["plan"]
    assert plan["scoring"]["files"] == files["score"]
    with sandbox.snowflake_connection() as connection:
        cursor = connection.cursor()
        cursor.execute("SELECT COUNT(*) FROM MERCHANT_RISK_PREDICTIONS WHERE RUN_ID = %s", (plan["run_id"],))
        assert cursor.fetchone()[0] == manifest["score"]["rows"] == files["score"]
