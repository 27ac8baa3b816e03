"""A training job's hosts as processes: each with its own /opt/ml (a bubblewrap mount namespace), the
entrypoint the request names, the failure file as FailureReason; the built-in algorithm in that layout."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sandbox.sagemaker import SageMakerEmulator
from tests.sandbox.emulator_helpers import (
    BUCKET,
    model_archive_files,
    put_training_data,
    training_request,
)

SHOW_OPT_ML = (
    "cd /opt/ml && find . -type f | sort && hostname && grep algo /etc/hosts && "
    "cat input/config/hyperparameters.json > model/hyperparameters.json && "
    'echo "$TRAINING_JOB_NAME $TRAINING_JOB_ARN" > output/data/report.txt'
)


def _entrypoint_request(script: str, **overrides: Any) -> dict[str, Any]:
    request = training_request(**overrides)
    request["AlgorithmSpecification"]["ContainerEntrypoint"] = ["/bin/bash"]
    request["AlgorithmSpecification"]["ContainerArguments"] = ["-c", script]
    return request


def test_the_entrypoint_runs_in_its_own_opt_ml_laid_out_as_sagemaker_does(
    s3: Any, emulator: SageMakerEmulator
) -> None:
    put_training_data(s3)
    request = _entrypoint_request(SHOW_OPT_ML)
    request["CheckpointConfig"] = {"S3Uri": f"s3://{BUCKET}/checkpoints/"}
    emulator.create_training_job(request)
    job = emulator.describe_training_job(request["TrainingJobName"])
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    log = emulator.training_log(job["TrainingJobName"])
    assert log[:6] == [
        "./input/config/checkpointconfig.json",
        "./input/config/hyperparameters.json",
        "./input/config/inputdataconfig.json",
        "./input/config/resourceconfig.json",
        "./input/data/train/part-0.csv",
        "./input/data/validation/part-0.csv",
    ]
    assert log[6:8] == ["algo-1", "127.0.0.1\talgo-1"]
    # The built-in algorithm's channels never ran: the entrypoint replaced the image's `train`.
    files = model_archive_files(s3, job["ModelArtifacts"]["S3ModelArtifacts"])
    assert json.loads(files["hyperparameters.json"]) == request["HyperParameters"]
    output = job["ModelArtifacts"]["S3ModelArtifacts"].replace("model.tar.gz", "output.tar.gz")
    name, arn = model_archive_files(s3, output)["report.txt"].decode().split()
    assert (name, arn) == (job["TrainingJobName"], job["TrainingJobArn"])
    assert not Path("/opt/ml/input/config/hyperparameters.json").exists()  # private to the namespace


def test_the_failure_file_is_the_failure_reason_and_an_exit_code_without_one(
    s3: Any, emulator: SageMakerEmulator
) -> None:
    put_training_data(s3)
    # The request's Environment reaches the container (API_CreateTrainingJob, Environment).
    written = _entrypoint_request('echo "$WHY" > /opt/ml/output/failure; exit 2')
    written["Environment"] = {"WHY": "bad labels in part-0.csv"}
    emulator.create_training_job(written)
    job = emulator.describe_training_job(written["TrainingJobName"])
    assert job["TrainingJobStatus"] == "Failed"
    assert job["FailureReason"] == "AlgorithmError: bad labels in part-0.csv\n"
    assert "ModelArtifacts" not in job
    silent = _entrypoint_request("exit 3", TrainingJobName="silent-exit")
    emulator.create_training_job(silent)
    assert emulator.describe_training_job("silent-exit")["FailureReason"] == "AlgorithmError: , exit code: 3"


def test_each_host_has_its_own_namespace_and_hostname(s3: Any, emulator: SageMakerEmulator) -> None:
    put_training_data(s3)
    request = _entrypoint_request(
        'h=$(hostname); echo "$h" > /opt/ml/model/$h; grep -c algo /etc/hosts; ls /opt/ml/model'
    )
    request["ResourceConfig"]["InstanceCount"] = 2
    emulator.create_training_job(request)
    job = emulator.describe_training_job(request["TrainingJobName"])
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    # Each host sees only its own model folder, and every host's name resolves.
    assert emulator.training_log(job["TrainingJobName"]) == ["2", "algo-1", "2", "algo-2"]
    files = model_archive_files(s3, job["ModelArtifacts"]["S3ModelArtifacts"])
    assert files == {"algo-1": b"algo-1\n", "algo-2": b"algo-2\n"}


def test_a_stopped_entrypoint_is_terminated(s3: Any, background: SageMakerEmulator) -> None:
    put_training_data(s3)
    request = _entrypoint_request("trap 'echo got SIGTERM; exit 0' TERM; while true; do sleep 0.1; done")
    background.create_training_job(request)
    background.stop_training_job(request["TrainingJobName"])
    job = background.wait(request["TrainingJobName"], timeout=120)
    assert job["TrainingJobStatus"] == "Stopped"
    assert "ModelArtifacts" not in job


def test_the_built_in_algorithm_leaves_its_model_in_opt_ml_model(
    s3: Any, emulator: SageMakerEmulator
) -> None:
    put_training_data(s3)
    emulator.create_training_job(training_request())
    job = emulator.describe_training_job("snowsage-run-train-0")
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    assert list(model_archive_files(s3, job["ModelArtifacts"]["S3ModelArtifacts"])) == ["xgboost-model"]


def test_an_object_lands_at_its_key_after_the_channels_prefix(s3: Any, emulator: SageMakerEmulator) -> None:
    # SDK v3 uploads its sm_drivers channel under a prefix without a trailing "/" and runs
    # /opt/ml/input/data/sm_drivers/sm_train.sh: the key after the prefix, whatever its last segment.
    put_training_data(s3)
    request = _entrypoint_request("cd /opt/ml/input/data && find . -type f | sort")
    request["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] = f"s3://{BUCKET}/data/train"
    request["InputDataConfig"][1]["DataSource"]["S3DataSource"]["S3Uri"] = (
        f"s3://{BUCKET}/data/validation/part-0.csv"
    )
    emulator.create_training_job(request)
    job = emulator.describe_training_job(request["TrainingJobName"])
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    assert emulator.training_log(job["TrainingJobName"]) == ["./train/part-0.csv", "./validation/part-0.csv"]
