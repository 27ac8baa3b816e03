"""S3ObjectStore against moto's S3 (in-process): the calls PrepareRun makes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws

from snowsage.errors import ExportFileMissing, ManifestError, ManifestNotFound
from snowsage.manifest import check_manifest, read_manifest, verify_files
from snowsage.names import ManifestLocation
from snowsage.s3 import S3ObjectStore, listing_client
from tests.unit.builders import BUCKET, DATASET, EXPORT_ID, PREFIX, store_for


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def _put_export(s3: Any, document: dict[str, Any]) -> None:
    for key, body in store_for(document).objects.items():
        s3.put_object(Bucket=BUCKET, Key=key, Body=body)


def test_reads_and_verifies_a_real_export(s3: Any, document: dict[str, Any]) -> None:
    _put_export(s3, document)
    location = ManifestLocation(BUCKET, DATASET, EXPORT_ID)
    store = S3ObjectStore(s3)
    manifest = read_manifest(location, store)
    verify_files(location, check_manifest(manifest, location, "train_and_score"), store)
    assert store.read_head(BUCKET, f"{PREFIX}score/data_0_0_0.csv", 4) == b"m-1,"


def test_a_missing_manifest_is_not_found(s3: Any) -> None:
    with pytest.raises(ManifestNotFound, match="does not exist"):
        read_manifest(ManifestLocation(BUCKET, DATASET, "nothing"), S3ObjectStore(s3))


def test_an_oversize_manifest_is_refused_before_download(s3: Any) -> None:
    s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}manifest.json", Body=b" " * (1024 * 1024 + 1))
    with pytest.raises(ManifestError, match="at most"):
        read_manifest(ManifestLocation(BUCKET, DATASET, EXPORT_ID), S3ObjectStore(s3))


def test_listing_pages_past_a_thousand_keys(s3: Any) -> None:
    for index in range(1005):
        s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}score/part_{index:05d}.csv", Body=b"x")
    keys = [key for key, _ in S3ObjectStore(s3).iter_sizes(BUCKET, f"{PREFIX}score/")]
    assert keys == sorted(keys)
    assert len(keys) == 1005


def test_a_deleted_file_is_named(s3: Any, document: dict[str, Any]) -> None:
    _put_export(s3, document)
    missing = f"{PREFIX}validation/data_0_0_0.csv"
    s3.delete_object(Bucket=BUCKET, Key=missing)
    location = ManifestLocation(BUCKET, DATASET, EXPORT_ID)
    store = S3ObjectStore(s3)
    manifest = read_manifest(location, store)
    with pytest.raises(ExportFileMissing, match=missing):
        verify_files(location, check_manifest(manifest, location, "train_and_score"), store)
    assert (
        json.loads(s3.get_object(Bucket=BUCKET, Key=f"{PREFIX}manifest.json")["Body"].read())["version"] == 1
    )


def test_the_listing_client_keeps_timestamps_as_text(s3: Any) -> None:
    """100,000 listed keys: botocore's dateutil parse of each LastModified is most of the CPU."""
    s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}score/part_0.csv", Body=b"x")
    page = listing_client().list_objects_v2(Bucket=BUCKET, Prefix=f"{PREFIX}score/")
    assert isinstance(page["Contents"][0]["LastModified"], str)
    assert isinstance(s3.list_objects_v2(Bucket=BUCKET)["Contents"][0]["LastModified"], datetime)
    keys = [key for key, _ in S3ObjectStore(listing_client()).iter_sizes(BUCKET, f"{PREFIX}score/")]
    assert keys == [f"{PREFIX}score/part_0.csv"]
