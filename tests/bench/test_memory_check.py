"""The memory-flatness check measured for real on a tiny input: a handler that reads every export
file into memory fails it, a handler that reads only the manifest meets it.

Two exports at a fixed size per file (1 MiB), one file and 24 files, in a moto S3 server; each
handler is replayed once per export in a fresh interpreter by the bench's own replay
(`bench.sandbox_bench.replay_module`, bench/replay_child.py), and its peak RSS (VmHWM) goes to the
bench's verdict. Memory, not time: nothing here is a timed assertion.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from bench import verdicts
from bench.sandbox_bench import replay_module

BUCKET = "bench-memory-check"
FILE_BYTES = 1024 * 1024
SIZES = {"small": 1, "large": 24}  # files per export, each FILE_BYTES

MANIFEST_ONLY = """
import json, boto3
s3 = boto3.client("s3")

def lambda_handler(event, context):
    manifest = json.loads(s3.get_object(Bucket=event["bucket"], Key=event["manifest"])["Body"].read())
    return {"files": len(manifest["files"]), "rows": sum(f["rows"] for f in manifest["files"])}
"""

READS_EVERY_FILE = """
import json, boto3
s3 = boto3.client("s3")

def lambda_handler(event, context):
    manifest = json.loads(s3.get_object(Bucket=event["bucket"], Key=event["manifest"])["Body"].read())
    bodies = [s3.get_object(Bucket=event["bucket"], Key=f["key"])["Body"].read() for f in manifest["files"]]
    return {"files": len(bodies), "bytes": sum(len(body) for body in bodies)}
"""


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    s3 = boto3.client(
        "s3",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    s3.create_bucket(Bucket=BUCKET)
    line = b"0.5,1.25,3.0,17.5,42.0,0.125\n"
    body = line * (FILE_BYTES // len(line))
    for size, files in SIZES.items():
        keys = [f"exports/{size}/data_{index}.csv" for index in range(files)]
        for key in keys:
            s3.put_object(Bucket=BUCKET, Key=key, Body=body)
        manifest = {"files": [{"key": key, "rows": body.count(b"\n"), "size": len(body)} for key in keys]}
        s3.put_object(Bucket=BUCKET, Key=f"exports/{size}/manifest.json", Body=json.dumps(manifest).encode())
    try:
        yield url
    finally:
        server.stop()


def peaks(tmp_path: Path, endpoint: str, source: str) -> list[float]:
    app = tmp_path / "app.py"
    app.write_text(source, encoding="utf-8")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
    }
    found = []
    for size in SIZES:
        event: dict[str, Any] = {"bucket": BUCKET, "manifest": f"exports/{size}/manifest.json"}
        report = replay_module(app, [], env, event)
        assert not report["errored"], report["error"]
        found.append(report["peak_rss_kb"] / 1024)
    return found


def test_a_handler_that_reads_only_the_manifest_is_flat(tmp_path: Path, endpoint: str) -> None:
    verdict = verdicts.memory_flatness(peaks(tmp_path, endpoint, MANIFEST_ONLY))
    assert verdict.met, verdict


def test_a_handler_that_reads_every_export_file_into_memory_fails(tmp_path: Path, endpoint: str) -> None:
    verdict = verdicts.memory_flatness(peaks(tmp_path, endpoint, READS_EVERY_FILE))
    assert not verdict.met, verdict
