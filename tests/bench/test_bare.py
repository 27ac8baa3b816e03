"""The emulator-vs-bare comparison: both sides run the image's xgboost, the bare jobs do the work,
and a slower emulator fails the check. No timed assertion: the verdicts get injected figures."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from bench import bare
from bench.__main__ import _comparison_rows, comparison_note
from bench.sandbox_bench import Comparison
from sandbox.sagemaker import runner, s3io

IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
BUCKET = "bench-bare"
HYPERPARAMETERS = {
    "objective": "binary:logistic",
    "eval_metric": "auc",
    "num_round": "20",
    "max_depth": "3",
    "early_stopping_rounds": "5",
}


@pytest.fixture(scope="module")
def worker() -> Iterator[runner.Worker]:
    started = bare.start_worker(IMAGE)
    try:
        yield started
    finally:
        started.close()


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        rows = [(i % 2, (i % 7) / 7 + (i % 2) * 0.5, (i % 5) / 5) for i in range(200)]
        labelled = "".join(f"{y},{a:.3f},{b:.3f}\n" for y, a, b in rows)
        client.put_object(Bucket=BUCKET, Key="in/train/part-0.csv", Body=labelled.encode())
        client.put_object(Bucket=BUCKET, Key="in/validation/part-0.csv", Body=labelled.encode())
        scored = "".join(f"id{i},{a:.3f},{b:.3f}\n" for i, (_, a, b) in enumerate(rows))
        client.put_object(Bucket=BUCKET, Key="in/score/part-0.csv", Body=scored.encode())
        yield client


def _describe() -> dict[str, Any]:
    return {
        "InputDataConfig": [
            {"ChannelName": name, "DataSource": {"S3DataSource": {"S3Uri": f"s3://{BUCKET}/in/{name}/"}}}
            for name in ("train", "validation")
        ],
        "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/models/"},
        "HyperParameters": dict(HYPERPARAMETERS),
    }


def test_the_bare_worker_runs_the_images_xgboost(worker: runner.Worker) -> None:
    assert worker.request("version")["xgboost"] == runner.xgboost_version(IMAGE) == "1.7.4"


def test_the_bare_jobs_train_a_model_the_images_xgboost_reads_and_score_every_row(
    worker: runner.Worker, s3: Any
) -> None:
    trained = bare.train(s3, _describe(), 2, worker)
    assert 1 <= trained.rounds <= 20
    bucket, key = s3io.parse_s3_uri(bare.model_uri(_describe()))
    archive = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as opened:
        assert opened.getnames() == ["xgboost-model"]
    # The emulator's own worker (the container's load) reads the bare model: one library on both sides.
    emulator_worker = runner.Worker(runner.xgboost_version(IMAGE))
    try:
        path = emulator_worker.path("xgboost-model")
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as opened:
            extracted = opened.extractfile("xgboost-model")
            assert extracted is not None
            with open(path, "wb") as handle:
                handle.write(extracted.read())
        assert emulator_worker.request("load", model=path)["num_features"] == 2
    finally:
        emulator_worker.close()

    scored = bare.transform(
        s3,
        bare.model_uri(_describe()),
        f"s3://{BUCKET}/in/score/",
        f"s3://{BUCKET}/out/",
        nthread=2,
        worker=worker,
    )
    assert scored.compute_seconds >= 0
    lines = s3.get_object(Bucket=BUCKET, Key="out/part-0.csv.out")["Body"].read().decode().splitlines()
    assert len(lines) == 200
    ids, scores = zip(*(line.split(",") for line in lines), strict=True)
    assert ids[:2] == ("id0", "id1")
    assert all(0.0 <= float(score) <= 1.0 for score in scores)


def _comparisons(emulator_seconds: float) -> list[Comparison]:
    return [
        Comparison(
            "training: job submitted -> complete vs read -> model written",
            [emulator_seconds] * 3,
            [1.0] * 3,
            1.1,
        ),
        Comparison("training: xgboost.train only", [0.9] * 3, [0.5] * 3, None),
        Comparison(
            "transform: job submitted -> complete vs model read -> predictions written",
            [0.2] * 3,
            [0.2] * 3,
            1.3,
        ),
    ]


def test_a_slower_emulator_fails_the_training_comparison() -> None:
    assert [row[-1] for row in _comparison_rows(_comparisons(1.05))] == ["met", "", "met"]
    assert [row[-1] for row in _comparison_rows(_comparisons(1.2))] == ["**not met**", "", "met"]


def test_a_diagnostic_row_carries_no_goal() -> None:
    row = _comparison_rows(_comparisons(1.0))[1]
    assert row[-2:] == ["none (diagnostic)", ""]


def test_the_note_says_how_the_bare_time_splits_and_how_far_pairs_stray() -> None:
    comparisons = _comparisons(1.0)
    comparisons[0].emulator = [1.0, 1.2, 0.9]
    note = comparison_note(comparisons)
    assert "`xgb.train` is 50% of the wall time" in note
    assert "training 0.90x to 1.20x" in note
