"""Building the run plan: everything later states need, computed once, purely."""

from __future__ import annotations

from datetime import datetime

from snowsage.model_settings import (
    TemplateDefaults,
    check_predictions_columns,
    metric_direction,
    resolve_model,
)
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
from snowsage.names import (
    ManifestLocation,
    model_package_group,
    name_base,
    run_id_for,
    tuning_job_name_base,
)
from snowsage.settings import PrepareRunSettings
from snowsage.tuning import tuning_plan


def _uri(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"


def output_filter(input_fields: int) -> str:
    """The id, then every field after the joined input: the prediction, however it is written.

    JoinSource Input appends the model's output to the input row (docs: sagemaker/latest/dg/
    batch-transform-data-processing). One value for binary and regression; multi:softprob writes
    ``[p0, p1, …]``, which ``$[0,-1]`` would cut if the join split it at its commas. ``$[0,<n>:]``
    keeps it whole either way (the slice is end-inclusive, as in SageMaker's JSONPath).
    """
    return f"$[0,{input_fields}:]"


def stopping_condition(settings: PrepareRunSettings) -> dict[str, int]:
    condition = {"MaxRuntimeInSeconds": settings.max_runtime_seconds}
    if settings.use_spot_training:
        # Spot training needs MaxWaitTimeInSeconds >= MaxRuntimeInSeconds (SageMaker rule).
        condition["MaxWaitTimeInSeconds"] = max(settings.max_wait_seconds, settings.max_runtime_seconds)
    return condition


def _training_plan(
    *,
    settings: PrepareRunSettings,
    request: ExecutionInput,
    sections: dict[str, ManifestSection],
    location: ManifestLocation,
    run_id: str,
    hyperparameters: dict[str, str],
) -> TrainingPlan:
    bucket = location.bucket
    return TrainingPlan(
        train_uri=_uri(bucket, sections["train"].prefix),
        validation_uri=_uri(bucket, sections["validation"].prefix),
        output_uri=_uri(bucket, f"models/{location.dataset}/{run_id}/"),
        checkpoint_uri=_uri(bucket, f"checkpoints/{location.dataset}/{run_id}/"),
        hyperparameters=hyperparameters,
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
    dataset = location.dataset
    model = resolve_model(
        dataset=dataset,
        label_column=manifest.label_column.upper(),
        template=TemplateDefaults(
            settings.hyperparameters, settings.evaluation_metric, settings.evaluation_threshold
        ),
        row=manifest.model,
        request=request,
        labels=manifest.label_summary,
    )
    predictions_table = manifest.predictions_table.upper()
    check_predictions_columns(dataset, predictions_table, manifest.predictions_columns, model.plan.problem)
    group = model_package_group(settings.resource_prefix, location.dataset)
    score = sections["score"]
    stage_path = f"predictions/{location.dataset}/{run_id}/"
    tuning = (
        tuning_plan(
            settings=model.tuning,
            metric_name=model.metric_name,
            direction=metric_direction(model.metric_name),
            hyperparameters=model.hyperparameters,
            job_name_base=tuning_job_name_base(settings.resource_prefix, run_id),
        )
        if model.tuning is not None and request.mode == "train_and_score"
        else None
    )
    return RunPlan(
        run_id=run_id,
        execution_name=execution_name,
        name_base=name_base(settings.resource_prefix, run_id),
        dataset=location.dataset,
        export_id=location.export_id,
        mode=request.mode,
        manifest_uri=location.uri,
        id_column=manifest.id_column.upper(),
        predictions_table=predictions_table,
        model_package_group=group,
        started_at=now,
        training=(
            _training_plan(
                settings=settings,
                request=request,
                sections=sections,
                location=location,
                run_id=run_id,
                hyperparameters=model.hyperparameters,
            )
            if request.mode == "train_and_score"
            else None
        ),
        evaluation=EvaluationPlan(metric_name=model.metric_name, threshold=model.threshold),
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
            output_filter=output_filter(len(score.columns)),
        ),
        selection=Selection(model_package_group=group, model_package_arn=request.model_package_arn),
        model=model.plan,
        tuning=tuning,
    )
