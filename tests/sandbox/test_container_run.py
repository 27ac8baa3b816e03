"""Whole runs through the sandbox show the container's behaviour: its artifact, its failures.

The default image (template.yaml: sagemaker-xgboost 1.7-1) writes the legacy binary model of
xgboost 1.7.4 (aws/sagemaker-xgboost-container 1.7-1, src/sagemaker_xgboost_container/algorithm_mode/
train.py:423); a hyperparameter the container does not know fails the training job inside the
container (src/sagemaker_algorithm_toolkit/hyperparameter_validation.py:278), not at CreateTrainingJob.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import numpy as np
import pytest

from sandbox import pipeline_run
from sandbox.reference_runs import load_reference_data
from sandbox.services import Sandbox
from sandbox.snowflake.export import section_keys
from snowsage.names import run_id_for
from tests.sandbox.emulator_helpers import ReferenceModel, artifact_bytes
from tooling.sample_data import SAMPLE_DATASET

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as running:
        load_reference_data(running)
        yield running


def _keys(sandbox: Sandbox, suffix: str) -> list[str]:
    pages = sandbox.client("s3").get_paginator("list_objects_v2").paginate(Bucket=sandbox.bucket)
    return [o["Key"] for page in pages for o in page.get("Contents", []) if o["Key"].endswith(suffix)]


def _body(sandbox: Sandbox, key: str) -> bytes:
    body: bytes = sandbox.client("s3").get_object(Bucket=sandbox.bucket, Key=key)["Body"].read()
    return body


def test_the_demo_artifact_is_legacy_binary_and_xgboost_1_7_4_gives_the_transforms_scores(
    sandbox: Sandbox,
) -> None:
    result = pipeline_run.run_from_export(sandbox, SAMPLE_DATASET, export_id="20261127t010000z")
    assert result.status == "SUCCEEDED", (result.execution.error, result.execution.cause)
    [model_key] = _keys(sandbox, "/output/model.tar.gz")
    raw = artifact_bytes(sandbox.client("s3"), f"s3://{sandbox.bucket}/{model_key}", bucket=sandbox.bucket)
    assert raw.startswith(b"binf")  # xgboost 1.7.4's save_model without an extension
    model = ReferenceModel(raw, "1.7.4")
    transformed: dict[str, float] = {}
    for key in _keys(sandbox, ".out"):
        for line in _body(sandbox, key).decode().splitlines():
            identifier, score = line.split(",")
            transformed[identifier] = float(score)
    ids: list[str] = []
    rows: list[np.ndarray] = []
    for key in section_keys(sandbox.client("s3"), sandbox.bucket, result.manifest["score"]):
        text = _body(sandbox, key).decode()
        for line in text.splitlines():
            identifier, _, features = line.partition(",")
            ids.append(identifier)
            rows.append(np.genfromtxt(io.StringIO(features), delimiter=",", dtype=np.float32).reshape(1, -1))
    assert ids and len(transformed) == len(ids)
    predicted = model.inplace_predict(np.vstack(rows))
    difference = np.abs(np.array([transformed[i] for i in ids]) - predicted.astype(np.float64))
    assert float(difference.max()) <= 1e-6


def test_an_unknown_hyperparameter_starts_the_job_which_fails_and_ml_runs_records_it(
    sandbox: Sandbox,
) -> None:
    uri = f"s3://{sandbox.bucket}/exports/{SAMPLE_DATASET}/20261127t020000z/manifest.json"
    manifest = pipeline_run.export_for_input(sandbox, {"manifest": uri})
    document = {"manifest": uri, "hyperparameters": {"foo": "1"}}
    result = pipeline_run.start_by_hand(sandbox, document, name="unknown-hyperparameter", manifest=manifest)
    assert result.status == "FAILED"
    assert result.execution.failed_state == "Train"
    assert sandbox.emulator is not None
    # The API accepted CreateTrainingJob; the job started and failed inside the container.
    jobs = [
        sandbox.emulator.describe_training_job(name)
        for name in list(sandbox.emulator._training)
        if sandbox.emulator.describe_training_job(name)["HyperParameters"].get("foo") == "1"
    ]
    assert [(job["TrainingJobStatus"], "TrainingStartTime" in job) for job in jobs] == [("Failed", True)]
    assert jobs[0]["FailureReason"].startswith("AlgorithmError: framework error: ")
    assert "Extraneous hyperparameter found: foo" in jobs[0]["FailureReason"]
    with sandbox.snowflake_connection() as connection:
        cursor = connection.cursor()
        cursor.execute(
            "SELECT STATUS, FAILED_STATE, CAUSE FROM ML_RUNS WHERE RUN_ID = %(r)s",
            {"r": run_id_for("unknown-hyperparameter")},
        )
        rows = cursor.fetchall()
    assert len(rows) == 1, rows
    status, failed_state, cause = rows[0]
    assert (status, failed_state) == ("FAILED", "Train")
    assert "Extraneous hyperparameter found: foo" in cause
