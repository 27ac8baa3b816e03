"""The built-in XGBoost training algorithm: CSV channels in, a trained booster and its metrics out.

Contract of the real container reproduced here: label in column 0 (weights in column 1 when
``csv_weights=1``), no header, empty field = NaN; hyperparameters arrive as strings; ``num_round``
required; ``eval_metric`` a comma list; ``early_stopping_rounds`` watches the LAST metric on the
``validation`` channel and the best iteration is kept; every round logs
``[i]\\ttrain-<m>:<v>\\tvalidation-<m>:<v>``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import xgboost as xgb

from sandbox.sagemaker import csvio
from sandbox.sagemaker.errors import client_error

MAXIMISED_METRICS = frozenset({"auc", "aucpr", "accuracy", "f1", "map", "ndcg"})
CUSTOM_METRICS = frozenset({"accuracy", "f1"})
# Hyperparameters the container consumes itself; everything else goes to xgboost.train.
CONTAINER_KEYS = frozenset(
    {
        "num_round",
        "early_stopping_rounds",
        "eval_metric",
        "csv_weights",
        "save_model_on_termination",
        "_tuning_objective_metric",
        "_kfold",
        "_num_cv_round",
        "use_dask_gpu_training",
    }
)


def metric_base(name: str) -> str:
    """``ndcg@5`` -> ``ndcg``, ``error@0.7`` -> ``error``."""
    return name.split("@", 1)[0]


def is_maximised(metric: str) -> bool:
    return metric_base(metric) in MAXIMISED_METRICS


@dataclass(frozen=True)
class TrainingConfig:
    num_round: int
    params: dict[str, Any]
    eval_metrics: tuple[str, ...]
    early_stopping_rounds: int | None
    csv_weights: bool
    save_model_on_termination: bool


def _positive_int(hyperparameters: dict[str, str], key: str) -> int:
    raw = str(hyperparameters[key]).strip()
    try:
        number = float(raw)
    except ValueError:
        number = float("nan")
    if not number.is_integer():
        raise ValueError(f"Hyperparameter {key}: value {raw!r} is not an integer")
    value = int(number)
    if value < 1:
        raise ValueError(f"Hyperparameter {key}: value {value} must be at least 1")
    return value


# Below this many matrix cells one thread is faster than several (OpenMP start-up and barriers cost
# more than the work, badly so on a busy machine).
SMALL_DATA_CELLS = 100_000


def threads_for(cells: int, cpu_count: int) -> int:
    """xgboost threads for a matrix of ``cells`` values: os.cpu_count(), or 1 for tiny data."""
    return 1 if cells < SMALL_DATA_CELLS else cpu_count


def parse_hyperparameters(hyperparameters: dict[str, str]) -> TrainingConfig:
    """Split the request's string hyperparameters into container settings and xgboost params.

    Raises ValueError with a message naming the offending hyperparameter.
    """
    if "num_round" not in hyperparameters:
        raise ValueError("Missing required hyperparameter: num_round")
    num_round = _positive_int(hyperparameters, "num_round")
    early = (
        _positive_int(hyperparameters, "early_stopping_rounds")
        if "early_stopping_rounds" in hyperparameters
        else None
    )
    metrics = tuple(m.strip() for m in str(hyperparameters.get("eval_metric", "")).split(",") if m.strip())
    csv_weights = str(hyperparameters.get("csv_weights", "0")).strip()
    if csv_weights not in {"0", "1"}:
        raise ValueError(f"Hyperparameter csv_weights: value {csv_weights!r} must be 0 or 1")
    save_on_stop = str(hyperparameters.get("save_model_on_termination", "false")).strip().lower()
    if save_on_stop not in {"true", "false"}:
        raise ValueError(
            f"Hyperparameter save_model_on_termination: value {save_on_stop!r} must be true or false"
        )
    params: dict[str, Any] = {
        key: str(value)
        for key, value in hyperparameters.items()
        if key not in CONTAINER_KEYS and not key.startswith("sagemaker_")
    }
    builtin = [m for m in metrics if metric_base(m) not in CUSTOM_METRICS]
    if builtin:
        params["eval_metric"] = builtin
    elif metrics:
        params["disable_default_eval_metric"] = "1"
    return TrainingConfig(
        num_round=num_round,
        params=params,
        eval_metrics=metrics,
        early_stopping_rounds=early,
        csv_weights=csv_weights == "1",
        save_model_on_termination=save_on_stop == "true",
    )


@dataclass
class Dataset:
    features: npt.NDArray[np.float32]
    labels: npt.NDArray[np.float32]
    weights: npt.NDArray[np.float32] | None


def load_channel(channel: str, blobs: Sequence[tuple[str, bytes]], csv_weights: bool) -> Dataset:
    """Parse every object of a channel (label first, optional weight second) into one dataset."""
    tables: list[pa.Table] = []
    width = 0
    for uri, data in blobs:
        fields = csvio.count_fields(data)
        if fields == 0:
            continue
        if width and fields != width:
            raise client_error(f"Channel {channel}: {uri} has {fields} columns, earlier files have {width}")
        width = fields
        try:
            tables.append(csvio.read_columns(data, fields, dict.fromkeys(range(fields), pa.float32())))
        except pa.ArrowInvalid as exc:
            raise client_error(f"Channel {channel}: cannot parse {uri} as numeric CSV: {exc}") from None
    first_feature = 2 if csv_weights else 1
    if not tables:
        raise client_error(f"No data in {channel} channel")
    if width <= first_feature:
        raise client_error(
            f"Channel {channel}: rows need a label{' and a weight' if csv_weights else ''} and features"
        )
    table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
    labels = csvio.as_float32(table.column(0))
    if np.isnan(labels).any():
        raise client_error(f"Channel {channel}: the label (column 1) is empty on some rows")
    weights = csvio.as_float32(table.column(1)) if csv_weights else None
    features = csvio.to_matrix([table.column(i) for i in range(first_feature, width)])
    return Dataset(features=features, labels=labels, weights=weights)


def to_dmatrix(dataset: Dataset, nthread: int) -> xgb.DMatrix:
    return xgb.DMatrix(dataset.features, label=dataset.labels, weight=dataset.weights, nthread=nthread)


def _custom_metric(
    names: Sequence[str],
) -> Callable[[npt.NDArray[Any], xgb.DMatrix], list[tuple[str, float]]]:
    """The container's own metrics (accuracy, f1) computed on transformed predictions."""

    def evaluate(predictions: npt.NDArray[Any], data: xgb.DMatrix) -> list[tuple[str, float]]:
        truth = data.get_label().astype(np.int64)
        if predictions.ndim == 2 and predictions.shape[1] > 1:
            predicted = predictions.argmax(axis=1)
        else:
            predicted = (predictions.reshape(-1) > 0.5).astype(np.int64)
        results: list[tuple[str, float]] = []
        for name in names:
            if name == "accuracy":
                results.append((name, float(np.mean(predicted == truth))))
            else:
                results.append((name, _macro_f1(truth, predicted)))
        return results

    return evaluate


def _macro_f1(truth: npt.NDArray[np.int64], predicted: npt.NDArray[np.int64]) -> float:
    classes = np.union1d(truth, predicted)
    if classes.size <= 2:
        classes = np.array([1])
    scores = []
    for label in classes:
        tp = float(np.sum((predicted == label) & (truth == label)))
        fp = float(np.sum((predicted == label) & (truth != label)))
        fn = float(np.sum((predicted != label) & (truth == label)))
        scores.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores))


class _Monitor(xgb.callback.TrainingCallback):
    """Stops training when asked to (stop request / max runtime) and keeps the evaluation history.

    Per round it only counts the round and polls ``should_stop`` (a flag and a clock read): the round
    log lines are formatted from the history once training has ended (``round_log``), so a round
    costs xgboost's own work and nothing more.
    """

    def __init__(self, should_stop: Callable[[], str | None]) -> None:
        super().__init__()
        self.should_stop = should_stop
        self.stopped: str | None = None
        self.rounds = 0
        self.history: dict[str, dict[str, list[float]]] = {}

    def after_iteration(self, model: xgb.Booster, epoch: int, evals_log: Any) -> bool:
        self.rounds = epoch + 1
        self.history = evals_log  # xgboost's own dict, extended in place every round
        self.stopped = self.should_stop()
        return self.stopped is not None


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
    booster: xgb.Booster | None
    best_iteration: int
    final_metrics: list[tuple[str, float]] = field(default_factory=list)
    stopped: str | None = None
    compute_seconds: float = 0.0


def train(
    config: TrainingConfig,
    dtrain: xgb.DMatrix,
    dvalidation: xgb.DMatrix | None,
    *,
    log: list[str],
    should_stop: Callable[[], str | None],
    nthread: int,
) -> TrainingOutcome:
    """Run xgboost.train as the container does; ``should_stop`` is polled after every round.

    ``nthread`` is used unless the hyperparameters set it. ``log`` gets one line per round trained,
    appended when training ends (also when xgboost fails part way).
    """
    params = {"nthread": str(nthread), **config.params}
    evals = [(dtrain, "train")]
    if dvalidation is not None:
        evals.append((dvalidation, "validation"))
    monitor = _Monitor(should_stop)
    callbacks: list[xgb.callback.TrainingCallback] = [monitor]
    watched: str | None = None
    if config.early_stopping_rounds and dvalidation is not None:
        watched = config.eval_metrics[-1] if config.eval_metrics else None
        callbacks.append(
            xgb.callback.EarlyStopping(
                rounds=config.early_stopping_rounds,
                metric_name=watched,
                data_name="validation",
                maximize=is_maximised(watched) if watched else None,
                save_best=True,
            )
        )
    custom = [m for m in config.eval_metrics if metric_base(m) in CUSTOM_METRICS]
    started = time.perf_counter()
    try:
        booster = xgb.train(
            params,
            dtrain,
            num_boost_round=config.num_round,
            evals=evals,
            verbose_eval=False,
            callbacks=callbacks,
            custom_metric=_custom_metric(custom) if custom else None,
        )
    except xgb.core.XGBoostError as exc:
        raise client_error(f"XGBoost training failed: {str(exc).splitlines()[0]}") from None
    finally:
        compute = time.perf_counter() - started
        log.extend(round_log(monitor.history, monitor.rounds))
    history = monitor.history
    best = monitor.rounds - 1
    early_stopping = bool(config.early_stopping_rounds) and "validation" in history
    if early_stopping and watched is None:
        watched = list(history["validation"])[-1]
    if early_stopping and watched is not None:
        values = np.asarray(history["validation"][watched], dtype=np.float64)
        best = int(np.argmax(values) if is_maximised(watched) else np.argmin(values))
    final = [
        (f"{data_name}:{metric}", float(values[best]))
        for data_name in ("validation", "train")
        for metric, values in history.get(data_name, {}).items()
    ]
    return TrainingOutcome(
        booster=booster,
        best_iteration=best,
        final_metrics=final,
        stopped=monitor.stopped,
        compute_seconds=compute,
    )
