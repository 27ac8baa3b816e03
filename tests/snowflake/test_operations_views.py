"""The BI views of snowflake/setup/50_operations_views.sql in fakesnow, on hand-computed data."""

from __future__ import annotations

import math
from typing import Any

import pytest

from .conftest import query

# Run r1 (the baseline) and r2 (latest) of a dataset whose scores are amounts (a regression), not
# probabilities. The baseline's deciles (PERCENTILE_CONT over 10, 20, …, 100) are 19, 28, …, 91:
# each baseline score is alone in its bin (10 in bin 0, 20 in bin 1, …, 100 in bin 9).
PREVIOUS: list[float | None] = [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0]
LATEST: list[float | None] = [15.0, 25.0, 25.0, 500.0, 500.0, None]  # bins 0, 1, 1, 9, 9 and NULL's
# By hand: shares per bin (an empty bin 0.0001), PSI = sum (l - p) ln(l / p) over the 11 bins.
FLOOR = 0.0001


def _term(latest: float, previous: float) -> float:
    return (latest - previous) * math.log(latest / previous)


HAND_PSI = (
    _term(1 / 6, FLOOR)  # NULL scores: none in the baseline, one of six now
    + _term(1 / 6, 0.1)  # bin 0
    + 2 * _term(2 / 6, 0.1)  # bins 1 and 9
    + 7 * _term(FLOOR, 0.1)  # bins 2 to 8: empty now
)


def insert_scores(conn: Any, run_id: str, scores: list[float | None], scored_at: str) -> None:
    for index, score in enumerate(scores):
        query(
            conn,
            "INSERT INTO MERCHANT_RISK_PREDICTIONS (ID, SCORE, RUN_ID, EXPORT_ID, MODEL_VERSION, SCORED_AT)"
            " VALUES (%s, %s, %s, %s, '1', %s)",
            (f"m{index}", score, run_id, f"e-{run_id}", scored_at),
        )


def insert_run(conn: Any, run_id: str, status: str, finished_at: str, **values: Any) -> None:
    columns = {"RUN_ID": run_id, "DATASET": "merchant_risk", "STATUS": status, "FINISHED_AT": finished_at}
    columns |= {name.upper(): value for name, value in values.items()}
    names = ", ".join(columns)
    marks = ", ".join(["%s"] * len(columns))
    query(conn, f"INSERT INTO ML_RUNS ({names}) VALUES ({marks})", tuple(columns.values()))


def test_score_drift_is_the_psi_of_the_latest_run_against_the_previous(setup_conn: Any) -> None:
    insert_scores(setup_conn, "r0", [0.9, 0.9], "2026-11-24 10:00:00")  # older than both: not compared
    insert_scores(setup_conn, "r1", PREVIOUS, "2026-11-25 10:00:00")
    insert_scores(setup_conn, "r2", LATEST, "2026-11-26 10:00:00")
    rows = query(
        setup_conn, "SELECT DATASET, LATEST_RUN_ID, PREVIOUS_RUN_ID, LATEST_ROWS, PSI FROM ML_SCORE_DRIFT"
    )
    assert len(rows) == 1
    assert rows[0][:4] == ("merchant_risk", "r2", "r1", 6)
    assert rows[0][4] == pytest.approx(HAND_PSI)
    # Fixed bins on [0, 1] put every amount in the last bin and NULLs in none: PSI ~ 0, no drift seen.
    assert pytest.approx(6.6622, abs=1e-4) == HAND_PSI


def test_identical_distributions_have_no_drift_and_one_run_has_no_row(setup_conn: Any) -> None:
    insert_scores(setup_conn, "r1", PREVIOUS, "2026-11-25 10:00:00")
    assert query(setup_conn, "SELECT * FROM ML_SCORE_DRIFT") == []
    insert_scores(setup_conn, "r2", list(reversed(PREVIOUS)), "2026-11-26 10:00:00")
    assert query(setup_conn, "SELECT PSI FROM ML_SCORE_DRIFT") == [(pytest.approx(0.0),)]


def test_run_history_has_duration_cost_metric_and_champion_change(setup_conn: Any) -> None:
    insert_run(
        setup_conn,
        "r1",
        "SUCCEEDED",
        "2026-11-26 10:02:30",
        started_at="2026-11-26 10:00:00",
        cost_usd=0.0123,
        cost_warehouse_usd=0.0005,
        warehouse_seconds=0.9,
        tuning_trials=8,
        metric_name="validation:auc",
        metric_value=0.91,
        promoted=True,
    )
    insert_run(setup_conn, "r2", "FAILED", "2026-11-26 11:00:10", started_at="2026-11-26 11:00:00")
    rows = query(
        setup_conn,
        "SELECT RUN_ID, DURATION_SECONDS, COST_USD, METRIC_VALUE, CHAMPION_CHANGED,"
        " COST_WAREHOUSE_USD, WAREHOUSE_SECONDS, TUNING_TRIALS FROM ML_RUN_HISTORY ORDER BY RUN_ID",
    )
    assert rows == [
        ("r1", 150, 0.0123, 0.91, True, 0.0005, 0.9, 8),
        ("r2", 10, None, None, False, None, None, None),
    ]


def test_model_trend_is_the_metric_of_successful_runs_over_time(setup_conn: Any) -> None:
    for run_id, finished, metric in (("r1", "2026-11-24", 0.80), ("r3", "2026-11-26", 0.85)):
        insert_run(
            setup_conn, run_id, "SUCCEEDED", finished, metric_name="validation:auc", metric_value=metric
        )
    insert_run(setup_conn, "r2", "FAILED", "2026-11-25", metric_name="validation:auc", metric_value=0.1)
    rows = query(
        setup_conn,
        "SELECT RUN_ID, METRIC_VALUE, CHANGE_FROM_PREVIOUS FROM ML_MODEL_TREND ORDER BY FINISHED_AT",
    )
    assert rows == [("r1", 0.80, None), ("r3", 0.85, pytest.approx(0.05))]


def test_stale_datasets_are_enabled_ones_without_a_success_in_their_interval(setup_conn: Any) -> None:
    query(
        setup_conn,
        "INSERT INTO ML_DATASETS (NAME, TRAINING_VIEW, SCORING_VIEW, ID_COLUMN, LABEL_COLUMN,"
        " PREDICTIONS_TABLE, ENABLED, CREATED_AT, STALENESS_HOURS) VALUES ('fresh', 'T', 'S', 'ID', 'Y', 'P',"
        " TRUE, SYSDATE(), 24), ('off', 'T', 'S', 'ID', 'Y', 'P', FALSE, SYSDATE(), 24)",
    )
    query(setup_conn, "UPDATE ML_DATASETS SET STALENESS_HOURS = 2 WHERE NAME = 'merchant_risk'")
    insert_run(setup_conn, "m1", "SUCCEEDED", "2020-01-01 00:00:00")
    query(
        setup_conn,
        "INSERT INTO ML_RUNS (RUN_ID, DATASET, STATUS, FINISHED_AT) VALUES"
        " ('f1', 'fresh', 'SUCCEEDED', DATEADD('hour', -23, SYSDATE())),"
        " ('m2', 'merchant_risk', 'SUCCEEDED', DATEADD('hour', -3, SYSDATE())),"
        " ('m3', 'merchant_risk', 'FAILED', SYSDATE())",
    )
    rows = query(setup_conn, "SELECT DATASET, STALENESS_HOURS FROM ML_STALE_DATASETS ORDER BY DATASET")
    # merchant_risk: last success 3 h ago, interval 2 h (the newer failure does not count); fresh: 23 h of 24
    assert rows == [("merchant_risk", 2)]


def test_a_dataset_that_never_ran_is_stale_and_the_interval_defaults_to_a_day(setup_conn: Any) -> None:
    rows = query(
        setup_conn, "SELECT DATASET, STALENESS_HOURS, LAST_SUCCESS_AT IS NULL FROM ML_STALE_DATASETS"
    )
    assert rows == [("merchant_risk", 24, True)]
