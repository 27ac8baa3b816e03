"""SelectModel: the model package to score with (the one named in the input, else the champion)."""

from __future__ import annotations

from snowsage.errors import ModelPackageNotFound, NoApprovedModel
from snowsage.models import ModelSelection, SelectModelRequest
from snowsage.registry import ModelPackage, ModelRegistry


def _selection(package: ModelPackage) -> ModelSelection:
    name = package.metadata.get("metric_name")
    return ModelSelection(
        model_package_arn=package.arn,
        model_package_group=package.group,
        model_version=package.version,
        approval_status=package.approval_status,
        image_uri=package.image_uri,
        model_data_url=package.model_data_url,
        metric_name=name,
        metric_value=package.metric(name) if name else None,
    )


def select_model(request: SelectModelRequest, registry: ModelRegistry) -> ModelSelection:
    """The package named in the input (checked), else the group's latest Approved package."""
    group = request.selection.model_package_group
    arn = request.selection.model_package_arn
    if arn:
        package = registry.get(arn)
        if package.group != group:
            raise ModelPackageNotFound(
                f"model package {arn} belongs to group {package.group!r}, not {group!r}"
            )
        if package.approval_status == "Rejected":
            raise ModelPackageNotFound(f"model package {arn} is Rejected; approve it or name another")
        return _selection(package)
    champion = registry.latest_approved(group)
    if champion is None:
        raise NoApprovedModel(
            f"model package group {group!r} has no Approved package to score with;"
            " run train_and_score first or approve a package"
        )
    return _selection(champion)
