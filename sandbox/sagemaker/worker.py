"""The xgboost side of the emulator: runs INSIDE the Python environment of one image's xgboost.

Details: sandbox/sagemaker/README.md, "worker.py".
"""

from __future__ import annotations

import json
import os
import pickle  # nosec B403: the container loads pickled models too (serve_utils.py line 177)
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
    if epoch >= len(medians) or not values:
        return False
    # SageMaker reads the objective from the log line: this round's last value, with 5 decimals.
    value, median = float(f"{float(values[-1]):.5f}"), float(medians[epoch])
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
        self.history: dict[str, dict[str, list[float]]] = {}
        self.per_round_values: dict[tuple[str, str], int] = {}

    def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
        self.history = evals_log
        if not self.per_round_values:  # round 0: how many values each metric logs a round
            self.per_round_values = {
                (d, m): len(v) for d, metrics in evals_log.items() for m, v in metrics.items()
            }
        if os.path.exists(self.stop_file) or worse_than_median(self.early_stop, evals_log, epoch):
            self.stopped = "Stopped"
        elif time.monotonic() > self.deadline:
            self.stopped = "MaxRuntimeExceeded"
        return self.stopped is not None

    @property
    def rounds(self) -> int:
        """Rounds trained, from the history: xgboost 3 keeps its callbacks in a set, so the one that stops
        training may run before this one in the last round."""
        counts = [len(self.history[d][m]) // per_round for (d, m), per_round in self.per_round_values.items()]
        return max(counts, default=0)

    def per_round(self) -> dict[str, dict[str, list[float]]]:
        """Each metric's value per round as the container's ``EvaluationMonitor`` prints it: the LAST one
        xgboost logged that round. A metric both xgboost and the container compute (``rmse`` next to
        the objective's default) is logged twice a round (xgboost/callback.py ``_update_history``)."""
        return {
            data: {
                metric: values[self.per_round_values[data, metric] - 1 :: self.per_round_values[data, metric]]
                for metric, values in metrics.items()
            }
            for data, metrics in self.history.items()
        }


def load_matrix(spec: dict[str, Any], nthread: int) -> Any:
    if spec["format"] == "libsvm":
        # data_utils.py get_libsvm_dmatrix (v3.0-5: f"{files_path}?format=libsvm")
        try:
            return xgb.DMatrix(f"{spec['path']}?format=libsvm", nthread=nthread)
        except Exception as exc:
            raise UserError(f"Failed to load libsvm data with exception:\n{exc}") from None
    labels = np.load(spec["labels"])
    if spec["format"] == "coo":  # data_utils.py lines 502-510: sparse recordio-protobuf as a CSR matrix
        return xgb.DMatrix(_csr(spec), label=labels, nthread=nthread)
    features = np.load(spec["features"])
    weights = np.load(spec["weights"]) if spec.get("weights") else None
    return xgb.DMatrix(features, label=labels, weight=weights, nthread=nthread)


def _csr(spec: dict[str, Any]) -> Any:
    from scipy.sparse import csr_matrix  # noqa: PLC0415 - only sparse inputs need scipy's import time

    values, rows, columns = (np.load(spec[part]) for part in ("values", "rows", "columns"))
    return csr_matrix((values, (rows, columns)), shape=tuple(spec["shape"]) if spec.get("shape") else None)


class AlgorithmError(Exception):
    """The container's ``sagemaker_algorithm_toolkit.exceptions.AlgorithmError``."""


def _container_error(exc: Exception) -> Exception:
    """train.py train_job lines 409-415: known customer errors are UserErrors, the rest AlgorithmErrors."""
    message = str(exc)
    if any(known in message for known in CUSTOMER_ERRORS):
        return UserError(message)
    return AlgorithmError(f"XGB train call failed with exception:\n {message}")


def _params(request: dict[str, Any], nthread: int) -> dict[str, Any]:
    params: dict[str, Any] = {"nthread": nthread, **request["params"]}
    for name in request.get("tuple_params") or []:  # the container's TupleHyperparameter parses a tuple
        params[name] = tuple(params[name])
    return params


def _callbacks(request: dict[str, Any], monitor: Monitor, has_validation: bool) -> list[Any]:
    """callback.py ``get_callbacks`` lines 94-103: early stopping on the validation set, on its metric."""
    callbacks: list[Any] = [monitor]
    early = request.get("early_stopping")
    if early and has_validation:
        callbacks.append(
            xgb.callback.EarlyStopping(
                rounds=int(early["rounds"]),
                data_name="validation",
                metric_name=early["metric"],
                maximize=early["metric"] in MAXIMIZE_METRICS,
                save_best=True,
            )
        )
    return callbacks


def _extra(request: dict[str, Any]) -> dict[str, Any]:
    custom = request.get("custom_metrics") or []
    if not custom:
        return {}
    # train.py: 1.7-1 passes feval=, v3.0-5 custom_metric= (predictions differ: margin vs transformed)
    return {"feval" if VERSION < (2, 0) else "custom_metric": custom_feval(custom)}


def _monitor(request: dict[str, Any], early_stop: dict[str, Any] | None) -> Monitor:
    return Monitor(request["stop_file"], time.monotonic() + float(request["seconds_left"]), early_stop)


def train(request: dict[str, Any]) -> dict[str, Any]:
    nthread = int(request["nthread"])
    if request.get("kfold"):
        return cross_validate(request, nthread)
    dtrain = load_matrix(request["train"], nthread)
    dvalidation = load_matrix(request["validation"], nthread) if request.get("validation") else None
    watchlist = [(dtrain, "train")]
    if dvalidation is not None:
        watchlist.append((dvalidation, "validation"))
    monitor = _monitor(request, request.get("early_stop"))
    started = time.perf_counter()
    try:
        booster = xgb.train(
            _params(request, nthread),
            dtrain,
            num_boost_round=int(request["num_round"]),
            evals=watchlist,
            callbacks=_callbacks(request, monitor, dvalidation is not None),
            verbose_eval=False,
            **_extra(request),
        )
    except Exception as exc:
        raise _container_error(exc) from None
    finally:
        compute = time.perf_counter() - started
    saved: list[str] = []
    if monitor.stopped is None or request.get("save_model_on_termination"):
        path = os.path.join(request["model_dir"], "xgboost-model")
        booster.save_model(path)  # train.py line 423: bst.save_model(model_dir/xgboost-model)
        saved.append(path)
    return {
        "runs": [{"history": monitor.per_round(), "rounds": monitor.rounds}],
        "stopped": monitor.stopped,
        "saved": saved,
        "compute_seconds": compute,
    }


# ---- cross-validation (_kfold) -----------------------------------------------------------------


def fold_splits(
    labels: Array, kfold: int, repeats: int, stratified: bool, seed: int
) -> list[tuple[Array, Array]]:
    """(train rows, validation rows) of ``repeats`` rounds of ``kfold``-fold cross-validation, as
    scikit-learn's RepeatedStratifiedKFold / RepeatedKFold deal them (train.py lines 349-353): each row is
    validated once a round; stratified folds hold each class in proportion. Random, as the container's
    (no random_state)."""
    rows = len(labels)
    if stratified:
        classes, counts = np.unique(labels, return_counts=True)
        if np.all(kfold > counts):
            raise ValueError(f"n_splits={kfold} cannot be greater than the number of members in each class.")
    elif kfold > rows:
        raise ValueError(
            f"Cannot have number of splits n_splits={kfold} greater than the number of samples:"
            f" n_samples={rows}."
        )
    rng = np.random.default_rng(seed)
    splits = []
    for _ in range(repeats):
        fold_of = np.empty(rows, dtype=np.int64)
        groups = [np.flatnonzero(labels == c) for c in classes] if stratified else [np.arange(rows)]
        offset = 0
        for group in groups:
            shuffled = rng.permutation(group)
            fold_of[shuffled] = (np.arange(len(shuffled)) + offset) % kfold
            offset += len(shuffled)
        for fold in range(kfold):
            splits.append((np.flatnonzero(fold_of != fold), np.flatnonzero(fold_of == fold)))
    return splits


def _row_mode(values: Array) -> Array:
    """scipy.stats.mode along axis 1 (the smallest of the most frequent values), for small widths."""
    ordered = np.sort(values, axis=1)
    counts = np.stack([(values == ordered[:, [i]]).sum(axis=1) for i in range(values.shape[1])], axis=1)
    return ordered[np.arange(len(values)), np.argmax(counts, axis=1)]


def validation_predictions(
    truth: Array, folds: list[tuple[Array, Array]], repeats: int, classification: bool
) -> Array:
    """prediction_utils.py ``ValidationPredictionRecorder`` (lines 25-114): per row its label, then the
    mean probability and the most frequent predicted label (classification) or the mean prediction."""
    predicted = np.zeros((len(truth), repeats))
    probability = np.zeros((len(truth), repeats))
    seen = np.zeros(len(truth), dtype=np.int64)
    for rows, predictions in folds:
        column = seen[rows]
        if classification:
            labels = np.argmax(predictions, axis=-1) if predictions.ndim > 1 else 1 * (predictions > 0.5)
            chosen = predictions[np.arange(len(labels)), labels] if predictions.ndim > 1 else predictions
            predicted[rows, column] = labels
            probability[rows, column] = chosen
        else:
            predicted[rows, column] = predictions
        seen[rows] += 1
    if classification:
        return np.vstack([truth, probability.mean(axis=-1), _row_mode(predicted)]).T
    return np.vstack([truth, predicted.mean(axis=-1)]).T


def cross_validate(request: dict[str, Any], nthread: int) -> dict[str, Any]:
    """train.py train_job lines 330-407: every fold trains on the combined train and validation rows
    minus its fold, evaluated on the original train and validation sets; one model per fold."""
    dtrain = load_matrix(request["train"], nthread)
    dvalidation = load_matrix(request["validation"], nthread) if request.get("validation") else None
    combined = load_matrix(request["train_val"], nthread) if request.get("train_val") else dtrain
    watchlist = [(dtrain, "train")] + ([(dvalidation, "validation")] if dvalidation is not None else [])
    kfold, repeats = int(request["kfold"]["folds"]), int(request["kfold"]["repeats"])
    params = _params(request, nthread)
    runs: list[dict[str, Any]] = []
    boosters: list[Any] = []
    recorded: list[tuple[Array, Array]] = []
    stopped: str | None = None
    started = time.perf_counter()
    try:
        objective: Any = params.get("objective")  # None fails below, as in the container
        classification = bool(params.get("num_class")) or objective.startswith("binary:")
        truth = combined.get_label()
        splits = fold_splits(truth, kfold, repeats, classification, int(request["kfold"]["seed"]))
        for train_rows, validation_rows in splits:
            monitor = _monitor(request, None)
            booster = xgb.train(
                params,
                combined.slice(train_rows),
                num_boost_round=int(request["num_round"]),
                evals=watchlist,
                callbacks=_callbacks(request, monitor, dvalidation is not None),
                verbose_eval=False,
                **_extra(request),
            )
            boosters.append(booster)
            runs.append({"history": monitor.per_round(), "rounds": monitor.rounds})
            if monitor.stopped is not None:
                stopped = monitor.stopped
                break
            recorded.append((validation_rows, booster.predict(combined.slice(validation_rows))))
    except Exception as exc:
        raise _container_error(exc) from None
    finally:
        compute = time.perf_counter() - started
    saved: list[str] = []
    if stopped is None or request.get("save_model_on_termination"):
        for fold, booster in enumerate(boosters):  # train.py lines 426-429: xgboost-model-<fold>
            path = os.path.join(request["model_dir"], f"xgboost-model-{fold}")
            booster.save_model(path)
            saved.append(path)
    output: list[str] = []
    if stopped is None:
        path = os.path.join(request["output_dir"], "predictions.csv")
        np.savetxt(
            path, validation_predictions(truth, recorded, repeats, classification), delimiter=",", fmt="%f"
        )
        output.append(path)
    return {"runs": runs, "stopped": stopped, "saved": saved, "output": output, "compute_seconds": compute}


# ---- prediction -------------------------------------------------------------------------------


PKL_FORMAT, XGB_FORMAT = "pkl_format", "xgb_format"  # serve_utils.py lines 53-54
VOTE_OBJECTIVES = ("multi:softmax", "binary:hinge")  # serve_utils.py line 230


def load_booster(path: str) -> tuple[Any, str]:
    """serve_utils.py ``get_loaded_booster`` (lines 176-190): a pickle first, then xgboost's own format."""
    try:
        with open(path, "rb") as handle:
            # the container unpickles the customer's model file the same way (serve_utils.py line 177)
            booster = pickle.load(handle)  # noqa: S301  # nosec B301
        model_format = PKL_FORMAT
    except Exception as pickle_error:
        try:
            booster = xgb.Booster()
            booster.load_model(path)
            model_format = XGB_FORMAT
        except Exception as xgb_error:
            raise RuntimeError(
                f"Model {path} cannot be loaded:\nPickle load error={pickle_error}"
                f"\nXGB load model error={xgb_error}"
            ) from None
    booster.set_param("nthread", 1)
    return booster, model_format


def _predict_one(booster: Any, dtest: Any) -> Array:
    """serve_utils.py ``predict`` (1.7-1 line 237; v3.0-5 ``_predict_with_compat``): a booster that
    carries ``best_ntree_limit`` (a pickled one trained with early stopping) predicts with those trees."""
    limit = int(getattr(booster, "best_ntree_limit", 0) or 0)
    if not limit:
        return booster.predict(dtest, validate_features=False)
    if VERSION < (2, 0):
        return booster.predict(dtest, ntree_limit=limit, validate_features=False)
    return booster.predict(dtest, iteration_range=(0, limit), validate_features=False)


def _check_pickled_features(booster: Any, dtest: Any, kind: str) -> None:
    """serve_utils.py lines 200-222: a pickled model checks the request's feature count."""
    model, given = booster.num_features(), dtest.num_col()
    if kind == "libsvm":
        if given > model + 1:
            raise ValueError(
                f"Feature size of libsvm inference data {given} is larger than "
                f"feature size of trained model {model}."
            )
    elif not (model == given or model == given + 1):
        raise ValueError(
            f"Feature size of {kind} inference data {given} is not consistent with "
            f"feature size of trained model {model}."
        )


class Predictor:
    """The container's ScoringService: one model, or several averaged (or voted) as an ensemble."""

    def __init__(self) -> None:
        self.boosters: list[Any] = []
        self.formats: list[str] = []
        self.objective = ""
        self.nthread = 0

    def load(self, request: dict[str, Any]) -> dict[str, Any]:
        paths = request.get("models") or [request["model"]]
        loaded = []
        for path in paths:
            try:
                loaded.append(load_booster(path))
            except Exception as exc:
                raise UserError(f"Unable to load model: {exc}") from None
        self.boosters = [booster for booster, _ in loaded]
        self.formats = [model_format for _, model_format in loaded]
        self.nthread = 1
        first = self.boosters[0]
        config = json.loads(first.save_config())  # serve.py get_config_json, lines 80-90
        self.objective = config["learner"]["objective"]["name"]
        probe = self._combine(
            [
                b.predict(xgb.DMatrix(np.zeros((1, first.num_features()), dtype=np.float32)))
                for b in self.boosters
            ]
        )
        width = 1 if probe.ndim == 1 else int(probe.shape[1])
        return {
            "num_features": first.num_features(),
            "width": width,
            "objective": self.objective,
            "num_class": config["learner"]["learner_model_param"].get("num_class", ""),
            "formats": self.formats,
        }

    def _combine(self, predictions: list[Array]) -> Array:
        """serve_utils.py lines 224-235: one model's predictions, or the ensemble's vote or mean."""
        if len(predictions) == 1:
            return predictions[0]
        stacked = np.stack(predictions)
        if self.objective in VOTE_OBJECTIVES:
            return _row_mode(stacked.T)
        return np.mean(stacked, axis=0)

    def predict(self, request: dict[str, Any]) -> dict[str, Any]:
        spec = request.get("coo")
        matrix = _csr(spec) if spec else np.load(request["matrix"])
        if int(request["nthread"]) != self.nthread:  # set_param makes xgboost reconfigure the learner
            self.nthread = int(request["nthread"])
            for booster in self.boosters:
                booster.set_param({"nthread": self.nthread})
        started = time.perf_counter()
        try:
            dtest = xgb.DMatrix(matrix)
            if self.formats[0] == PKL_FORMAT:
                _check_pickled_features(self.boosters[0], dtest, request.get("kind", "csv"))
            # serve_utils.py predict: the model's own trees, validate_features=False
            predictions = self._combine([_predict_one(booster, dtest) for booster in self.boosters])
        except Exception as exc:
            raise UserError(str(exc).splitlines()[0]) from None
        seconds = time.perf_counter() - started
        np.save(request["out"], np.asarray(predictions, dtype=np.float32))
        return {"compute_seconds": seconds}


Handler = Callable[[dict[str, Any]], dict[str, Any]]


def serve(train: Handler, predictor: Any) -> None:
    """Answer the runner's JSON-line requests on stdin, one JSON line each on stdout."""
    protocol = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # anything xgboost prints goes to stderr, never into the protocol stream
    sys.stdout = sys.stderr
    handlers: dict[str, Handler] = {
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
        except AlgorithmError as exc:
            answer = {"ok": False, "kind": "AlgorithmError", "message": str(exc)}
        except Exception as exc:
            answer = {"ok": False, "kind": "AlgorithmError", "message": f"{type(exc).__name__}: {exc}"}
        protocol.write(json.dumps(answer) + "\n")
        protocol.flush()


def main() -> None:
    serve(train, Predictor())


if __name__ == "__main__":
    main()
