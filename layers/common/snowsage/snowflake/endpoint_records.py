"""ML_MODELS' endpoint columns: which published model version serves the dataset's endpoint.

One version per dataset is IN_SERVICE at a time; a version that takes over retires the one before
(RETIRED). A rolled-back or failed deployment marks its version (ROLLED_BACK, FAILED) and leaves
the one in service as it is; deleting the endpoint marks the one in service DELETED. The
statements are idempotent: a retry converges on the same rows.
"""

from __future__ import annotations

from datetime import UTC, datetime

from snowsage.models import ModelEndpointStatus
from snowsage.snowflake.connection import ConnectionFactory, session
from snowsage.snowflake.publishing import MODELS_TABLE

# B608: only module constants are inlined in these statements; every value is a bind.
RETIRE_OTHERS = (
    f"UPDATE {MODELS_TABLE} SET ENDPOINT_STATUS = 'RETIRED', ENDPOINT_UPDATED_AT = %(now)s"  # noqa: S608  # nosec B608
    " WHERE DATASET = %(dataset)s AND ENDPOINT_STATUS = 'IN_SERVICE' AND MODEL_VERSION <> %(version)s"
)
MARK_VERSION = (
    f"UPDATE {MODELS_TABLE} SET ENDPOINT_NAME = %(endpoint)s, ENDPOINT_STATUS = %(status)s,"  # noqa: S608  # nosec B608
    " ENDPOINT_UPDATED_AT = %(now)s WHERE DATASET = %(dataset)s AND MODEL_VERSION = %(version)s"
)
MARK_DELETED = (
    f"UPDATE {MODELS_TABLE} SET ENDPOINT_STATUS = 'DELETED', ENDPOINT_UPDATED_AT = %(now)s"  # noqa: S608  # nosec B608
    " WHERE DATASET = %(dataset)s AND ENDPOINT_STATUS = 'IN_SERVICE'"
)


def endpoint_statements(status: ModelEndpointStatus, version: int | None) -> list[str]:
    """The UPDATEs for one outcome, in order (retire the others before marking the new one)."""
    if status == "DELETED" or version is None:
        return [MARK_DELETED] if status == "DELETED" else []
    if status == "IN_SERVICE":
        return [RETIRE_OTHERS, MARK_VERSION]
    return [MARK_VERSION]


class EndpointRecorder:
    """``snowsage.endpoints.EndpointRecords`` over a Snowflake connection factory."""

    def __init__(self, factory: ConnectionFactory, query_tag: str) -> None:
        self.factory = factory
        self.query_tag = query_tag
        self.warehouse_seconds = 0.0

    def __call__(self, dataset: str, endpoint: str, status: ModelEndpointStatus, version: int | None) -> None:
        binds = {
            "dataset": dataset,
            "endpoint": endpoint,
            "status": status,
            "version": version,
            "now": datetime.now(UTC).replace(tzinfo=None),
        }
        statements = endpoint_statements(status, version)
        if not statements:
            return
        with session(self.factory, query_tag=self.query_tag) as snowflake:
            snowflake.execute("BEGIN")
            for statement in statements:
                snowflake.execute(statement, binds)
            snowflake.execute("COMMIT")
        self.warehouse_seconds += snowflake.warehouse_seconds()
