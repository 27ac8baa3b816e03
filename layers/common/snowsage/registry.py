"""The SageMaker Model Registry behind a small interface (model packages per dataset)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from snowsage.errors import ModelPackageNotFound


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


class ModelRegistry(Protocol):
    def latest_approved(self, group: str) -> ModelPackage | None: ...

    def get(self, arn: str) -> ModelPackage: ...


class SageMakerModelRegistry:
    def __init__(self, client: Any) -> None:
        self._client = client

    def latest_approved(self, group: str) -> ModelPackage | None:
        try:
            response = self._client.list_model_packages(
                ModelPackageGroupName=group,
                ModelApprovalStatus="Approved",
                SortBy="CreationTime",
                SortOrder="Descending",
                MaxResults=1,
            )
        except self._client.exceptions.ClientError as error:
            if "does not exist" in str(error) or "not found" in str(error).lower():
                return None
            raise
        summaries = response.get("ModelPackageSummaryList", [])
        if not summaries:
            return None
        return self.get(summaries[0]["ModelPackageArn"])

    def get(self, arn: str) -> ModelPackage:
        try:
            package = self._client.describe_model_package(ModelPackageName=arn)
        except self._client.exceptions.ClientError as error:
            raise ModelPackageNotFound(f"model package {arn} cannot be read: {error}") from error
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
