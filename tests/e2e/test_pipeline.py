"""The whole loop through the sandbox: S3 event -> Step Functions -> SageMaker -> Snowflake.

The module's tests share one sandbox. Each run is a module fixture, made on first use: a test that
needs an earlier run (score_only needs the model the first run registered) asks for it, so every
test also passes alone.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sandbox import pipeline_run
from sandbox.aws import moto_patches
from sandbox.reference_runs import load_reference_data
from sandbox.services import Sandbox
from snowsage.names import execution_name, run_id_for
from snowsage.prices import PRICES
from tooling.sample_data import SAMPLE_DATASET

ASL = json.loads((Path(__file__).resolve().parents[2] / "statemachines" / "pipeline.asl.json").read_text())
EVENT = json.loads(
    (Path(__file__).resolve().parents[2] / "events/start_pipeline/manifest_created.json").read_text()
)
TABLE = "MERCHANT_RISK_PREDICTIONS"
EXPORT = "20261126t020000z"  # the first run's export (events/start_pipeline/manifest_created.json)
FAILING_EXPORT = "20261126t030000z"
MANIFEST = f"exports/{SAMPLE_DATASET}/{EXPORT}/manifest.json"


def run_id_of(export_id: str) -> str:
    return run_id_for(execution_name(SAMPLE_DATASET, export_id))


@pytest.fixture(scope="module")
def notices(sandbox: Sandbox) -> Callable[[], list[dict[str, Any]]]:
    """An SQS queue subscribed to the run notice topic: what an operator's subscription receives."""
    sqs = sandbox.client("sqs")
    url = sandbox.subscribe_queue("run-notices", raw=True)
    load_reference_data(sandbox)

    def received() -> list[dict[str, Any]]:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        for message in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return [{"body": message["Body"]} for message in messages]

    return received


def _query(sandbox: Sandbox, sql: str, binds: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
    with sandbox.snowflake_connection() as connection:
        cursor = connection.cursor()
        cursor.execute(sql, binds)
        return [tuple(row) for row in cursor.fetchall()]


def _rows_of_export(sandbox: Sandbox, export_id: str) -> list[tuple[Any, ...]]:
    return _query(
        sandbox,
        f"SELECT ID, SCORE, RUN_ID, MODEL_VERSION FROM {TABLE} WHERE EXPORT_ID = %(e)s",
        {"e": export_id},
    )


def _run_row(sandbox: Sandbox, run_id: str) -> dict[str, Any]:
    with sandbox.snowflake_connection() as connection:
        cursor = connection.cursor()
        cursor.execute("SELECT * FROM ML_RUNS WHERE RUN_ID = %(r)s", {"r": run_id})
        names = [column[0] for column in cursor.description]
        rows = cursor.fetchall()
    assert len(rows) == 1, rows
    return dict(zip(names, rows[0], strict=True))


def _assert_costed(sandbox: Sandbox, run: dict[str, Any], result: pipeline_run.RunResult) -> None:
    """COST_* in ML_RUNS: the emulator's BillableTimeInSeconds and transform times at us-east-1 prices."""
    assert sandbox.emulator is not None
    sagemaker = sandbox.client("sagemaker")
    training = sagemaker.describe_training_job(TrainingJobName=run["TRAINING_JOB"])
    transform = sagemaker.describe_transform_job(TransformJobName=run["TRANSFORM_JOB"])
    prices = PRICES["us-east-1"]
    training_type = training["ResourceConfig"]["InstanceType"]
    expected_training = (
        training["BillableTimeInSeconds"]
        * training["ResourceConfig"]["InstanceCount"]
        * prices.training_per_hour[training_type]
        / 3600
    )
    seconds = (transform["TransformEndTime"] - transform["TransformStartTime"]).total_seconds()
    resources = transform["TransformResources"]
    expected_transform = (
        seconds * resources["InstanceCount"] * prices.transform_per_hour[resources["InstanceType"]] / 3600
    )
    assert run["COST_TRAINING_USD"] == pytest.approx(expected_training)
    assert run["COST_TRANSFORM_USD"] == pytest.approx(expected_transform, rel=1e-3, abs=1e-9)
    assert run["COST_STEP_FUNCTIONS_USD"] > 0 and run["COST_LAMBDA_USD"] > 0
    # LoadPredictions' and PublishModel's statements in fakesnow: the warehouse part (snowsage.cost)
    assert run["WAREHOUSE_SECONDS"] > 0 and run["COST_WAREHOUSE_USD"] > 0
    parts = (
        "COST_TRAINING_USD",
        "COST_TRANSFORM_USD",
        "COST_STEP_FUNCTIONS_USD",
        "COST_LAMBDA_USD",
        "COST_WAREHOUSE_USD",
    )
    assert run["COST_USD"] == pytest.approx(sum(run[part] for part in parts))
    assert result.cost is not None and result.cost["cost_usd"] == pytest.approx(run["COST_USD"])


@pytest.fixture(scope="module")
def first_run(sandbox: Sandbox, notices: Any) -> pipeline_run.RunResult:
    """The export's S3 event starts a train_and_score run: the model later runs use."""
    return pipeline_run.run_from_export(sandbox, SAMPLE_DATASET, export_id=EXPORT)


@pytest.fixture(scope="module")
def rescored(sandbox: Sandbox, first_run: pipeline_run.RunResult) -> pipeline_run.RunResult:
    """A score_only run started by hand on the first run's export."""
    manifest = f"s3://{sandbox.bucket}/{MANIFEST}"
    return pipeline_run.start_by_hand(
        sandbox, {"manifest": manifest, "mode": "score_only"}, name="rescore-by-hand"
    )


@pytest.fixture(scope="module")
def training_failure(sandbox: Sandbox, notices: Any) -> pipeline_run.RunResult:
    assert sandbox.emulator is not None
    sandbox.emulator.faults.fail_next_training("AlgorithmError: out of memory (injected)")
    return pipeline_run.run_from_export(sandbox, SAMPLE_DATASET, export_id=FAILING_EXPORT)


@pytest.fixture(scope="module")
def load_failure(
    sandbox: Sandbox, first_run: pipeline_run.RunResult
) -> tuple[pipeline_run.RunResult, list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """A score_only run whose load fails (a column renamed away): the run, the rows before and after."""
    before = sorted(_rows_of_export(sandbox, EXPORT))
    manifest = f"s3://{sandbox.bucket}/{MANIFEST}"
    _query(sandbox, f"ALTER TABLE {TABLE} RENAME COLUMN MODEL_VERSION TO MODEL_VERSION_MOVED")
    try:
        result = pipeline_run.start_by_hand(
            sandbox, {"manifest": manifest, "mode": "score_only"}, name="rescore-broken-table"
        )
    finally:
        _query(sandbox, f"ALTER TABLE {TABLE} RENAME COLUMN MODEL_VERSION_MOVED TO MODEL_VERSION")
    return result, before, sorted(_rows_of_export(sandbox, EXPORT))


def test_train_and_score_starts_from_the_s3_event(
    sandbox: Sandbox, notices: Callable[[], list[dict[str, Any]]], first_run: pipeline_run.RunResult
) -> None:
    result, run_id = first_run, run_id_of(EXPORT)
    assert result.status == "SUCCEEDED", (result.execution.error, result.execution.cause)
    assert result.execution.name == execution_name(SAMPLE_DATASET, EXPORT)
    assert result.metric["name"] == "validation:auc"
    assert result.metric["value"] > 0.75
    assert result.rows_scored == result.manifest["score"]["rows"] == result.rows_loaded
    rows = _rows_of_export(sandbox, EXPORT)
    assert len(rows) == result.rows_loaded
    assert {row[3] for row in rows} == {"1"}
    assert all(0.0 <= row[1] <= 1.0 for row in rows)
    run = _run_row(sandbox, run_id)
    assert (run["STATUS"], run["ROWS_LOADED"], run["PROMOTED"]) == ("SUCCEEDED", result.rows_loaded, True)
    assert run["MODEL_PACKAGE_ARN"].endswith("/snowsage-merchant-risk/1")
    _assert_costed(sandbox, run, result)
    sent = [json.loads(notice["body"]) for notice in notices()]
    assert {"status": "SUCCEEDED", "run_id": run_id}.items() <= next(
        notice for notice in sent if notice.get("run_id") == run_id
    ).items(), sent


def test_score_only_uses_the_model_the_first_run_registered(
    sandbox: Sandbox, rescored: pipeline_run.RunResult
) -> None:
    result = rescored
    assert result.status == "SUCCEEDED", (result.execution.error, result.execution.cause)
    visited = {span.name for span in result.execution.spans}
    assert "Train" not in visited and "SelectModel" in visited
    assert (result.execution.output or {})["model"]["model_version"] == 1
    rows = _rows_of_export(sandbox, EXPORT)
    assert len(rows) == result.rows_loaded, "a re-run of an export replaces its rows"
    assert {row[2] for row in rows} == {"rescore-by-hand"}


def test_a_replayed_event_starts_no_second_execution(
    sandbox: Sandbox, first_run: pipeline_run.RunResult
) -> None:
    for _ in range(3):
        pipeline_run.replay_event(sandbox, EVENT)
    moto_patches.wait_for_event_deliveries()
    assert pipeline_run.executions_for(sandbox, execution_name(SAMPLE_DATASET, EXPORT)) == 1
    starts = (
        [i for i in sandbox.runtime.invocations if "StartPipeline" in i.function] if sandbox.runtime else []
    )
    assert [json.loads(i.payload)["status"] for i in starts][-3:] == ["duplicate"] * 3


def test_a_training_failure_is_recorded_and_notified_and_loads_nothing(
    sandbox: Sandbox, notices: Callable[[], list[dict[str, Any]]], training_failure: pipeline_run.RunResult
) -> None:
    result = training_failure
    assert result.status == "FAILED"
    assert result.execution.failed_state == "Train"
    # A Fail state may not raise States.* (concepts-error-handling): the caught name, prefixed.
    assert result.execution.error == "Snowsage.States.TaskFailed", result.execution.cause
    run = _run_row(sandbox, run_id_of(FAILING_EXPORT))
    assert (run["STATUS"], run["FAILED_STATE"], run["ERROR"]) == ("FAILED", "Train", "States.TaskFailed")
    assert "out of memory (injected)" in run["CAUSE"]
    assert _rows_of_export(sandbox, FAILING_EXPORT) == []
    bodies = [notice["body"] for notice in notices()]
    assert any("States.TaskFailed" in body for body in bodies), bodies


def test_a_load_failure_rolls_back_and_keeps_the_earlier_rows(
    sandbox: Sandbox,
    load_failure: tuple[pipeline_run.RunResult, list[tuple[Any, ...]], list[tuple[Any, ...]]],
) -> None:
    result, before, after = load_failure
    assert result.status == "FAILED"
    assert result.execution.failed_state == "LoadPredictions"
    assert before and after == before, "no partial rows: the delete rolled back"
    assert _run_row(sandbox, "rescore-broken-table")["STATUS"] == "FAILED"


def test_these_runs_visit_every_state_of_the_definition(
    first_run: pipeline_run.RunResult,
    rescored: pipeline_run.RunResult,
    training_failure: pipeline_run.RunResult,
    load_failure: tuple[pipeline_run.RunResult, list[tuple[Any, ...]], list[tuple[Any, ...]]],
) -> None:
    """A state added to the ASL that no sandbox run reaches fails here (and must get a test)."""
    runs = (first_run, rescored, training_failure, load_failure[0])
    visited = {span.name for run in runs for span in run.execution.spans}
    # Left out, each with tests of its own: NotificationFailed (tests/reliability), Tune and TuneWarm
    # (test_tuning.py), TrainInSnowflake (test_snowflake_engine.py), PublishForScoring and
    # ScoreInSnowflake (test_scoring_engine.py), the real-time endpoint's states (test_endpoint.py).
    endpoint = {
        "CreateEndpointModel",
        "DeployEndpoint",
        "RemoveEndpoint",
        "IsEndpointChanging",
        "StartEndpointWait",
        "WaitForEndpoint",
        "SettleEndpoint",
        "CountEndpointPoll",
        "IsEndpointSettled",
    }
    left_out = {
        "NotificationFailed",
        "Tune",
        "TuneWarm",
        "TrainInSnowflake",
        "PublishForScoring",
        "ScoreInSnowflake",
        *endpoint,
    }
    assert set(ASL["States"]) - visited == left_out
