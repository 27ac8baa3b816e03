"""Datasets defined in SQL for the end-to-end runs: each its own table, views, predictions table
and ML_DATASETS row, with its own model settings (docs/snowflake.md, "Adding a dataset")."""

from __future__ import annotations

import random

PREDICTIONS_COLUMNS = (
    "ID VARCHAR, SCORE FLOAT, RUN_ID VARCHAR, EXPORT_ID VARCHAR, MODEL_VERSION VARCHAR,"
    " SCORED_AT TIMESTAMP_NTZ"
)
MULTICLASS_COLUMNS = (
    "ID VARCHAR, PREDICTED_CLASS INTEGER, SCORE FLOAT, PROBABILITIES VARIANT, RUN_ID VARCHAR,"
    " EXPORT_ID VARCHAR, MODEL_VERSION VARCHAR, SCORED_AT TIMESTAMP_NTZ"
)


def registry_row(name: str, prefix: str, id_column: str, label: str, model: dict[str, str | float]) -> str:
    """An INSERT that names the model columns it sets (the others stay NULL: the template's)."""
    columns = ["NAME", "TRAINING_VIEW", "SCORING_VIEW", "ID_COLUMN", "LABEL_COLUMN", "PREDICTIONS_TABLE"]
    values = [f"'{name}'", f"'{prefix}_TRAINING'", f"'{prefix}_SCORING'", f"'{id_column}'", f"'{label}'"]
    values.append(f"'{prefix}_PREDICTIONS'")
    for column, value in model.items():
        columns.append(column)
        values.append(f"'{value}'" if isinstance(value, str) else repr(value))
    return (
        f"DELETE FROM ML_DATASETS WHERE NAME = '{name}';\n"
        f"INSERT INTO ML_DATASETS ({', '.join(columns)}, ENABLED, CREATED_AT)"
        f" VALUES ({', '.join(values)}, TRUE, SYSDATE());"
    )


def _dataset(
    *,
    name: str,
    prefix: str,
    rows: list[str],
    label: str,
    features: str,
    table_columns: str,
    model: dict[str, str | float],
) -> str:
    return "\n".join(
        [
            f"CREATE OR REPLACE TABLE {prefix}_ROWS (ROW_NO NUMBER, {label} FLOAT, {features});",
            f"INSERT INTO {prefix}_ROWS VALUES {', '.join(rows)};",
            f"CREATE OR REPLACE VIEW {prefix}_TRAINING AS SELECT * FROM {prefix}_ROWS;",
            f"CREATE OR REPLACE VIEW {prefix}_SCORING AS SELECT * EXCLUDE ({label}) FROM {prefix}_ROWS;",
            f"CREATE TABLE IF NOT EXISTS {prefix}_PREDICTIONS ({table_columns});",
            registry_row(name, prefix, "ROW_NO", label, model),
        ]
    )


def spend_regression_sql(rows: int = 600, threshold: float = 25.0, **model: str | float) -> str:
    """Next month's spend from this month's activity: a regression judged by validation:rmse."""
    generator = random.Random(5)
    values = []
    for number in range(rows):
        visits, basket = generator.randint(0, 20), generator.uniform(5, 60)
        spend = 20 + 2.5 * visits * basket / 10 + generator.gauss(0, 5)
        values.append(f"({number}, {spend:.3f}, {visits}, {basket:.3f})")
    settings: dict[str, str | float] = {
        "OBJECTIVE": "reg:squarederror",
        "EVALUATION_METRIC": "validation:rmse",
        "EVALUATION_THRESHOLD": threshold,
        **model,
    }
    return _dataset(
        name="next_spend",
        prefix="NEXT_SPEND",
        rows=values,
        label="SPEND",
        features="VISITS FLOAT, BASKET FLOAT",
        table_columns=PREDICTIONS_COLUMNS,
        model=settings,
    )


def segment_multiclass_sql(rows: int = 600, threshold: float = 0.9, **model: str | float) -> str:
    """Which of 3 segments a customer is in: a multi:softprob model judged by validation:mlogloss."""
    generator = random.Random(9)
    values = []
    for number in range(rows):
        x, y = generator.uniform(0, 10), generator.uniform(0, 10)
        segment = 0 if x + generator.gauss(0, 1) < 4 else (1 if y + generator.gauss(0, 1) < 5 else 2)
        values.append(f"({number}, {segment}, {x:.3f}, {y:.3f})")
    settings: dict[str, str | float] = {
        "OBJECTIVE": "multi:softprob",
        "EVALUATION_METRIC": "validation:mlogloss",
        "EVALUATION_THRESHOLD": threshold,
        **model,
    }
    return _dataset(
        name="segment",
        prefix="SEGMENT",
        rows=values,
        label="SEGMENT",
        features="X FLOAT, Y FLOAT",
        table_columns=MULTICLASS_COLUMNS,
        model=settings,
    )


def noisy_sum_sql(name: str, rows: int = 5000, threshold: float = 0.5) -> str:
    """A binary label that is the sign of four features' sum (one feature alone predicts it only
    partly), judged by validation:auc; ``flip_labels_sql`` makes an export of it harder."""
    generator = random.Random(11)
    values = []
    for number in range(rows):
        features = [generator.gauss(0, 1) for _ in range(4)]
        label = int(sum(features) + generator.gauss(0, 0.3) > 0)
        values.append(f"({number}, {label}, {', '.join(f'{value:.4f}' for value in features)})")
    return _dataset(
        name=name,
        prefix=name.upper(),
        rows=values,
        label="LABEL",
        features="F1 FLOAT, F2 FLOAT, F3 FLOAT, F4 FLOAT",
        table_columns=PREDICTIONS_COLUMNS,
        model={"EVALUATION_METRIC": "validation:auc", "EVALUATION_THRESHOLD": threshold},
    )


def flip_labels_sql(name: str, percent: int) -> str:
    """Flip the labels of ``percent`` % of the rows, chosen by their number alone (not by features):
    the same model scores lower on an export taken after it. Applying it twice restores them."""
    return f"UPDATE {name.upper()}_ROWS SET LABEL = 1 - LABEL WHERE MOD(ROW_NO * 7919, 100) < {int(percent)}"
