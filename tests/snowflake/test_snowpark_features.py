"""The merchant features in Snowpark Python return the SQL view's rows.

snowflake/snowpark/merchant_features.py runs under Snowpark's local testing mode in the
Snowflake-runtime venv, fed with the sandbox's MERCHANT_TRANSACTIONS; MERCHANT_FEATURES (the SQL
view of 10_merchant_features.sql) runs in the sandbox's Snowflake on the same rows.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from sandbox.snowflake import functions
from tooling.sample_data import load_sample_data

from .conftest import BUCKET, query

ROOT = Path(__file__).resolve().parents[2]
MODULE = ROOT / "snowflake" / "snowpark" / "merchant_features.py"
WORKER = ROOT / "sandbox" / "snowflake" / "snowpark_worker.py"
COLUMNS = "TXN_ID, MERCHANT_ID, TXN_TS, AMOUNT, CHANNEL, IS_CROSS_BORDER, IS_REFUND, IS_CHARGEBACK"
pytestmark = pytest.mark.skipif(
    subprocess.run(
        [str(functions.runtime_python()), "-c", "import snowflake.snowpark"], capture_output=True, check=False
    ).returncode
    != 0,
    reason="the Snowflake-runtime venv lacks snowflake-snowpark-python: rebuild it (make venv)",
)


def _plain(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return (
        float(value) if hasattr(value, "as_integer_ratio") and not isinstance(value, (bool, int)) else value
    )


def snowpark_rows(transactions: list[tuple[Any, ...]]) -> tuple[list[str], list[list[Any]]]:
    request = {
        "module": str(MODULE),
        "function": "merchant_features",
        "tables": {
            "MERCHANT_TRANSACTIONS": {
                "columns": [name.strip() for name in COLUMNS.split(",")],
                "rows": [[_plain(value) for value in row] for row in transactions],
                "timestamp_columns": ["TXN_TS"],
            }
        },
    }
    done = subprocess.run(
        [str(functions.runtime_python()), str(WORKER)],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        check=True,
    )
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    return answer["columns"], answer["rows"]


def test_the_snowpark_features_are_the_sql_views_rows(setup_conn: Any, s3: Any) -> None:
    load_sample_data(setup_conn, 5_000, seed=7, s3_client=s3, bucket=BUCKET)
    transactions = query(setup_conn, f"SELECT {COLUMNS} FROM MERCHANT_TRANSACTIONS")
    cursor = setup_conn.cursor()
    cursor.execute("SELECT * FROM MERCHANT_FEATURES ORDER BY MERCHANT_ID")
    sql_columns = [column[0] for column in cursor.description]
    sql_rows = [[_plain(value) for value in row] for row in cursor.fetchall()]
    columns, rows = snowpark_rows(transactions)
    assert columns == sql_columns
    assert len(rows) == len(sql_rows) >= 20
    assert sorted(rows, key=lambda row: row[0]) == sql_rows
