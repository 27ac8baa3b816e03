"""Building the run plan: everything later states need, computed once, purely."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from snowsage.models import (
    EvaluationPlan,
    ExecutionInput,
    Manifest,
    ManifestSection,
    ResourceConfig,
    RunPlan,
    ScoringPlan,
    Selection,
    TrainingPlan,
    TransformResources,
)
from snowsage.names import ManifestLocation, model_package_group, name_base, run_id_for
from snowsage.settings import PrepareRunSettings


def _uri(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"


def merged_hyperparameters(
    defaults: dict[str, str], overrides: Mapping[str, str | int | float | bool] | None
) -> dict[str, str]:
    """Template defaults with the execution input's overrides on top; SageMaker wants strings."""
    merged = dict(defaults)
    for key, value in (overrides or {}).items():
        merged[key] = str(value).lower() if isinstance(value, bool) else str(value)
    return merged


def stopping_condition(settings: PrepareRunSettings) -> dict[str, int]:
    condition = {"MaxRuntimeInSeconds": settings.max_runtime_seconds}
    if settings.use_spot_training:
        # Spot training needs MaxWaitTimeInSeconds >= MaxRuntimeInSeconds (SageMaker rule).
        condition["MaxWaitTimeInSeconds"] = max(settings.max_wait_seconds, settings.max_runtime_seconds)
    return condition


def _training_plan(
    settings: PrepareRunSettings,
    request: ExecutionInput,
    sections: dict[str, ManifestSection],
    location: ManifestLocation,
    run_id: str,
) -> TrainingPlan:
    bucket = location.bucket
    return TrainingPlan(
        train_uri=_uri(bucket, sections["train"].prefix),
        validation_uri=_uri(bucket, sections["validation"].prefix),
        output_uri=_uri(bucket, f"models/{location.dataset}/{run_id}/"),
        checkpoint_uri=_uri(bucket, f"checkpoints/{location.dataset}/{run_id}/"),
        hyperparameters=merged_hyperparameters(settings.hyperparameters, request.hyperparameters),
        resource_config=ResourceConfig(
            InstanceType=request.training_instance_type or settings.training_instance_type,
            InstanceCount=settings.training_instance_count,
            VolumeSizeInGB=settings.training_volume_size_gb,
        ),
        stopping_condition=stopping_condition(settings),
        enable_spot=settings.use_spot_training,
        rows=sections["train"].rows,
    )


def build_run_plan(
    *,
    execution_name: str,
    request: ExecutionInput,
    manifest: Manifest,
    sections: dict[str, ManifestSection],
    location: ManifestLocation,
    settings: PrepareRunSettings,
    now: datetime,
) -> RunPlan:
    run_id = run_id_for(execution_name)
    group = model_package_group(settings.resource_prefix, location.dataset)
    score = sections["score"]
    stage_path = f"predictions/{location.dataset}/{run_id}/"
    return RunPlan(
        run_id=run_id,
        execution_name=execution_name,
        name_base=name_base(settings.resource_prefix, run_id),
        dataset=location.dataset,
        export_id=location.export_id,
        mode=request.mode,
        manifest_uri=location.uri,
        id_column=manifest.id_column.upper(),
        predictions_table=manifest.predictions_table.upper(),
        model_package_group=group,
        started_at=now,
        training=(
            _training_plan(settings, request, sections, location, run_id)
            if request.mode == "train_and_score"
            else None
        ),
        evaluation=EvaluationPlan(
            metric_name=settings.evaluation_metric,
            threshold=(
                request.evaluation_threshold
                if request.evaluation_threshold is not None
                else settings.evaluation_threshold
            ),
        ),
        scoring=ScoringPlan(
            input_uri=_uri(location.bucket, score.prefix),
            output_uri=_uri(location.bucket, stage_path),
            stage_path=stage_path,
            transform_resources=TransformResources(
                InstanceType=request.transform_instance_type or settings.transform_instance_type,
                InstanceCount=settings.transform_instance_count,
            ),
            rows=score.rows,
            files=len(score.files),
            features=score.columns[1:],
            timeout_seconds=settings.transform_timeout_seconds,
        ),
        selection=Selection(model_package_group=group, model_package_arn=request.model_package_arn),
    )
