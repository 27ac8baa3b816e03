"""The S3 side of the emulator: every byte moves S3 -> emulator -> S3 through a boto3 client."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_S3_URI = re.compile(r"^s3://([^/]+)/?(.*)$")


@dataclass(frozen=True)
class S3Object:
    bucket: str
    key: str
    size: int

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """Split ``s3://bucket/key`` into (bucket, key); raises ValueError when it is not an S3 URI."""
    match = _S3_URI.match(uri)
    if not match:
        raise ValueError(f"not an S3 URI: {uri!r}")
    return match.group(1), match.group(2)


def join_uri(base: str, *parts: str) -> str:
    """``s3://b/p/`` + ``a`` + ``b`` -> ``s3://b/p/a/b`` (no doubled slashes)."""
    return "/".join([base.rstrip("/"), *(p.strip("/") for p in parts)])


def list_objects(s3: Any, uri: str) -> list[S3Object]:
    """All objects whose key starts with the URI's key prefix, sorted by key.

    The prefix is a key prefix, not a folder. Zero-byte "folder" markers (keys ending in ``/``)
    are left out.
    """
    bucket, prefix = parse_s3_uri(uri)
    found: list[S3Object] = []
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            key = str(item["Key"])
            size = int(item["Size"])
            if key.endswith("/") and size == 0:
                continue
            found.append(S3Object(bucket, key, size))
    found.sort(key=lambda o: o.key)
    return found


def get_bytes(s3: Any, bucket: str, key: str) -> bytes:
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    data: bytes = body.read()
    return data


def put_bytes(s3: Any, uri: str, data: bytes, content_type: str) -> None:
    bucket, key = parse_s3_uri(uri)
    s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type)


def object_exists(s3: Any, uri: str) -> bool:
    try:
        bucket, key = parse_s3_uri(uri)
        s3.head_object(Bucket=bucket, Key=key)
    except Exception:
        return False
    return True
