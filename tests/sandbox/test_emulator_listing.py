"""ListTrainingJobs, ListTransformJobs, ListModels and ListHyperParameterTuningJobs over the emulator's
records, through the sandbox's SageMaker API (botocore's model, moto's serializer): filters, order, pages."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from sandbox.aws.moto_patches import installed_patches
from sandbox.sagemaker import SageMakerEmulator
from tests.sandbox.conftest import allow_all_role
from tests.sandbox.emulator_helpers import BUCKET, IMAGE, ROLE, put, training_request
from tests.sandbox.test_emulator_tuning import tuning_request


class _NoLambdas:
    def invoke(self, fn: Any, event: Any) -> tuple[str, bool, str]:
        raise AssertionError("no Lambda runs here")


def _admin(service: str) -> Any:
    # The sandbox enforces IAM: its administrator's key, not the fake one moto puts in the environment.
    return boto3.client(
        service, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )


@pytest.fixture
def emulator(s3: Any, endpoint_url: str) -> SageMakerEmulator:
    """The emulator's S3 calls go through the patched S3 too: as the administrator."""
    return SageMakerEmulator(_admin("s3"), background=False, endpoint_url=endpoint_url)


@pytest.fixture
def api(s3: Any, emulator: SageMakerEmulator) -> Iterator[Any]:
    with installed_patches(emulator=emulator, lambda_runtime=_NoLambdas()):
        iam = _admin("iam")
        role = ROLE.rsplit("/", 1)[-1]
        if role not in [r["RoleName"] for r in iam.list_roles()["Roles"]]:
            allow_all_role(iam, role)  # a job runs as its role: it must exist and SageMaker assume it
        yield _admin("sagemaker")


def _failed_jobs(emulator: SageMakerEmulator, *names: str) -> None:
    """Training jobs that end at once (an injected failure): records without the cost of training."""
    for name in names:
        emulator.faults.fail_next_training()
        emulator.create_training_job(training_request(name))
        time.sleep(0.01)  # distinct CreationTimes, so the order is the creation order


def _names(summaries: list[dict[str, Any]], key: str = "TrainingJobName") -> list[str]:
    return [summary[key] for summary in summaries]


def test_training_jobs_are_listed_sorted_filtered_and_paged(api: Any, emulator: SageMakerEmulator) -> None:
    _failed_jobs(emulator, "job-a", "job-b", "other-c")
    listed = api.list_training_jobs()["TrainingJobSummaries"]
    assert _names(listed) == ["job-a", "job-b", "other-c"]  # CreationTime, Ascending by default
    assert set(listed[0]) == {
        "TrainingJobName",
        "TrainingJobArn",
        "CreationTime",
        "TrainingEndTime",
        "LastModifiedTime",
        "TrainingJobStatus",
        "SecondaryStatus",
    }
    assert listed[0]["TrainingJobStatus"] == "Failed"
    assert _names(api.list_training_jobs(NameContains="job-")["TrainingJobSummaries"]) == ["job-a", "job-b"]
    by_name = api.list_training_jobs(SortBy="Name", SortOrder="Descending")["TrainingJobSummaries"]
    assert _names(by_name) == ["other-c", "job-b", "job-a"]
    first = api.list_training_jobs(MaxResults=2)
    assert _names(first["TrainingJobSummaries"]) == ["job-a", "job-b"]
    rest = api.list_training_jobs(MaxResults=2, NextToken=first["NextToken"])
    assert _names(rest["TrainingJobSummaries"]) == ["other-c"] and "NextToken" not in rest
    created = {s["TrainingJobName"]: s["CreationTime"] for s in listed}
    after = api.list_training_jobs(CreationTimeAfter=created["job-a"])["TrainingJobSummaries"]
    assert _names(after) == ["job-b", "other-c"]
    assert api.list_training_jobs(StatusEquals="Completed")["TrainingJobSummaries"] == []
    paged = api.get_paginator("list_training_jobs").paginate(PaginationConfig={"PageSize": 1})
    assert [name for page in paged for name in _names(page["TrainingJobSummaries"])] == [
        "job-a",
        "job-b",
        "other-c",
    ]


def test_status_equals_filters_the_page_max_results_chose(api: Any, emulator: SageMakerEmulator) -> None:
    # API_ListTrainingJobs: "the MaxResults number of training jobs are first retrieved ignoring the
    # StatusEquals parameter and then they are filtered by the StatusEquals parameter".
    _failed_jobs(emulator, "first")
    emulator.faults.stop_next_training()
    emulator.create_training_job(training_request("second"))
    page = api.list_training_jobs(MaxResults=1, StatusEquals="Stopped")
    assert page["TrainingJobSummaries"] == [] and "NextToken" in page
    rest = api.list_training_jobs(MaxResults=1, StatusEquals="Stopped", NextToken=page["NextToken"])
    assert _names(rest["TrainingJobSummaries"]) == ["second"]


def test_a_bad_token_or_page_size_is_refused(api: Any, emulator: SageMakerEmulator) -> None:
    with pytest.raises(api.exceptions.ClientError, match="Invalid pagination token"):
        api.list_training_jobs(NextToken="not-a-token")
    with pytest.raises(api.exceptions.ClientError):
        api.list_models(MaxResults=101)


def test_models_and_transform_jobs_are_listed(api: Any, s3: Any, emulator: SageMakerEmulator) -> None:
    put(_admin("s3"), "models/model.tar.gz", b"not read by CreateModel")
    for name in ("model-one", "model-two"):
        container = {"Image": IMAGE, "ModelDataUrl": f"s3://{BUCKET}/models/model.tar.gz"}
        api.create_model(ModelName=name, PrimaryContainer=container, ExecutionRoleArn=ROLE)
        time.sleep(0.01)
    models = api.list_models()["Models"]
    assert _names(models, "ModelName") == ["model-two", "model-one"]  # Descending by default
    assert set(models[0]) == {"ModelName", "ModelArn", "CreationTime"}
    assert _names(api.list_models(NameContains="one")["Models"], "ModelName") == ["model-one"]
    later = datetime.now(UTC) + timedelta(hours=1)
    assert api.list_models(CreationTimeAfter=later)["Models"] == []
    emulator.faults.fail_next_transform()
    api.create_transform_job(
        TransformJobName="score-one",
        ModelName="model-one",
        TransformInput={
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/x/"}}
        },
        TransformOutput={"S3OutputPath": f"s3://{BUCKET}/out/"},
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
    )
    (summary,) = api.list_transform_jobs(StatusEquals="Failed")["TransformJobSummaries"]
    assert summary["TransformJobName"] == "score-one" and summary["FailureReason"]
    assert api.list_transform_jobs(StatusEquals="Completed")["TransformJobSummaries"] == []


def test_tuning_jobs_are_listed(api: Any, emulator: SageMakerEmulator) -> None:
    for name in ("tune-one", "tune-two"):
        emulator.faults.fail_next_training()  # its one trial ends at once
        emulator.create_hyper_parameter_tuning_job(tuning_request(name, max_jobs=1, parallel=1))
        time.sleep(0.01)
    summaries = api.list_hyper_parameter_tuning_jobs()["HyperParameterTuningJobSummaries"]
    assert _names(summaries, "HyperParameterTuningJobName") == ["tune-one", "tune-two"]
    assert summaries[0]["Strategy"] == "Random"
    assert summaries[0]["ResourceLimits"]["MaxNumberOfTrainingJobs"] == 1
    assert summaries[0]["TrainingJobStatusCounters"]["NonRetryableError"] == 1
    named = api.list_hyper_parameter_tuning_jobs(NameContains="two", SortOrder="Descending")
    assert _names(named["HyperParameterTuningJobSummaries"], "HyperParameterTuningJobName") == ["tune-two"]
