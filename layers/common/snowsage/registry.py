"""The SageMaker Model Registry behind a small interface (model packages per dataset).

No decision here rests on an error name AWS does not document for the call. "The group exists"
is read from ListModelPackageGroups (an exact name among the summaries), never inferred from a
failed create; an error is sorted into transient or permanent by the codes the AWS SDKs retry
(AWS SDKs and Tools reference, "Retry behavior") and the HTTP status, and the rest fail the run.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from snowsage.errors import ModelPackageNotFound, RegistrationRefused, RegistryUnavailable

# API_ModelPackage, botocore's CustomerMetadataKey / CustomerMetadataValue:
# ([\p{L}\p{Z}\p{N}_.:\/=+\-@]*), 1-128 (keys) and 1-256 (values) characters.
METADATA_KEY_MAX = 128
METADATA_VALUE_MAX = 256
METADATA_ENTRIES_MAX = 50
METADATA_PUNCTUATION = frozenset("_.:/=+-@")
# API_CreateModelPackage ModelPackageDescription (EntityDescription):
# [\p{L}\p{M}\p{Z}\p{S}\p{N}\p{P}]*, at most 1024 characters.
DESCRIPTION_MAX = 1024
# Error codes the AWS SDKs treat as transient or throttling (standard retry mode), and the
# HTTP statuses of a service-side failure.
TRANSIENT_CODES = frozenset(
    {
        "RequestTimeout",
        "RequestTimeoutException",
        "PriorRequestNotComplete",
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "InternalFailure",
        "ServiceUnavailable",
    }
)
TRANSIENT_STATUS = frozenset({500, 502, 503, 504})


def _fit(text: str, keep: Any, limit: int, empty: str) -> str:
    """Characters ``keep`` refuses become spaces; spaces collapse; at most ``limit``; never empty."""
    mapped = "".join(char if keep(char) else " " for char in text)
    collapsed = " ".join(mapped.split())[:limit].rstrip()
    return collapsed or empty


def _metadata_char(char: str) -> bool:
    category = unicodedata.category(char)
    return category[0] in "LN" or category in {"Zs", "Zl", "Zp"} or char in METADATA_PUNCTUATION


def _description_char(char: str) -> bool:
    return unicodedata.category(char)[0] in "LMZSNP"


def metadata_key(text: str) -> str:
    """Any text as a valid CustomerMetadataProperties key."""
    return _fit(text, _metadata_char, METADATA_KEY_MAX, "key")


def metadata_value(text: str) -> str:
    """Any text as a valid CustomerMetadataProperties value (``;``, ``(``, ``)`` become spaces)."""
    return _fit(text, _metadata_char, METADATA_VALUE_MAX, "-")


def customer_metadata(values: Mapping[str, str]) -> dict[str, str]:
    """A CustomerMetadataProperties map valid by construction (the first 50 entries)."""
    return {
        metadata_key(key): metadata_value(value) for key, value in list(values.items())[:METADATA_ENTRIES_MAX]
    }


def description(text: str) -> str:
    """Any text as a valid ModelPackageDescription / ModelPackageGroupDescription."""
    return _fit(text, _description_char, DESCRIPTION_MAX, "-")


def client_token(*parts: str) -> str:
    """An idempotency token for CreateModelPackage ([a-zA-Z0-9-]+, at most 36): a retried call
    with the same parts returns the package the first call created."""
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def is_transient(error: BaseException) -> bool:
    if isinstance(error, ClientError):
        code = str(error.response.get("Error", {}).get("Code", ""))
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return code in TRANSIENT_CODES or status in TRANSIENT_STATUS
    return isinstance(error, BotoConnectionError | HTTPClientError)


def registry_error(
    action: str, error: BotoCoreError | ClientError
) -> RegistryUnavailable | RegistrationRefused:
    """The pipeline's own error for a failed registry call: retried by the ASL, or not."""
    kind = RegistryUnavailable if is_transient(error) else RegistrationRefused
    return kind(f"{action}: {error}")


@dataclass(frozen=True)
class ModelPackage:
    arn: str
    group: str
    version: int
    approval_status: str
    image_uri: str
    model_data_url: str
    metadata: dict[str, str]

    def metric(self, name: str) -> float | None:
        """The metric this package was registered with, when it is the one asked for."""
        if self.metadata.get("metric_name") != name:
            return None
        try:
            return float(self.metadata["metric_value"])
        except (KeyError, ValueError):
            return None


@dataclass(frozen=True)
class NewModelPackage:
    """What CreateModelPackage needs; the texts are made valid when the request is built."""

    group: str
    group_description: str
    description: str
    approval_status: str
    image_uri: str
    model_data_url: str
    metadata: dict[str, str]
    token: str

    def request(self) -> dict[str, Any]:
        return {
            "ModelPackageGroupName": self.group,
            "ModelPackageDescription": description(self.description),
            "ModelApprovalStatus": self.approval_status,
            "InferenceSpecification": {
                "Containers": [{"Image": self.image_uri, "ModelDataUrl": self.model_data_url}],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
            "CustomerMetadataProperties": customer_metadata(self.metadata),
            "ClientToken": self.token,
        }


class ModelRegistry(Protocol):
    def latest_approved(self, group: str) -> ModelPackage | None: ...

    def get(self, arn: str) -> ModelPackage: ...


class ModelRegistryWriter(Protocol):
    def register(self, package: NewModelPackage) -> str: ...


class ModelApprover(Protocol):
    def approve(self, arn: str) -> None: ...


class SageMakerModelRegistry:
    def __init__(self, client: Any) -> None:
        self._client = client

    def group_exists(self, group: str) -> bool:
        """Whether the group exists: its exact name among ListModelPackageGroups' summaries."""
        try:
            pages = self._client.get_paginator("list_model_package_groups").paginate(NameContains=group)
            return any(
                summary["ModelPackageGroupName"] == group
                for page in pages
                for summary in page.get("ModelPackageGroupSummaryList", [])
            )
        except (BotoCoreError, ClientError) as error:
            raise registry_error(f"cannot list model package groups named {group!r}", error) from error

    def latest_approved(self, group: str) -> ModelPackage | None:
        """The group's newest Approved package; None when the group has none or does not exist."""
        if not self.group_exists(group):
            return None
        try:
            response = self._client.list_model_packages(
                ModelPackageGroupName=group,
                ModelApprovalStatus="Approved",
                SortBy="CreationTime",
                SortOrder="Descending",
                MaxResults=1,
            )
        except (BotoCoreError, ClientError) as error:
            raise registry_error(f"cannot list the model packages of {group!r}", error) from error
        summaries = response.get("ModelPackageSummaryList", [])
        if not summaries:
            return None
        return self.get(summaries[0]["ModelPackageArn"])

    def get(self, arn: str) -> ModelPackage:
        try:
            package = self._client.describe_model_package(ModelPackageName=arn)
        except ClientError as error:
            if is_transient(error):
                raise registry_error(f"cannot read model package {arn}", error) from error
            raise ModelPackageNotFound(f"model package {arn} cannot be read: {error}") from error
        except BotoCoreError as error:
            raise registry_error(f"cannot read model package {arn}", error) from error
        container = package["InferenceSpecification"]["Containers"][0]
        return ModelPackage(
            arn=package["ModelPackageArn"],
            group=package["ModelPackageGroupName"],
            version=int(package.get("ModelPackageVersion") or package["ModelPackageArn"].rsplit("/", 1)[1]),
            approval_status=package["ModelApprovalStatus"],
            image_uri=container["Image"],
            model_data_url=container["ModelDataUrl"],
            metadata=dict(package.get("CustomerMetadataProperties") or {}),
        )

    def ensure_group(self, group: str, group_description: str) -> None:
        """Create the group unless it exists. A create that fails while another run creates the
        same group is fine: after any failed create the group is looked up again, and the
        create's error is raised only if it still does not exist."""
        if self.group_exists(group):
            return
        try:
            self._client.create_model_package_group(
                ModelPackageGroupName=group, ModelPackageGroupDescription=description(group_description)
            )
        except (BotoCoreError, ClientError) as error:
            if self.group_exists(group):
                return
            raise registry_error(f"cannot create model package group {group!r}", error) from error

    def register(self, package: NewModelPackage) -> str:
        """Ensure the group, then create the package; its ARN."""
        self.ensure_group(package.group, package.group_description)
        try:
            response = self._client.create_model_package(**package.request())
        except (BotoCoreError, ClientError) as error:
            raise registry_error(f"cannot register a model package in {package.group!r}", error) from error
        return str(response["ModelPackageArn"])

    def approve(self, arn: str) -> None:
        """Set the package Approved (UpdateModelPackage); approving an Approved package again is a no-op,
        so a retried call converges (docs: model-registry-approve, API_UpdateModelPackage)."""
        try:
            self._client.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")
        except (BotoCoreError, ClientError) as error:
            raise registry_error(f"cannot approve model package {arn}", error) from error
