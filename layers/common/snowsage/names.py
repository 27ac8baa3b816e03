"""Names and identifiers: validated once here, used everywhere.

Execution names, run ids, SageMaker names, S3 URIs and Snowflake identifiers all have strict
grammars. Each is built or checked by one function so that a name that reaches AWS or Snowflake
is always valid (and never carries a quote, dot or path segment from user input).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from snowsage.errors import InvalidIdentifier

DATASET_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
SNOWFLAKE_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_$]{0,254}")
SAGEMAKER_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
EXECUTION_NAME_MAX = 80
RUN_ID_MAX = 40
RESOURCE_PREFIX_PATTERN = re.compile(r"[a-z][a-z0-9]{0,11}")
MANIFEST_KEY = re.compile(r"exports/(?P<dataset>[^/]+)/(?P<export_id>[^/]+)/manifest\.json")


def _digest(text: str, length: int = 8) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def _shorten(text: str, limit: int, separator: str = "-") -> str:
    """Keep ``text`` if it fits, else a prefix plus a hash of the whole (still unique)."""
    if len(text) <= limit:
        return text
    return f"{text[: limit - 9].rstrip('-_')}{separator}{_digest(text)}"


def validate_dataset(name: str) -> str:
    """A dataset name: lower case, digits, ``_`` and ``-`` (it becomes keys and job names)."""
    if not DATASET_PATTERN.fullmatch(name):
        raise InvalidIdentifier(
            f"dataset {name!r} is not valid: use 1-63 of [a-z0-9_-], starting with a letter or digit"
        )
    return name


def validate_export_id(export_id: str) -> str:
    if not DATASET_PATTERN.fullmatch(export_id):
        raise InvalidIdentifier(
            f"export_id {export_id!r} is not valid: use 1-63 of [a-z0-9_-], starting with a letter or digit"
        )
    return export_id


def validate_snowflake_identifier(name: str, what: str = "identifier") -> str:
    """An unquoted Snowflake identifier. Anything else (quotes, dots, ``;``) is refused."""
    if not SNOWFLAKE_IDENTIFIER.fullmatch(name):
        raise InvalidIdentifier(
            f"{what} {name!r} is not a plain Snowflake identifier ([A-Za-z_][A-Za-z0-9_$]*, at most 255)"
        )
    return name.upper()


def validate_resource_prefix(prefix: str) -> str:
    if not RESOURCE_PREFIX_PATTERN.fullmatch(prefix):
        raise InvalidIdentifier(f"resource prefix {prefix!r} must match {RESOURCE_PREFIX_PATTERN.pattern}")
    return prefix


def execution_name(dataset: str, export_id: str) -> str:
    """Deterministic Step Functions execution name for one export: duplicates collide on purpose."""
    raw = f"{validate_dataset(dataset)}-{validate_export_id(export_id)}"
    return _shorten(raw, EXECUTION_NAME_MAX)


def run_id_for(execution: str) -> str:
    """The run id: the execution name made safe for S3 keys and SageMaker names."""
    cleaned = re.sub(r"[^a-z0-9]+", "-", execution.lower()).strip("-") or "run"
    return _shorten(cleaned, RUN_ID_MAX)


def name_base(prefix: str, run_id: str) -> str:
    """``<prefix>-<run_id>``: SageMaker names append ``-train-<retry>`` and stay within 63."""
    return f"{validate_resource_prefix(prefix)}-{run_id}"


def model_package_group(prefix: str, dataset: str) -> str:
    return f"{validate_resource_prefix(prefix)}-{validate_dataset(dataset).replace('_', '-')}"


@dataclass(frozen=True)
class S3Uri:
    bucket: str
    key: str

    @classmethod
    def parse(cls, uri: str) -> S3Uri:
        match = re.fullmatch(r"s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(.+)", uri)
        if not match:
            raise ValueError(f"{uri!r} is not an s3://bucket/key URI")
        return cls(match.group(1), match.group(2))

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass(frozen=True)
class ManifestLocation:
    """Where an export's manifest sits: ``exports/<dataset>/<export_id>/manifest.json``."""

    bucket: str
    dataset: str
    export_id: str

    @property
    def key(self) -> str:
        return f"exports/{self.dataset}/{self.export_id}/manifest.json"

    @property
    def prefix(self) -> str:
        return f"exports/{self.dataset}/{self.export_id}/"

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @classmethod
    def from_key(cls, bucket: str, key: str) -> ManifestLocation | None:
        """The location for a manifest key, or None for any other key."""
        match = MANIFEST_KEY.fullmatch(key)
        if not match:
            return None
        return cls(bucket, validate_dataset(match["dataset"]), validate_export_id(match["export_id"]))

    @classmethod
    def from_uri(cls, uri: str) -> ManifestLocation:
        parsed = S3Uri.parse(uri)
        location = cls.from_key(parsed.bucket, parsed.key)
        if location is None:
            raise InvalidIdentifier(
                f"{uri!r} is not a manifest URI (s3://<bucket>/exports/<dataset>/<export_id>/manifest.json)"
            )
        return location
