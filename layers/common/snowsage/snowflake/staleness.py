"""The datasets without a successful run in their interval: ML_STALE_DATASETS (setup 50)."""

from __future__ import annotations

from snowsage.models import StaleDataset
from snowsage.snowflake.connection import ConnectionFactory, session

STALE_QUERY = "SELECT DATASET, STALENESS_HOURS, LAST_SUCCESS_AT FROM ML_STALE_DATASETS ORDER BY DATASET"


def stale_datasets(factory: ConnectionFactory) -> list[StaleDataset]:
    with session(factory, query_tag="snowsage-staleness-check") as snowflake:
        snowflake.execute(STALE_QUERY)
        rows = snowflake.cursor.fetchall()
    return [
        StaleDataset(dataset=str(name), staleness_hours=int(hours), last_success_at=last)
        for name, hours, last in rows
    ]
