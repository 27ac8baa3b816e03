"""The emulator on the sandbox's in-process S3 client (sandbox/aws/moto_s3.py), and its Describe*
copies of EmulatorInstances (100,000 objects)."""

from __future__ import annotations

from typing import Any

from sandbox.aws.moto_s3 import InProcessS3Client
from sandbox.sagemaker import SageMakerEmulator
from tests.sandbox.emulator_helpers import (
    BUCKET,
    csv_text,
    get,
    make_rows,
    put,
    put_training_data,
    trained_model,
    training_request,
    transform_request,
)


def test_a_job_on_the_in_process_client_reads_and_writes_the_same_objects(s3: Any) -> None:
    emulator = SageMakerEmulator(InProcessS3Client(s3), background=False)
    put_training_data(s3)
    trained_model(emulator, s3)
    x, _ = make_rows(30, 3)
    for part in range(3):
        put(s3, f"score/part-{part}.csv", csv_text(x[part::3]))
    emulator.create_transform_job(transform_request())
    job = emulator.describe_transform_job("snowsage-run-score-0")
    assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
    outputs = [get(s3, f"pred/part-{part}.csv.out").splitlines() for part in range(3)]
    assert [len(lines) for lines in outputs] == [10, 10, 10]


def test_describe_hands_out_copies_of_the_instances_object_lists(s3: Any) -> None:
    emulator = SageMakerEmulator(s3, background=False)
    put_training_data(s3)
    emulator.create_training_job(training_request())
    first = emulator.describe_training_job("snowsage-run-train-0")
    assert first["TrainingJobStatus"] == "Completed", first.get("FailureReason")
    listed = first["EmulatorInstances"][0]["Channels"]["train"]
    assert listed and all(uri.startswith(f"s3://{BUCKET}/") for uri in listed)
    listed.append("s3://elsewhere/changed")
    first["EmulatorInstances"][0]["Host"] = "changed"
    again = emulator.describe_training_job("snowsage-run-train-0")
    assert again["EmulatorInstances"][0]["Host"] == "algo-1"
    assert "s3://elsewhere/changed" not in again["EmulatorInstances"][0]["Channels"]["train"]
