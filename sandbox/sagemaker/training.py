"""The built-in XGBoost training algorithm, parent side: the job's settings, channels and metrics.

The container's order (aws/sagemaker-xgboost-container 1.7-1,
``src/sagemaker_xgboost_container/algorithm_mode/train.py`` ``sagemaker_train``, lines 121-200):
hyperparameters (``hyperparameters.validate``), then channels (``channel_config``), then the data. CSV
channels are parsed here (label in column 0, weights in column 1 when ``csv_weights=1``, no header,
empty field = NaN, a trailing comma adds no feature); libsvm channels go to xgboost as files. The
training itself runs in the image's xgboost (``worker.py``); its evaluation history comes back and
becomes the round log lines ``[i]\ttrain-<m>:<v>\tvalidation-<m>:<v>`` and FinalMetricDataList.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from sandbox.sagemaker import csvio, hyperparameters
from sandbox.sagemaker.errors import JobFailure, container_failure
from sandbox.sagemaker.runner import Worker, WorkerError

# Keys train.py train_job pops before xgb.train (lines 271-300) and sagemaker_train pops (line 161).
CONTAINER_KEYS = frozenset(
    {
        "num_round",
        "save_model_on_termination",
        "_tuning_objective_metric",
        "eval_metric",
        "early_stopping_rounds",
        "_kfold",
        "_num_cv_round",
        "use_dask_gpu_training",
    }
)
CSV, LIBSVM = "csv", "libsvm"
# data_utils.py VALID_CONTENT_TYPES (lines 43-53): the only ContentType strings a channel may carry
# (algorithm_mode/channel_validation.py; toolkit channel_validation.py line 53 compares them exactly).
VALID_CONTENT_TYPES = (
    "csv",
    "libsvm",
    "parquet",
    "recordio-protobuf",
    "text/csv",
    "text/libsvm",
    "text/x-libsvm",
    "application/x-parquet",
    "application/x-recordio-protobuf",
)
DEFAULT_CONTENT_TYPE = "text/libsvm"  # channel_validation.py: set_default_content_type("text/libsvm")
CHANNELS = {"train": True, "validation": False, "code": False}  # name -> required


def user_error(message: str) -> JobFailure:
    return container_failure("UserError", message)


@dataclass(frozen=True)
class TrainingConfig:
    num_round: int
    params: dict[str, Any]
    eval_metrics: tuple[str, ...]
    early_stopping_rounds: int | None
    csv_weights: bool
    save_model_on_termination: bool


# Below this many matrix cells one thread is faster than several (OpenMP start-up and barriers cost
# more than the work, badly so on a busy machine).
SMALL_DATA_CELLS = 100_000


def threads_for(cells: int, cpu_count: int) -> int:
    """xgboost threads for a matrix of ``cells`` values: os.cpu_count(), or 1 for tiny data."""
    return 1 if cells < SMALL_DATA_CELLS else cpu_count


def parse_hyperparameters(given: Mapping[str, str]) -> TrainingConfig:
    """The container's validation (JobFailure with its FailureReason), then the job's settings."""
    try:
        validated = hyperparameters.validate(given)
    except hyperparameters.UserError as exc:
        raise user_error(str(exc)) from None
    except Exception as exc:  # the container's own failures, e.g. KeyError('objective')
        raise container_failure(type(exc).__name__, str(exc)) from None
    if "_kfold" in validated:
        raise JobFailure("EmulatorError: _kfold (cross-validation training) is not emulated")
    if validated.get("updater"):
        validated["updater"] = ",".join(validated["updater"])  # train.py line 126
    params = {key: value for key, value in validated.items() if key not in CONTAINER_KEYS}
    return TrainingConfig(
        num_round=int(validated["num_round"]),
        params=params,
        eval_metrics=tuple(validated.get("eval_metric") or ()),
        early_stopping_rounds=validated.get("early_stopping_rounds"),
        csv_weights=validated.get("csv_weights", 0) == 1,
        save_model_on_termination=validated.get("save_model_on_termination", "false") == "true",
    )


def channel_config(channel: Mapping[str, Any], input_mode: str) -> dict[str, Any]:
    """The channel's entry of ``inputdataconfig.json`` as the container reads it."""
    source = channel["DataSource"]["S3DataSource"]
    config = {
        "TrainingInputMode": channel.get("InputMode") or input_mode,
        "S3DistributionType": source.get("S3DataDistributionType", "FullyReplicated"),
        "RecordWrapperType": channel.get("RecordWrapperType", "None"),
    }
    if channel.get("ContentType") is not None:
        config = {"ContentType": channel["ContentType"], **config}
    return config


def validate_channels(channels: Sequence[Mapping[str, Any]], input_mode: str) -> dict[str, str]:
    """toolkit channel_validation.py ``Channels.validate`` (lines 88-110) with the XGBoost channels.

    Returns channel name -> the file type ``data_utils.get_content_type`` gives (csv / libsvm).
    """
    configs = {str(c["ChannelName"]): channel_config(c, input_mode) for c in channels}
    for name, required in CHANNELS.items():
        if required and name not in configs:
            raise user_error(f"Missing required channel: {name}")
    kinds: dict[str, str] = {}
    for name, config in configs.items():
        if name not in CHANNELS:
            raise user_error(f"Extraneous channel found: {name}")
        config.setdefault("ContentType", DEFAULT_CONTENT_TYPE)
        supported = "text/python" if name == "code" else VALID_CONTENT_TYPES
        mode_ok = config["TrainingInputMode"] in ("File", "Pipe")
        if config["ContentType"] not in supported or not mode_ok:
            raise user_error(f"Channel configuration for '{name}' channel is not supported: {config}")
        if name != "code":
            kinds[name] = file_type(str(config["ContentType"]))
    return kinds


def file_type(content_type: str) -> str:
    """data_utils.py ``get_content_type`` (lines 86-122) for a content type channel validation passed."""
    base = content_type.lower().split(";", 1)[0].strip()
    if base in ("csv", "text/csv"):
        return CSV
    if base in ("libsvm", "text/libsvm", "text/x-libsvm"):
        return LIBSVM
    raise JobFailure(
        f"EmulatorError: ContentType {content_type} (parquet / recordio-protobuf) is not emulated"
    )


def reject_hidden_files(channel: str, uris: Sequence[str]) -> None:
    """A file whose name starts with '.' under a channel fails the job in the container (issue 17)."""
    for uri in uris:
        if uri.rsplit("/", 1)[-1].startswith("."):
            raise user_error(
                f"Failed to load {channel} data: {uri} is a hidden file (its name starts with '.'); the "
                "container reads every file of the channel and fails on it"
            )


@dataclass
class Dataset:
    features: npt.NDArray[np.float32]
    labels: npt.NDArray[np.float32]
    weights: npt.NDArray[np.float32] | None

    @property
    def cells(self) -> int:
        return int(self.features.size)

    @property
    def num_features(self) -> int:
        return int(self.features.shape[1])

    def save(self, worker: Worker, name: str) -> dict[str, Any]:
        spec: dict[str, Any] = {"format": "npy"}
        for part in ("features", "labels", "weights"):
            value = getattr(self, part)
            if value is not None:
                spec[part] = worker.path(f"{name}-{part}.npy")
                np.save(spec[part], value)
        return spec


@dataclass
class LibsvmFiles:
    """A libsvm channel: its objects joined into one file xgboost parses (``?format=libsvm``)."""

    data: bytes

    @property
    def cells(self) -> int:
        return len(self.data) // 8

    def save(self, worker: Worker, name: str) -> dict[str, Any]:
        path = worker.path(f"{name}.libsvm")
        with open(path, "wb") as handle:
            handle.write(self.data)
        return {"format": "libsvm", "path": path}


def load_libsvm(blobs: Sequence[tuple[str, bytes]]) -> LibsvmFiles:
    return LibsvmFiles(
        b"".join(data if data.endswith(b"\n") or not data else data + b"\n" for _, data in blobs)
    )


def _trailing_comma(data: bytes) -> bool:
    first = data.lstrip(b"\r\n").split(b"\n", 1)[0].rstrip(b"\r")
    return first.endswith(b",")


def load_channel(channel: str, blobs: Sequence[tuple[str, bytes]], csv_weights: bool) -> Dataset:
    """Parse every object of a CSV channel (label first, optional weight second) into one dataset.

    Stricter than the container on purpose (docs/contracts.md): a row that is not numeric (a header)
    fails the job instead of being read as data.
    """
    tables: list[pa.Table] = []
    width = 0
    for uri, data in blobs:
        fields = csvio.count_fields(data)
        if fields == 0:
            continue
        trailing = _trailing_comma(data)  # xgboost's CSV parser: "1,2,3," is 3 fields
        used = fields - 1 if trailing else fields
        if width and used != width:
            raise user_error(f"Channel {channel}: {uri} has {used} columns, earlier files have {width}")
        width = used
        try:
            tables.append(csvio.read_columns(data, fields, dict.fromkeys(range(used), pa.float32())))
        except pa.ArrowInvalid as exc:
            raise user_error(
                f"Failed to load csv data with exception:\n{uri}: not numeric CSV: {exc}"
            ) from None
    first_feature = 2 if csv_weights else 1
    if not tables:
        raise user_error(f"No data in {channel} channel")
    if width <= first_feature:
        raise user_error(
            f"Channel {channel}: rows need a label{' and a weight' if csv_weights else ''} and features"
        )
    table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
    labels = csvio.as_float32(table.column(0))
    weights = csvio.as_float32(table.column(1)) if csv_weights else None
    features = csvio.to_matrix([table.column(i) for i in range(first_feature, width)])
    return Dataset(features=features, labels=labels, weights=weights)


ChannelData = Dataset | LibsvmFiles


def round_log(history: dict[str, dict[str, list[float]]], rounds: int) -> list[str]:
    """The container's per-round lines ``[i]\\t<data>-<metric>:<v>...`` (5 decimals) for ``rounds`` rounds.

    Metrics in evaluation order: every metric of ``train``, then of ``validation``.
    """
    series = [
        (f"{data_name}-{metric}", values)
        for data_name, metrics in history.items()
        for metric, values in metrics.items()
    ]
    return [
        "\t".join([f"[{epoch}]", *(f"{name}:{float(values[epoch]):.5f}" for name, values in series)])
        for epoch in range(rounds)
    ]


@dataclass
class TrainingOutcome:
    model_path: str | None
    rounds: int
    final_metrics: list[tuple[str, float]] = field(default_factory=list)
    stopped: str | None = None
    compute_seconds: float = 0.0


def final_metrics(history: Mapping[str, Mapping[str, Sequence[float]]]) -> list[tuple[str, float]]:
    """FinalMetricDataList: the LATEST value the algorithm emitted for each metric (SageMaker parses the
    log lines with the metric definitions and keeps the last match; with early stopping that is the
    last round trained, not the best)."""
    return [
        (f"{data_name}:{metric}", float(values[-1]))
        for data_name in ("validation", "train")
        for metric, values in history.get(data_name, {}).items()
        if values
    ]


def train(
    config: TrainingConfig,
    train_data: ChannelData,
    validation_data: ChannelData | None,
    *,
    worker: Worker,
    log: list[str],
    stop_file: str,
    seconds_left: float,
    nthread: int,
    early_stop: dict[str, Any] | None = None,
) -> TrainingOutcome:
    """Run the container's train_job in ``worker`` (the image's xgboost); the model file stays there.

    ``log`` gets one line per round trained. ``stop_file`` appearing stops training after the round, and
    so does a tuning job's early stopping rule (``early_stop``, worker.py ``worse_than_median``).
    """
    model_path = worker.path("xgboost-model")
    try:
        answer = worker.request(
            "train",
            train=train_data.save(worker, "train"),
            validation=validation_data.save(worker, "validation") if validation_data is not None else None,
            params=config.params,
            num_round=config.num_round,
            eval_metric=list(config.eval_metrics) or None,
            early_stopping_rounds=config.early_stopping_rounds,
            save_model_on_termination=config.save_model_on_termination,
            nthread=int(config.params.get("nthread", nthread)),
            stop_file=stop_file,
            seconds_left=seconds_left,
            model_path=model_path,
            early_stop=early_stop,
        )
    except WorkerError as exc:
        raise container_failure(exc.kind, exc.message) from None
    history: dict[str, dict[str, list[float]]] = answer["history"]
    log.extend(round_log(history, int(answer["rounds"])))
    return TrainingOutcome(
        model_path=model_path if answer["saved"] and os.path.exists(model_path) else None,
        rounds=int(answer["rounds"]),
        final_metrics=final_metrics(history),
        stopped=answer["stopped"],
        compute_seconds=float(answer["compute_seconds"]),
    )
