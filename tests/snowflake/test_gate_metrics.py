"""The gate's metrics in SQL, run in the sandbox's Snowflake, against their definitions written out
independently here (pairs for AUC, per-class counts as scikit-learn defines them), on the rows
EXPORT_DATASET holds out for validation."""

from __future__ import annotations

import hashlib
import math
import random
from typing import Any

import pytest

from snowsage.gate_metrics import (
    VALIDATION_ROWS,
    Flavour,
    MetricSql,
    champion_metric_statement,
    flavour_for,
    metric_sql,
)
from snowsage_setup.sqlscript import export_queries
from tests.snowflake.conftest import query

ROWS = 400


def held_out(row_no: int) -> bool:
    return hashlib.md5(str(row_no).encode(), usedforsecurity=False).hexdigest()[:2] < "33"


def _binary_rows() -> list[tuple[int, float, float]]:
    generator = random.Random(3)
    rows = []
    for number in range(ROWS):
        label = float(generator.random() < 0.4)
        # rounded to two places: many equal scores, so ties count
        score = round(min(0.99, max(0.01, generator.gauss(0.35 + 0.3 * label, 0.2))), 2)
        rows.append((number, label, score))
    return rows


def _regression_rows() -> list[tuple[int, float, float]]:
    generator = random.Random(4)
    return [
        (number, round(generator.uniform(1, 50), 3), round(generator.uniform(1, 50), 3))
        for number in range(ROWS)
    ]


@pytest.fixture
def table(conn: Any, database: str) -> Any:
    for statement in (
        f"CREATE DATABASE {database}",
        f"USE DATABASE {database}",
        "CREATE SCHEMA ML",
        "USE SCHEMA ML",
    ):
        query(conn, statement)
    return conn


def _load(conn: Any, name: str, rows: list[tuple[int, float, float]]) -> list[tuple[float, float]]:
    query(conn, f"CREATE TABLE {name} (ROW_NO NUMBER, LABEL FLOAT, PRED FLOAT)")
    values = ", ".join(f"({n}, {y!r}, {p!r})" for n, y, p in rows)
    query(conn, f"INSERT INTO {name} VALUES {values}")
    return [(y, p) for n, y, p in rows if held_out(n)]


def _run(conn: Any, name: str, definition: MetricSql | str) -> tuple[float, float | None]:
    assert isinstance(definition, MetricSql), definition
    # ABS(PRED) is PRED (every prediction here is positive): the stand-in for ML_PREDICT_<DATASET>.
    statement = champion_metric_statement(
        definition, function="ABS", features=["PRED"], view=name, id_column="ROW_NO", label_column="LABEL"
    )
    ((rows, value),) = query(conn, statement)
    return rows, value


# --- the definitions, written out -----------------------------------------------------------------


def auc(pairs: list[tuple[float, float]]) -> float:
    positives = [p for y, p in pairs if y == 1]
    negatives = [p for y, p in pairs if y == 0]
    wins = sum(1.0 if pos > neg else 0.5 if pos == neg else 0.0 for pos in positives for neg in negatives)
    return wins / (len(positives) * len(negatives))


def counts(pairs: list[tuple[float, int]]) -> dict[int, dict[str, int]]:
    classes = sorted({int(y) for y, _ in pairs} | {c for _, c in pairs})
    return {
        c: {
            "tp": sum(1 for y, k in pairs if y == c and k == c),
            "fp": sum(1 for y, k in pairs if y != c and k == c),
            "fn": sum(1 for y, k in pairs if y == c and k != c),
            "support": sum(1 for y, _ in pairs if y == c),
        }
        for c in classes
    }


def classification(metric: str, pairs: list[tuple[float, int]]) -> float:
    table = counts(pairs)
    one = table.get(1, {"tp": 0, "fp": 0, "fn": 0})

    def ratio(a: float, b: float) -> float:
        return a / b if b else 0.0

    f1 = {c: ratio(2 * t["tp"], 2 * t["tp"] + t["fp"] + t["fn"]) for c, t in table.items()}
    return {
        "accuracy": sum(1 for y, k in pairs if y == k) / len(pairs),
        "precision": ratio(one["tp"], one["tp"] + one["fp"]),
        "recall": ratio(one["tp"], one["tp"] + one["fn"]),
        "f1_binary": ratio(2 * one["tp"], 2 * one["tp"] + one["fp"] + one["fn"]),
        "f1": sum(f1.values()) / len(f1),
        "balanced_accuracy": sum(ratio(t["tp"], t["support"]) for t in table.values() if t["support"])
        / sum(1 for t in table.values() if t["support"]),
    }[metric]


# --- the tests -------------------------------------------------------------------------------------


def test_the_held_out_rows_are_the_exports_validation_rows() -> None:
    assert VALIDATION_ROWS.format(id_column="{id_column}") in export_queries()["validation"]


@pytest.mark.parametrize(
    ("image", "script", "engine", "flavour"),
    [
        (
            "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
            False,
            "SAGEMAKER",
            "container-margin",
        ),
        (
            "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:3.0-5",
            False,
            "SAGEMAKER",
            "container-prediction",
        ),
        (
            "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
            True,
            "SAGEMAKER",
            "xgboost",
        ),
        (
            "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
            False,
            "SNOWFLAKE",
            "xgboost",
        ),
    ],
)
def test_who_computes_the_candidates_metric(image: str, script: bool, engine: str, flavour: str) -> None:
    assert flavour_for(image_uri=image, script=script, engine=engine) == flavour


def test_xgboost_auc_logloss_and_error(table: Any) -> None:
    pairs = _load(table, "BIN", _binary_rows())
    eps = 1e-16
    expected = {
        "auc": auc(pairs),
        "logloss": sum(
            -(y * math.log(min(max(p, eps), 1 - eps)) + (1 - y) * math.log(1 - min(max(p, eps), 1 - eps)))
            for y, p in pairs
        )
        / len(pairs),
        "error": sum((1 - y) if p > 0.5 else y for y, p in pairs) / len(pairs),
    }
    for metric, value in expected.items():
        rows, got = _run(
            table, "BIN", metric_sql(f"validation:{metric}", "binary", "binary:logistic", "xgboost")
        )
        assert rows == len(pairs)
        assert got == pytest.approx(value, rel=1e-9), metric


@pytest.mark.parametrize(
    "metric", ["accuracy", "precision", "recall", "f1_binary", "f1", "balanced_accuracy"]
)
@pytest.mark.parametrize(("flavour", "threshold"), [("container-margin", 0.5), ("container-prediction", 0.0)])
def test_the_containers_classification_metrics(
    table: Any, metric: str, flavour: Flavour, threshold: float
) -> None:
    """custom_metrics.py: the class is margin > 0 (1.7-1: p > 0.5), or prediction > 0 (3.0-5 and later)."""
    pairs = _load(table, "BIN", _binary_rows())
    classes = [(y, int(p > threshold)) for y, p in pairs]
    _, got = _run(table, "BIN", metric_sql(f"validation:{metric}", "binary", "binary:logistic", flavour))
    assert got == pytest.approx(classification(metric, classes), rel=1e-9)


@pytest.mark.parametrize(
    ("objective", "flavour", "margin"),
    [
        ("reg:squarederror", "container-margin", lambda p: p),
        ("reg:gamma", "container-margin", math.log),  # the margin of a log link
        ("reg:gamma", "container-prediction", lambda p: p),
    ],
)
def test_the_containers_regression_metrics(table: Any, objective: str, flavour: Flavour, margin: Any) -> None:
    pairs = [(y, margin(p)) for y, p in _load(table, "REG", _regression_rows())]
    n = len(pairs)
    mean = sum(y for y, _ in pairs) / n
    residual = sum((y - m) ** 2 for y, m in pairs)
    expected = {
        "mse": residual / n,
        "rmse": math.sqrt(residual / n),
        "mae": sum(abs(y - m) for y, m in pairs) / n,
        "r2": 1 - residual / sum((y - mean) ** 2 for y, _ in pairs),
    }
    for metric, value in expected.items():
        _, got = _run(table, "REG", metric_sql(f"validation:{metric}", "regression", objective, flavour))
        assert got == pytest.approx(value, rel=1e-9), metric


def test_xgboost_regression_metrics(table: Any) -> None:
    pairs = _load(table, "REG", _regression_rows())
    n = len(pairs)
    expected = {
        "rmse": math.sqrt(sum((y - p) ** 2 for y, p in pairs) / n),
        "mae": sum(abs(y - p) for y, p in pairs) / n,
        "mape": sum(abs((y - p) / y) for y, p in pairs) / n,
        "rmsle": math.sqrt(sum((math.log1p(p) - math.log1p(y)) ** 2 for y, p in pairs) / n),
    }
    for metric, value in expected.items():
        _, got = _run(table, "REG", metric_sql(f"validation:{metric}", "regression", "reg:gamma", "xgboost"))
        assert got == pytest.approx(value, rel=1e-9), metric


def test_auc_on_one_class_is_undefined(table: Any) -> None:
    rows = [(n, 1.0, 0.5 + n / 1000) for n in range(ROWS)]
    _load(table, "ONE", rows)
    _, got = _run(table, "ONE", metric_sql("validation:auc", "binary", "binary:logistic", "xgboost"))
    assert got is None


@pytest.mark.parametrize(
    ("metric", "problem", "flavour", "why"),
    [
        ("validation:mlogloss", "multiclass", "container-margin", "multi-class"),
        ("validation:aucpr", "binary", "container-margin", "aucpr is not computed in SQL"),
        ("validation:poisson-nloglik", "regression", "container-margin", "not computed in SQL"),
        ("validation:accuracy", "binary", "xgboost", "by the script or TRAIN_MODEL"),
        ("validation:r2", "regression", "xgboost", "by the script or TRAIN_MODEL"),
    ],
)
def test_what_sql_does_not_compute_is_said(metric: str, problem: Any, flavour: Flavour, why: str) -> None:
    answer = metric_sql(metric, problem, "binary:logistic", flavour)
    assert isinstance(answer, str) and why in answer
