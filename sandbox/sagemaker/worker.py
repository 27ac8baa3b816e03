"""The xgboost side of the emulator: runs INSIDE the Python environment of one image's xgboost.

``python worker.py`` reads one JSON request per line on stdin and answers one JSON line on the
protocol stream (the original stdout; xgboost's own output goes to stderr). It imports only the
standard library, numpy and xgboost, so it runs unchanged under xgboost 1.7.4 (image 1.7-1),
3.0.5 (3.0-5) and 3.2.0 (3.2-0). ``sandbox.sagemaker.runner`` starts it and speaks to it.

What it does follows aws/sagemaker-xgboost-container (``src/sagemaker_xgboost_container/...``):
training as ``algorithm_mode/train.py`` ``train_job`` (xgb.train with ``feval`` on 1.7-1 and
``custom_metric`` on 3.0-5, early stopping from ``callback.py`` ``get_callbacks``, the model saved with
``bst.save_model(<model_dir>/xgboost-model)``: legacy binary under 1.7.4, UBJSON under 3.x), and
prediction as ``algorithm_mode/serve_utils.py`` ``predict`` (``validate_features=False``).
The container's custom metrics (``metrics/custom_metrics.py``) are re-implemented with numpy.

Requests: ``{"cmd": "train", ...}``, ``{"cmd": "load", "model": path}``,
``{"cmd": "predict", "matrix": npy path, "out": npy path, "nthread": n}``. Answers carry
``"ok": true`` or ``"ok": false, "kind": "UserError" | "AlgorithmError", "message": ...``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import xgboost as xgb

VERSION = tuple(int(part) for part in xgb.__version__.split(".")[:2])

# constants/xgb_constants.py (1.7-1 and v3.0-5): maximised metrics; early stopping maximises exactly these.
MAXIMIZE_METRICS = frozenset(
    {
        "accuracy",
        "auc",
        "aucpr",
        "balanced_accuracy",
        "f1",
        "f1_binary",
        "f1_macro",
        "map",
        "ndcg",
        "precision",
        "r2",
        "recall",
        "precision_macro",
        "precision_micro",
        "recall_macro",
        "recall_micro",
    }
)
# constants/xgb_constants.py CUSTOMER_ERRORS: an xgboost failure containing one of these is a UserError.
CUSTOMER_ERRORS = (
    "label must be in [0,1] for logistic regression",
    "label must be in [0, num_class)",
    "Target is multiclass but average='binary'",
    "feature_names mismatch",
    "Check failed: preds.size() == info.labels_.size()",
    "Check failed: !auc_error AUC: the dataset only contains pos or neg samples",
    "Check failed: base_score > 0.0f && base_score < 1.0f base_score must be in (0,1) for logistic loss",
    "Check failed: label_correct PoissonRegression: label must be nonnegative",
    "Check failed: label_correct TweedieRegression: label must be nonnegative",
    "Parameter reg_lambda should be greater equal to 0",
)

Array = Any  # numpy arrays; kept loose so the module type-checks against any numpy


class UserError(Exception):
    """The container's ``sagemaker_algorithm_toolkit.exceptions.UserError``."""


# ---- metrics/custom_metrics.py, with numpy ------------------------------------------------------


def _class_labels(preds: Array) -> Array:
    """custom_metrics.py margin_to_class_label: argmax per row, else ``pred > 0.0``."""
    if preds.ndim == 2 and preds.shape[1] > 1:
        return np.argmax(preds, axis=-1)
    return (preds.reshape(-1) > 0.0).astype(int)


def _per_class(truth: Array, predicted: Array) -> tuple[Array, Array, Array, Array]:
    labels = np.union1d(truth, predicted)
    tp = np.array([np.sum((predicted == c) & (truth == c)) for c in labels], dtype=np.float64)
    fp = np.array([np.sum((predicted == c) & (truth != c)) for c in labels], dtype=np.float64)
    fn = np.array([np.sum((predicted != c) & (truth == c)) for c in labels], dtype=np.float64)
    return labels, tp, fp, fn


def _ratio(numerator: Array, denominator: Array) -> Array:
    """sklearn's zero_division="warn": 0 where the denominator is 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1), 0.0)


def _binary_only(truth: Array, predicted: Array) -> None:
    if np.union1d(truth, predicted).size > 2:
        raise ValueError(
            "Target is multiclass but average='binary'. Please choose another average setting, one of "
            "[None, 'micro', 'macro', 'weighted']."
        )


def _binary(truth: Array, predicted: Array, kind: str) -> float:
    _binary_only(truth, predicted)
    tp = float(np.sum((predicted == 1) & (truth == 1)))
    fp = float(np.sum((predicted == 1) & (truth != 1)))
    fn = float(np.sum((predicted != 1) & (truth == 1)))
    if kind == "precision":
        return tp / (tp + fp) if tp + fp else 0.0
    if kind == "recall":
        return tp / (tp + fn) if tp + fn else 0.0
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def _macro(truth: Array, predicted: Array, kind: str) -> float:
    _, tp, fp, fn = _per_class(truth, predicted)
    if kind == "precision":
        return float(np.mean(_ratio(tp, tp + fp)))
    if kind == "recall":
        return float(np.mean(_ratio(tp, tp + fn)))
    return float(np.mean(_ratio(2 * tp, 2 * tp + fp + fn)))


def _micro(truth: Array, predicted: Array, kind: str) -> float:
    _, tp, fp, fn = _per_class(truth, predicted)
    denominator = np.sum(tp + fp) if kind == "precision" else np.sum(tp + fn)
    return float(np.sum(tp) / denominator) if denominator else 0.0


def _balanced_accuracy(truth: Array, predicted: Array) -> float:
    classes = np.unique(truth)
    return float(np.mean([np.mean(predicted[truth == c] == c) for c in classes]))


CLASSIFICATION_METRICS: dict[str, Callable[[Array, Array], float]] = {
    "accuracy": lambda t, p: float(np.mean(t == p)),
    "balanced_accuracy": _balanced_accuracy,
    "f1": lambda t, p: _macro(t, p, "f1"),  # custom_metrics.py f1: average="macro"
    "f1_binary": lambda t, p: _binary(t, p, "f1"),
    "f1_macro": lambda t, p: _macro(t, p, "f1"),
    "precision": lambda t, p: _binary(t, p, "precision"),
    "precision_macro": lambda t, p: _macro(t, p, "precision"),
    "precision_micro": lambda t, p: _micro(t, p, "precision"),
    "recall": lambda t, p: _binary(t, p, "recall"),
    "recall_macro": lambda t, p: _macro(t, p, "recall"),
    "recall_micro": lambda t, p: _micro(t, p, "recall"),
}


def _r2(truth: Array, preds: Array) -> float:
    total = float(np.sum((truth - np.mean(truth)) ** 2))
    residual = float(np.sum((truth - preds) ** 2))
    if total == 0:
        return 1.0 if residual == 0 else 0.0
    return 1 - residual / total


REGRESSION_METRICS: dict[str, Callable[[Array, Array], float]] = {
    "mse": lambda t, p: float(np.mean((t - p) ** 2)),
    "rmse": lambda t, p: float(np.sqrt(np.mean((t - p) ** 2))),
    "mae": lambda t, p: float(np.mean(np.abs(t - p))),
    "r2": _r2,
}
CUSTOM_METRICS = frozenset(CLASSIFICATION_METRICS) | frozenset(REGRESSION_METRICS)


def custom_feval(names: list[str]) -> Callable[[Array, Any], list[tuple[str, float]]]:
    """custom_metrics.py configure_feval: one (name, value) per requested container metric."""

    def evaluate(preds: Array, data: Any) -> list[tuple[str, float]]:
        labels = data.get_label()
        results = []
        for name in names:
            if name in REGRESSION_METRICS:
                results.append((name, REGRESSION_METRICS[name](labels, preds.reshape(labels.shape))))
            else:
                value = CLASSIFICATION_METRICS[name](labels, _class_labels(preds)) if preds.size else 0.0
                results.append((name, value))
        return results

    return evaluate


# ---- training ---------------------------------------------------------------------------------


def worse_than_median(early_stop: dict[str, Any] | None, evals_log: Any, epoch: int) -> bool:
    """A tuning job's early stopping (``early_stop``: the objective's ``data`` and ``metric``, whether it is
    maximised, and per epoch the median of the earlier trials' running averages): this round's
    objective is worse than the median at the same epoch (sagemaker/latest/dg/
    automatic-model-tuning-early-stopping, "How Early Stopping Works")."""
    if not early_stop:
        return False
    medians: list[float] = early_stop["medians"]
    values = evals_log.get(early_stop["data"], {}).get(early_stop["metric"]) or []
    if epoch >= len(medians) or len(values) <= epoch:
        return False
    # SageMaker reads the objective from the log line, where the container writes 5 decimals.
    value, median = float(f"{float(values[epoch]):.5f}"), float(medians[epoch])
    return value < median if early_stop["maximize"] else value > median


class Monitor(xgb.callback.TrainingCallback):
    """Keeps xgboost's evaluation history; stops when the stop file appears, the deadline passes or the
    tuning job's early stopping rule says so."""

    def __init__(self, stop_file: str, deadline: float, early_stop: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.stop_file = stop_file
        self.deadline = deadline
        self.early_stop = early_stop
        self.stopped: str | None = None
        self.rounds = 0
        self.history: dict[str, dict[str, list[float]]] = {}

    def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
        self.rounds = epoch + 1
        self.history = evals_log
        if os.path.exists(self.stop_file) or worse_than_median(self.early_stop, evals_log, epoch):
            self.stopped = "Stopped"
        elif time.monotonic() > self.deadline:
            self.stopped = "MaxRuntimeExceeded"
        return self.stopped is not None


def load_matrix(spec: dict[str, Any], nthread: int) -> Any:
    if spec["format"] == "libsvm":
        # data_utils.py get_libsvm_dmatrix (v3.0-5: f"{files_path}?format=libsvm")
        try:
            return xgb.DMatrix(f"{spec['path']}?format=libsvm", nthread=nthread)
        except Exception as exc:
            raise UserError(f"Failed to load libsvm data with exception:\n{exc}") from None
    features = np.load(spec["features"])
    labels = np.load(spec["labels"])
    weights = np.load(spec["weights"]) if spec.get("weights") else None
    return xgb.DMatrix(features, label=labels, weight=weights, nthread=nthread)


def train(request: dict[str, Any]) -> dict[str, Any]:
    nthread = int(request["nthread"])
    dtrain = load_matrix(request["train"], nthread)
    dvalidation = load_matrix(request["validation"], nthread) if request.get("validation") else None
    params: dict[str, Any] = {"nthread": nthread, **request["params"]}
    eval_metric: list[str] | None = request.get("eval_metric")
    custom = [m for m in (eval_metric or []) if m in CUSTOM_METRICS]
    if eval_metric:
        cleaned = [m for m in eval_metric if m not in CUSTOM_METRICS]
        if cleaned:
            params["eval_metric"] = cleaned
    watchlist = [(dtrain, "train")]
    if dvalidation is not None:
        watchlist.append((dvalidation, "validation"))
    monitor = Monitor(
        request["stop_file"], time.monotonic() + float(request["seconds_left"]), request.get("early_stop")
    )
    callbacks: list[Any] = [monitor]
    early_rounds = request.get("early_stopping_rounds")
    # callback.py get_callbacks: early stopping needs a validation set AND a metric (eval_metric's last)
    if early_rounds and dvalidation is not None and eval_metric:
        metric = eval_metric[-1]
        callbacks.append(
            xgb.callback.EarlyStopping(
                rounds=int(early_rounds),
                data_name="validation",
                metric_name=metric,
                maximize=metric in MAXIMIZE_METRICS,
                save_best=True,
            )
        )
    extra: dict[str, Any] = {}
    if custom:
        # train.py: 1.7-1 passes feval=, v3.0-5 custom_metric= (predictions differ: margin vs transformed)
        extra["feval" if VERSION < (2, 0) else "custom_metric"] = custom_feval(custom)
    started = time.perf_counter()
    try:
        booster = xgb.train(
            params,
            dtrain,
            num_boost_round=int(request["num_round"]),
            evals=watchlist,
            callbacks=callbacks,
            verbose_eval=False,
            **extra,
        )
    except Exception as exc:
        # train.py train_job: known customer errors are UserErrors, the rest AlgorithmErrors
        message = str(exc)
        if any(known in message for known in CUSTOMER_ERRORS):
            raise UserError(message) from None
        raise RuntimeError(f"XGB train call failed with exception:\n {message}") from None
    finally:
        compute = time.perf_counter() - started
    # xgboost may call EarlyStopping before the monitor in the last round: count rounds by the history
    series = [values for metrics in monitor.history.values() for values in metrics.values()]
    rounds = max((len(values) for values in series), default=monitor.rounds)
    saved = False
    if monitor.stopped is None or request.get("save_model_on_termination"):
        booster.save_model(request["model_path"])  # train.py: bst.save_model(model_dir/xgboost-model)
        saved = True
    return {
        "history": monitor.history,
        "rounds": rounds,
        "stopped": monitor.stopped,
        "saved": saved,
        "compute_seconds": compute,
        "num_features": dtrain.num_col(),
    }


# ---- prediction -------------------------------------------------------------------------------


class Predictor:
    def __init__(self) -> None:
        self.booster: Any = None
        self.nthread = 0

    def load(self, request: dict[str, Any]) -> dict[str, Any]:
        booster = xgb.Booster()
        try:
            booster.load_model(request["model"])
        except Exception as exc:
            raise UserError(f"Unable to load model: {str(exc).splitlines()[0]}") from None
        self.booster = booster
        booster.set_param({"nthread": 1})
        self.nthread = 1
        probe = booster.predict(xgb.DMatrix(np.zeros((1, booster.num_features()), dtype=np.float32)))
        width = 1 if probe.ndim == 1 else int(probe.shape[1])
        return {"num_features": booster.num_features(), "width": width}

    def predict(self, request: dict[str, Any]) -> dict[str, Any]:
        matrix = np.load(request["matrix"])
        if int(request["nthread"]) != self.nthread:  # set_param makes xgboost reconfigure the learner
            self.nthread = int(request["nthread"])
            self.booster.set_param({"nthread": self.nthread})
        started = time.perf_counter()
        try:
            # serve_utils.py predict: the model's own trees, validate_features=False
            predictions = self.booster.predict(xgb.DMatrix(matrix), validate_features=False)
        except Exception as exc:
            raise UserError(str(exc).splitlines()[0]) from None
        seconds = time.perf_counter() - started
        np.save(request["out"], np.asarray(predictions, dtype=np.float32))
        return {"compute_seconds": seconds}


def main() -> None:
    protocol = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # anything xgboost prints goes to stderr, never into the protocol stream
    sys.stdout = sys.stderr
    predictor = Predictor()
    handlers: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
        "train": train,
        "load": predictor.load,
        "predict": predictor.predict,
        "version": lambda _: {"xgboost": xgb.__version__},
    }
    for line in sys.stdin:
        request = json.loads(line)
        try:
            answer = {"ok": True, **handlers[request["cmd"]](request)}
        except UserError as exc:
            answer = {"ok": False, "kind": "UserError", "message": str(exc)}
        except Exception as exc:
            answer = {"ok": False, "kind": "AlgorithmError", "message": f"{type(exc).__name__}: {exc}"}
        protocol.write(json.dumps(answer) + "\n")
        protocol.flush()


if __name__ == "__main__":
    main()
