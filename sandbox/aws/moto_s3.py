"""moto's S3, read and written in process by the sandbox's own stand-ins (moto 5.2.5, pinned).

Details: sandbox/README.md, "aws/moto_s3.py".
"""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape

from botocore.exceptions import ClientError
from fsspec.implementations.memory import MemoryFile
from fsspec.spec import AbstractFileSystem
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.core.responses import BaseResponse
from moto.core.utils import get_service_model
from moto.s3.models import FakeDeleteMarker, FakeTableStorageBucket, S3Backend, s3_backends
from moto.utilities.utils import md5_hash

from sandbox.aws import iam_enforcement

_BASE_SERIALIZED = BaseResponse.serialized
PARTITION = "aws"
# S3 returns at most 1,000 keys a ListObjectsV2 page (API_ListObjectsV2, MaxKeys).
PAGE_KEYS = 1000


_STAND_IN_LOCK = threading.RLock()


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    etag: str
    last_modified: datetime


def _authorized(
    operation: str, bucket: str, key: str | None = None, *, prefix: str | None = None, principal: Any = None
) -> None:
    """Authorize the acting principal's call; a refusal is the ClientError S3 answers over HTTP."""
    try:
        iam_enforcement.authorize_s3(operation, bucket, key, prefix=prefix, principal=principal)
    except iam_enforcement.AccessDenied as denied:
        error = {
            "Error": {"Code": "AccessDenied", "Message": denied.message},
            "ResponseMetadata": {"HTTPStatusCode": 403},
        }
        raise ClientError(error, operation) from None  # type: ignore[arg-type]


class InProcessS3:
    """Get, put and list objects of moto's S3 backend of one account, without HTTP."""

    def __init__(
        self, account_id: str = DEFAULT_ACCOUNT_ID, principal: Callable[[str], Any] | None = None
    ) -> None:
        self.account_id = account_id
        # Who makes the calls on a bucket (a callable of the bucket: a role session is resolved, and
        # its trust checked, per call); None: the principal acting in the calling thread
        # (iam_enforcement.acting_as).
        self._principal = principal
        # moto's handlers run in the server's threads, unlocked; the stand-ins' calls (every
        # instance's) are serialised among themselves, one backend call at a time.
        self._lock = _STAND_IN_LOCK

    @property
    def _backend(self) -> Any:
        return s3_backends[self.account_id][PARTITION]

    def _acting(self, bucket: str) -> Any:
        return self._principal(bucket) if self._principal is not None else iam_enforcement.current_principal()

    def get(self, bucket: str, key: str) -> bytes | None:
        """The object's bytes, or None when the bucket or the key does not exist."""
        _authorized("GetObject", bucket, key, principal=self._acting(bucket))
        with self._lock:
            found = self._find(bucket, key)
            return None if found is None else bytes(found.value)

    def _find(self, bucket: str, key: str) -> Any:
        try:
            found = self._backend.get_object(bucket, key)
        except Exception as error:  # MissingBucket: the caller asks S3 for the real error
            if type(error).__name__ != "MissingBucket":
                raise
            return None
        # A delete marker (a versioned bucket's deleted key) has no value: not an object.
        return found if hasattr(found, "value") else None

    def head(self, bucket: str, key: str) -> StoredObject | None:
        """The object's key, size, ETag and time, or None when the bucket or the key does not exist."""
        _authorized("GetObject", bucket, key, principal=self._acting(bucket))
        with self._lock:
            found = self._find(bucket, key)
            return None if found is None else _described(found)

    def put(self, bucket: str, key: str, body: bytes, content_type: str | None = None) -> StoredObject:
        """Store ``body`` as moto's PUT handler does (notifications and default encryption included)."""
        _authorized("PutObject", bucket, key, principal=self._acting(bucket))
        with self._lock:
            stored = self._backend.put_object(bucket, key, body)
            if content_type:
                stored.set_metadata({"Content-Type": content_type})
            return _described(stored)

    def list(self, bucket: str, prefix: str) -> list[StoredObject]:
        """Every object whose key starts with ``prefix``, sorted by key (one backend call)."""
        _authorized("ListBucket", bucket, prefix=prefix, principal=self._acting(bucket))
        with self._lock:
            keys, _, _, _ = self._backend.list_objects(
                self._backend.get_bucket(bucket), prefix, None, None, None
            )
            return [_described(item) for item in keys]


def _described(item: Any) -> StoredObject:
    return StoredObject(str(item.name), int(item.size), str(item.etag), item.last_modified)


class _Pages:
    """``get_paginator("list_objects_v2").paginate(Bucket=…, Prefix=…)``: pages of ``PAGE_KEYS``."""

    def __init__(self, objects: InProcessS3) -> None:
        self._objects = objects

    def paginate(self, *, Bucket: str, Prefix: str = "", **_: Any) -> Iterator[dict[str, Any]]:
        found = self._objects.list(Bucket, Prefix)
        for start in range(0, max(len(found), 1), PAGE_KEYS):
            page = found[start : start + PAGE_KEYS]
            contents = [
                {"Key": item.key, "Size": item.size, "ETag": item.etag, "LastModified": item.last_modified}
                for item in page
            ]
            yield {"KeyCount": len(contents), **({"Contents": contents} if contents else {})}


class InProcessS3Client:
    """A boto3 S3 client whose get_object, put_object and list_objects_v2 paginator the sandbox's
    stand-ins serve from moto's backend; any other call, and any object the backend does not hold,
    goes to the wrapped client (so errors are S3's own)."""

    def __init__(self, client: Any, objects: InProcessS3 | None = None) -> None:
        self.client = client
        self.objects = objects or InProcessS3()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def get_object(self, *, Bucket: str, Key: str, **kwargs: Any) -> dict[str, Any]:
        data = None if kwargs else self.objects.get(Bucket, Key)
        if data is None:
            answer: dict[str, Any] = self.client.get_object(Bucket=Bucket, Key=Key, **kwargs)
            return answer
        return {"Body": io.BytesIO(data), "ContentLength": len(data)}

    def head_object(self, *, Bucket: str, Key: str, **kwargs: Any) -> dict[str, Any]:
        found = None if kwargs else self.objects.head(Bucket, Key)
        if found is None:
            answer: dict[str, Any] = self.client.head_object(Bucket=Bucket, Key=Key, **kwargs)
            return answer
        return {"ContentLength": found.size, "ETag": found.etag, "LastModified": found.last_modified}

    def put_object(
        self, *, Bucket: str, Key: str, Body: bytes, ContentType: str | None = None
    ) -> dict[str, Any]:
        stored = self.objects.put(Bucket, Key, bytes(Body), ContentType)
        return {"ETag": stored.etag}

    def get_paginator(self, operation: str) -> Any:
        if operation == "list_objects_v2":
            return _Pages(self.objects)
        return self.client.get_paginator(operation)


class MotoS3FileSystem(AbstractFileSystem):  # type: ignore[misc]
    """``s3://`` for fakesnow's DuckDB (COPY INTO <table> FROM a stage): moto's backend, read in
    process. Read-only: COPY INTO <table> reads the stage, it does not write it."""

    protocol = ("s3", "s3a")
    root_marker = ""

    def __init__(self, objects: InProcessS3 | None = None, **kwargs: Any) -> None:
        super().__init__(skip_instance_cache=True, **kwargs)
        self.objects = objects or InProcessS3()

    @classmethod
    def _strip_protocol(cls, path: Any) -> str:
        text = str(path)
        for protocol in ("s3://", "s3a://"):
            if text.startswith(protocol):
                text = text[len(protocol) :]
        return text.rstrip("/")

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        path = self._strip_protocol(path)
        bucket, _, prefix = path.partition("/")
        directory = f"{prefix}/" if prefix else ""
        entries: dict[str, dict[str, Any]] = {}
        for item in self.objects.list(bucket, directory):
            rest = item.key[len(directory) :]
            head, slash, _ = rest.partition("/")
            name = f"{bucket}/{directory}{head}"
            if slash:
                entries.setdefault(name, {"name": name, "size": 0, "type": "directory"})
            else:
                entries[name] = {"name": name, "size": item.size, "type": "file", "ETag": item.etag}
        if not entries and prefix:
            single = self.objects.head(bucket, prefix)
            if single is not None:
                entries[path] = {"name": path, "size": single.size, "type": "file", "ETag": single.etag}
        listed = sorted(entries.values(), key=lambda entry: str(entry["name"]))
        return listed if detail else [entry["name"] for entry in listed]

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        path = self._strip_protocol(path)
        bucket, _, key = path.partition("/")
        found = self.objects.head(bucket, key) if key else None
        if found is not None:
            return {"name": path, "size": found.size, "type": "file", "ETag": found.etag}
        if self.objects.list(bucket, f"{key}/" if key else ""):
            return {"name": path, "size": 0, "type": "directory"}
        raise FileNotFoundError(path)

    def modified(self, path: str) -> datetime:
        path = self._strip_protocol(path)
        bucket, _, key = path.partition("/")
        found = self.objects.head(bucket, key)
        if found is None:
            raise FileNotFoundError(path)
        return found.last_modified

    def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> MemoryFile:
        if "r" not in mode:
            raise PermissionError(f"{path}: the sandbox's stage reader is read-only")
        path = self._strip_protocol(path)
        bucket, _, key = path.partition("/")
        data = self.objects.get(bucket, key)
        if data is None:
            raise FileNotFoundError(path)
        return MemoryFile(self, path, data)


# --------------------------------------------------------------------------------------------
# ListObjectsV2 over HTTP: the production code's listing (PrepareRun's completeness check, the
# paged listing of 100,000 keys) is served as before, page by page, but rendered without moto's
# generic serializer, which spent about 1 ms a key (it parses every LastModified back from text
# and walks the shape per value): 100 s for the 100,000 keys of a large export, past PrepareRun's
# Timeout in the sandbox, where S3 answers in tens of milliseconds a page.
# moto internals: ``moto.core.responses.BaseResponse.serialized(self, ActionResult)`` (what
# ``S3Response.list_objects_v2`` returns through, with ``self.data["Action"] = "ListObjectsV2"``) and
# ``ActionResult.result`` (the response as a dict of the output shape's members). The body is the
# same XML, member for member in the shape's order (tests/sandbox/test_moto_s3_contract.py
# compares the bytes with moto's own).
# --------------------------------------------------------------------------------------------

LISTING_ACTION = "ListObjectsV2"
_XML_HEAD = '<?xml version="1.0" encoding="utf-8"?>\n'
_S3_NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"


def _xml_text(value: Any, shape: Any) -> str:
    if shape.type_name == "boolean":
        return "true" if value else "false"
    return escape(str(value))


def _xml_members(shape: Any, value: dict[str, Any]) -> str:
    """A structure's members as XML elements, in the shape's order (rest-xml, as moto renders it)."""
    parts: list[str] = []
    for name, member in shape.members.items():
        if name not in value or member.serialization.get("location"):
            continue
        tag = member.serialization.get("name", name)
        parts.append(_xml_element(tag, member, value[name]))
    return "".join(parts)


def _xml_element(tag: str, shape: Any, value: Any) -> str:
    if shape.type_name == "list":
        item_shape = shape.member
        if shape.serialization.get("flattened"):
            return "".join(_xml_element(tag, item_shape, item) for item in value)
        item_tag = item_shape.serialization.get("name", "member")
        return f"<{tag}>{''.join(_xml_element(item_tag, item_shape, item) for item in value)}</{tag}>"
    if shape.type_name == "structure":
        return f"<{tag}>{_xml_members(shape, value)}</{tag}>"
    return f"<{tag}>{_xml_text(value, shape)}</{tag}>"


def _listing_shape() -> Any:
    return get_service_model("s3").operation_model(LISTING_ACTION).output_shape


def listing_serialized(self: Any, action_result: Any) -> Any:
    """``S3Response.serialized``: ListObjectsV2 rendered directly; anything else as moto does."""
    result = action_result.result
    if (
        self.data.get("Action") != LISTING_ACTION
        or not isinstance(result, dict)
        or not result.get("Contents")
    ):
        return _BASE_SERIALIZED(self, action_result)
    # Status and headers as moto answers them (its serializer, run without the keys).
    status, headers, _ = _BASE_SERIALIZED(self, type(action_result)({**result, "Contents": []}))
    members = _xml_members(_listing_shape(), result)
    body = f'{_XML_HEAD}<ListBucketResult xmlns="{_S3_NAMESPACE}">{members}</ListBucketResult>'
    return status, {k: v for k, v in headers.items() if k.lower() != "content-length"}, body


# --------------------------------------------------------------------------------------------
# ListObjectsV2 paging: moto lists, sorts and skips every key under the prefix for each page, so a
# paged listing of n keys costs n^2 / 1,000 (measured: 31 s for 50,000 keys). The first page is
# moto's own listing; its sorted key names are kept for the continuation token it answers, and the
# next page starts where the previous one ended. The objects are looked up afresh for each page.
# Any change to the bucket's number of keys between pages, a delimiter, StartAfter, an unknown or
# reused token: moto's own method answers (the same keys, only slower).
# moto internals: ``S3Backend.list_objects_v2(bucket, prefix, delimiter, continuation_token,
# start_after, max_keys) -> (keys, truncated, next_token)``, its ``_pagination_tokens`` (token ->
# last key, md5 of the key as the token) and ``FakeBucket.keys`` (a dict of the latest versions).
# --------------------------------------------------------------------------------------------

_ORIGINAL_LIST_OBJECTS_V2 = S3Backend.list_objects_v2
_LISTINGS_KEPT = 64


@dataclass
class _Listing:
    bucket: str
    prefix: str | None
    key_count: int
    names: list[str]
    start: int


_LISTINGS: OrderedDict[tuple[int, str], _Listing] = OrderedDict()
_LISTINGS_LOCK = threading.Lock()


def paged_list_objects_v2(  # noqa: PLR0917
    self: Any,
    bucket: Any,
    prefix: str | None,
    delimiter: str | None,
    continuation_token: str | None,
    start_after: str | None,
    max_keys: int,
) -> tuple[Any, bool, str | None]:
    """``S3Backend.list_objects_v2`` that continues a listing from its kept key names."""
    if delimiter or start_after or max_keys <= 0 or isinstance(bucket, FakeTableStorageBucket):
        return _ORIGINAL_LIST_OBJECTS_V2(
            self, bucket, prefix, delimiter, continuation_token, start_after, max_keys
        )
    if continuation_token:
        with _LISTINGS_LOCK:
            kept = _LISTINGS.pop((id(self), continuation_token), None)
        if kept is None or (kept.bucket, kept.prefix, kept.key_count) != (
            bucket.name,
            prefix,
            len(bucket.keys),
        ):
            return _ORIGINAL_LIST_OBJECTS_V2(
                self, bucket, prefix, delimiter, continuation_token, start_after, max_keys
            )
        names, start = kept.names, kept.start
    else:
        keys, _, _, _ = self.list_objects(bucket, prefix, None, None, None)
        names, start = [str(key.name) for key in keys], 0
    page_names = names[start : start + max_keys]
    latest = (bucket.keys.get(name) for name in page_names)
    page = [key for key in latest if key is not None and not isinstance(key, FakeDeleteMarker)]
    if start + max_keys >= len(names):
        return page, False, None
    token = md5_hash(page_names[-1].encode("utf-8")).hexdigest()
    self._pagination_tokens[token] = page_names[-1]
    with _LISTINGS_LOCK:
        _LISTINGS[(id(self), token)] = _Listing(
            bucket.name, prefix, len(bucket.keys), names, start + max_keys
        )
        while len(_LISTINGS) > _LISTINGS_KEPT:
            _LISTINGS.popitem(last=False)
    return page, True, token
