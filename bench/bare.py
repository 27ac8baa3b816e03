"""Bare equivalents of the SageMaker emulator's jobs, for the emulator-overhead ratios.

Training: the same S3 objects read through the same boto3 client, parsed by pyarrow into a
float32 matrix, one ``xgb.DMatrix`` per channel with the same nthread, then a plain
``xgb.train`` with the job's hyperparameters (early stopping on the validation channel's last
metric), and the model written as UBJSON in a tar.gz to S3. Transform: per score file, GET, parse
(pyarrow), ``Booster.inplace_predict``, format ``id,score`` lines (pyarrow) and PUT. The
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
    channels: dict[str, xgb.DMatrix] = {}
    nthread = 0
    for channel in describe["InputDataConfig"]:
        uri = channel["DataSource"]["S3DataSource"]["S3Uri"]
        features, labels = _read_matrix(s3, uri, 1)
        if not nthread:
            nthread = training.threads_for(features.size, nthread_default)
        label_values = np.asarray(labels.to_numpy(), dtype=np.float32)
        channels[channel["ChannelName"]] = xgb.DMatrix(features, label=label_values, nthread=nthread)
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


def transform(s3: Any, booster: xgb.Booster, input_uri: str, output_uri: str, nthread: int) -> BareTiming:
    """Score every object under ``input_uri`` (id first) into ``id,score`` files under ``output_uri``."""
    started = time.perf_counter()
    compute = 0.0
    for obj in s3io.list_objects(s3, input_uri):
        data = s3io.get_bytes(s3, obj.bucket, obj.key)
        table = pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(autogenerate_column_names=True),
            convert_options=pacsv.ConvertOptions(column_types={"f0": pa.string()}),
        )
        matrix = np.column_stack([np.asarray(c.to_numpy(), dtype=np.float32) for c in table.columns[1:]])
        booster.set_param({"nthread": 1 if matrix.size < training.SMALL_DATA_CELLS else nthread})
        predict_started = time.perf_counter()
        scores = booster.inplace_predict(np.ascontiguousarray(matrix))
        compute += time.perf_counter() - predict_started
        text = pc.cast(pa.array(np.asarray(scores, dtype=np.float64)), pa.string())
        lines = pc.binary_join_element_wise(table.column(0), text, ",")
        body = ("\n".join(lines.to_pylist()) + "\n").encode()
        s3io.put_bytes(s3, s3io.join_uri(output_uri, obj.key.rsplit("/", 1)[-1] + ".out"), body, "text/csv")
    return BareTiming(time.perf_counter() - started, compute)
