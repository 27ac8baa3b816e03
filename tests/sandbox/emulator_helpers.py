"""Shared helpers of the SageMaker emulator's tests: requests, data, and an independent reference model."""

from __future__ import annotations

import io
import re
import tarfile
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest

from sandbox.sagemaker import SageMakerEmulator, SageMakerError, runner

BUCKET = "snowsage-test"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
ROLE = "arn:aws:iam::123456789012:role/snowsage-sagemaker"
N_FEATURES = 5
LOG_LINE = re.compile(r"^\[(\d+)\]\ttrain-auc:(\d\.\d{5})\tvalidation-auc:(\d\.\d{5})$")


# ---- helpers --------------------------------------------------------------------------------------


def make_rows(n: int, seed: int, *, noise: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Features and a binary label with a learnable signal."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, N_FEATURES)).astype(np.float32)
    y = (x[:, 0] + 0.7 * x[:, 1] - 0.5 * x[:, 2] + noise * rng.normal(size=n) > 0).astype(np.float32)
    return x, y


def csv_text(*columns: np.ndarray) -> str:
    matrix = np.column_stack(columns)
    return "".join(",".join(f"{v:.6g}" for v in row) + "\n" for row in matrix)


def put(s3: Any, key: str, body: str | bytes) -> None:
    s3.put_object(Bucket=BUCKET, Key=key, Body=body.encode() if isinstance(body, str) else body)


def get(s3: Any, key: str) -> str:
    body: bytes = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    return body.decode()


def keys(s3: Any, prefix: str) -> list[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


def put_training_data(s3: Any, *, validation_noise: float = 0.5) -> None:
    x, y = make_rows(400, 1)
    put(s3, "data/train/part-0.csv", csv_text(y, x))
    xv, yv = make_rows(200, 2, noise=validation_noise)
    put(s3, "data/validation/part-0.csv", csv_text(yv, xv))


def channel(name: str, prefix: str, **extra: Any) -> dict[str, Any]:
    return {
        "ChannelName": name,
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/{prefix}"}},
        "ContentType": "text/csv",
        **extra,
    }


def training_request(name: str = "snowsage-run-train-0", **overrides: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "TrainingJobName": name,
        "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        "RoleArn": ROLE,
        "HyperParameters": {
            "num_round": "20",
            "objective": "binary:logistic",
            "eval_metric": "auc",
            "max_depth": "3",
            "eta": "0.3",
        },
        "InputDataConfig": [channel("train", "data/train/"), channel("validation", "data/validation/")],
        "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/models/"},
        "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 10},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    }
    request.update(overrides)
    return request


def hyper(**values: str) -> dict[str, str]:
    base = {"num_round": "20", "objective": "binary:logistic", "eval_metric": "auc", "max_depth": "3"}
    base.update(values)
    return base


class ReferenceModel:
    """An artifact loaded by the image's own xgboost in its own environment, apart from the job.

    Each call loads the ``xgboost-model`` bytes afresh in a worker of that xgboost (a process of the
    shared pool: starting one costs an xgboost import) and predicts with xgboost's defaults.
    """

    def __init__(self, raw: bytes, version: str = "1.7.4") -> None:
        self.raw = raw
        self.version = version
        self.info = self._call(lambda worker, model: worker.request("load", model=model))

    def _call(self, action: Any) -> Any:
        with runner.POOL.borrow(self.version) as worker:
            path = worker.path("reference-model")
            with open(path, "wb") as handle:
                handle.write(self.raw)
            return action(worker, path)

    def xgboost_version(self) -> str:
        return str(self._call(lambda worker, _: worker.request("version"))["xgboost"])

    def num_features(self) -> int:
        return int(self.info["num_features"])

    def inplace_predict(self, features: np.ndarray) -> np.ndarray:
        def predict(worker: runner.Worker, model: str) -> np.ndarray:
            worker.request("load", model=model)
            source, target = worker.path("reference-in.npy"), worker.path("reference-out.npy")
            np.save(source, np.asarray(features, dtype=np.float32))
            worker.request("predict", matrix=source, out=target, nthread=1)
            predictions: np.ndarray = np.load(target)
            return predictions

        result: np.ndarray = self._call(predict)
        return result


def model_archive(files: Mapping[str, bytes]) -> bytes:
    """A ``model.tar.gz`` of ``files`` (name in the archive -> bytes)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, body in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            archive.addfile(info, io.BytesIO(body))
    return buffer.getvalue()


def artifact_tar(raw: bytes) -> bytes:
    return model_archive({"xgboost-model": raw})


def artifact_bytes(s3: Any, uri: str, *, bucket: str = BUCKET) -> bytes:
    key = uri.removeprefix(f"s3://{bucket}/")
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as archive:
        member = archive.extractfile("xgboost-model")
        assert member is not None
        raw: bytes = member.read()
    return raw


def load_booster(s3: Any, uri: str, version: str = "1.7.4") -> ReferenceModel:
    return ReferenceModel(artifact_bytes(s3, uri), version)


def trained_model(emulator: SageMakerEmulator, s3: Any, name: str = "snowsage-run-model-0") -> ReferenceModel:
    """Train a job and create a model from its artifact; return the booster."""
    put_training_data(s3)
    emulator.create_training_job(training_request("snowsage-run-train-0"))
    described = emulator.wait("snowsage-run-train-0", timeout=60)
    assert described["TrainingJobStatus"] == "Completed", described.get("FailureReason")
    url = described["ModelArtifacts"]["S3ModelArtifacts"]
    emulator.create_model(
        {
            "ModelName": name,
            "ExecutionRoleArn": ROLE,
            "PrimaryContainer": {"Image": IMAGE, "ModelDataUrl": url},
        }
    )
    return load_booster(s3, url)


def transform_request(name: str = "snowsage-run-score-0", **overrides: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "TransformJobName": name,
        "ModelName": "snowsage-run-model-0",
        "MaxConcurrentTransforms": 1,
        "MaxPayloadInMB": 6,
        "BatchStrategy": "MultiRecord",
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/score/"}},
            "ContentType": "text/csv",
            "SplitType": "Line",
        },
        "TransformOutput": {
            "S3OutputPath": f"s3://{BUCKET}/pred/",
            "Accept": "text/csv",
            "AssembleWith": "Line",
        },
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
    }
    request.update(overrides)
    return request


def expected_lines(booster: ReferenceModel, features: np.ndarray) -> list[str]:
    return [str(float(p)) for p in booster.inplace_predict(features.astype(np.float32))]


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    order = np.argsort(scores)
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    positives = labels == 1
    n_pos, n_neg = positives.sum(), (~positives).sum()
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def error_of(call: Any, *args: Any) -> SageMakerError:
    with pytest.raises(SageMakerError) as caught:
        call(*args)
    return caught.value


USER_ERROR = "AlgorithmError: framework error: \nTraceback (most recent call last):\n"


def failure_of(emulator: SageMakerEmulator, request: dict[str, Any]) -> str:
    """The API accepts the request; the job then fails inside the container: its FailureReason."""
    emulator.create_training_job(request)
    described = emulator.describe_training_job(request["TrainingJobName"])
    assert described["TrainingJobStatus"] == "Failed"
    reason: str = described["FailureReason"]
    assert reason.startswith(USER_ERROR)
    return reason


# ---- script mode ----------------------------------------------------------------------------------

SCRIPT_SOURCE = f"s3://{BUCKET}/code/demo/sourcedir.tar.gz"


def source_archive(files: Mapping[str, str | bytes]) -> bytes:
    """A ``sourcedir.tar.gz`` holding ``files`` (path in the archive -> text or bytes)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, body in files.items():
            data = body.encode() if isinstance(body, str) else body
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def script_request(metric_definitions: list[dict[str, str]], **hyperparameters: str) -> dict[str, Any]:
    """A script-mode training job: the program ``train.py`` from SCRIPT_SOURCE."""
    return training_request(
        AlgorithmSpecification={
            "TrainingImage": IMAGE,
            "TrainingInputMode": "File",
            "MetricDefinitions": metric_definitions,
        },
        HyperParameters={
            "sagemaker_program": "train.py",
            "sagemaker_submit_directory": SCRIPT_SOURCE,
            **hyperparameters,
        },
    )


def model_archive_files(s3: Any, uri: str) -> dict[str, bytes]:
    """Every file of a job's model.tar.gz, by its name there."""
    body = s3.get_object(Bucket=BUCKET, Key=uri.removeprefix(f"s3://{BUCKET}/"))["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as archive:
        files = {}
        for member in archive.getmembers():
            extracted = archive.extractfile(member)
            assert extracted is not None
            files[member.name] = extracted.read()
    return files
