"""COST_USD's parts end to end in the sandbox (issue 16): a tuned run's training is the sum of its
trials' billed seconds at list prices, and the run's Snowflake statements are its warehouse part.

Tests in this module share one sandbox and run in order (the tuned run reuses the first export).
"""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from sandbox import pipeline_run
from sandbox.reference_runs import load_reference_data
from sandbox.services import Sandbox
from sandbox.snowflake import functions
from snowsage.prices import DEFAULT_CREDIT_PRICE_USD, PRICES, WAREHOUSE_CREDITS_PER_HOUR
from tooling.sample_data import SAMPLE_DATASET

EXPORT = "20261127t090000z"
PARTS = (
    "COST_TRAINING_USD",
    "COST_TRANSFORM_USD",
    "COST_STEP_FUNCTIONS_USD",
    "COST_LAMBDA_USD",
    "COST_WAREHOUSE_USD",
)
TUNING = {
    "max_jobs": 3,
    "max_parallel_jobs": 2,
    "strategy": "Random",
    "ranges": {"eta": [0.1, 0.5], "max_depth": [2, 5]},
}
# The template's defaults, which the sandbox deploys: SnowflakeWarehouseSize, SnowflakeCreditPriceUsd.
USD_PER_WAREHOUSE_SECOND = WAREHOUSE_CREDITS_PER_HOUR["XSMALL"] / 3600 * DEFAULT_CREDIT_PRICE_USD


@pytest.fixture(scope="module", autouse=True)
def _reference_data(sandbox: Sandbox) -> None:
    load_reference_data(sandbox)


def _run_row(sandbox: Sandbox, run_id: str) -> dict[str, Any]:
    with sandbox.snowflake_connection() as connection:
        cursor = connection.cursor()
        cursor.execute("SELECT * FROM ML_RUNS WHERE RUN_ID = %(r)s", {"r": run_id})
        names = [column[0] for column in cursor.description]
        (row,) = cursor.fetchall()
    return dict(zip(names, row, strict=True))


def _warehouse_seconds(output: dict[str, Any]) -> float:
    """What the run's Snowflake Lambdas reported in the state (TrainInSnowflake, the gate's champion
    scoring, load, publish)."""
    return sum(
        float((output.get(section) or {}).get("warehouse_seconds") or 0.0)
        for section in ("training", "evaluation", "load", "published")
    )


def _assert_parts_add_up(run: dict[str, Any], output: dict[str, Any]) -> None:
    assert run["WAREHOUSE_SECONDS"] == pytest.approx(_warehouse_seconds(output))
    assert run["WAREHOUSE_SECONDS"] > 0  # LoadPredictions ran its COPY and INSERT in fakesnow
    assert run["COST_WAREHOUSE_USD"] == pytest.approx(run["WAREHOUSE_SECONDS"] * USD_PER_WAREHOUSE_SECOND)
    assert run["COST_USD"] == pytest.approx(sum(run[part] or 0.0 for part in PARTS))


def test_a_tuned_runs_training_cost_is_the_hand_sum_of_its_trials(sandbox: Sandbox) -> None:
    untuned = pipeline_run.run_from_export(sandbox, SAMPLE_DATASET, export_id=EXPORT)
    assert untuned.status == "SUCCEEDED", untuned.execution.cause
    assert sandbox.emulator is not None
    sandbox.emulator.faults.fail_next_training("AlgorithmError: injected failure")  # billed all the same
    tuned = pipeline_run.start_by_hand(
        sandbox,
        {
            "manifest": f"s3://{sandbox.bucket}/exports/{SAMPLE_DATASET}/{EXPORT}/manifest.json",
            "tuning": TUNING,
        },
        name="tuned-for-its-cost",
        manifest=untuned.manifest,
    )
    assert tuned.status == "SUCCEEDED", tuned.execution.cause
    output: Any = tuned.execution.output
    sagemaker = sandbox.client("sagemaker")
    trials = sagemaker.list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=output["training"]["tuning_job"], MaxResults=100
    )["TrainingJobSummaries"]
    prices = PRICES["us-east-1"].training_per_hour
    by_hand = 0.0
    for summary in trials:
        job = sagemaker.describe_training_job(TrainingJobName=summary["TrainingJobName"])
        resources = job["ResourceConfig"]
        by_hand += (
            job["BillableTimeInSeconds"]
            * resources["InstanceCount"]
            * prices[resources["InstanceType"]]
            / 3600
        )
    assert len(trials) == 3 and {t["TrainingJobStatus"] for t in trials} == {"Completed", "Failed"}

    run = _run_row(sandbox, output["plan"]["run_id"])
    assert run["TUNING_TRIALS"] == 3
    assert run["COST_TRAINING_USD"] == pytest.approx(by_hand)
    # Not the best trial alone: the one training job of the untuned run costs less than the three.
    assert (
        run["COST_TRAINING_USD"]
        > _run_row(sandbox, untuned.execution.output["plan"]["run_id"])["COST_TRAINING_USD"]
    )  # type: ignore[index]
    _assert_parts_add_up(run, output)
    assert tuned.cost is not None and tuned.cost["tuning_trials"] == 3


snowpark = pytest.mark.skipif(
    subprocess.run(
        [str(functions.runtime_python()), "-c", "import snowflake.snowpark"], capture_output=True, check=False
    ).returncode
    != 0,
    reason="the Snowflake-runtime venv lacks snowflake-snowpark-python: rebuild it (make venv)",
)


@snowpark
def test_the_snowflake_engine_bills_its_procedure_in_the_warehouse_part(sandbox: Sandbox) -> None:
    result = pipeline_run.start_by_hand(
        sandbox,
        {
            "manifest": f"s3://{sandbox.bucket}/exports/{SAMPLE_DATASET}/{EXPORT}/manifest.json",
            "training_engine": "SNOWFLAKE",
        },
        name="trained-in-the-warehouse",
    )
    assert result.status == "SUCCEEDED", result.execution.cause
    output: Any = result.execution.output
    assert output["training"]["warehouse_seconds"] > 0  # CALL TRAIN_MODEL and COPY FILES
    run = _run_row(sandbox, output["plan"]["run_id"])
    assert run["COST_TRAINING_USD"] is None and run["TUNING_TRIALS"] is None  # no SageMaker training
    assert run["WAREHOUSE_SECONDS"] >= output["training"]["warehouse_seconds"]
    _assert_parts_add_up(run, output)
