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

SAGEMAKER_NAME_MAX = 63
RESOURCE_PREFIX_MAX = 12
# A dataset is snake_case: lower-case letters and digits in words joined by single underscores.
# It has no "-", so "<dataset>-<export_id>" splits at its first "-" (execution names are
# injective), and "_" -> "-" maps it one-to-one onto a SageMaker name: the model package group
# "<prefix>-<dataset>" fits 63 characters for every prefix (API_CreateModelPackageGroup).
DATASET_MAX = SAGEMAKER_NAME_MAX - RESOURCE_PREFIX_MAX - 1
DATASET_PATTERN = re.compile(rf"(?=.{{1,{DATASET_MAX}}}$)[a-z0-9]+(?:_[a-z0-9]+)*")
# An export id (EXPORT_DATASET writes the UTC time, 20261126t100000z): short enough that
# "<dataset>-<export_id>" fits the 80 characters of an execution name without shortening.
EXECUTION_NAME_MAX = 80
EXPORT_ID_MAX = EXECUTION_NAME_MAX - DATASET_MAX - 1
EXPORT_ID_PATTERN = re.compile(rf"[a-z0-9][a-z0-9_-]{{0,{EXPORT_ID_MAX - 1}}}")
SNOWFLAKE_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_$]{0,254}")
SAGEMAKER_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
# A run id is the execution name as it is, or a readable part, "-h" and a digest. It goes into
# unquoted Snowflake stage paths (COPY INTO ... FROM @stage/predictions/<dataset>/<run_id>/), where
# "--" would start a comment: single "-" only.
PLAIN_RUN_ID = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
RUN_ID_MAX = 40
RUN_ID_DIGEST = 16
DIGESTED_RUN_ID = re.compile(rf".*-h[0-9a-f]{{{RUN_ID_DIGEST}}}")
RESOURCE_PREFIX_PATTERN = re.compile(rf"[a-z][a-z0-9]{{0,{RESOURCE_PREFIX_MAX - 1}}}")
MANIFEST_KEY = re.compile(r"exports/(?P<dataset>[^/]+)/(?P<export_id>[^/]+)/manifest\.json")


def _digest(text: str, length: int = 8) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def validate_dataset(name: str) -> str:
    """A dataset name: snake_case, 1-50 characters (it becomes keys, job and group names)."""
    if not DATASET_PATTERN.fullmatch(name):
        raise InvalidIdentifier(
            f"dataset {name!r} is not valid: use 1-{DATASET_MAX} characters, lower-case letters and"
            " digits in words joined by single underscores (snake_case, no '-')"
        )
    return name


def validate_export_id(export_id: str) -> str:
    if not EXPORT_ID_PATTERN.fullmatch(export_id):
        raise InvalidIdentifier(
            f"export_id {export_id!r} is not valid: use 1-{EXPORT_ID_MAX} of [a-z0-9_-],"
            " starting with a letter or digit"
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
    """Deterministic Step Functions execution name for one export: duplicates collide on purpose.

    At most 80 characters (API_StartExecution) by the two grammars, and one-to-one: a dataset
    has no "-", so the name splits back at its first "-".
    """
    return f"{validate_dataset(dataset)}-{validate_export_id(export_id)}"


def run_id_for(execution: str) -> str:
    """The run id: the execution name made safe for S3 keys, SageMaker names and stage paths.

    A name that is already lower-case words joined by single "-" (and fits, and does not end
    like a digest) is its own run id. Any other name becomes a readable part, "-h" and 16 hex of
    its sha256: the two kinds never meet, so two names never share a run id (short of a 64-bit
    digest collision; 40 characters cannot hold every 80-character name one-to-one).
    """
    if (
        len(execution) <= RUN_ID_MAX
        and PLAIN_RUN_ID.fullmatch(execution)
        and not DIGESTED_RUN_ID.fullmatch(execution)
    ):
        return execution
    readable_max = RUN_ID_MAX - RUN_ID_DIGEST - 2
    readable = re.sub(r"[^a-z0-9]+", "-", execution.lower()).strip("-")[:readable_max].rstrip("-")
    return f"{readable or 'run'}-h{_digest(execution, RUN_ID_DIGEST)}"


def name_base(prefix: str, run_id: str) -> str:
    """``<prefix>-<run_id>``: SageMaker names append ``-train-<retry>`` and stay within 63."""
    return f"{validate_resource_prefix(prefix)}-{run_id}"


TUNING_JOB_DIGEST = 12


def tuning_job_name_base(prefix: str, run_id: str) -> str:
    """``<prefix>-<12 hex of the run id>``: at most 25, so "-t<retry>" fits the 32 characters of
    a tuning job name (API_CreateHyperParameterTuningJob), and AWS's trial suffix
    ("-<3 digits>-<8 hex>") fits a training job's 63. One run, one name; retries count."""
    return f"{validate_resource_prefix(prefix)}-{_digest(run_id, TUNING_JOB_DIGEST)}"


def model_package_group(prefix: str, dataset: str) -> str:
    """``<prefix>-<dataset with "-" for "_">``: one group per dataset, never shared, at most 63.

    The dataset grammar has no "-", so the mapping is one-to-one (API_CreateModelPackageGroup:
    ``[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}``).
    """
    return f"{validate_resource_prefix(prefix)}-{validate_dataset(dataset).replace('_', '-')}"


def endpoint_name(prefix: str, dataset: str) -> str:
    """The dataset's one real-time endpoint: the name of its model package group (at most 63,
    API_CreateEndpoint's ``EndpointName`` grammar is the same)."""
    return model_package_group(prefix, dataset)


def endpoint_config_name(prefix: str, run_id: str) -> str:
    """This run's endpoint config, ``<prefix>-<run_id>-endpoint``: at most 62 (API_CreateEndpointConfig)."""
    return f"{name_base(prefix, run_id)}-endpoint"


def endpoint_alarm_names(endpoint: str) -> tuple[str, str, str]:
    """The endpoint's auto-rollback alarms (server errors, client errors, latency), named after it."""
    return f"{endpoint}-server-errors", f"{endpoint}-client-errors", f"{endpoint}-latency"


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
