"""The built-in XGBoost container's hyperparameter rules, checked inside the job as the container does.

Details: sandbox/sagemaker/README.md, "hyperparameters.py".
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

MAXIMIZE_METRICS = [  # constants/xgb_constants.py lines 14-31
    *("accuracy", "auc", "aucpr", "balanced_accuracy", "f1", "f1_binary", "f1_macro", "map", "ndcg"),
    *("precision", "r2", "recall", "precision_macro", "precision_micro", "recall_macro", "recall_micro"),
]
MINIMIZE_METRICS = [  # constants/xgb_constants.py lines 33-51
    *("aft-nloglik", "cox-nloglik", "error", "gamma-deviance", "gamma-nloglik"),
    *("interval-regression-accuracy", "logloss", "mae", "mape", "merror", "mlogloss", "mphe", "mse"),
    *("poisson-nloglik", "rmse", "rmsle", "tweedie-nloglik"),
]
OBJECTIVES = [  # hyperparameter_validation.py lines 283-306
    "aft_loss_distribution",
    "binary:logistic",
    "binary:logitraw",
    "binary:hinge",
    "count:poisson",
    "multi:softmax",
    "multi:softprob",
    "rank:pairwise",
    "rank:ndcg",
    "rank:map",
    "reg:linear",
    "reg:squarederror",
    "reg:logistic",
    "reg:gamma",
    "reg:pseudohubererror",
    "reg:squaredlogerror",
    "reg:absoluteerror",
    "reg:tweedie",
    "survival:aft",
    "survival:cox",
]
UPDATERS = [  # lines 236-251, as listed there (duplicates included: they show in the message)
    "grow_colmaker",
    "distcol",
    "grow_histmaker",
    "grow_skmaker",
    "sync",
    "refresh",
    "prune",
    "grow_colmaker",
    "distcol",
    "grow_histmaker",
    "grow_colmaker",
    "shotgun",
    "coord_descent",
    "refresh",
    "prune",
]
TREE_METHODS = ["auto", "exact", "approx", "hist", "gpu_hist"]  # lines 22-24
PREDICTORS = ["auto", "cpu_predictor", "gpu_predictor"]  # lines 78-80
ALIASES = {"learning_rate": "eta", "min_split_loss": "gamma", "reg_lambda": "lambda", "reg_alpha": "alpha"}


class UserError(Exception):
    """``sagemaker_algorithm_toolkit.exceptions.UserError``: the customer's settings are wrong."""


def _caused_by(message: str, cause: Exception) -> UserError:
    """exceptions.py ``_format_exception_message``: ``<message> (caused by <ExceptionClass>)``."""
    return UserError(f"{message} (caused by {type(cause).__name__})")


@dataclass(frozen=True)
class Interval:
    """hyperparameter_validation.py ``Interval`` (lines 332-389): membership and its ``str``."""

    min_open: float | None = None
    min_closed: float | None = None
    max_open: float | None = None
    max_closed: float | None = None

    def __contains__(self, value: object) -> bool:
        v: Any = value
        return not (
            (self.min_open is not None and v <= self.min_open)
            or (self.min_closed is not None and v < self.min_closed)
            or (self.max_open is not None and v >= self.max_open)
            or (self.max_closed is not None and v > self.max_closed)
        )

    def __str__(self) -> str:
        low = (
            f"({self.min_open}, "
            if self.min_open is not None
            else f"[{self.min_closed}, "
            if self.min_closed is not None
            else "(-inf, "
        )
        high = (
            f"{self.max_open})"
            if self.max_open is not None
            else f"{self.max_closed}]"
            if self.max_closed is not None
            else "+inf)"
        )
        return low + high


def _literal(value: str) -> Any:
    try:
        return ast.literal_eval(value)
    except SyntaxError as exc:
        raise ValueError(str(exc)) from None


def _metric_in_range(metric: str) -> bool:
    """hyperparameter_validation.py ``eval_metric_range_validator`` (lines 92-111)."""
    if "<function" in metric:
        raise UserError(f"User defined evaluation metric {metric} is not supported yet.")
    if "@" in metric:
        parts = metric.split("@")
        name, threshold = parts[0].strip(), parts[1].strip()
        if name not in ["error", "ndcg", "map"]:
            raise UserError(
                f"Metric '{metric}' is not supported. Parameter 'eval_metric' with customized threshold "
                "should be one of these options: 'error', 'ndcg', 'map'."
            )
        try:
            float(threshold)
        except ValueError:
            raise UserError(f"Threshold value 't' in '{name}@t' expects float input.") from None
        return True
    return metric in MAXIMIZE_METRICS + MINIMIZE_METRICS


class _Predicate:
    """A ``range_validator`` range: membership by a function, shown as its list."""

    def __init__(self, shown: list[str], test: Callable[[Any], bool]) -> None:
        self.shown = shown
        self.test = test

    def __contains__(self, value: object) -> bool:
        return self.test(value)

    def __str__(self) -> str:
        return str(self.shown)


Dependencies = Mapping[str, Any]


def _updater_rule(value: Any, deps: Dependencies) -> None:
    """lines 26-76."""
    if deps.get("booster") == "gblinear":
        if not (len(value) == 1 and value[0] in ["shotgun", "coord_descent"]):
            # the container formats a generator here; its message shows the generator object
            raise UserError("Linear updater should be one of these options: 'shotgun', 'coord_descent'.")
    elif deps.get("process_type") == "update":
        if not all(x in ["refresh", "prune"] for x in value):
            raise UserError("process_type 'update' can only be used with updater 'refresh' and 'prune'")
    else:
        # the container's list is UPDATERS' first seven and one more
        tree = [*UPDATERS[:7], "grow_quantile_histmaker"]
        if not all(x in tree for x in value):
            raise UserError(
                "Tree updater should be selected from these options: 'grow_colmaker', 'distcol', "
                "'grow_histmaker', 'grow_skmaker', 'grow_quantile_histmaker', 'sync', 'refresh', 'prune', "
                "'shortgun', 'coord_descent'."
            )
        build = ["grow_colmaker", "distcol", "grow_histmaker", "grow_colmaker", "grow_quantile_histmaker"]
        if sum(1 for x in value if x in build) > 1:
            raise UserError(
                "Only one tree grow plugin can be selected. Choose one from the"
                "following: 'grow_colmaker', 'distcol', 'grow_histmaker', "
                "'grow_skmaker'"
            )


def _objective_rule(value: Any, deps: Dependencies) -> None:
    """lines 82-90."""
    if value in ("multi:softmax", "multi:softprob") and deps.get("num_class") is None:
        raise UserError("Require input for parameter 'num_class' for multi-classification")


def _eval_metric_rule(value: Any, deps: Dependencies) -> None:
    """lines 113-121 (``objective`` is looked up unguarded there: without it the job fails)."""
    if "objective" not in deps:
        raise KeyError("objective")
    objective = deps["objective"]
    if "auc" in value and not any(objective.startswith(kind) for kind in ["binary:", "rank:"]):
        raise UserError("Metric 'auc' can only be applied for classification and ranking problems.")
    if "aft-nloglik" in value and objective not in ["survival:aft"]:
        raise UserError("Metric 'aft-nloglik' can only be applied for 'survival:aft' objective.")


def _monotone_rule(value: Any, deps: Dependencies) -> None:
    """lines 123-130."""
    if value is not None and deps.get("tree_method") not in ("exact", "hist"):
        raise UserError(
            "monotone_constraints can be used only when the tree_method parameter is set to "
            "either 'exact' or 'hist'."
        )


def _interaction_rule(value: Any, deps: Dependencies) -> None:
    """lines 132-139."""
    if value is not None and deps.get("tree_method") not in ("exact", "hist", "approx"):
        raise UserError(
            "interaction_constraints can be used only when the tree_method parameter is set to "
            "either 'exact', 'hist' or 'approx'."
        )


@dataclass(frozen=True)
class Rule:
    """One ``hpv.*Hyperparameter``: how to parse it, its range and its dependency check."""

    kind: str  # integer | continuous | categorical | list | tuple | nested
    range: Any
    requires: tuple[str, ...] = ()
    check: Callable[[Any, Dependencies], None] | None = None
    required: bool = False

    def parse(self, raw: Any) -> Any:
        if self.kind == "integer":
            return int(raw)
        if self.kind == "continuous":
            return float(raw)
        if self.kind == "list":
            return str(raw).split(",")
        if self.kind in ("tuple", "nested"):
            return _literal(raw) if isinstance(raw, str) else raw
        return raw

    def in_range(self, name: str, value: Any) -> None:
        if self.kind in ("list", "tuple"):
            if any(v not in self.range for v in value):
                raise UserError(f"Hyperparameter {name}: value {value} not in range {self.range}")
        elif self.kind == "nested":
            if any(v not in self.range for outer in value for v in outer):
                raise UserError(f"Hyperparameter {name}: value {value} not in range {self.range}")
        elif value not in self.range:
            raise UserError(f"Hyperparameter {name}: {value} is not in {self.range}")


def _ints(low: float | None = None, high: float | None = None) -> Rule:
    return Rule("integer", Interval(min_closed=low, max_closed=high))


def _floats(**bounds: float) -> Rule:
    return Rule("continuous", Interval(**bounds))


def _choice(*values: str) -> Rule:
    return Rule("categorical", list(values))


def tuning_metrics() -> list[str]:
    """algorithm_mode/metrics.py lines 21-42: the metrics a tuning job may optimise, ``validation:<metric>``
    only (also ``_tuning_objective_metric``'s range, hyperparameter_validation.py line 316)."""
    return [f"validation:{metric}" for metric in MAXIMIZE_METRICS + MINIMIZE_METRICS]


# hyperparameter_validation.py lines 141-339, in order.
RULES: dict[str, Rule] = {
    "num_round": Rule("integer", Interval(min_closed=1), required=True),
    "csv_weights": _ints(0, 1),
    "early_stopping_rounds": _ints(1),
    "booster": _choice("gbtree", "gblinear", "dart"),
    "verbosity": _ints(0, 3),
    "nthread": _ints(1),
    "eta": _floats(min_closed=0, max_closed=1),
    "gamma": _floats(min_closed=0),
    "max_depth": _ints(0),
    "min_child_weight": _floats(min_closed=0),
    "max_delta_step": _floats(min_closed=0),
    "subsample": _floats(min_open=0, max_closed=1),
    "colsample_bytree": _floats(min_open=0, max_closed=1),
    "colsample_bylevel": _floats(min_open=0, max_closed=1),
    "colsample_bynode": _floats(min_open=0, max_closed=1),
    "lambda": _floats(min_closed=0),
    "alpha": _floats(min_closed=0),
    "tree_method": Rule(
        "categorical",
        _Predicate(
            ["auto", "exact", "approx", "hist", "gpu_hist"],
            lambda v: v in ["auto", "exact", "approx", "hist", "gpu_hist"],
        ),
    ),
    "sketch_eps": _floats(min_open=0, max_open=1),
    "scale_pos_weight": _floats(min_open=0),
    "updater": Rule("list", UPDATERS, ("booster", "process_type"), _updater_rule),
    "dsplit": _choice("row", "col"),
    "refresh_leaf": _ints(0, 1),
    "process_type": _choice("default", "update"),
    "grow_policy": _choice("depthwise", "lossguide"),
    "max_leaves": _ints(0),
    "max_bin": _ints(0),
    "predictor": Rule(
        "categorical",
        _Predicate(
            ["auto", "cpu_predictor", "gpu_predictor"],
            lambda v: v in ["auto", "cpu_predictor", "gpu_predictor"],
        ),
    ),
    "monotone_constraints": Rule("tuple", [-1, 0, 1], ("tree_method",), _monotone_rule),
    "interaction_constraints": Rule("nested", Interval(min_closed=1), ("tree_method",), _interaction_rule),
    "sample_type": _choice("uniform", "weighted"),
    "normalize_type": _choice("tree", "forest"),
    "rate_drop": _floats(min_closed=0, max_closed=1),
    "one_drop": _ints(0, 1),
    "skip_drop": _floats(min_closed=0, max_closed=1),
    "lambda_bias": _floats(min_closed=0, max_closed=1),
    "tweedie_variance_power": _floats(min_open=1, max_open=2),
    "objective": Rule("categorical", OBJECTIVES, ("num_class",), _objective_rule),
    "num_class": _ints(2),
    "base_score": _floats(min_closed=0),
    "_kfold": _ints(2),
    "_num_cv_round": _ints(1),
    "_tuning_objective_metric": Rule("categorical", tuning_metrics()),
    "eval_metric": Rule(
        "list",
        _Predicate(MAXIMIZE_METRICS + MINIMIZE_METRICS, _metric_in_range),
        ("objective",),
        _eval_metric_rule,
    ),
    "seed": Rule("integer", Interval(min_open=-(2**31), max_open=2**31 - 1)),
    "num_parallel_tree": _ints(1),
    "save_model_on_termination": _choice("true", "false"),
    "aft_loss_distribution": _choice("normal", "logistic", "extreme"),
    "aft_loss_distribution_scale": _floats(min_closed=0),
    "deterministic_histogram": _choice("true", "false"),
    "sampling_method": _choice("uniform", "gradient_based"),
    "prob_buffer_row": Rule("integer", Interval(min_open=1.0)),
    "use_dask_gpu_training": _choice("true", "false"),
}


def _dependency_order(names: Collection[str]) -> list[str]:
    """toolkit ``_sort_dependencies`` + the pop loop (lines 227-243, 296-308): validation order."""
    stack: list[str] = []
    visited = dict.fromkeys(names, False)

    def visit(name: str) -> None:
        visited[name] = True
        for dependency in RULES[name].requires:
            if dependency in visited and not visited[dependency]:
                visit(dependency)
        stack.insert(0, name)

    for name in names:
        if not visited[name]:
            visit(name)
    return list(reversed(stack))


def validate(hyperparameters: Mapping[str, str]) -> dict[str, Any]:
    """Validate as the container does; return the parsed values (UserError on a broken rule)."""
    given = {ALIASES.get(name, name): value for name, value in hyperparameters.items()}
    for name, rule in RULES.items():
        if rule.required and name not in given:
            raise UserError(f"Missing required hyperparameter: {name}")
    parsed: dict[str, Any] = {}
    for name, raw in given.items():
        if name not in RULES:
            raise UserError(f"Extraneous hyperparameter found: {name}")
        try:
            parsed[name] = RULES[name].parse(raw)
        except ValueError as exc:
            raise _caused_by(f"Hyperparameter {name}: could not parse value", exc) from None
    for name, value in parsed.items():
        RULES[name].in_range(name, value)
    validated: dict[str, Any] = {}
    for name in _dependency_order(list(parsed)):
        rule = RULES[name]
        if rule.check is not None:
            rule.check(parsed[name], {d: validated[d] for d in rule.requires if d in validated})
        validated[name] = parsed[name]
    return validated
