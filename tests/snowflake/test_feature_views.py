"""The merchant_risk views on a hand-made fixture: exact, hand-computed values."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import query

# (TXN_ID, MERCHANT_ID, TXN_TS, AMOUNT, CHANNEL, IS_CROSS_BORDER, IS_REFUND, IS_CHARGEBACK)
TRANSACTIONS = [
    (1, "A", "2026-01-10 02:00:00", 10.00, "ECOM", False, False, False),
    (2, "A", "2026-01-10 14:00:00", 20.00, "POS", False, True, False),
    (3, "A", "2026-01-12 23:30:00", 30.00, "ECOM", True, False, True),
    (4, "B", "2026-01-15 12:00:00", 100.00, "POS", False, False, False),  # newest: the "as of" time
    (5, "C", "2026-01-01 05:59:59", 5.00, "MOTO", False, False, False),
    (6, "C", "2026-01-01 06:00:00", 15.00, "ECOM", False, True, False),
]
LABELS = [
    ("A", False, "2026-01-01 00:00:00"),
    ("A", True, "2026-01-20 00:00:00"),  # the latest review wins
    ("C", False, "2026-01-20 00:00:00"),
    # B has no label: scored, not trained on
]
FEATURES = [
    "TXN_COUNT",
    "AVG_AMOUNT",
    "STDDEV_AMOUNT",
    "MAX_AMOUNT",
    "ACTIVE_DAYS",
    "DAYS_SINCE_LAST_TXN",
    "NIGHT_SHARE",
    "ECOM_SHARE",
    "CROSS_BORDER_SHARE",
    "REFUND_RATE",
    "CHARGEBACK_RATE",
]
EXPECTED = {
    # A: amounts 10, 20, 30 -> mean 20, sample stddev 10; two calendar days; last txn 2026-01-12
    # 23:30, newest 2026-01-15 12:00 -> 3 day boundaries (DATEDIFF counts boundaries, not 24 h
    # periods); one txn before 06:00 of three; 2 ECOM; 1 cross-border; 1 refund; 1 chargeback.
    "A": (3, 20.0, 10.0, 30.0, 2, 3, 0.3333, 0.6667, 0.3333, 0.3333, 0.3333),
    # B: a single transaction: stddev undefined -> 0; it is the newest -> 0 days.
    "B": (1, 100.0, 0.0, 100.0, 1, 0, 0.0, 0.0, 0.0, 0.0, 0.0),
    # C: 5 and 15 -> mean 10, stddev sqrt(50) = 7.07107 -> 7.0711; 05:59:59 is night, 06:00 is not.
    "C": (2, 10.0, 7.0711, 15.0, 1, 14, 0.5, 0.5, 0.0, 0.5, 0.0),
}


@pytest.fixture
def fixture_conn(setup_conn: Any) -> Any:
    cur = setup_conn.cursor()
    cur.executemany(
        "INSERT INTO MERCHANT_TRANSACTIONS (TXN_ID, MERCHANT_ID, TXN_TS, AMOUNT, CHANNEL, IS_CROSS_BORDER,"
        " IS_REFUND, IS_CHARGEBACK) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        TRANSACTIONS,
    )
    cur.executemany(
        "INSERT INTO MERCHANT_RISK_LABELS (MERCHANT_ID, IS_RISKY, LABELED_AT) VALUES (%s, %s, %s)", LABELS
    )
    cur.close()
    return setup_conn


def test_merchant_features_hand_computed(fixture_conn: Any) -> None:
    rows = query(fixture_conn, f"SELECT MERCHANT_ID, {', '.join(FEATURES)} FROM MERCHANT_FEATURES ORDER BY 1")
    assert {row[0]: tuple(row[1:]) for row in rows} == EXPECTED


def test_scoring_view_is_id_then_features_for_every_merchant(fixture_conn: Any) -> None:
    cur = fixture_conn.cursor()
    cur.execute("SELECT * FROM MERCHANT_RISK_SCORING ORDER BY MERCHANT_ID")
    assert [column[0] for column in cur.description] == ["MERCHANT_ID", *FEATURES]
    assert [(row[0], tuple(row[1:])) for row in cur.fetchall()] == sorted(EXPECTED.items())


def test_training_view_is_id_label_then_the_same_features_for_labelled_merchants(fixture_conn: Any) -> None:
    cur = fixture_conn.cursor()
    cur.execute("SELECT * FROM MERCHANT_RISK_TRAINING ORDER BY MERCHANT_ID")
    assert [column[0] for column in cur.description] == ["MERCHANT_ID", "IS_RISKY", *FEATURES]
    assert [tuple(row) for row in cur.fetchall()] == [
        ("A", 1, *EXPECTED["A"]),
        ("C", 0, *EXPECTED["C"]),
    ]
