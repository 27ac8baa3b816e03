"""One promotion at a time per dataset: a lease in DynamoDB, taken by a conditional write.

The gate takes it before it reads the champion; the run gives it back when it records itself
(RecordRun, the failure branch included) and the safety net gives back what a crashed run held. A
lease nobody gave back expires by itself: the write's condition lets a new holder in once
``expires_at`` has passed (docs: amazondynamodb/latest/developerguide/Expressions.ConditionExpressions,
"Preventing overwrites"). TTL only tidies the table: its deletions can lag by days (docs:
amazondynamodb/latest/developerguide/TTL), so no decision rests on it.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from snowsage.errors import LeaseUnavailable, PromotionInProgress
from snowsage.registry import is_transient

LOG = logging.getLogger(__name__)
# The gate, registration, scoring, loading and publication after it, their retries included, on top
# of the transform's own timeout (PrepareRun's TransformTimeoutSeconds).
LEASE_MARGIN_SECONDS = 3600
CONDITIONAL_CHECK_FAILED = "ConditionalCheckFailedException"
# Placeholders keep the condition clear of DynamoDB's reserved words (docs: ReservedWords).
NAMES = {"#d": "dataset", "#e": "expires_at", "#h": "holder"}


def lease_seconds(transform_timeout_seconds: int) -> int:
    return transform_timeout_seconds + LEASE_MARGIN_SECONDS


class PromotionLease:
    """Items ``{dataset, holder, expires_at (epoch seconds), acquired_at}``, one per dataset."""

    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def acquire(self, dataset: str, holder: str, now: datetime, seconds: int) -> None:
        """Take the lease, or again (a retried gate); PromotionInProgress when another run holds it."""
        epoch = int(now.timestamp())
        try:
            self._client.put_item(
                TableName=self._table,
                Item={
                    "dataset": {"S": dataset},
                    "holder": {"S": holder},
                    "expires_at": {"N": str(epoch + seconds)},
                    "acquired_at": {"S": now.isoformat()},
                },
                ConditionExpression="attribute_not_exists(#d) OR #e < :now OR #h = :holder",
                ExpressionAttributeNames=NAMES,
                ExpressionAttributeValues={":now": {"N": str(epoch)}, ":holder": {"S": holder}},
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == CONDITIONAL_CHECK_FAILED:
                raise PromotionInProgress(self._held_by(dataset)) from None
            raise LeaseUnavailable(f"promotion lease of {dataset!r}: {error}") from None
        except BotoCoreError as error:
            raise LeaseUnavailable(f"promotion lease of {dataset!r}: {error}") from None

    def _held_by(self, dataset: str) -> str:
        try:
            item = self._client.get_item(
                TableName=self._table, Key={"dataset": {"S": dataset}}, ConsistentRead=True
            ).get("Item", {})
        except (BotoCoreError, ClientError):
            item = {}
        holder = item.get("holder", {}).get("S", "another run")
        until = item.get("expires_at", {}).get("N")
        when = f" until {datetime.fromtimestamp(int(until), UTC):%Y-%m-%dT%H:%M:%SZ}" if until else ""
        return f"dataset {dataset!r}: {holder} is promoting{when}; the gate waits for it"

    def release(self, dataset: str, holder: str) -> bool:
        """Give the lease back if ``holder`` has it; never raises (the lease expires anyway)."""
        try:
            self._client.delete_item(
                TableName=self._table,
                Key={"dataset": {"S": dataset}},
                ConditionExpression="#h = :holder",
                ExpressionAttributeNames={"#h": "holder"},
                ExpressionAttributeValues={":holder": {"S": holder}},
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != CONDITIONAL_CHECK_FAILED:
                LOG.warning(
                    "could not release the promotion lease of %s (transient=%s): %s",
                    dataset,
                    is_transient(error),
                    error,
                )
            return False
        except BotoCoreError as error:
            LOG.warning("could not release the promotion lease of %s: %s", dataset, error)
            return False
        return True
