"""Bare equivalents of the SageMaker emulator's jobs, for the emulator-overhead ratios.

Details: bench/README.md, "bare.py".
"""

from __future__ import annotations

import io
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from sandbox.sagemaker import runner, s3io, training
from sandbox.sagemaker.transform import model_file

WORKER_SCRIPT = Path(__file__).with_name("bare_worker.py")


@dataclass
class BareTiming:
    total_seconds: float
    compute_seconds: float
    rounds: int = 0


def start_worker(image: str) -> runner.Worker:
    """A bare worker on ``image``'s xgboost, ready (its imports done) before anything is timed."""
    worker = runner.Worker(runner.xgboost_version(image), script=WORKER_SCRIPT)
    worker.request("version")
    return worker


def _read_table(s3: Any, uri: str, first_is_text: bool) -> pa.Table:
    tables = []
    for obj in s3io.list_objects(s3, uri):
        data = s3io.get_bytes(s3, obj.bucket, obj.key)
        tables.append(
            pacsv.read_csv(
                io.BytesIO(data),
                read_options=pacsv.ReadOptions(autogenerate_column_names=True),
                convert_options=pacsv.ConvertOptions(
                    column_types={"f0": pa.string()} if first_is_text else None
                ),
            )
        )
    return pa.concat_tables(tables) if len(tables) > 1 else tables[0]


def _features(columns: list[pa.ChunkedArray]) -> np.ndarray:
    matrix = np.column_stack([np.asarray(column.to_numpy(), dtype=np.float32) for column in columns])
    return np.ascontiguousarray(matrix, dtype=np.float32)


def _save_channel(worker: runner.Worker, name: str, table: pa.Table) -> dict[str, str]:
    spec = {"features": worker.path(f"{name}-features.npy"), "labels": worker.path(f"{name}-labels.npy")}
    np.save(spec["features"], _features(table.columns[1:]))
    np.save(spec["labels"], np.asarray(table.column(0).to_numpy(), dtype=np.float32))
    return spec


def model_uri(describe: dict[str, Any]) -> str:
    """Where the bare training writes its model (beside the job's own output)."""
    return s3io.join_uri(describe["OutputDataConfig"]["S3OutputPath"], "bench-bare", "model.tar.gz")


def train(s3: Any, describe: dict[str, Any], nthread_default: int, worker: runner.Worker) -> BareTiming:
    """The training job of ``describe`` (a DescribeTrainingJob dict), done bare in ``worker``."""
    started = time.perf_counter()
    tables = {
        channel["ChannelName"]: _read_table(s3, channel["DataSource"]["S3DataSource"]["S3Uri"], False)
        for channel in describe["InputDataConfig"]
    }
    cells = tables["train"].num_rows * (tables["train"].num_columns - 1)
    hyper = dict(describe["HyperParameters"])
    rounds = hyper.pop("num_round")
    early = hyper.pop("early_stopping_rounds", None)
    metrics = [m for m in hyper.pop("eval_metric", "").split(",") if m]
    params: dict[str, Any] = {**hyper, **({"eval_metric": metrics} if metrics else {})}
    answer = worker.request(
        "train",
        train=_save_channel(worker, "train", tables["train"]),
        validation=_save_channel(worker, "validation", tables["validation"])
        if "validation" in tables
        else None,
        params=params,
        num_round=int(rounds),
        early_stopping_rounds=int(early) if early else None,
        nthread=training.threads_for(cells, nthread_default),
        model_path=worker.path("xgboost-model"),
    )
    raw = Path(worker.path("xgboost-model")).read_bytes()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=6) as archive:
        info = tarfile.TarInfo("xgboost-model")
        info.size = len(raw)
        archive.addfile(info, io.BytesIO(raw))
    s3io.put_bytes(s3, model_uri(describe), buffer.getvalue(), "application/x-gzip")
    return BareTiming(time.perf_counter() - started, float(answer["compute_seconds"]), int(answer["rounds"]))


def transform(
    s3: Any, model: str, input_uri: str, output_uri: str, *, nthread: int, worker: runner.Worker
) -> BareTiming:
    """Load the model at ``model`` (a model.tar.gz), score every object under ``input_uri`` (id
    first) into ``id,score`` files under ``output_uri``."""
    started = time.perf_counter()
    bucket, key = s3io.parse_s3_uri(model)
    path = Path(worker.path("model"))
    path.write_bytes(model_file(s3io.get_bytes(s3, bucket, key)))
    worker.request("load", model=str(path))
    compute = 0.0
    source, target = worker.path("matrix.npy"), worker.path("predictions.npy")
    for obj in s3io.list_objects(s3, input_uri):
        data = s3io.get_bytes(s3, obj.bucket, obj.key)
        table = pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(autogenerate_column_names=True),
            convert_options=pacsv.ConvertOptions(column_types={"f0": pa.string()}),
        )
        matrix = _features(table.columns[1:])
        np.save(source, matrix)
        threads = 1 if matrix.size < training.SMALL_DATA_CELLS else nthread
        compute += float(
            worker.request("predict", matrix=source, out=target, nthread=threads)["compute_seconds"]
        )
        scores = np.load(target)
        text = pc.cast(pa.array(np.asarray(scores, dtype=np.float64)), pa.string())
        lines = pc.binary_join_element_wise(table.column(0), text, ",")
        body = ("\n".join(lines.to_pylist()) + "\n").encode()
        s3io.put_bytes(s3, s3io.join_uri(output_uri, obj.key.rsplit("/", 1)[-1] + ".out"), body, "text/csv")
    return BareTiming(time.perf_counter() - started, compute)
