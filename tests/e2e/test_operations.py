"""Operations views on real sandbox runs: two exports of one dataset, then ML_SCORE_DRIFT's PSI by hand."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from sandbox import pipeline_run
from sandbox.reference_runs import load_reference_data
from sandbox.services import Sandbox
from tooling.sample_data import SAMPLE_DATASET

EVENTS = Path(__file__).resolve().parents[2] / "events"
EMPTY_BIN_SHARE = 0.0001  # the view's floor for an empty bin (50_operations_views.sql)


def _query(sandbox: Sandbox, sql: str, binds: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
    with sandbox.snowflake_connection() as connection:
        cursor = connection.cursor()
        cursor.execute(sql, binds)
        return [tuple(row) for row in cursor.fetchall()]


def deciles(baseline: list[float]) -> list[float]:
    """PERCENTILE_CONT(k / 10) for k = 1..9: linear between the sorted scores."""
    ordered = sorted(baseline)
    edges = []
    for k in range(1, 10):
        position = k / 10 * (len(ordered) - 1)
        low = math.floor(position)
        high = min(low + 1, len(ordered) - 1)
        edges.append(ordered[low] + (position - low) * (ordered[high] - ordered[low]))
    return edges


def shares(scores: list[float], edges: list[float]) -> list[float]:
    """Each score's bin: how many of the baseline's deciles it is above (0..9)."""
    bins = Counter(sum(score > edge for edge in edges) for score in scores)
    return [max(bins.get(index, 0) / len(scores), EMPTY_BIN_SHARE) for index in range(10)]


def hand_psi(latest: list[float], previous: list[float]) -> float:
    """No NULL scores here: the NULL bin is empty in both runs and adds nothing."""
    edges = deciles(previous)
    pairs = zip(shares(latest, edges), shares(previous, edges), strict=True)
    return sum((new - old) * math.log(new / old) for new, old in pairs)


def test_two_exports_give_a_drift_row_whose_psi_is_the_hand_computed_one(sandbox: Sandbox) -> None:
    load_reference_data(sandbox)
    first = pipeline_run.run_from_export(sandbox, SAMPLE_DATASET, export_id="20261126t020000z")
    assert first.status == "SUCCEEDED", (first.execution.error, first.execution.cause)
    # the next week's data: small payments grow tenfold (not all amounts: trees ignore a common
    # scale), so the features, the model and the scores move (PSI > 0)
    _query(sandbox, "UPDATE MERCHANT_TRANSACTIONS SET AMOUNT = AMOUNT * 10 WHERE AMOUNT < 50")
    second = pipeline_run.run_from_export(sandbox, SAMPLE_DATASET, export_id="20261127t020000z")
    assert second.status == "SUCCEEDED", (second.execution.error, second.execution.cause)
    run_ids = [(run.execution.output or {})["plan"]["run_id"] for run in (first, second)]

    def scores(run_id: str) -> list[float]:
        rows = _query(
            sandbox, "SELECT SCORE FROM MERCHANT_RISK_PREDICTIONS WHERE RUN_ID = %(r)s", {"r": run_id}
        )
        return [float(row[0]) for row in rows]

    previous, latest = scores(run_ids[0]), scores(run_ids[1])
    assert previous and latest
    rows = _query(sandbox, "SELECT DATASET, LATEST_RUN_ID, PREVIOUS_RUN_ID, PSI FROM ML_SCORE_DRIFT")
    assert len(rows) == 1
    assert rows[0][:3] == (SAMPLE_DATASET, run_ids[1], run_ids[0])
    assert rows[0][3] == pytest.approx(hand_psi(latest, previous), rel=1e-9, abs=1e-12)
    assert rows[0][3] > 0
    history = _query(sandbox, "SELECT RUN_ID, COST_USD FROM ML_RUN_HISTORY ORDER BY RUN_ID")
    assert {row[0] for row in history} == set(run_ids)
    assert all(row[1] is not None and row[1] > 0 for row in history)
    assert (
        _query(sandbox, "SELECT DATASET FROM ML_STALE_DATASETS WHERE DATASET = %(d)s", {"d": SAMPLE_DATASET})
        == []
    )
