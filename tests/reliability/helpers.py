"""Shared pieces of the reliability tests: exports, faults, and what a run left behind.

Every check reads the public surfaces a user has: the Step Functions execution and its history,
the ML_RUNS audit table and the predictions table in Snowflake, S3. Faults are injected at the
narrowest point that reproduces the production symptom (see docs/reliability.md): Lambda and
Snowflake faults by ``sandbox.chaos.injection`` (``LambdaFaults``, ``SnowflakeFaults``, shared
with the chaos campaign), SageMaker faults through the emulator (``sb.emulator.faults``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sandbox import pipeline_run
from sandbox.aws import moto_patches
from sandbox.chaos.invariants import FAILURE_EVENTS, history
from sandbox.services import Sandbox
from sandbox.snowflake.export import section_keys
from snowsage.names import execution_name
from snowsage.states import FAILURE_PATH
from tooling.sample_data import SAMPLE_DATASET as DATASET
from tooling.sample_data import SAMPLE_SEED, load_sample_data

PREDICTIONS_TABLE = "MERCHANT_RISK_PREDICTIONS"
SAMPLE_ROWS = 20_000


def load_sample(sb: Sandbox, rows: int = SAMPLE_ROWS) -> None:
    with sb.snowflake_connection() as connection:
        load_sample_data(connection, rows, SAMPLE_SEED, s3_client=sb.client("s3"), bucket=sb.bucket)


# --- exports ------------------------------------------------------------------------------------


def manifest_uri(sb: Sandbox, export_id: str, dataset: str = DATASET) -> str:
    return f"s3://{sb.bucket}/exports/{dataset}/{export_id}/manifest.json"


def name_for(export_id: str, dataset: str = DATASET) -> str:
    return execution_name(dataset, export_id)


@contextmanager
def auto_start_off(sb: Sandbox) -> Iterator[None]:
    """The S3 -> EventBridge -> StartPipeline rule disabled for the block."""
    pipeline_run.set_auto_start(sb, enabled=False)
    try:
        yield
    finally:
        pipeline_run.set_auto_start(sb, enabled=True)


def export_quietly(sb: Sandbox, export_id: str) -> dict[str, Any]:
    """Export (files, then the manifest) without the manifest's event starting a run."""
    with auto_start_off(sb):
        return pipeline_run.export(sb, DATASET, export_id)


def put_manifest(sb: Sandbox, export_id: str, body: bytes | dict[str, Any], dataset: str = DATASET) -> None:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    sb.client("s3").put_object(
        Bucket=sb.bucket, Key=f"exports/{dataset}/{export_id}/manifest.json", Body=data
    )


def clone_export(sb: Sandbox, base: dict[str, Any], export_id: str) -> dict[str, Any]:
    """Copy an export's data files to a new export id; return its manifest (not yet written)."""
    s3 = sb.client("s3")
    old = f"exports/{base['dataset']}/{base['export_id']}/"
    new = f"exports/{base['dataset']}/{export_id}/"
    text = json.dumps(base).replace(old, new)
    manifest: dict[str, Any] = json.loads(text)
    manifest["export_id"] = export_id
    for section in ("train", "validation", "score"):
        for key in section_keys(s3, sb.bucket, base[section]):
            s3.copy_object(
                Bucket=sb.bucket,
                Key=key.replace(old, new),
                CopySource={"Bucket": sb.bucket, "Key": key},
            )
    return manifest


def first_file(sb: Sandbox, manifest: dict[str, Any], section: str) -> str:
    """The key of a section's first data file (S3's key order)."""
    return section_keys(sb.client("s3"), sb.bucket, manifest[section])[0]


def rerun(sb: Sandbox, export_id: str, suffix: str = "rerun") -> pipeline_run.RunResult:
    """Re-run an export the documented way: a hand start with a new execution name."""
    return pipeline_run.start_by_hand(
        sb, {"manifest": manifest_uri(sb, export_id)}, name=f"{name_for(export_id)}-{suffix}"
    )


def start(sb: Sandbox, export_id: str, document: dict[str, Any] | None = None) -> pipeline_run.RunResult:
    """A hand start under the name StartPipeline would give the export."""
    return pipeline_run.start_by_hand(
        sb, document or {"manifest": manifest_uri(sb, export_id)}, name=name_for(export_id)
    )


# --- what a run left behind ------------------------------------------------------------------------

RUN_FIELDS = ("RUN_ID", "STATUS", "FAILED_STATE", "ERROR", "CAUSE", "ROWS_SCORED", "ROWS_LOADED", "DATASET")


def ml_run(sb: Sandbox, name: str) -> dict[str, Any]:
    """The one ML_RUNS row of the execution called ``name`` (fails the test if not exactly one)."""
    with sb.snowflake_connection() as connection:
        cursor = connection.cursor()
        cursor.execute(
            f"SELECT {', '.join(RUN_FIELDS)} FROM ML_RUNS WHERE EXECUTION_NAME = %s",
            (name,),
        )
        rows = cursor.fetchall()
    assert len(rows) == 1, f"ML_RUNS has {len(rows)} rows for {name}"
    return dict(zip(RUN_FIELDS, rows[0], strict=True))


def prediction_count(sb: Sandbox, export_id: str, run_id: str | None = None) -> int:
    """Prediction rows of an export (of one run when ``run_id`` is given)."""
    where = "EXPORT_ID = %s" + (" AND RUN_ID = %s" if run_id else "")
    binds = (export_id, run_id) if run_id else (export_id,)
    with sb.snowflake_connection() as connection:
        cursor = connection.cursor()
        cursor.execute(f"SELECT COUNT(*) FROM {PREDICTIONS_TABLE} WHERE {where}", binds)
        count: int = cursor.fetchone()[0]
    return count


def prediction_run_ids(sb: Sandbox, export_id: str) -> set[str]:
    with sb.snowflake_connection() as connection:
        cursor = connection.cursor()
        cursor.execute(
            f"SELECT DISTINCT RUN_ID FROM {PREDICTIONS_TABLE} WHERE EXPORT_ID = %s",
            (export_id,),
        )
        return {str(row[0]) for row in cursor.fetchall()}


def task_failures(sb: Sandbox, arn: str) -> list[tuple[str, str]]:
    """(state, error) for every failed task attempt, in order: the retries the ASL made."""
    failures: list[tuple[str, str]] = []
    state = ""
    for event in history(sb, arn):
        if event["type"].endswith("StateEntered"):
            state = event["stateEnteredEventDetails"]["name"]
        elif event["type"] in FAILURE_EVENTS:
            details = next(value for key, value in event.items() if key.endswith("EventDetails"))
            failures.append((state, str(details.get("error"))))
    return failures


def failures_in(sb: Sandbox, arn: str, state: str) -> list[str]:
    return [error for name, error in task_failures(sb, arn) if name == state]


def states_entered(result: pipeline_run.RunResult) -> list[str]:
    return [span.name for span in result.execution.spans]


def lambda_cause(result: pipeline_run.RunResult) -> dict[str, Any]:
    """The Lambda error document Step Functions keeps as the execution's cause."""
    assert result.execution.cause, "the execution has no cause"
    cause: dict[str, Any] = json.loads(result.execution.cause)
    return cause


def assert_failed_cleanly(
    sb: Sandbox,
    result: pipeline_run.RunResult,
    *,
    state: str,
    error: str,
    message: str | re.Pattern[str] | None = None,
    export_id: str | None = None,
) -> dict[str, Any]:
    """FAILED in ``state`` with ``error``; ML_RUNS says so; no predictions from this run.

    Returns the ML_RUNS row. ``message`` is a substring (or pattern) of the recorded cause.
    """
    execution = result.execution
    assert result.status == "FAILED", f"{execution.name}: {result.status}"
    # RunFailed re-raises the caught error prefixed (a Fail state may not raise States.*).
    assert execution.error == f"Snowsage.{error}", (execution.error, execution.cause)
    assert execution.failed_state == state, states_entered(result)
    # The failure branch ran: recorded, notified, then Fail with the original error.
    assert states_entered(result)[-3:] == list(FAILURE_PATH)
    run = ml_run(sb, execution.name)
    assert run["STATUS"] == "FAILED"
    assert run["FAILED_STATE"] == state
    assert run["ERROR"] == error
    if message is not None:
        cause = str(run["CAUSE"])
        if isinstance(message, re.Pattern):
            assert message.search(cause), cause
        else:
            assert message in cause, cause
    assert run["ROWS_LOADED"] is None
    if export_id is not None:
        assert prediction_count(sb, export_id, run_id=run["RUN_ID"]) == 0
    return run


def assert_one_copy(sb: Sandbox, result: pipeline_run.RunResult, export_id: str) -> None:
    """The run succeeded and the export has exactly one copy of its predictions: this run's."""
    assert result.status == "SUCCEEDED", (result.execution.error, result.execution.cause)
    scored = result.manifest.get("score", {}).get("rows") or result.rows_scored
    run_id = (result.execution.output or {})["plan"]["run_id"]
    assert result.rows_loaded == scored
    assert prediction_count(sb, export_id) == result.rows_loaded
    assert prediction_run_ids(sb, export_id) == {run_id}
    run = ml_run(sb, result.execution.name)
    assert (run["STATUS"], run["ROWS_LOADED"], run["FAILED_STATE"]) == ("SUCCEEDED", result.rows_loaded, None)


# --- faults ------------------------------------------------------------------------------------------


@contextmanager
def function_environment(sb: Sandbox, logical_id: str, **changes: str) -> Iterator[None]:
    """Change a deployed function's environment (UpdateFunctionConfiguration), then restore it.

    The handlers read their settings at cold start, so the sandbox's runtime is reset on both
    sides: the next invocation of every function is a cold start, as after a deployment.
    """
    lam = sb.client("lambda")
    name = sb.deployed.functions[logical_id]
    before = lam.get_function_configuration(FunctionName=name)["Environment"]["Variables"]
    lam.update_function_configuration(FunctionName=name, Environment={"Variables": {**before, **changes}})
    assert sb.runtime is not None
    sb.runtime.reset()
    try:
        yield
    finally:
        lam.update_function_configuration(FunctionName=name, Environment={"Variables": before})
        sb.runtime.reset()


def wait_for_deliveries() -> None:
    moto_patches.wait_for_event_deliveries()
