"""Synthetic MERCHANT_TRANSACTIONS and MERCHANT_RISK_LABELS with a learnable label.

Details: tooling/README.md, "sample_data.py".
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

SAMPLE_DATASET = "merchant_risk"  # the dataset snowflake/setup/ defines over these tables
SAMPLE_SEED = 7  # the seed of the demo, the reference runs behind events/, the smoke runs and the tests
# The newest possible transaction: fixed, so recency features are the same on every run.
PERIOD_END = np.datetime64("2026-11-01T00:00:00", "us")
PERIOD_DAYS = 365
LABEL_SHARE = 0.8  # merchants with a known label (the training rows); every merchant is scored
ROWS_PER_MERCHANT = 250
CHANNELS = np.array(["POS", "ECOM", "MOTO"])
_US_PER_DAY = 86_400_000_000
_US_PER_HOUR = 3_600_000_000


@dataclass(frozen=True)
class SampleData:
    transactions: pd.DataFrame
    labels: pd.DataFrame
    risk: np.ndarray  # the latent risk per merchant (for tests and notebooks)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    result: np.ndarray = 1.0 / (1.0 + np.exp(-x))
    return result


def default_merchants(n_rows: int) -> int:
    return max(20, n_rows // ROWS_PER_MERCHANT)


def generate(n_rows: int, seed: int = SAMPLE_SEED, n_merchants: int | None = None) -> SampleData:
    """`n_rows` transactions over `n_merchants` merchants (default n_rows // 250, at least 20)."""
    merchants = n_merchants or default_merchants(n_rows)
    if n_rows < merchants:
        raise ValueError(f"n_rows={n_rows} must be at least n_merchants={merchants} (one transaction each)")
    rng = np.random.default_rng(seed)

    # --- merchants ---------------------------------------------------------------------------
    z = rng.standard_normal(merchants)
    is_risky = rng.random(merchants) < _sigmoid(3.5 * z - 1.6)
    activity = rng.lognormal(mean=0.0, sigma=0.8, size=merchants)
    log_amount_mu = rng.normal(3.6, 0.5, merchants) + 0.15 * z
    log_amount_sigma = 0.45 + 0.25 * _sigmoid(1.5 * z + rng.normal(0, 0.5, merchants))
    chargeback_p = np.clip(0.003 * np.exp(0.9 * z + rng.normal(0, 0.4, merchants)), 0, 0.5)
    refund_p = np.clip(0.03 * np.exp(0.45 * z + rng.normal(0, 0.35, merchants)), 0, 0.6)
    night_p = np.clip(0.04 + 0.12 * _sigmoid(1.4 * z + rng.normal(0, 0.8, merchants)), 0, 1)
    ecom_p = _sigmoid(0.9 * z + rng.normal(-0.3, 0.8, merchants))
    moto_p = 0.05 * _sigmoid(z)
    cross_border_p = np.clip(0.05 * np.exp(0.5 * z + rng.normal(0, 0.4, merchants)), 0, 0.9)
    # Active window: a start day, and an end that comes earlier for riskier merchants (churn).
    start_day = rng.uniform(0, PERIOD_DAYS * 0.5, merchants)
    churn = rng.random(merchants) < _sigmoid(1.2 * z - 1.5)
    end_day = np.where(churn, rng.uniform(start_day + 5, PERIOD_DAYS), PERIOD_DAYS)

    # --- transactions: at least one per merchant, the rest by activity -------------------------
    counts = 1 + rng.multinomial(n_rows - merchants, activity / activity.sum())
    m = np.repeat(np.arange(merchants), counts)

    day = start_day[m] + rng.random(n_rows) * (end_day[m] - start_day[m])
    night = rng.random(n_rows) < night_p[m]
    hour = np.where(night, rng.integers(0, 6, n_rows), rng.integers(6, 24, n_rows))
    offset_us = (
        np.floor(day).astype(np.int64) * _US_PER_DAY
        + hour.astype(np.int64) * _US_PER_HOUR
        + rng.integers(0, _US_PER_HOUR, n_rows)
    )
    # day 0 is the oldest; PERIOD_END minus the remaining time keeps every timestamp in the period
    txn_ts = PERIOD_END - (PERIOD_DAYS * _US_PER_DAY - offset_us).astype("timedelta64[us]")

    amount = np.round(np.exp(log_amount_mu[m] + log_amount_sigma[m] * rng.standard_normal(n_rows)), 2)
    amount = np.clip(amount, 0.5, 50_000.0)
    channel_draw = rng.random(n_rows)
    channel_idx = np.where(channel_draw < ecom_p[m], 1, np.where(channel_draw < ecom_p[m] + moto_p[m], 2, 0))
    # Refunds are likelier for e-commerce: gives the txn_refund example dataset some signal.
    refund = rng.random(n_rows) < np.clip(refund_p[m] * np.where(channel_idx == 1, 1.6, 0.8), 0, 1)
    chargeback = rng.random(n_rows) < chargeback_p[m]

    merchant_ids = np.char.add("M", np.char.zfill(np.arange(1, merchants + 1).astype(str), 6)).astype(object)
    transactions = pd.DataFrame(
        {
            "TXN_ID": np.arange(1, n_rows + 1, dtype=np.int64),
            "MERCHANT_ID": merchant_ids[m],
            "TXN_TS": txn_ts,
            "AMOUNT": amount,
            "CHANNEL": CHANNELS[channel_idx].astype(object),
            "IS_CROSS_BORDER": rng.random(n_rows) < cross_border_p[m],
            "IS_REFUND": refund,
            "IS_CHARGEBACK": chargeback,
        }
    )

    labelled = rng.random(merchants) < LABEL_SHARE
    labels = pd.DataFrame(
        {
            "MERCHANT_ID": merchant_ids[labelled],
            "IS_RISKY": is_risky[labelled],
            "LABELED_AT": np.full(int(labelled.sum()), PERIOD_END),
        }
    )
    return SampleData(transactions=transactions, labels=labels, risk=z)


@dataclass(frozen=True)
class LoadReport:
    transactions: int
    labels: int
    merchants: int
    seconds: float


ROWS_PER_STAGED_FILE = 2_000_000
# Under exports/, where Snowflake's storage role may read, write and delete (template.yaml,
# SnowflakeStorageRole): no grant for a demo-only prefix. "_sample" is no dataset name (snowsage.names).
SAMPLE_PREFIX = "exports/_sample/"


def load_sample_data(
    conn: Any,
    n_rows: int,
    seed: int = SAMPLE_SEED,
    *,
    s3_client: Any,
    bucket: str,
    n_merchants: int | None = None,
    replace: bool = True,
) -> LoadReport:
    """Generate and load MERCHANT_TRANSACTIONS and MERCHANT_RISK_LABELS (created by the setup SQL).

    Stages Parquet files in the bucket under `exports/_sample/<seed>-<time>/` and runs `COPY INTO <table> FROM
    @ML_STAGE/… FILE_FORMAT = (TYPE = PARQUET) MATCH_BY_COLUMN_NAME = CASE_INSENSITIVE` (valid
    Snowflake too), then deletes the staged files. Measured: 1M transactions load in about 1.5 s;
    the connector's write_pandas fails against fakesnow's server (its temporary stage name is not
    understood by the COPY), and CSV staging is about 4x slower. `replace` empties both tables
    first. `conn`'s current schema must hold the tables and ML_STAGE (on `bucket`).
    """
    started = time.perf_counter()
    data = generate(n_rows, seed=seed, n_merchants=n_merchants)
    prefix = f"{SAMPLE_PREFIX}{seed}-{time.time_ns()}/"
    cur = conn.cursor()
    keys: list[str] = []
    try:
        if replace:
            cur.execute("DELETE FROM MERCHANT_TRANSACTIONS")
            cur.execute("DELETE FROM MERCHANT_RISK_LABELS")
        for table, frame in (
            ("MERCHANT_TRANSACTIONS", data.transactions),
            ("MERCHANT_RISK_LABELS", data.labels),
        ):
            table_prefix = f"{prefix}{table.lower()}/"
            for number, begin in enumerate(range(0, len(frame), ROWS_PER_STAGED_FILE)):
                key = f"{table_prefix}part_{number:04d}.parquet"
                s3_client.put_object(
                    Bucket=bucket,
                    Key=key,
                    Body=_parquet_bytes(frame.iloc[begin : begin + ROWS_PER_STAGED_FILE]),
                )
                keys.append(key)
            cur.execute(
                f"COPY INTO {table} FROM @ML_STAGE/{table_prefix}"
                " FILE_FORMAT = (TYPE = PARQUET) MATCH_BY_COLUMN_NAME = CASE_INSENSITIVE"
            )
            loaded = sum(int(row[3]) for row in cur.fetchall())
            if loaded != len(frame):
                raise RuntimeError(f"COPY loaded {loaded} of {len(frame)} rows into {table}")
    finally:
        cur.close()
        for key in keys:
            s3_client.delete_object(Bucket=bucket, Key=key)
    return LoadReport(
        transactions=len(data.transactions),
        labels=len(data.labels),
        merchants=len(data.risk),
        seconds=time.perf_counter() - started,
    )


def _parquet_bytes(frame: pd.DataFrame) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), sink)
    return bytes(sink.getvalue().to_pybytes())
