"""The gate's metrics in SQL: the champion judged on the candidate's validation rows, in Snowflake.

Each metric is computed as the candidate's run computes it, so the two numbers are on one scale:

* the built-in algorithm (aws/sagemaker-xgboost-container, ``metrics/custom_metrics.py``) computes
  accuracy, balanced_accuracy, f1 (macro), f1_binary, precision, recall, mse, rmse, mae and r2
  itself, with scikit-learn, from what xgboost hands a custom metric: on the 1.7-1 image
  (``feval``, xgboost 1.7) the raw margin, whose class is ``margin > 0`` (``margin_to_class_label``);
  on 3.0-5 and later (``custom_metric``, xgboost 3) the transformed prediction, compared with 0 the
  same way (xgboost's ``training.py``: ``output_margin=callable(obj) or metric_fn is feval``);
* every other metric is xgboost's own (``src/metric/elementwise_metric.cu``, ``auc.cc``), on the
  transformed prediction: logloss clips it to [1e-16, 1 - 1e-16], error counts ``p > 0.5`` as
  positive, AUC is the rank statistic with ties counted half (the area under the ROC step curve),
  mape is ``|(y - p) / y|``, rmsle ``(log1p(p) - log1p(y))²``;
* a script (script mode) and the SNOWFLAKE engine's TRAIN_MODEL get their metrics from xgboost's
  ``eval_metric``: only xgboost's own metrics are judged in SQL for them (rmse and mae included).

Not in SQL (the gate keeps the recorded comparison and says so): multi-class models (the function
returns an ARRAY of probabilities), aucpr (xgboost's interpolated precision-recall area), mphe,
the Poisson, gamma and Tweedie likelihoods and deviance, and container metrics under a script or
the SNOWFLAKE engine, whose definition is the script's own.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from snowsage.model_settings import metric_short_name
from snowsage.models import Problem
from snowsage.names import validate_snowflake_identifier

# EXPORT_DATASET's split (30_export_procedure.sql, the "validation" export query): a row is held out
# for validation when the first two hex digits of MD5 of its id are below '33'. A test keeps the two
# texts equal.
VALIDATION_ROWS = "SUBSTR(MD5(TO_VARCHAR({id_column})), 1, 2) < '33'"

Flavour = Literal["container-margin", "container-prediction", "xgboost"]
IMAGE_TAG = re.compile(r":(?P<major>\d+)\.(?P<minor>\d+)-\d+(?:-[a-z0-9-]+)?$")

# The objective's link: the margin a 1.7-1 custom metric sees, from the function's prediction P.
LOG_LINK = frozenset({"reg:gamma", "reg:tweedie", "count:poisson"})
LOGIT_LINK = frozenset({"reg:logistic"})
CONTAINER_CLASSIFICATION = frozenset(
    {"accuracy", "balanced_accuracy", "f1", "f1_binary", "precision", "recall"}
)
CONTAINER_REGRESSION = frozenset({"mse", "rmse", "mae", "r2"})
NOT_IN_SQL = frozenset(
    {"aucpr", "mphe", "poisson-nloglik", "gamma-nloglik", "gamma-deviance", "tweedie-nloglik"}
)


def flavour_for(*, image_uri: str, script: bool, engine: str) -> Flavour:
    """Who computes the candidate's metric: the container (on margins before xgboost 2) or xgboost."""
    if script or engine == "SNOWFLAKE":
        return "xgboost"
    match = IMAGE_TAG.search(image_uri)
    major = int(match.group("major")) if match else 0
    return "container-margin" if major == 1 else "container-prediction"


@dataclass(frozen=True)
class MetricSql:
    """One metric: per-row columns over ``Y`` (label) and ``P`` (the function), sums over them, the value."""

    row_columns: Mapping[str, str] = field(default_factory=dict)
    sums: Mapping[str, str] = field(default_factory=dict)
    value: str = ""
    ranked: bool = False  # needs the AUC's ranks (window functions over P)


def _margin(objective: str, flavour: Flavour) -> str:
    if flavour != "container-margin":
        return "P"
    if objective in LOG_LINK:
        return "LN(P)"
    if objective in LOGIT_LINK:
        return "LN(P / (1 - P))"
    return "P"


def _predicted_class(objective: str, flavour: Flavour) -> str:
    # custom_metrics.py margin_to_class_label: margin > 0. A probability is above 0.5 exactly when
    # its margin is above 0; binary:logitraw's prediction is the margin; binary:hinge's is 0 or 1.
    if flavour == "container-margin" and objective != "binary:logitraw":
        return "CASE WHEN P > 0.5 THEN 1 ELSE 0 END"
    return "CASE WHEN P > 0 THEN 1 ELSE 0 END"


_CONFUSION = {
    "TP": "C * Y",
    "FP": "C * (1 - Y)",
    "FN": "(1 - C) * Y",
    "TN": "(1 - C) * (1 - Y)",
}
# sklearn's zero_division default: 0 where a ratio's denominator is 0.
_CLASSIFICATION_VALUES = {
    "accuracy": "(TP + TN) / N",
    "precision": "CASE WHEN TP + FP > 0 THEN TP / (TP + FP) ELSE 0 END",
    "recall": "CASE WHEN TP + FN > 0 THEN TP / (TP + FN) ELSE 0 END",
    "f1_binary": "CASE WHEN TP > 0 THEN 2 * TP / (2 * TP + FP + FN) ELSE 0 END",
    # average="macro" over the labels in the truth or the prediction.
    "f1": (
        "(CASE WHEN TP + FP + FN > 0 THEN 2 * TP / (2 * TP + FP + FN) ELSE 0 END"
        " + CASE WHEN TN + FP + FN > 0 THEN 2 * TN / (2 * TN + FP + FN) ELSE 0 END)"
        " / NULLIF((CASE WHEN TP + FP + FN > 0 THEN 1 ELSE 0 END)"
        " + (CASE WHEN TN + FP + FN > 0 THEN 1 ELSE 0 END), 0)"
    ),
    # the mean recall of the classes in the truth
    "balanced_accuracy": (
        "(CASE WHEN TP + FN > 0 THEN TP / (TP + FN) ELSE 0 END"
        " + CASE WHEN TN + FP > 0 THEN TN / (TN + FP) ELSE 0 END)"
        " / NULLIF((CASE WHEN TP + FN > 0 THEN 1 ELSE 0 END) + (CASE WHEN TN + FP > 0 THEN 1 ELSE 0 END), 0)"
    ),
}
_LOGLOSS_P = "LEAST(GREATEST(P, 1e-16), 1 - 1e-16)"


def metric_sql(metric_name: str, problem: Problem, objective: str, flavour: Flavour) -> MetricSql | str:
    """The metric in SQL, or why it cannot be computed there (a phrase for the verdict's reason)."""
    metric = metric_short_name(metric_name)
    if problem == "multiclass":
        return "a multi-class model's metric is not computed in SQL"
    if metric in NOT_IN_SQL:
        return f"{metric} is not computed in SQL"
    container = flavour != "xgboost"
    if metric in CONTAINER_CLASSIFICATION and problem == "binary":
        return _classification(metric, objective, flavour) if container else _not_the_containers(metric)
    if metric in CONTAINER_REGRESSION and problem == "regression":
        if not container and metric not in {"rmse", "mae"}:
            return _not_the_containers(metric)
        return _regression(metric, _margin(objective, flavour))
    return _XGBOOST.get((problem, metric)) or f"{metric} is not computed in SQL for a {problem} model"


def _not_the_containers(metric: str) -> str:
    return f"{metric} is computed by the script or TRAIN_MODEL, not by the container"


def _classification(metric: str, objective: str, flavour: Flavour) -> MetricSql:
    return MetricSql(
        row_columns={"C": _predicted_class(objective, flavour)},
        sums=_CONFUSION,
        value=_CLASSIFICATION_VALUES[metric],
    )


def _regression(metric: str, margin: str) -> MetricSql:
    if metric == "mae":
        return MetricSql(sums={"SAE": f"ABS(Y - {margin})"}, value="SAE / N")
    squares = {"SSR": f"POWER(Y - {margin}, 2)"}
    if metric == "r2":
        # sklearn r2_score: 1 where the labels are constant and predicted exactly, else 0 there
        return MetricSql(
            sums={**squares, "SST": "POWER(Y - YBAR, 2)"},
            row_columns={"YBAR": "AVG(Y) OVER ()"},
            value="CASE WHEN SST = 0 THEN CASE WHEN SSR = 0 THEN 1 ELSE 0 END ELSE 1 - SSR / SST END",
        )
    return MetricSql(sums=squares, value="SQRT(SSR / N)" if metric == "rmse" else "SSR / N")


_XGBOOST: dict[tuple[str, str], MetricSql] = {
    ("binary", "logloss"): MetricSql(
        sums={"LOSS": f"-(Y * LN({_LOGLOSS_P}) + (1 - Y) * LN(1 - {_LOGLOSS_P}))"}, value="LOSS / N"
    ),
    ("binary", "error"): MetricSql(
        sums={"WRONG": "CASE WHEN P > 0.5 THEN 1 - Y ELSE Y END"}, value="WRONG / N"
    ),
    # Mann-Whitney: (sum of the positives' ranks - NPOS (NPOS + 1) / 2) / (NPOS NNEG); equal
    # predictions share their mean rank. NULL when the rows hold one class only.
    ("binary", "auc"): MetricSql(
        sums={"NPOS": "Y", "RANKS": "Y * RK"},
        value="(RANKS - NPOS * (NPOS + 1) / 2) / NULLIF(NPOS * (N - NPOS), 0)",
        ranked=True,
    ),
    ("regression", "mape"): MetricSql(sums={"APE": "ABS((Y - P) / Y)"}, value="APE / N"),
    ("regression", "rmsle"): MetricSql(
        sums={"SLE": "POWER(LN(1 + P) - LN(1 + Y), 2)"}, value="SQRT(SLE / N)"
    ),
}


def champion_metric_statement(
    definition: MetricSql, *, function: str, features: list[str], view: str, id_column: str, label_column: str
) -> str:
    """One SELECT: the rows held out for validation, scored by the function, and the metric over them.

    Returns one row: ``N`` (rows) and ``VALUE`` (NULL where the metric is undefined on them).
    """
    function = validate_snowflake_identifier(function, "function")
    view = validate_snowflake_identifier(view, "training view")
    label = validate_snowflake_identifier(label_column, "label column")
    arguments = ", ".join(validate_snowflake_identifier(name, "feature") for name in features)
    where = VALIDATION_ROWS.format(id_column=validate_snowflake_identifier(id_column, "id column"))
    scored = (
        f"SELECT CAST({label} AS DOUBLE) AS Y, CAST({function}({arguments}) AS DOUBLE) AS P"  # noqa: S608  # nosec B608
        f" FROM {view} WHERE {where}"
    )
    columns = "".join(f", {expression} AS {name}" for name, expression in definition.row_columns.items())
    if definition.ranked:
        columns += ", RANK() OVER (ORDER BY P) + (COUNT(*) OVER (PARTITION BY P) - 1) / 2.0 AS RK"
    sums = "".join(f", SUM({expression}) AS {name}" for name, expression in definition.sums.items())
    # B608: identifiers validated above; the expressions are this module's constants.
    return (
        f"WITH S AS ({scored}), R AS (SELECT Y, P{columns} FROM S),"  # noqa: S608  # nosec B608
        f" A AS (SELECT CAST(COUNT(*) AS DOUBLE) AS N{sums} FROM R)"
        f" SELECT N, CASE WHEN N > 0 THEN {definition.value} END AS VALUE FROM A"
    )


@dataclass(frozen=True)
class ChampionOnExport:
    """The champion's metric on the rows (``value``), or why it has none (``note``)."""

    value: float | None
    rows: int | None = None
    note: str = ""
    warehouse_seconds: float = 0.0


@dataclass(frozen=True)
class ChampionQuestion:
    dataset: str
    champion_arn: str
    champion_version: int
    features: list[str]
    definition: MetricSql
    run_id: str
