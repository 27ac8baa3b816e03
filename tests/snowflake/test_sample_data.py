"""The generator: deterministic by seed, fast to load, and its label is learnable from the views."""

from __future__ import annotations

import csv
import io
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from sandbox.snowflake.export import export_dataset, section_keys
from tooling.sample_data import SAMPLE_PREFIX, generate, load_sample_data

from .conftest import BUCKET, query


def test_generator_is_deterministic_by_seed() -> None:
    a, b, c = generate(5_000, seed=1), generate(5_000, seed=1), generate(5_000, seed=2)
    pd.testing.assert_frame_equal(a.transactions, b.transactions)
    pd.testing.assert_frame_equal(a.labels, b.labels)
    assert not a.transactions["AMOUNT"].equals(c.transactions["AMOUNT"])


def test_generator_shape() -> None:
    data = generate(10_000, seed=3)
    tx = data.transactions
    assert len(tx) == 10_000
    assert tx["TXN_ID"].is_unique
    assert tx["MERCHANT_ID"].nunique() == 40  # every merchant trades at least once
    assert set(tx["CHANNEL"]) <= {"POS", "ECOM", "MOTO"}
    assert (tx["AMOUNT"] > 0).all()
    assert tx["TXN_TS"].max() < pd.Timestamp("2026-11-01")
    assert 0.6 < len(data.labels) / 40 <= 1.0  # most merchants labelled
    assert 0.15 < data.labels["IS_RISKY"].mean() < 0.6


def _auc(labels: np.ndarray, scores: np.ndarray) -> float:
    ranks = pd.Series(scores).rank().to_numpy()
    positives = labels == 1
    n_pos, n_neg = positives.sum(), (~positives).sum()
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _section(s3: Any, manifest: dict[str, Any], name: str) -> np.ndarray:
    rows = [
        row
        for key in section_keys(s3, BUCKET, manifest[name])
        for row in csv.reader(io.StringIO(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode()))
    ]
    return np.array([[float(v) if v else np.nan for v in row] for row in rows])


def test_label_is_learnable_from_the_exported_features(setup_conn: Any, s3: Any) -> None:
    report = load_sample_data(setup_conn, 200_000, seed=11, s3_client=s3, bucket=BUCKET)
    assert report.transactions == 200_000
    assert query(setup_conn, "SELECT COUNT(*) FROM MERCHANT_TRANSACTIONS") == [(200_000,)]
    assert query(setup_conn, "SELECT COUNT(*) FROM MERCHANT_RISK_SCORING") == [(report.merchants,)]

    manifest = export_dataset(setup_conn, s3, BUCKET, "merchant_risk", export_id="learnable")
    train, validation = _section(s3, manifest, "train"), _section(s3, manifest, "validation")
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 4, "eta": 0.1, "seed": 0},
        xgb.DMatrix(train[:, 1:], label=train[:, 0]),
        num_boost_round=100,
    )
    auc = _auc(validation[:, 0], booster.predict(xgb.DMatrix(validation[:, 1:])))
    assert auc > 0.8, auc


def test_reload_replaces_the_rows(setup_conn: Any, s3: Any) -> None:
    load_sample_data(setup_conn, 3_000, seed=1, s3_client=s3, bucket=BUCKET)
    load_sample_data(setup_conn, 2_000, seed=1, s3_client=s3, bucket=BUCKET)
    assert query(setup_conn, "SELECT COUNT(*) FROM MERCHANT_TRANSACTIONS") == [(2_000,)]
    staged = s3.list_objects_v2(Bucket=BUCKET, Prefix=SAMPLE_PREFIX).get("KeyCount", 0)
    assert staged == 0  # staged Parquet files are cleaned up
