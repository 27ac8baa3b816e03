"""Bare equivalents of the SageMaker emulator's jobs, for the emulator-overhead ratios.

Training: the same S3 objects read through the same boto3 client, parsed by pyarrow into a
float32 matrix, one ``xgb.DMatrix`` per channel with the nthread the emulator picks for the train
matrix (``training.threads_for``: 1 below 100k values, else the CPU count), then a plain
``xgb.train`` with the job's hyperparameters (early stopping on the validation channel's last
metric), and the model written as UBJSON in a tar.gz to S3. Transform: GET the model.tar.gz and
load the booster (every transform job has to), then per score file GET, parse (pyarrow),
``Booster.inplace_predict`` (same nthread rule), format ``id,score`` lines (pyarrow) and PUT. The
emulator adds request validation, job state, round logging and the SageMaker CSV contract
(filters, join, str(float) output) on top of exactly this work.
"""

from __future__ import annotations

import io
import tarfile
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import xgboost as xgb

from sandbox.sagemaker import s3io, training


@dataclass
class BareTiming:
    total_seconds: float
    compute_seconds: float
    rounds: int = 0


def _read_matrix(s3: Any, uri: str, first_feature: int) -> tuple[np.ndarray, pa.ChunkedArray]:
    tables = []
    for obj in s3io.list_objects(s3, uri):
        data = s3io.get_bytes(s3, obj.bucket, obj.key)
        tables.append(
            pacsv.read_csv(
                io.BytesIO(data),
                read_options=pacsv.ReadOptions(autogenerate_column_names=True),
                convert_options=pacsv.ConvertOptions(
                    column_types={"f0": pa.string()} if first_feature else None
                ),
            )
        )
    table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
    columns = table.columns
    matrix = np.column_stack([np.asarray(c.to_numpy(), dtype=np.float32) for c in columns[first_feature:]])
    return np.ascontiguousarray(matrix, dtype=np.float32), columns[0]


def train(s3: Any, describe: dict[str, Any], nthread_default: int) -> BareTiming:
    """The training job of ``describe`` (a DescribeTrainingJob dict), done bare."""
    started = time.perf_counter()
    matrices: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for channel in describe["InputDataConfig"]:
        uri = channel["DataSource"]["S3DataSource"]["S3Uri"]
        features, labels = _read_matrix(s3, uri, 1)
        matrices[channel["ChannelName"]] = (features, np.asarray(labels.to_numpy(), dtype=np.float32))
    nthread = training.threads_for(matrices["train"][0].size, nthread_default)
    channels = {
        name: xgb.DMatrix(features, label=labels, nthread=nthread)
        for name, (features, labels) in matrices.items()
    }
    hyper = dict(describe["HyperParameters"])
    rounds = int(hyper.pop("num_round"))
    early = hyper.pop("early_stopping_rounds", None)
    metrics = [m for m in hyper.pop("eval_metric", "").split(",") if m]
    params: dict[str, Any] = {"nthread": str(nthread), **hyper}
    if metrics:
        params["eval_metric"] = metrics
    evals = [(channels["train"], "train")]
    if "validation" in channels:
        evals.append((channels["validation"], "validation"))
    compute_started = time.perf_counter()
    booster = xgb.train(
        params,
        channels["train"],
        num_boost_round=rounds,
        evals=evals,
        early_stopping_rounds=int(early) if early and "validation" in channels else None,
        verbose_eval=False,
    )
    compute = time.perf_counter() - compute_started
    raw = bytes(booster.save_raw("ubj"))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=6) as archive:
        info = tarfile.TarInfo("xgboost-model")
        info.size = len(raw)
        archive.addfile(info, io.BytesIO(raw))
    output = s3io.join_uri(describe["OutputDataConfig"]["S3OutputPath"], "bench-bare", "model.tar.gz")
    s3io.put_bytes(s3, output, buffer.getvalue(), "application/x-gzip")
    return BareTiming(time.perf_counter() - started, compute, booster.num_boosted_rounds())


def load_booster(s3: Any, model_uri: str) -> xgb.Booster:
    """GET a model.tar.gz and load its ``xgboost-model``."""
    bucket, key = s3io.parse_s3_uri(model_uri)
    with tarfile.open(fileobj=io.BytesIO(s3io.get_bytes(s3, bucket, key)), mode="r:gz") as archive:
        extracted = archive.extractfile("xgboost-model")
        assert extracted is not None
        raw = extracted.read()
    booster = xgb.Booster()
    booster.load_model(bytearray(raw))
    return booster


def transform(s3: Any, model_uri: str, input_uri: str, output_uri: str, nthread: int) -> BareTiming:
    """Load the model, score every object under ``input_uri`` (id first) into ``id,score`` files."""
    started = time.perf_counter()
    booster = load_booster(s3, model_uri)
    compute = 0.0
    current = 0
    for obj in s3io.list_objects(s3, input_uri):
        data = s3io.get_bytes(s3, obj.bucket, obj.key)
        table = pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(autogenerate_column_names=True),
            convert_options=pacsv.ConvertOptions(column_types={"f0": pa.string()}),
        )
        matrix = np.column_stack([np.asarray(c.to_numpy(), dtype=np.float32) for c in table.columns[1:]])
        threads = 1 if matrix.size < training.SMALL_DATA_CELLS else nthread
        if threads != current:
            booster.set_param({"nthread": threads})
            current = threads
        predict_started = time.perf_counter()
        scores = booster.inplace_predict(np.ascontiguousarray(matrix))
        compute += time.perf_counter() - predict_started
        text = pc.cast(pa.array(np.asarray(scores, dtype=np.float64)), pa.string())
        lines = pc.binary_join_element_wise(table.column(0), text, ",")
        body = ("\n".join(lines.to_pylist()) + "\n").encode()
        s3io.put_bytes(s3, s3io.join_uri(output_uri, obj.key.rsplit("/", 1)[-1] + ".out"), body, "text/csv")
    return BareTiming(time.perf_counter() - started, compute)
