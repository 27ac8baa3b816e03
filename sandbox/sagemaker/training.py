"""The built-in XGBoost training algorithm, parent side: the job's settings, channels and metrics.

The container's order (aws/sagemaker-xgboost-container 1.7-1,
``src/sagemaker_xgboost_container/algorithm_mode/train.py`` ``sagemaker_train``, lines 121-200):
hyperparameters (``hyperparameters.validate``), then channels (``validate_channels``), then the data
(``channel_data.read_channels``). The training itself runs in the image's xgboost (``worker.py``) as
``train_job`` (lines 257-429) does it; its evaluation history comes back and becomes the round log lines
``[i]\ttrain-<m>:<v>\tvalidation-<m>:<v>``, which FinalMetricDataList is read from.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sandbox.sagemaker import channel_data, content_types, hyperparameters
from sandbox.sagemaker.channel_data import ChannelData, Dataset, LibsvmFiles
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
CSV, LIBSVM = content_types.CSV, content_types.LIBSVM
# metrics/custom_metrics.py lines 232-248: the metrics the container computes itself (feval)
CUSTOM_METRICS = frozenset(
    {
        "accuracy",
        "balanced_accuracy",
        "f1",
        "f1_binary",
        "f1_macro",
        "mse",
        "rmse",
        "mae",
        "precision",
        "precision_macro",
        "precision_micro",
        "r2",
        "recall",
        "recall_macro",
        "recall_micro",
    }
)
CHANNELS = {"train": True, "validation": False, "code": False}  # name -> required
user_error = channel_data.user_error


@dataclass(frozen=True)
class EarlyStopping:
    rounds: int
    metric: str


@dataclass(frozen=True)
class TrainingConfig:
    num_round: int
    params: dict[str, Any]
    custom_metrics: tuple[str, ...]
    early_stopping: EarlyStopping | None
    csv_weights: bool
    save_model_on_termination: bool
    kfold: int | None = None
    num_cv_round: int = 1


# Below this many matrix cells one thread is faster than several (OpenMP start-up and barriers cost
# more than the work, badly so on a busy machine).
SMALL_DATA_CELLS = 100_000


def threads_for(cells: int, cpu_count: int) -> int:
    """xgboost threads for a matrix of ``cells`` values: os.cpu_count(), or 1 for tiny data."""
    return 1 if cells < SMALL_DATA_CELLS else cpu_count


def evaluation_metrics(
    tuning_objective: str | None, eval_metric: Sequence[str] | None
) -> tuple[list[str] | None, list[str], list[str] | None]:
    """train_utils.py ``get_eval_metrics_and_feval`` (lines 45-76): (xgboost's eval_metric, the container's
    own metrics, the tuning objective's metrics).

    The tuning objective (``validation:auc`` -> ``auc``) joins eval_metric, sorted (lines 25-42). The
    container then lists xgboost's metrics as a set difference, in an order that varies from run to
    run; the emulator keeps the union's order.
    """
    tuning = tuning_objective.split(":")[1].split(",") if tuning_objective else None
    if tuning is None and eval_metric is None:
        return None, [], None
    if tuning is None or eval_metric is None:
        union = list(tuning if tuning is not None else eval_metric or [])
    else:
        union = sorted(set(tuning) | set(eval_metric))
    custom = [m for m in union if m in CUSTOM_METRICS]
    return [m for m in union if m not in custom], custom, tuning


def parse_hyperparameters(given: Mapping[str, str]) -> TrainingConfig:
    """The container's validation (JobFailure with its FailureReason), then the job's settings."""
    try:
        validated = hyperparameters.validate(given)
    except hyperparameters.UserError as exc:
        raise user_error(str(exc)) from None
    except Exception as exc:  # the container's own failures, e.g. KeyError('objective')
        raise container_failure(type(exc).__name__, str(exc)) from None
    if validated.get("updater"):
        validated["updater"] = ",".join(validated["updater"])  # train.py line 126
    params = {key: value for key, value in validated.items() if key not in CONTAINER_KEYS}
    eval_metric = validated.get("eval_metric")
    cleaned, custom, tuning = evaluation_metrics(validated.get("_tuning_objective_metric"), eval_metric)
    if cleaned:
        params["eval_metric"] = cleaned  # train.py lines 281-284
    early: EarlyStopping | None = None
    rounds = validated.get("early_stopping_rounds")
    metric = tuning[-1] if tuning else eval_metric[-1] if eval_metric else None  # train.py lines 289-293
    if rounds and metric:
        early = EarlyStopping(int(rounds), metric)
    return TrainingConfig(
        num_round=int(validated["num_round"]),
        params=params,
        custom_metrics=tuple(custom),
        early_stopping=early,
        csv_weights=validated.get("csv_weights", 0) == 1,
        save_model_on_termination=validated.get("save_model_on_termination", "false") == "true",
        kfold=validated.get("_kfold"),
        num_cv_round=int(validated.get("_num_cv_round", 1)),
    )


@dataclass(frozen=True)
class ChannelPlan:
    """What the channels say about reading the data: the TRAIN channel's file type, and Pipe mode."""

    file_type: str
    pipe: bool


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


def _supported(name: str, config: Mapping[str, Any]) -> bool:
    """algorithm_mode/channel_validation.py lines 20-46: every type in File mode, all but libsvm in Pipe
    mode (data_utils.py lines 55-62), ``text/python`` for ``code``; compared as exact strings (toolkit
    channel_validation.py line 53)."""
    content_type, mode = config["ContentType"], config["TrainingInputMode"]
    if name == "code":
        return bool(content_type == "text/python" and mode == "File")
    if mode == "File":
        return content_type in content_types.VALID_CONTENT_TYPES
    return mode == "Pipe" and content_type in content_types.VALID_PIPED_CONTENT_TYPES


def validate_channels(channels: Sequence[Mapping[str, Any]], input_mode: str) -> ChannelPlan:
    """toolkit channel_validation.py ``Channels.validate`` (lines 88-110) with the XGBoost channels, then
    train.py lines 135-138: the train channel's content type and input mode decide how data is read."""
    configs = {str(c["ChannelName"]): channel_config(c, input_mode) for c in channels}
    for name, required in CHANNELS.items():
        if required and name not in configs:
            raise user_error(f"Missing required channel: {name}")
    for name, config in configs.items():
        if name not in CHANNELS:
            raise user_error(f"Extraneous channel found: {name}")
        config.setdefault("ContentType", "text/libsvm")  # channel_validation.py set_default_content_type
        if not _supported(name, config):
            raise user_error(f"Channel configuration for '{name}' channel is not supported: {config}")
    train = configs["train"]
    return ChannelPlan(content_types.kind(str(train["ContentType"])), train["TrainingInputMode"] == "Pipe")


def combined(train: ChannelData, validation: ChannelData | None) -> ChannelData | None:
    """train.py lines 94-98 (``_kfold``): the train and validation rows read as one matrix."""
    if validation is None:
        return None
    if isinstance(train, LibsvmFiles) and isinstance(validation, LibsvmFiles):
        return channel_data.load_libsvm([("train", train.data), ("validation", validation.data)])
    if isinstance(train, Dataset) and isinstance(validation, Dataset):
        width = max(train.num_features, validation.num_features)
        features = [
            np.pad(d.features, ((0, 0), (0, width - d.num_features)), constant_values=np.nan)
            for d in (train, validation)
        ]
        weights = (
            np.concatenate([train.weights, validation.weights])
            if train.weights is not None and validation.weights is not None
            else None
        )
        return Dataset(np.concatenate(features), np.concatenate([train.labels, validation.labels]), weights)
    raise JobFailure("EmulatorError: _kfold on sparse recordio-protobuf channels is not emulated")


# ---- metrics and the round log -----------------------------------------------------------------------


def round_log(history: dict[str, dict[str, list[float]]], rounds: int) -> list[str]:
    """The container's per-round lines ``[i]\\t<data>-<metric>:<v>...`` (5 decimals) for ``rounds`` rounds.

    xgboost's ``EvaluationMonitor`` (callback.py line 81): every metric of ``train``, then of ``validation``.
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


def cross_validation_line(num_round: int, histories: Sequence[dict[str, dict[str, list[float]]]]) -> str:
    """train.py ``print_cv_metric`` (lines 432-440): each metric's mean over the folds, metric by metric."""
    first = histories[0]
    fields = [f"[{num_round}]"]
    for metric in first["train"]:
        for data in first:
            mean = np.mean([history[data][metric][-1] for history in histories])
            fields.append(f"{data}-{metric}:{mean:.5f}")
    return "\t".join(fields)


# algorithm_mode/metrics.py lines 21-42: SageMaker's metric definitions for the algorithm read
# ``.*\[[0-9]+\].*#011validation-<metric>:(\S+)`` (#011 is the tab); train:<metric> the same way.
_METRIC_FIELD = re.compile(r"^(validation|train)-([^:]+):(\S+)$")
_ROUND = re.compile(r"^\[[0-9]+\]")
_DEFINED = frozenset(hyperparameters.MAXIMIZE_METRICS + hyperparameters.MINIMIZE_METRICS)


def final_metrics(log: Sequence[str]) -> list[tuple[str, float]]:
    """FinalMetricDataList as SageMaker reads it from the log: per defined metric, its LAST match, with the
    5 decimals the log has (with early stopping that is the last round trained, not the best);
    ``validation:`` metrics first."""
    found: dict[str, float] = {}
    for line in log:
        if not _ROUND.match(line):
            continue
        for text in line.split("\t")[1:]:
            match = _METRIC_FIELD.match(text)
            if match and match.group(2) in _DEFINED:
                found[f"{match.group(1)}:{match.group(2)}"] = float(match.group(3))
    return sorted(found.items(), key=lambda item: not item[0].startswith("validation:"))


@dataclass
class TrainingOutcome:
    model_files: list[tuple[str, str]]  # (name in model.tar.gz, local path)
    rounds: int
    final_metrics: list[tuple[str, float]] = field(default_factory=list)
    stopped: str | None = None
    compute_seconds: float = 0.0
    output_files: list[tuple[str, str]] = field(default_factory=list)  # output.tar.gz

    @property
    def model_path(self) -> str | None:
        return self.model_files[0][1] if self.model_files else None


def _request(
    config: TrainingConfig,
    train_data: ChannelData,
    validation_data: ChannelData | None,
    worker: Worker,
) -> dict[str, Any]:
    request: dict[str, Any] = {
        "train": train_data.save(worker, "train"),
        "validation": validation_data.save(worker, "validation") if validation_data is not None else None,
        "params": config.params,
        # the container's TupleHyperparameter gives a tuple, which JSON would turn into a list
        "tuple_params": [name for name, value in config.params.items() if isinstance(value, tuple)],
        "num_round": config.num_round,
        "custom_metrics": list(config.custom_metrics),
        "early_stopping": (
            {"rounds": config.early_stopping.rounds, "metric": config.early_stopping.metric}
            if config.early_stopping
            else None
        ),
        "save_model_on_termination": config.save_model_on_termination,
        "model_dir": worker.folder,
        "output_dir": worker.folder,
    }
    if config.kfold:
        both = combined(train_data, validation_data)
        request["train_val"] = both.save(worker, "train_val") if both is not None else None
        request["kfold"] = {
            "folds": config.kfold,
            "repeats": config.num_cv_round,
            "seed": secrets.randbits(32),
        }
    return request


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
    """Run the container's train_job in ``worker`` (the image's xgboost); the model files stay there.

    ``log`` gets one line per round trained (and with ``_kfold``, per fold, and the folds' means).
    ``stop_file`` appearing stops training after the round, and so does a tuning job's early stopping
    rule (``early_stop``, worker.py ``worse_than_median``; not applied to ``_kfold``).
    """
    try:
        answer = worker.request(
            "train",
            **_request(config, train_data, validation_data, worker),
            nthread=int(config.params.get("nthread", nthread)),
            stop_file=stop_file,
            seconds_left=seconds_left,
            early_stop=early_stop,
        )
    except WorkerError as exc:
        raise container_failure(exc.kind, exc.message) from None
    runs: list[dict[str, Any]] = answer["runs"]
    for index, run in enumerate(runs):
        log.extend(round_log(run["history"], int(run["rounds"])))
        if config.kfold and answer["stopped"] is None and (index + 1) % config.kfold == 0:
            log.append(
                cross_validation_line(
                    config.num_round, [r["history"] for r in runs[index + 1 - config.kfold : index + 1]]
                )
            )
    if config.kfold and config.num_cv_round > 1 and answer["stopped"] is None:
        log.append(cross_validation_line(config.num_round, [r["history"] for r in runs]))
    return TrainingOutcome(
        model_files=[(os.path.basename(path), path) for path in answer["saved"] if os.path.exists(path)],
        rounds=int(runs[-1]["rounds"]) if runs else 0,
        final_metrics=final_metrics(log),
        stopped=answer["stopped"],
        compute_seconds=float(answer["compute_seconds"]),
        output_files=[(os.path.basename(path), path) for path in answer.get("output", [])],
    )
