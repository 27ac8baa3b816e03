"""Contract tests of the local SageMaker emulator (built-in XGBoost training, models, batch transform)."""

from __future__ import annotations

import io
import re
import tarfile
import threading
from typing import Any

import numpy as np
import pytest

from sandbox.sagemaker import (
    SageMakerEmulator,
    csvio,
    runner,
    training,
    transform,
    validation,
)
from tests.sandbox.emulator_helpers import (
    BUCKET,
    IMAGE,
    LOG_LINE,
    N_FEATURES,
    ROLE,
    USER_ERROR,
    artifact_tar,
    auc,
    channel,
    csv_text,
    error_of,
    expected_lines,
    failure_of,
    get,
    hyper,
    keys,
    load_booster,
    make_rows,
    put,
    put_training_data,
    trained_model,
    training_request,
    transform_request,
)

# ---- request validation ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["bad_name", "-leading", "trailing-", "a" * 64, "dot.name", ""])
def test_invalid_job_name_rejected(emulator: SageMakerEmulator, name: str) -> None:
    err = error_of(emulator.create_training_job, training_request(name))
    assert err.code == "ValidationException"
    assert "trainingJobName" in err.message


def test_valid_name_of_63_chars_with_double_hyphen_accepted(emulator: SageMakerEmulator, s3: Any) -> None:
    put_training_data(s3)
    name = "a--b" + "c" * 59
    assert emulator.create_training_job(training_request(name))["TrainingJobArn"].endswith(name)


def test_duplicate_training_name_rejected(emulator: SageMakerEmulator, s3: Any) -> None:
    put_training_data(s3)
    emulator.create_training_job(training_request("job-1"))
    err = error_of(emulator.create_training_job, training_request("job-1"))
    assert err.code == "ResourceInUse"


def test_train_channel_required(emulator: SageMakerEmulator) -> None:
    # toolkit channel_validation.py line 91
    reason = failure_of(emulator, training_request(InputDataConfig=[channel("validation", "v/")]))
    assert "sagemaker_algorithm_toolkit.exceptions.UserError: Missing required channel: train" in reason


def test_unknown_channel_fails_the_job(emulator: SageMakerEmulator) -> None:
    # toolkit channel_validation.py line 99
    request = training_request(InputDataConfig=[channel("train", "t/"), channel("test", "x/")])
    assert "UserError: Extraneous channel found: test" in failure_of(emulator, request)


@pytest.mark.parametrize(
    "content_type", ["text/csv; label_size=1", "text/csv;charset=utf-8", "application/csv"]
)
def test_only_exact_content_types_pass(emulator: SageMakerEmulator, content_type: str) -> None:
    # toolkit channel_validation.py line 53 compares the ContentType string with data_utils.py
    # VALID_CONTENT_TYPES (lines 43-53) exactly.
    request = training_request(InputDataConfig=[channel("train", "t/", ContentType=content_type)])
    reason = failure_of(emulator, request)
    assert "UserError: Channel configuration for 'train' channel is not supported: {'ContentType': " in reason


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        ({"DataSource": {"S3DataSource": {"S3DataType": "ManifestFile", "S3Uri": "s3://b/m"}}}, "S3Prefix"),
    ],
)
def test_channel_content_type_and_data_type(
    emulator: SageMakerEmulator, extra: dict[str, Any], fragment: str
) -> None:
    err = error_of(
        emulator.create_training_job, training_request(InputDataConfig=[channel("train", "t/", **extra)])
    )
    assert err.code == "ValidationException"
    assert fragment in err.message


def test_absent_content_type_means_libsvm(emulator: SageMakerEmulator, s3: Any) -> None:
    # algorithm_mode/channel_validation.py: set_default_content_type("text/libsvm")
    x, y = make_rows(200, 1)
    put(
        s3,
        "data/train/part-0.libsvm",
        "".join(
            f"{int(label)} " + " ".join(f"{j}:{v:.5f}" for j, v in enumerate(row)) + "\n"
            for label, row in zip(y, x, strict=True)
        ),
    )
    train = channel("train", "data/train/")
    del train["ContentType"]
    emulator.create_training_job(
        training_request(InputDataConfig=[train], HyperParameters=hyper(eval_metric="logloss"))
    )
    d = emulator.describe_training_job("snowsage-run-train-0")
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    assert load_booster(s3, d["ModelArtifacts"]["S3ModelArtifacts"]).num_features() == N_FEATURES


def test_num_round_required(emulator: SageMakerEmulator) -> None:
    # toolkit hyperparameter_validation.py line 268
    reason = failure_of(emulator, training_request(HyperParameters={"objective": "binary:logistic"}))
    assert reason.endswith(
        "UserError: Missing required hyperparameter: num_round\n\nMissing required hyperparameter: num_round"
    )


@pytest.mark.parametrize(
    "image",
    [
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/my-own-algo:latest",
        "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1",
    ],
)
def test_unknown_image_rejected(emulator: SageMakerEmulator, image: str) -> None:
    request = training_request(AlgorithmSpecification={"TrainingImage": image, "TrainingInputMode": "File"})
    err = error_of(emulator.create_training_job, request)
    assert err.code == "ValidationException"
    assert "only runs the built-in XGBoost" in err.message


def test_spot_requires_max_wait_at_least_max_runtime(emulator: SageMakerEmulator, s3: Any) -> None:
    no_wait = training_request(EnableManagedSpotTraining=True)
    assert "MaxWaitTimeInSeconds" in error_of(emulator.create_training_job, no_wait).message
    short_wait = training_request(
        EnableManagedSpotTraining=True,
        StoppingCondition={"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 1800},
    )
    err = error_of(emulator.create_training_job, short_wait)
    assert err.code == "ValidationException"
    assert "greater than or equal to MaxRuntimeInSeconds" in err.message
    wait_without_spot = training_request(
        StoppingCondition={"MaxRuntimeInSeconds": 60, "MaxWaitTimeInSeconds": 60}
    )
    assert error_of(emulator.create_training_job, wait_without_spot).code == "ValidationException"

    put_training_data(s3)
    emulator.create_training_job(
        training_request(
            EnableManagedSpotTraining=True,
            StoppingCondition={"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 3600},
            CheckpointConfig={"S3Uri": f"s3://{BUCKET}/checkpoints/run/"},
        )
    )
    described = emulator.describe_training_job("snowsage-run-train-0")
    assert described["TrainingJobStatus"] == "Completed"
    assert described["EnableManagedSpotTraining"] is True
    assert described["CheckpointConfig"] == {"S3Uri": f"s3://{BUCKET}/checkpoints/run/"}
    assert 1 <= described["BillableTimeInSeconds"] <= described["TrainingTimeInSeconds"]


def test_describe_unknown_names(emulator: SageMakerEmulator) -> None:
    for call in (emulator.describe_training_job, emulator.describe_transform_job, emulator.describe_model):
        err = error_of(call, "nope")
        assert err.code == "ValidationException"
        assert err.message.startswith("Could not find")
    assert error_of(emulator.stop_training_job, "nope").code == "ResourceNotFound"
    assert error_of(emulator.stop_transform_job, "nope").code == "ResourceNotFound"
    assert error_of(emulator.wait, "nope").code == "ValidationException"


# ---- training -------------------------------------------------------------------------------------


def test_training_describe_shape_metrics_and_log(emulator: SageMakerEmulator, s3: Any) -> None:
    put_training_data(s3)
    arn = emulator.create_training_job(training_request())["TrainingJobArn"]
    assert arn == "arn:aws:sagemaker:us-east-1:123456789012:training-job/snowsage-run-train-0"
    d = emulator.describe_training_job("snowsage-run-train-0")
    assert d["TrainingJobStatus"] == "Completed"
    assert d["SecondaryStatus"] == "Completed"
    assert d["TrainingJobArn"] == arn
    assert d["HyperParameters"]["num_round"] == "20"
    assert d["AlgorithmSpecification"]["TrainingImage"] == IMAGE
    assert d["RoleArn"] == ROLE
    assert {c["ChannelName"] for c in d["InputDataConfig"]} == {"train", "validation"}
    assert d["ResourceConfig"]["InstanceType"] == "ml.m5.xlarge"
    assert d["EnableManagedSpotTraining"] is False
    for key in ("CreationTime", "TrainingStartTime", "TrainingEndTime", "LastModifiedTime"):
        assert d[key].tzinfo is not None
    assert d["CreationTime"] <= d["TrainingStartTime"] <= d["TrainingEndTime"]
    assert d["TrainingTimeInSeconds"] >= 1
    assert d["BillableTimeInSeconds"] == d["TrainingTimeInSeconds"]
    assert "FailureReason" not in d
    assert (
        d["ModelArtifacts"]["S3ModelArtifacts"]
        == f"s3://{BUCKET}/models/snowsage-run-train-0/output/model.tar.gz"
    )
    assert [t["Status"] for t in d["SecondaryStatusTransitions"]] == [
        "Starting",
        "Downloading",
        "Training",
        "Uploading",
        "Completed",
    ]
    assert set(d["EmulatorTimings"]) == {"read_seconds", "compute_seconds", "write_seconds"}

    metrics = {m["MetricName"]: m["Value"] for m in d["FinalMetricDataList"]}
    assert set(metrics) == {"validation:auc", "train:auc"}
    assert metrics["validation:auc"] > 0.8
    assert all(m["Timestamp"].tzinfo is not None for m in d["FinalMetricDataList"])

    log = emulator.training_log("snowsage-run-train-0")
    assert len(log) == 20
    assert all(LOG_LINE.match(line) for line in log), log[:3]
    last = LOG_LINE.match(log[-1])
    assert last is not None
    assert last.group(1) == "19"
    assert metrics["validation:auc"] == pytest.approx(float(last.group(3)), abs=1e-5)


def test_log_lines_list_every_metric_train_then_validation(emulator: SageMakerEmulator, s3: Any) -> None:
    put_training_data(s3)
    emulator.create_training_job(
        training_request(HyperParameters=hyper(num_round="3", eval_metric="logloss,auc"))
    )
    first = emulator.training_log("snowsage-run-train-0")[0]
    assert re.match(
        r"^\[0\]\ttrain-logloss:\d\.\d{5}\ttrain-auc:\d\.\d{5}\tvalidation-logloss:\d\.\d{5}\tvalidation-auc:\d\.\d{5}$",
        first,
    ), first
    d = emulator.describe_training_job("snowsage-run-train-0")
    names = {m["MetricName"] for m in d["FinalMetricDataList"]}
    assert names == {"validation:logloss", "validation:auc", "train:logloss", "train:auc"}


def _validation_series(log: list[str], metric: str) -> list[float]:
    pattern = re.compile(rf"\tvalidation-{metric}:([0-9.]+)")
    values = []
    for line in log:
        found = pattern.search(line)
        assert found is not None
        values.append(float(found.group(1)))
    return values


@pytest.mark.parametrize(
    ("eval_metric", "watched", "maximise"),
    [("logloss,auc", "auc", True), ("auc,logloss", "logloss", False), ("error,aucpr", "aucpr", True)],
)
def test_early_stopping_keeps_best_iteration_in_the_right_direction(
    emulator: SageMakerEmulator, s3: Any, eval_metric: str, watched: str, maximise: bool
) -> None:
    # A noisy validation set: the validation metric peaks early, then the model overfits.
    put_training_data(s3, validation_noise=2.0)
    hp = hyper(num_round="300", eval_metric=eval_metric, early_stopping_rounds="5", max_depth="6", eta="0.5")
    emulator.create_training_job(training_request(HyperParameters=hp))
    d = emulator.describe_training_job("snowsage-run-train-0")
    assert d["TrainingJobStatus"] == "Completed"
    log = emulator.training_log("snowsage-run-train-0")
    series = _validation_series(log, watched)
    best = int(np.argmax(series) if maximise else np.argmin(series))
    assert len(log) < 300  # stopped early
    # the best value comes before the last five rounds, which do not improve on it (the log rounds
    # to 5 decimals, so compare values, not positions)
    head, tail = series[: len(log) - 5], series[len(log) - 5 :]
    best_value = max(head) if maximise else min(head)
    assert best_value == pytest.approx(series[best], abs=1e-5)
    assert all((v <= best_value + 1e-5) if maximise else (v >= best_value - 1e-5) for v in tail)
    # FinalMetricDataList is the LATEST value emitted, not the best (SageMaker parses the log).
    metrics = {m["MetricName"]: m["Value"] for m in d["FinalMetricDataList"]}
    assert metrics[f"validation:{watched}"] == pytest.approx(series[-1], abs=1e-5)
    assert series[-1] != series[best]


def test_artifact_is_tar_with_only_xgboost_model(emulator: SageMakerEmulator, s3: Any) -> None:
    put_training_data(s3)
    emulator.create_training_job(training_request())
    assert keys(s3, "models/") == ["models/snowsage-run-train-0/output/model.tar.gz"]
    body = s3.get_object(Bucket=BUCKET, Key="models/snowsage-run-train-0/output/model.tar.gz")["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as archive:
        assert archive.getnames() == ["xgboost-model"]
    booster = load_booster(s3, f"s3://{BUCKET}/models/snowsage-run-train-0/output/model.tar.gz")
    assert booster.num_features() == N_FEATURES
    x, y = make_rows(500, 7)
    assert auc(y, booster.inplace_predict(x)) > 0.85  # clearly above chance


def test_all_objects_under_prefix_read_and_folder_markers_skipped(
    emulator: SageMakerEmulator, s3: Any
) -> None:
    put_training_data(s3)
    put(s3, "data/train/", b"")  # a zero-byte "folder" object
    x, y = make_rows(50, 3)
    put(s3, "data/train/part-1.csv", csv_text(y, x))
    emulator.create_training_job(training_request("reads-all"))
    assert emulator.describe_training_job("reads-all")["TrainingJobStatus"] == "Completed"
    # the prefix is a key prefix: "data/train" also matches "data/train-extra/..."
    put(s3, "data/train-extra/bad.csv", "1,abc,2,3,4,5\n")
    emulator.create_training_job(
        training_request("key-prefix", InputDataConfig=[channel("train", "data/train")])
    )
    d = emulator.describe_training_job("key-prefix")
    assert d["TrainingJobStatus"] == "Failed"
    assert "data/train-extra/bad.csv" in d["FailureReason"]


def test_empty_fields_in_training_data_are_missing_values(emulator: SageMakerEmulator, s3: Any) -> None:
    put_training_data(s3)
    put(s3, "data/train/part-1.csv", "1,,0.5,,1,2\n0,-1,,0.3,,\n")
    emulator.create_training_job(training_request())
    assert emulator.describe_training_job("snowsage-run-train-0")["TrainingJobStatus"] == "Completed"


def test_bad_training_data_fails_the_job(emulator: SageMakerEmulator, s3: Any) -> None:
    put(s3, "data/train/part-0.csv", "1,0.5,abc,1,2,3\n")
    emulator.create_training_job(training_request(InputDataConfig=[channel("train", "data/train/")]))
    d = emulator.describe_training_job("snowsage-run-train-0")
    assert d["TrainingJobStatus"] == "Failed"
    assert d["SecondaryStatus"] == "Failed"
    assert d["FailureReason"].startswith(USER_ERROR)
    assert "ModelArtifacts" not in d
    assert keys(s3, "models/") == []


def test_empty_train_channel_fails_the_job(emulator: SageMakerEmulator) -> None:
    emulator.create_training_job(training_request(InputDataConfig=[channel("train", "nothing/")]))
    d = emulator.describe_training_job("snowsage-run-train-0")
    assert d["TrainingJobStatus"] == "Failed"
    assert "No data in training channel path /opt/ml/input/data/train" in d["FailureReason"]


class HeldS3:
    """The S3 client, except that a job's thread waits at its first call until ``release``."""

    def __init__(self, s3: Any) -> None:
        self._s3, self._caller = s3, threading.get_ident()
        self.release = threading.Event()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._s3, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            if threading.get_ident() != self._caller:
                assert self.release.wait(300), "the test never released the job"
            return attribute(*args, **kwargs)

        return call


def test_background_job_in_progress_then_completed(s3: Any) -> None:
    put_training_data(s3)
    held = HeldS3(s3)
    background = SageMakerEmulator(held, background=True)
    background.create_training_job(training_request(HyperParameters=hyper(num_round="20")))
    assert background.describe_training_job("snowsage-run-train-0")["TrainingJobStatus"] == "InProgress"
    held.release.set()
    d = background.wait("snowsage-run-train-0")
    assert d["TrainingJobStatus"] == "Completed"


def test_stop_training_job(background: SageMakerEmulator, s3: Any) -> None:
    put_training_data(s3)
    background.create_training_job(training_request(HyperParameters=hyper(num_round="1000000")))
    background.stop_training_job("snowsage-run-train-0")
    assert background.describe_training_job("snowsage-run-train-0")["TrainingJobStatus"] in {
        "Stopping",
        "Stopped",
    }
    d = background.wait("snowsage-run-train-0", timeout=30)
    assert d["TrainingJobStatus"] == "Stopped"
    assert d["SecondaryStatus"] == "Stopped"
    assert "ModelArtifacts" not in d
    assert error_of(background.stop_training_job, "snowsage-run-train-0").code == "ValidationException"


def test_max_runtime_exceeded_stops_the_job(background: SageMakerEmulator, s3: Any) -> None:
    put_training_data(s3)
    request = training_request(
        HyperParameters=hyper(num_round="1000000"), StoppingCondition={"MaxRuntimeInSeconds": 1}
    )
    background.create_training_job(request)
    d = background.wait("snowsage-run-train-0", timeout=30)
    assert d["TrainingJobStatus"] == "Stopped"
    assert d["SecondaryStatus"] == "MaxRuntimeExceeded"
    assert len(background.training_log("snowsage-run-train-0")) < 1000000


def test_stopped_job_logs_one_well_formed_line_per_round_trained(
    background: SageMakerEmulator, s3: Any
) -> None:
    # The round lines are written once training ends (not per round): a job stopped by
    # MaxRuntimeInSeconds still has one line per round it trained, numbered from 0.
    put_training_data(s3)
    request = training_request(
        HyperParameters=hyper(num_round="1000000"), StoppingCondition={"MaxRuntimeInSeconds": 1}
    )
    background.create_training_job(request)
    d = background.wait("snowsage-run-train-0", timeout=30)
    assert (d["TrainingJobStatus"], d["SecondaryStatus"]) == ("Stopped", "MaxRuntimeExceeded")
    log = background.training_log("snowsage-run-train-0")
    assert log
    matches = [LOG_LINE.match(line) for line in log]
    assert all(matches), [line for line, m in zip(log, matches, strict=True) if not m][:3]
    assert [int(m.group(1)) for m in matches if m] == list(range(len(log)))


def test_round_log_formats_every_metric_train_then_validation() -> None:
    history = {
        "train": {"logloss": [0.5, 0.25], "auc": [0.75, 0.875]},
        "validation": {"logloss": [0.625, 0.5], "auc": [0.7, 0.8]},
    }
    assert training.round_log(history, 2) == [
        "[0]\ttrain-logloss:0.50000\ttrain-auc:0.75000\tvalidation-logloss:0.62500\tvalidation-auc:0.70000",
        "[1]\ttrain-logloss:0.25000\ttrain-auc:0.87500\tvalidation-logloss:0.50000\tvalidation-auc:0.80000",
    ]
    assert training.round_log(history, 0) == []


# ---- models ---------------------------------------------------------------------------------------


def test_model_create_describe_delete(emulator: SageMakerEmulator, s3: Any) -> None:
    trained_model(emulator, s3)
    d = emulator.describe_model("snowsage-run-model-0")
    assert d["ModelArn"] == "arn:aws:sagemaker:us-east-1:123456789012:model/snowsage-run-model-0"
    assert d["PrimaryContainer"]["Image"] == IMAGE
    assert d["PrimaryContainer"]["ModelDataUrl"].endswith("/output/model.tar.gz")
    assert d["ExecutionRoleArn"] == ROLE
    assert d["CreationTime"].tzinfo is not None
    duplicate = {
        "ModelName": "snowsage-run-model-0",
        "ExecutionRoleArn": ROLE,
        "PrimaryContainer": d["PrimaryContainer"],
    }
    assert error_of(emulator.create_model, duplicate).code == "ValidationException"
    emulator.delete_model("snowsage-run-model-0")
    assert error_of(emulator.describe_model, "snowsage-run-model-0").message.startswith(
        "Could not find model"
    )
    assert error_of(emulator.delete_model, "snowsage-run-model-0").code == "ValidationException"


def test_model_rejects_other_images_and_missing_artifacts(emulator: SageMakerEmulator) -> None:
    other = {
        "ModelName": "m1",
        "ExecutionRoleArn": ROLE,
        "PrimaryContainer": {
            "Image": "1.dkr.ecr.us-east-1.amazonaws.com/other:1",
            "ModelDataUrl": "s3://b/m.tar.gz",
        },
    }
    assert "only runs the built-in XGBoost" in error_of(emulator.create_model, other).message
    missing = {
        "ModelName": "m2",
        "ExecutionRoleArn": ROLE,
        "PrimaryContainer": {"Image": IMAGE, "ModelDataUrl": f"s3://{BUCKET}/none/model.tar.gz"},
    }
    assert "Could not access model data" in error_of(emulator.create_model, missing).message


# ---- transform ------------------------------------------------------------------------------------


def test_transform_outputs_per_object_with_nested_keys_in_order(emulator: SageMakerEmulator, s3: Any) -> None:
    booster = trained_model(emulator, s3)
    x1, _ = make_rows(30, 11)
    x2, _ = make_rows(20, 12)
    put(s3, "score/part-0.csv", csv_text(x1))
    put(s3, "score/nested/deeper/part-1.csv", csv_text(x2))
    put(s3, "score/nested/", b"")  # folder marker
    arn = emulator.create_transform_job(transform_request())["TransformJobArn"]
    assert arn == "arn:aws:sagemaker:us-east-1:123456789012:transform-job/snowsage-run-score-0"
    d = emulator.describe_transform_job("snowsage-run-score-0")
    assert d["TransformJobStatus"] == "Completed", d.get("FailureReason")
    assert sorted(keys(s3, "pred/")) == ["pred/nested/deeper/part-1.csv.out", "pred/part-0.csv.out"]
    features = np.array([[float(v) for v in line.split(",")] for line in csv_text(x1).splitlines()])
    content = get(s3, "pred/part-0.csv.out")
    assert content.endswith("\n")
    assert content.splitlines() == expected_lines(booster, features)  # order kept, str(float) format
    assert len(get(s3, "pred/nested/deeper/part-1.csv.out").splitlines()) == 20
    for key in ("ModelName", "TransformInput", "TransformOutput", "TransformResources", "DataProcessing"):
        assert key in d
    assert d["BatchStrategy"] == "MultiRecord"
    assert d["MaxPayloadInMB"] == 6
    assert d["MaxConcurrentTransforms"] == 1
    assert d["CreationTime"] <= d["TransformStartTime"] <= d["TransformEndTime"]
    assert set(d["EmulatorTimings"]) == {"read_seconds", "compute_seconds", "write_seconds"}


def test_transform_scores_clearly_above_chance(emulator: SageMakerEmulator, s3: Any) -> None:
    trained_model(emulator, s3)
    x, y = make_rows(400, 21)
    put(s3, "score/data.csv", csv_text(x))
    emulator.create_transform_job(transform_request())
    scores = np.array([float(v) for v in get(s3, "pred/data.csv.out").splitlines()])
    assert auc(y, scores) > 0.85


def test_transform_empty_field_is_nan(emulator: SageMakerEmulator, s3: Any) -> None:
    booster = trained_model(emulator, s3)
    put(s3, "score/data.csv", "0.5,,1,-1,2\n,,,,\n")
    emulator.create_transform_job(transform_request())
    nan = np.nan
    expected = expected_lines(booster, np.array([[0.5, nan, 1, -1, 2], [nan] * 5]))
    assert get(s3, "pred/data.csv.out").splitlines() == expected


def test_join_source_input_with_id_column(emulator: SageMakerEmulator, s3: Any) -> None:
    booster = trained_model(emulator, s3)
    put(s3, "score/data.csv", "id-007,1.50,0,-2,0.25,3\nid-008,,1e-3,2,1,0\n")
    request = transform_request(
        DataProcessing={"InputFilter": "$[1:]", "JoinSource": "Input", "OutputFilter": "$[0,-1]"}
    )
    emulator.create_transform_job(request)
    assert emulator.describe_transform_job("snowsage-run-score-0")["TransformJobStatus"] == "Completed"
    scores = expected_lines(booster, np.array([[1.5, 0, -2, 0.25, 3], [np.nan, 1e-3, 2, 1, 0]]))
    assert get(s3, "pred/data.csv.out") == f"id-007,{scores[0]}\nid-008,{scores[1]}\n"


def test_join_source_input_appends_to_unfiltered_row_keeping_text(
    emulator: SageMakerEmulator, s3: Any
) -> None:
    booster = trained_model(emulator, s3)
    put(s3, "score/data.csv", "id-1,1.50,0,-2,0.25,3.000\nid-2,,0,-2,1e-3,\n")
    emulator.create_transform_job(
        transform_request(DataProcessing={"InputFilter": "$[1:]", "JoinSource": "Input"})
    )
    one, two = expected_lines(booster, np.array([[1.5, 0, -2, 0.25, 3], [np.nan, 0, -2, 1e-3, np.nan]]))
    assert get(s3, "pred/data.csv.out") == f"id-1,1.50,0,-2,0.25,3.000,{one}\nid-2,,0,-2,1e-3,,{two}\n"


def test_input_filter_slices_are_end_inclusive(emulator: SageMakerEmulator, s3: Any) -> None:
    booster = trained_model(emulator, s3)
    # id, five features, then two trailing columns: $[1:5] must select exactly the five features.
    put(s3, "score/data.csv", "7,0.1,0.2,0.3,0.4,0.5,x,y\n")
    emulator.create_transform_job(transform_request(DataProcessing={"InputFilter": "$[1:5]"}))
    d = emulator.describe_transform_job("snowsage-run-score-0")
    assert d["TransformJobStatus"] == "Completed", d.get("FailureReason")
    assert get(s3, "pred/data.csv.out").splitlines() == expected_lines(
        booster, np.array([[0.1, 0.2, 0.3, 0.4, 0.5]])
    )


def test_negative_indices_in_filters(emulator: SageMakerEmulator, s3: Any) -> None:
    booster = trained_model(emulator, s3)
    put(s3, "score/data.csv", "a,b,0.1,0.2,0.3,0.4,0.5\n")
    request = transform_request(
        DataProcessing={"InputFilter": "$[-5:-1]", "JoinSource": "Input", "OutputFilter": "$[1,-1]"}
    )
    emulator.create_transform_job(request)
    (score,) = expected_lines(booster, np.array([[0.1, 0.2, 0.3, 0.4, 0.5]]))
    assert get(s3, "pred/data.csv.out") == f"b,{score}\n"


def test_out_of_range_output_filter_fails_the_job(emulator: SageMakerEmulator, s3: Any) -> None:
    trained_model(emulator, s3)
    put(s3, "score/data.csv", "id,0.1,0.2,0.3,0.4,0.5\n")
    request = transform_request(
        DataProcessing={"InputFilter": "$[1:]", "JoinSource": "Input", "OutputFilter": "$[0,9]"}
    )
    emulator.create_transform_job(request)
    d = emulator.describe_transform_job("snowsage-run-score-0")
    assert d["TransformJobStatus"] == "Failed"
    assert "score/data.csv" in d["FailureReason"]
    assert "out of range" in d["FailureReason"]
    assert keys(s3, "pred/") == []


def test_unsupported_filter_rejected(emulator: SageMakerEmulator, s3: Any) -> None:
    trained_model(emulator, s3)
    err = error_of(
        emulator.create_transform_job, transform_request(DataProcessing={"InputFilter": "$.features"})
    )
    assert err.code == "ValidationException"


def test_failing_file_gets_no_out_and_job_fails(emulator: SageMakerEmulator, s3: Any) -> None:
    trained_model(emulator, s3)
    put(s3, "score/a-good.csv", "0.1,0.2,0.3,0.4,0.5\n")
    put(s3, "score/b-bad.csv", "0.1,abc,0.3,0.4,0.5\n")
    put(s3, "score/c-wide.csv", "0.1,0.2,0.3,0.4,0.5,0.6\n")
    emulator.create_transform_job(transform_request())
    d = emulator.describe_transform_job("snowsage-run-score-0")
    assert d["TransformJobStatus"] == "Failed"
    assert f"s3://{BUCKET}/score/b-bad.csv" in d["FailureReason"]
    assert "1 more object" in d["FailureReason"]
    assert keys(s3, "pred/") == ["pred/a-good.csv.out"]


def test_fewer_features_predict_more_fail(emulator: SageMakerEmulator, s3: Any) -> None:
    # serve_utils.py predict (1.7-1 line 237): validate_features=False; xgboost 1.7.4 predicts with
    # the trailing features missing and refuses more features than the model has.
    booster = trained_model(emulator, s3)
    put(s3, "score/data.csv", "0.1,0.2,0.3\n")
    emulator.create_transform_job(transform_request())
    assert emulator.describe_transform_job("snowsage-run-score-0")["TransformJobStatus"] == "Completed"
    expected = booster.inplace_predict(np.array([[0.1, 0.2, 0.3, np.nan, np.nan]]))
    assert get(s3, "pred/data.csv.out") == f"{float(expected[0])}\n"
    put(s3, "score/data.csv", "0.1,0.2,0.3,0.4,0.5,0.6\n")
    emulator.create_transform_job(transform_request("more-features"))
    d = emulator.describe_transform_job("more-features")
    assert d["TransformJobStatus"] == "Failed"
    assert "prediction failed" in d["FailureReason"]


@pytest.mark.parametrize(
    ("payload", "concurrency"),
    [(101, 1), (6, 20), (50, 3)],
)
def test_payload_limits(emulator: SageMakerEmulator, s3: Any, payload: int, concurrency: int) -> None:
    trained_model(emulator, s3)
    request = transform_request(MaxPayloadInMB=payload, MaxConcurrentTransforms=concurrency)
    assert error_of(emulator.create_transform_job, request).code == "ValidationException"


def test_payload_limit_of_100_accepted(emulator: SageMakerEmulator, s3: Any) -> None:
    trained_model(emulator, s3)
    put(s3, "score/data.csv", "0.1,0.2,0.3,0.4,0.5\n")
    emulator.create_transform_job(transform_request(MaxPayloadInMB=100, MaxConcurrentTransforms=1))
    assert emulator.describe_transform_job("snowsage-run-score-0")["TransformJobStatus"] == "Completed"


def test_transform_requires_existing_model_and_unique_name(emulator: SageMakerEmulator, s3: Any) -> None:
    err = error_of(emulator.create_transform_job, transform_request(ModelName="missing"))
    assert err.code == "ValidationException"
    assert err.message.startswith("Could not find model")
    trained_model(emulator, s3)
    put(s3, "score/data.csv", "0.1,0.2,0.3,0.4,0.5\n")
    emulator.create_transform_job(transform_request())
    assert error_of(emulator.create_transform_job, transform_request()).code == "ResourceInUse"


def test_no_input_objects_fails(emulator: SageMakerEmulator, s3: Any) -> None:
    trained_model(emulator, s3)
    emulator.create_transform_job(transform_request())
    d = emulator.describe_transform_job("snowsage-run-score-0")
    assert d["TransformJobStatus"] == "Failed"
    assert "No S3 objects found" in d["FailureReason"]


def test_stop_transform_job(background: SageMakerEmulator, s3: Any) -> None:
    trained_model(background, s3)
    put(s3, "score/data.csv", "0.1,0.2,0.3,0.4,0.5\n")
    # Holding the emulator's lock keeps the worker from starting, so the stop lands first.
    with background._lock:
        background.create_transform_job(transform_request())
        background.stop_transform_job("snowsage-run-score-0")
        assert background.describe_transform_job("snowsage-run-score-0")["TransformJobStatus"] == "Stopping"
    d = background.wait("snowsage-run-score-0", timeout=30)
    assert d["TransformJobStatus"] == "Stopped"
    assert keys(s3, "pred/") == []
    assert error_of(background.stop_transform_job, "snowsage-run-score-0").code == "ValidationException"


# ---- faults ---------------------------------------------------------------------------------------


def test_fail_create_raises_given_code_given_times(emulator: SageMakerEmulator, s3: Any) -> None:
    put_training_data(s3)
    emulator.faults.fail_create("create_training_job", "ThrottlingException", times=2)
    for _ in range(2):
        err = error_of(emulator.create_training_job, training_request())
        assert err.code == "ThrottlingException"
    emulator.create_training_job(training_request())
    assert emulator.describe_training_job("snowsage-run-train-0")["TrainingJobStatus"] == "Completed"

    emulator.faults.fail_create("create_model", "ResourceLimitExceeded", "too many models")
    err = error_of(emulator.create_model, {"ModelName": "m"})
    assert (err.code, err.message) == ("ResourceLimitExceeded", "too many models")
    emulator.faults.fail_create("create_transform_job", "ThrottlingException")
    emulator.faults.clear()
    assert (
        error_of(emulator.create_transform_job, transform_request(ModelName="m")).code
        == "ValidationException"
    )


def test_fail_and_stop_next_training(emulator: SageMakerEmulator, s3: Any) -> None:
    put_training_data(s3)
    emulator.faults.fail_next_training("AlgorithmError: out of memory")
    emulator.faults.stop_next_training()
    emulator.create_training_job(training_request("job-failed"))
    emulator.create_training_job(training_request("job-stopped"))
    emulator.create_training_job(training_request("job-fine"))
    failed = emulator.describe_training_job("job-failed")
    assert (failed["TrainingJobStatus"], failed["FailureReason"]) == (
        "Failed",
        "AlgorithmError: out of memory",
    )
    stopped = emulator.describe_training_job("job-stopped")
    assert (stopped["TrainingJobStatus"], stopped["SecondaryStatus"]) == ("Stopped", "MaxRuntimeExceeded")
    assert emulator.describe_training_job("job-fine")["TrainingJobStatus"] == "Completed"


def test_faults_aimed_at_a_name_prefix_leave_other_jobs_alone(emulator: SageMakerEmulator, s3: Any) -> None:
    """The chaos campaign aims each fault at one run's job names, with other runs going on."""
    put_training_data(s3)
    emulator.faults.fail_create("create_training_job", "ThrottlingException", name_prefix="run-a-")
    emulator.faults.fail_next_training("AlgorithmError: run a only", name_prefix="run-a-")
    emulator.faults.stop_next_training(name_prefix="run-c-")
    emulator.create_training_job(training_request("run-b-train-0"))  # another run's: untouched
    assert (
        error_of(emulator.create_training_job, training_request("run-a-train-0")).code
        == "ThrottlingException"
    )
    emulator.create_training_job(training_request("run-a-train-1"))
    assert emulator.describe_training_job("run-b-train-0")["TrainingJobStatus"] == "Completed"
    assert emulator.describe_training_job("run-a-train-1")["FailureReason"] == "AlgorithmError: run a only"
    # What no job of run c consumed is taken back when the run is over.
    assert emulator.faults.discard("run-c-") == 1
    assert emulator.faults.discard("run-a-") == 0


def test_fail_next_transform(emulator: SageMakerEmulator, s3: Any) -> None:
    trained_model(emulator, s3)
    put(s3, "score/data.csv", "0.1,0.2,0.3,0.4,0.5\n")
    emulator.faults.fail_next_transform("ClientError: injected")
    emulator.create_transform_job(transform_request("score-a"))
    emulator.create_transform_job(transform_request("score-b"))
    failed = emulator.describe_transform_job("score-a")
    assert (failed["TransformJobStatus"], failed["FailureReason"]) == ("Failed", "ClientError: injected")
    assert emulator.describe_transform_job("score-b")["TransformJobStatus"] == "Completed"


def test_transform_object_joins_ids_and_predictions(emulator: SageMakerEmulator, s3: Any) -> None:
    booster = trained_model(emulator, s3)
    x, _ = make_rows(50, 41)
    data = ("".join(f"id-{i}," + line + "\n" for i, line in enumerate(csv_text(x).splitlines()))).encode()
    spec = validation.validate_transform(
        transform_request(
            DataProcessing={"InputFilter": "$[1:]", "JoinSource": "Input", "OutputFilter": "$[0,-1]"}
        )
    )
    with runner.POOL.borrow("1.7.4") as worker:
        scorer = transform.Scorer.load(worker, artifact_tar(booster.raw))
        assert (scorer.num_features, scorer.prediction_width) == (N_FEATURES, 1)
        with_scorer = transform.transform_object(scorer, data, spec, transform.ObjectTimings(), cpu_count=2)
    lines = with_scorer.decode().splitlines()
    assert [line.split(",")[0] for line in lines] == [f"id-{i}" for i in range(50)]
    assert [line.split(",")[1] for line in lines] == expected_lines(booster, x)


@pytest.mark.parametrize(
    "data",
    [b"", b"\n", b"abc", b"abc\n", b"a\nbcdef\ngh\n", b"abcdef", b"ab\n\n\nabcdefgh", b"abcd\nabcde\nabc"],
)
@pytest.mark.parametrize("limit", [0, 1, 3, 4, 5, 8])
def test_lines_fit_agrees_with_longest_line(data: bytes, limit: int) -> None:
    # The transform's MaxPayloadInMB check jumps window by window instead of scanning every line.
    assert csvio.lines_fit(data, limit) == (csvio.longest_line(data) <= limit)


def test_many_small_objects_share_worker_requests_and_keep_their_own_outputs(
    emulator: SageMakerEmulator, s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """100,000 one-row export files must be feasible: small objects go to the xgboost worker in one
    request, and each still gets its own .out with the predictions transform_object gives it."""
    booster = trained_model(emulator, s3)
    x, _ = make_rows(30, 43)
    lines = csv_text(x).splitlines()
    for index, line in enumerate(lines):
        put(s3, f"score/many/data_{index:03d}.csv", line + "\n")
    put(s3, "score/many/data_bad.csv", "not,a,number\n")
    predicts: list[int] = []
    original = transform.Scorer.predict

    def counting(self: transform.Scorer, matrix: Any, nthread: int, *kind: str) -> Any:
        predicts.append(len(matrix))
        return original(self, matrix, nthread, *kind)

    monkeypatch.setattr(transform.Scorer, "predict", counting)
    monkeypatch.setattr("sandbox.sagemaker.emulator.SMALL_BATCH_OBJECTS", 10)
    request = transform_request("many")
    request["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"] = f"s3://{BUCKET}/score/many/"
    emulator.create_transform_job(request)
    described = emulator.describe_transform_job("many")
    assert described["TransformJobStatus"] == "Failed"
    assert "Failed to transform s3://" in described["FailureReason"]
    assert "data_bad.csv" in described["FailureReason"]
    expected = expected_lines(booster, x)
    outputs = [get(s3, f"pred/data_{index:03d}.csv.out") for index in range(len(lines))]
    assert outputs == [f"{value}\n" for value in expected]
    assert len(predicts) <= 4  # 31 objects in batches of 10, not 30 requests
