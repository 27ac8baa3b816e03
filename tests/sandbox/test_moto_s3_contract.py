"""Contracts of moto 5.2.5 that sandbox/aws/moto_s3.py relies on (100,000 files).

The sandbox's stand-ins read and write moto's S3 backend in process, and ListObjectsV2 is served
by moto_s3's renderer and pager. Each test compares with moto's own HTTP answer for the same
objects: when moto is upgraded, a difference fails here, loudly, before a run can go wrong.
"""

from __future__ import annotations

import os
import threading
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import duckdb
import moto
import pytest
from botocore.exceptions import ClientError
from moto.s3 import models as s3_models
from moto.s3 import notifications
from moto.s3 import responses as s3_responses
from moto.server import ThreadedMotoServer

from sandbox.aws import moto_s3
from sandbox.aws.moto_patches import aws_description

BUCKET = "moto-s3-contract"
KEYS = [f"exports/d/x/score/data_{index:04d}.csv" for index in range(2_350)]
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    saved = {name: os.environ.get(name) for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    client = boto3.client("s3", endpoint_url=url, **CREDENTIALS)
    client.create_bucket(Bucket=BUCKET)
    objects = moto_s3.InProcessS3()
    for index, key in enumerate(KEYS):
        objects.put(BUCKET, key, f"{index},0.5\n".encode(), "text/csv")
    client.put_object(Bucket=BUCKET, Key="exports/d/x/manifest & more.json", Body=b"{}")
    client.put_object(Bucket=BUCKET, Key="exports/d/x/sub/one.csv", Body=b"1\n", ChecksumAlgorithm="SHA256")
    try:
        yield url
    finally:
        server.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture(scope="module")
def client(endpoint: str) -> Any:
    return boto3.client("s3", endpoint_url=endpoint, **CREDENTIALS)


@pytest.fixture
def patched() -> Iterator[None]:
    """moto_s3's two listing replacements, as moto_patches.install() sets them."""
    saved = s3_responses.S3Response.__dict__.get("serialized"), s3_models.S3Backend.list_objects_v2
    s3_responses.S3Response.serialized = moto_s3.listing_serialized  # type: ignore[method-assign]
    s3_models.S3Backend.list_objects_v2 = moto_s3.paged_list_objects_v2  # type: ignore[method-assign]
    try:
        yield
    finally:
        if saved[0] is None:
            del s3_responses.S3Response.serialized
        else:
            s3_responses.S3Response.serialized = saved[0]  # type: ignore[method-assign]
        s3_models.S3Backend.list_objects_v2 = saved[1]  # type: ignore[method-assign]


def test_moto_is_the_version_moto_s3_was_verified_against() -> None:
    assert moto.__version__ == "5.2.5", "re-run tests/sandbox/test_moto_s3_contract.py and fix moto_s3.py"


# ---- the in-process accessor -----------------------------------------------------------------


def test_in_process_objects_are_the_objects_s3_serves(client: Any) -> None:
    objects = moto_s3.InProcessS3()
    key = KEYS[7]
    assert objects.get(BUCKET, key) == client.get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"7,0.5\n"
    head = client.head_object(Bucket=BUCKET, Key=key)
    assert head["ContentType"] == "text/csv"
    stored = objects.head(BUCKET, key)
    assert stored is not None
    assert (stored.size, stored.etag) == (head["ContentLength"], head["ETag"])
    client.put_object(Bucket=BUCKET, Key="put/over-http.csv", Body=b"a,b\n")
    assert objects.get(BUCKET, "put/over-http.csv") == b"a,b\n"
    assert objects.get(BUCKET, "no/such/key") is None
    assert objects.get("no-such-bucket-here", "k") is None


def test_in_process_listing_is_s3s_listing(client: Any) -> None:
    prefix = "exports/d/x/"
    listed = [
        (item["Key"], item["Size"], item["ETag"])
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
        for item in page.get("Contents", [])
    ]
    assert [(o.key, o.size, o.etag) for o in moto_s3.InProcessS3().list(BUCKET, prefix)] == listed
    facade = moto_s3.InProcessS3Client(client)
    pages = list(facade.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix))
    assert [len(page["Contents"]) for page in pages] == [1000, 1000, 352]
    assert [(i["Key"], i["Size"], i["ETag"]) for page in pages for i in page["Contents"]] == listed


def test_the_client_facade_answers_missing_objects_with_s3s_error(client: Any) -> None:
    facade = moto_s3.InProcessS3Client(client)
    with pytest.raises(ClientError) as raised:
        facade.get_object(Bucket=BUCKET, Key="no/such/key.csv")
    assert raised.value.response["Error"]["Code"] == "NoSuchKey"
    facade.put_object(Bucket=BUCKET, Key="facade/put.csv", Body=b"x\n", ContentType="text/csv")
    assert client.get_object(Bucket=BUCKET, Key="facade/put.csv")["ContentType"] == "text/csv"
    assert facade.get_object(Bucket=BUCKET, Key="facade/put.csv")["Body"].read() == b"x\n"
    assert facade.head_object(Bucket=BUCKET, Key="facade/put.csv")["ContentLength"] == 2  # delegated


def test_an_in_process_put_notifies_as_an_http_put_does(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The manifest's S3 event starts the pipeline: the export's in-process put must still send it."""
    sent: list[tuple[str, str]] = []
    original = notifications.send_event

    def record(account_id: str, event_name: Any, bucket: Any, key: Any) -> None:
        sent.append((str(event_name.value), key.name))
        original(account_id, event_name, bucket, key)

    monkeypatch.setattr(notifications, "send_event", record)
    moto_s3.InProcessS3().put(BUCKET, "notify/manifest.json", b"{}", "application/json")
    client.put_object(Bucket=BUCKET, Key="notify/over-http.json", Body=b"{}")
    # moto's HTTP PUT also sends s3:ObjectTagging:Put (it stores an empty tag set); S3 does not, and
    # no rule of the stack matches it.
    assert [event for event in sent if event[0].startswith("s3:ObjectCreated:")] == [
        ("s3:ObjectCreated:Put", "notify/manifest.json"),
        ("s3:ObjectCreated:Put", "notify/over-http.json"),
    ]


def test_duckdb_reads_the_stage_through_the_in_process_filesystem(client: Any) -> None:
    connection = duckdb.connect()
    connection.register_filesystem(moto_s3.MotoS3FileSystem())
    files = connection.execute(f"SELECT file FROM glob('s3://{BUCKET}/exports/d/x/score/*')").fetchall()
    assert len(files) == len(KEYS)
    rows = connection.execute(f"SELECT * FROM read_csv('s3://{BUCKET}/{KEYS[3]}', header = false)").fetchall()
    assert rows == [(3, 0.5)]
    with pytest.raises(duckdb.Error):
        connection.execute(f"SELECT * FROM read_csv('s3://{BUCKET}/no/such.csv', header = false)")


# ---- ListObjectsV2 over HTTP -----------------------------------------------------------------

QUERIES = (
    "list-type=2&prefix=exports/d/x/&encoding-type=url",
    "list-type=2&prefix=exports/d/x/&max-keys=7",
    "list-type=2&prefix=exports/d/x/&delimiter=/",
    "list-type=2&prefix=exports/d/x/&fetch-owner=true&start-after=exports/d/x/score/data_2340.csv",
    "list-type=2&prefix=nothing/here/",
)


def _answer(endpoint: str, query: str) -> tuple[str, dict[str, str]]:
    with urllib.request.urlopen(f"{endpoint}/{BUCKET}?{query}") as response:
        headers = {k: v for k, v in response.headers.items() if k.lower() not in {"date", "x-amzn-requestid"}}
        return response.read().decode(), headers


def test_the_rendered_listing_is_byte_for_byte_motos(endpoint: str, patched: None) -> None:
    saved = s3_responses.S3Response.serialized, s3_models.S3Backend.list_objects_v2
    del s3_responses.S3Response.serialized
    s3_models.S3Backend.list_objects_v2 = moto_s3._ORIGINAL_LIST_OBJECTS_V2  # type: ignore[method-assign]
    motos = {query: _answer(endpoint, query) for query in QUERIES}
    s3_responses.S3Response.serialized, s3_models.S3Backend.list_objects_v2 = saved  # type: ignore[method-assign]
    for query in QUERIES:
        assert _answer(endpoint, query) == motos[query], query


def _pages(client: Any, prefix: str) -> list[list[tuple[str, int, str]]]:
    return [
        [(item["Key"], item["Size"], item["ETag"]) for item in page.get("Contents", [])]
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    ]


def test_paging_answers_motos_pages(client: Any, patched: None) -> None:
    prefix = "exports/d/x/score/"
    paged = _pages(client, prefix)
    assert [len(page) for page in paged] == [1000, 1000, 350]
    s3_models.S3Backend.list_objects_v2 = moto_s3._ORIGINAL_LIST_OBJECTS_V2  # type: ignore[method-assign]
    assert _pages(client, prefix) == paged


def test_a_bucket_that_changes_between_pages_is_listed_by_moto(client: Any, patched: None) -> None:
    """A kept listing is used only while the bucket's keys are the same; a key added is then seen."""
    prefix = "exports/d/x/score/"
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    listed: list[str] = []
    for number, page in enumerate(pages):
        listed.extend(item["Key"] for item in page["Contents"])
        if number == 0:
            client.put_object(Bucket=BUCKET, Key=f"{prefix}data_9999.csv", Body=b"late\n")
    try:
        assert listed == [*KEYS, f"{prefix}data_9999.csv"]
    finally:
        client.delete_object(Bucket=BUCKET, Key=f"{prefix}data_9999.csv")


def test_concurrent_listings_of_one_prefix_each_see_every_key(client: Any, patched: None) -> None:
    prefix = "exports/d/x/score/"
    found: list[list[str]] = []

    def walk() -> None:
        found.append([key for page in _pages(client, prefix) for key, _, _ in page])

    threads = [threading.Thread(target=walk) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert found == [KEYS, KEYS, KEYS]


# ---- Describe* in a state's result --------------------------------------------------------------


def test_a_state_result_leaves_out_the_emulators_own_members() -> None:
    description = {
        "TrainingJobName": "t",
        "TrainingJobStatus": "Completed",
        "EmulatorInstances": [{"Host": "algo-1", "Channels": {"train": ["s3://b/k"] * 10_000}}],
        "EmulatorTimings": {"read_seconds": 1.0},
    }
    assert aws_description(description) == {"TrainingJobName": "t", "TrainingJobStatus": "Completed"}
