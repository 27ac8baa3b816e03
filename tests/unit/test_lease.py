"""The promotion lease against moto's DynamoDB: one holder per dataset, re-entrant, expiring by the
condition's timestamp, given back only by its holder."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from snowsage.errors import PromotionInProgress
from snowsage.lease import PromotionLease
from snowsage.outcome import execution_dataset

TABLE = "snowsage-promotion-leases"
A = "arn:aws:states:us-east-1:123456789012:execution:snowsage-pipeline:run-a"
B = "arn:aws:states:us-east-1:123456789012:execution:snowsage-pipeline:run-b"
NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)


@pytest.fixture
def client() -> Iterator[Any]:
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(
            TableName=TABLE,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "dataset", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "dataset", "KeyType": "HASH"}],
        )
        yield dynamodb


def holder(client: Any, dataset: str = "merchant_risk") -> str | None:
    item = client.get_item(TableName=TABLE, Key={"dataset": {"S": dataset}}).get("Item")
    return item["holder"]["S"] if item else None


def test_a_second_run_waits_while_the_first_holds_the_lease(client: Any) -> None:
    lease = PromotionLease(client, TABLE)
    lease.acquire("merchant_risk", A, NOW, 600)
    with pytest.raises(PromotionInProgress, match=r"run-a is promoting until 2026-11-26T02:10:00Z"):
        lease.acquire("merchant_risk", B, NOW + timedelta(seconds=599), 600)
    assert holder(client) == A


def test_datasets_do_not_wait_for_each_other(client: Any) -> None:
    lease = PromotionLease(client, TABLE)
    lease.acquire("merchant_risk", A, NOW, 600)
    lease.acquire("next_spend", B, NOW, 600)
    assert (holder(client), holder(client, "next_spend")) == (A, B)


def test_the_holder_takes_it_again_on_a_retried_gate(client: Any) -> None:
    lease = PromotionLease(client, TABLE)
    lease.acquire("merchant_risk", A, NOW, 600)
    lease.acquire("merchant_risk", A, NOW + timedelta(seconds=60), 600)
    item = client.get_item(TableName=TABLE, Key={"dataset": {"S": "merchant_risk"}})["Item"]
    assert int(item["expires_at"]["N"]) == int((NOW + timedelta(seconds=660)).timestamp())


def test_a_lease_nobody_gave_back_expires_by_itself(client: Any) -> None:
    lease = PromotionLease(client, TABLE)
    lease.acquire("merchant_risk", A, NOW, 600)
    lease.acquire("merchant_risk", B, NOW + timedelta(seconds=601), 600)
    assert holder(client) == B


def test_only_the_holder_gives_it_back(client: Any) -> None:
    lease = PromotionLease(client, TABLE)
    lease.acquire("merchant_risk", A, NOW, 600)
    assert lease.release("merchant_risk", B) is False
    assert holder(client) == A
    assert lease.release("merchant_risk", A) is True
    assert holder(client) is None
    assert lease.release("merchant_risk", A) is False  # a second release (RecordFailure after RecordRun)
    lease.acquire("merchant_risk", B, NOW, 600)


def test_a_release_that_fails_never_fails_the_run(client: Any) -> None:
    assert PromotionLease(client, "no-such-table").release("merchant_risk", A) is False


def test_the_safety_net_finds_the_dataset_in_the_execution_input() -> None:
    started = {
        "type": "ExecutionStarted",
        "executionStartedEventDetails": {
            "input": '{"manifest": "s3://snowsage-data/exports/merchant_risk/20261126t020000z/manifest.json"}'
        },
    }
    assert execution_dataset([started]) == "merchant_risk"
    started["executionStartedEventDetails"]["input"] = '{"manifest": "s3://snowsage-data/elsewhere.json"}'
    assert execution_dataset([started]) is None
    assert execution_dataset([]) is None
