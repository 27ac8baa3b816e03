"""Hyperparameter tuning end to end: a dataset's TUNING (or a run's ``tuning`` input) runs a
tuning job whose trials really train in the emulator; its best trial is gated, registered, scored and
loaded like a trained model; a failed trial among good ones does not fail the run; bad tuning settings
are refused in PrepareRun, naming the field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sandbox import pipeline_run
from sandbox.aws import moto_patches
from sandbox.services import Sandbox
from tests.e2e.test_cli import REGISTRY_ROW, run_cli, sensor_dataset_sql

DATASET = "pump_failure"
TUNING = {
    "max_jobs": 8,
    "max_parallel_jobs": 2,
    "strategy": "Random",
    "ranges": {"eta": [0.05, 0.5], "max_depth": [2, 6], "min_child_weight": [0.5, 4]},
}


def tuned_sql(tuning: dict[str, Any] = TUNING) -> str:
    """The pump dataset (binary, judged by validation:auc), with its TUNING set by an UPDATE."""
    return (
        sensor_dataset_sql()
        + f"\nUPDATE ML_DATASETS SET TUNING = '{json.dumps(tuning)}' WHERE NAME = '{DATASET}';\n"
    )


def test_a_tuned_run_from_the_cli(tmp_path: Path) -> None:
    sql = tmp_path / "pump_tuned.sql"
    sql.write_text(tuned_sql())
    code, result, stderr = run_cli("run", "--setup-sql", str(sql), "--dataset", DATASET)
    assert code == 0, stderr[-3000:]
    assert result["status"] == "SUCCEEDED", result.get("cause")
    tuning: Any = result["tuning"]
    assert tuning["trials"] == 8
    assert tuning["best_job"].startswith(f"{tuning['job']}-")
    metric: Any = result["metric"]
    assert metric["name"] == "validation:auc"
    assert tuning["best_objective"] == metric["value"]
    assert result["rows_loaded"] == result["rows_scored"] == 600


def _package_metadata(sandbox: Sandbox, arn: str) -> dict[str, str]:
    package = sandbox.client("sagemaker").describe_model_package(ModelPackageName=arn)
    return dict(package.get("CustomerMetadataProperties") or {})


def test_tuning_on_the_same_export_is_as_good_as_one_job_and_survives_a_failed_trial(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    sql = tmp_path / "pump.sql"
    sql.write_text(sensor_dataset_sql())
    pipeline_run.apply_user_sql(sandbox, [sql])
    untuned = pipeline_run.run_from_export(sandbox, DATASET, export_id="20261127t120000z")
    assert untuned.status == "SUCCEEDED", untuned.execution.cause
    assert untuned.tuning is None
    assert "tuning" not in (untuned.execution.output or {})["plan"]["model"]["sources"]

    # The same export again, tuned by the run's input; one trial fails inside the container.
    assert sandbox.emulator is not None
    sandbox.emulator.faults.fail_next_training("AlgorithmError: injected failure")
    tuned = pipeline_run.start_by_hand(
        sandbox,
        {
            "manifest": f"s3://{sandbox.bucket}/exports/{DATASET}/20261127t120000z/manifest.json",
            "tuning": TUNING,
        },
        name="pump-failure-tuned-by-hand",
        manifest=untuned.manifest,
    )
    assert tuned.status == "SUCCEEDED", tuned.execution.cause
    output: Any = tuned.execution.output
    assert output["plan"]["model"]["sources"]["tuning"] == "execution input"
    counters = output["training"]["trials"]
    assert counters["NonRetryableError"] == 1 and counters["Completed"] == 7
    summary: Any = tuned.tuning
    assert summary["trials"] == 8
    # Tuning finds a model at least as good as the one job (within 0.01 of its auc).
    assert summary["best_objective"] >= untuned.metric["value"] - 0.01

    trials = sandbox.client("sagemaker").list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=summary["job"], StatusEquals="Failed"
    )["TrainingJobSummaries"]
    assert [t["FailureReason"] for t in trials] == ["AlgorithmError: injected failure"]

    # The package records the tuning job and the winning values.
    metadata = _package_metadata(sandbox, output["model"]["model_package_arn"])
    assert metadata["tuning_job"] == summary["job"]
    assert metadata["training_job"] == summary["best_job"]
    winning = output["training"]["tuned_hyperparameters"]
    assert {key: metadata[f"tuned.{key}"] for key in winning} == winning
    assert set(winning) == set(TUNING["ranges"])  # type: ignore[arg-type]


def test_bad_tuning_input_is_refused_naming_the_field(sandbox: Sandbox, tmp_path: Path) -> None:
    sql = tmp_path / "pump.sql"
    sql.write_text(sensor_dataset_sql())
    pipeline_run.apply_user_sql(sandbox, [sql])
    document = {
        "manifest": f"s3://{sandbox.bucket}/exports/{DATASET}/20261127t130000z/manifest.json",
        "tuning": {**TUNING, "ranges": {"max_depth": [6, 2]}},
    }
    manifest = pipeline_run.export_for_input(sandbox, document)
    refused = pipeline_run.start_by_hand(sandbox, document, name="pump-failure-bad-tuning", manifest=manifest)
    assert refused.status == "FAILED"
    assert refused.execution.failed_state == "PrepareRun"
    assert refused.execution.error == "Snowsage.InvalidModelSettings"
    assert "execution input 'tuning'.ranges.max_depth [6, 2] is empty or inverted" in str(
        refused.execution.cause
    )


def test_a_tuning_job_whose_trials_all_fail_fails_the_run_in_tune(sandbox: Sandbox, tmp_path: Path) -> None:
    sql = tmp_path / "pump.sql"
    sql.write_text(sensor_dataset_sql())
    pipeline_run.apply_user_sql(sandbox, [sql])
    document = {
        "manifest": f"s3://{sandbox.bucket}/exports/{DATASET}/20261127t140000z/manifest.json",
        "tuning": {**TUNING, "max_jobs": 2},
    }
    manifest = pipeline_run.export_for_input(sandbox, document)
    assert sandbox.emulator is not None
    for _ in range(2):
        sandbox.emulator.faults.fail_next_training("AlgorithmError: injected failure")
    failed = pipeline_run.start_by_hand(
        sandbox, document, name="pump-failure-all-trials-fail", manifest=manifest
    )
    assert failed.status == "FAILED"
    assert (failed.execution.failed_state, failed.execution.error) == ("Tune", "Snowsage.States.TaskFailed")
    assert "All training jobs failed. One failed with: AlgorithmError: injected failure" in str(
        failed.execution.cause
    )


def test_the_next_run_warm_starts_from_the_champions_tuning_job(sandbox: Sandbox, tmp_path: Path) -> None:
    """warm_start: the first run has no champion and tunes cold, saying so; its model is Approved and
    the next run of the dataset (a new export) warm-starts from its tuning job, TransferLearning. A
    dataset of its own (the pump views under another name): no champion from the other tests."""
    sql = tmp_path / "pump.sql"
    sql.write_text(sensor_dataset_sql() + REGISTRY_ROW.replace("'pump_failure'", "'pump_warm'"))
    pipeline_run.apply_user_sql(sandbox, [sql])
    warm = {**TUNING, "max_jobs": 4, "warm_start": True, "early_stopping": "Auto"}
    results = []
    for export_id in ("20261127t150000z", "20261127t160000z"):
        document = {
            "manifest": f"s3://{sandbox.bucket}/exports/pump_warm/{export_id}/manifest.json",
            "tuning": warm,
        }
        manifest = pipeline_run.export_for_input(sandbox, document)
        result = pipeline_run.start_by_hand(
            sandbox, document, name=f"pump-warm-{export_id}", manifest=manifest
        )
        assert result.status == "SUCCEEDED", result.execution.cause
        results.append(result)
    first, second = results
    assert first.tuning is not None and second.tuning is not None
    assert first.tuning["warm_start"] == "tuning cold: no Approved model package in snowsage-pump-warm yet"
    assert first.gate["promoted"] is True
    assert [span.name for span in first.execution.spans].count("Tune") == 1

    parent = first.tuning["job"]
    assert second.tuning["warm_start"] == (
        f"warm start (TransferLearning) from champion v1's tuning job {parent}"
    )
    assert "TuneWarm" in [span.name for span in second.execution.spans]
    described = sandbox.client("sagemaker").describe_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=second.tuning["job"]
    )
    assert described["WarmStartConfig"] == {
        "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": parent}],
        "WarmStartType": "TransferLearning",
    }
    assert second.tuning["trials"] == 4


def test_a_warm_start_sagemaker_refuses_anyway_tunes_cold_and_says_why(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """The limits pages disagree (750 trials in all, automatic-model-tuning-limits; parents against
    "the 500 maximum", automatic-model-tuning-warm-start): when CreateHyperParameterTuningJob refuses
    the planned warm start, TuneWarm's retries end in its Catch and the run tunes cold in Tune."""
    sql = tmp_path / "pump.sql"
    sql.write_text(sensor_dataset_sql() + REGISTRY_ROW.replace("'pump_failure'", "'pump_refused'"))
    pipeline_run.apply_user_sql(sandbox, [sql])
    warm = {**TUNING, "max_jobs": 3, "warm_start": True}
    message = "Total number of training jobs across all parent jobs and this job exceeds 500"
    results = []
    for export_id in ("20261128t150000z", "20261128t160000z"):
        document = {
            "manifest": f"s3://{sandbox.bucket}/exports/pump_refused/{export_id}/manifest.json",
            "tuning": warm,
        }
        manifest = pipeline_run.export_for_input(sandbox, document)
        if results:  # the second run plans a warm start: SageMaker refuses it on every attempt
            sandbox.emulator.faults.fail_create(
                "create_hyper_parameter_tuning_job", "ValidationException", message, times=3
            )
        with moto_patches.RetrySleepRecorder() as sleeps:
            result = pipeline_run.start_by_hand(
                sandbox, document, name=f"pump-refused-{export_id}", manifest=manifest
            )
        assert result.status == "SUCCEEDED", result.execution.cause
        results.append((result, sleeps.retry_delays))
    (first, _), (second, delays) = results
    assert second.tuning is not None and second.tuning["warm_start"].startswith(
        "warm start (TransferLearning)"
    )
    states = [span.name for span in second.execution.spans]
    assert states.count("TuneWarm") == 1 and states.count("Tune") == 1  # one Task state, retried, then cold
    assert len(delays) == 2  # TuneWarm's two retries, then its Catch
    assert message in (second.tuning["warm_start_refused"] or "")
    assert first.tuning is not None and first.tuning["warm_start_refused"] is None
    described = sandbox.client("sagemaker").describe_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=second.tuning["job"]
    )
    assert "WarmStartConfig" not in described  # cold
    assert second.tuning["trials"] == 3
