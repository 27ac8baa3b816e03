"""Building the run plan: everything later states need, computed once, purely."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from snowsage import scale_out
from snowsage.errors import InvalidExecutionInput, InvalidModelSettings
from snowsage.model_settings import (
    ResolvedModel,
    TemplateDefaults,
    check_predictions_columns,
    metric_direction,
    resolve_model,
    setting_location,
)
from snowsage.models import (
    AlgorithmSpecification,
    EvaluationPlan,
    ExecutionInput,
    Manifest,
    ManifestSection,
    ResourceConfig,
    RunPlan,
    ScoringPlan,
    ScriptPlan,
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
from snowsage.script_mode import metric_definition, script_hyperparameters
from snowsage.settings import PrepareRunSettings
from snowsage.tuning import tuning_plan
from snowsage.warm_start import WarmStartSources, plan_warm_start

# (script path, the field that names it) -> the script checked against its deployed archive.
FindScript = Callable[[str, str], ScriptPlan]


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
    model: ResolvedModel,
    image_uri: str,
    find_script: FindScript | None,
) -> TrainingPlan:
    bucket = location.bucket
    dataset = location.dataset
    sources = model.plan.sources
    instance_type = request.training_instance_type or settings.training_instance_type
    instances = model.plan.training_instance_count
    count_where = setting_location(
        sources.get("training_instance_count", "template"),
        "TRAINING_INSTANCE_COUNT",
        "training_instance_count",
    )
    if instances < 1:
        raise InvalidModelSettings(f"dataset {dataset}: {count_where} must be at least 1, not {instances}")
    train = sections.get("train")
    validation = sections.get("validation")
    # No train section: the SNOWFLAKE engine trains on the view, and no instance reads files.
    train_files = train.file_count if train is not None else 0
    distribution = (
        scale_out.train_distribution(
            dataset=dataset, instance_count=instances, train_files=train_files, where=count_where
        )
        if train is not None
        else "FullyReplicated"
    )
    hyperparameters = {**scale_out.gpu_hyperparameters(instance_type, image_uri)}
    for key in hyperparameters:
        sources[f"hyperparameters.{key}"] = f"instance type {instance_type}"
    hyperparameters.update(model.hyperparameters)
    script: ScriptPlan | None = None
    metric_definitions = None
    if model.plan.training_script is not None:
        script_where = setting_location(
            sources.get("training_script", "ML_DATASETS"), "TRAINING_SCRIPT", "training_script"
        )
        if find_script is None:  # pragma: no cover - prepare_run always passes one
            raise InvalidModelSettings(f"dataset {dataset}: {script_where} cannot be checked here")
        # On several instances every host runs the script on its ShardedByS3Key share (script_mode.py).
        script = find_script(model.plan.training_script, script_where)
        hyperparameters.update(script_hyperparameters(script))
        metric_definitions = [metric_definition(model.metric_name)]
    return TrainingPlan(
        train_uri=_uri(bucket, train.prefix) if train is not None else None,
        validation_uri=_uri(bucket, validation.prefix) if validation is not None else None,
        output_uri=_uri(bucket, f"models/{dataset}/{run_id}/"),
        checkpoint_uri=_uri(bucket, f"checkpoints/{dataset}/{run_id}/"),
        hyperparameters=hyperparameters,
        resource_config=ResourceConfig(
            InstanceType=instance_type,
            InstanceCount=instances,
            VolumeSizeInGB=settings.training_volume_size_gb,
        ),
        stopping_condition=stopping_condition(settings),
        enable_spot=settings.use_spot_training,
        rows=train.rows if train is not None else 0,
        train_distribution=distribution,
        train_files=train_files,
        algorithm_specification=AlgorithmSpecification(
            TrainingImage=image_uri, MetricDefinitions=metric_definitions
        ),
        script=script,
    )


def _refuse_tuned_script(dataset: str, sources: dict[str, str]) -> None:
    """A tuning job over a training script is refused: SageMaker's tuning takes the XGBoost image for
    the built-in algorithm, so the script's metric definition (its objective) and any hyperparameter
    the algorithm lacks are refused or unreliable (aws/sagemaker-xgboost-container issue 121,
    aws/sagemaker-python-sdk issue 2226, both open; undocumented in
    API_HyperParameterTrainingJobDefinition)."""
    tuning_where = setting_location(sources.get("tuning", "ML_DATASETS"), "TUNING", "tuning")
    script_where = setting_location(
        sources.get("training_script", "ML_DATASETS"), "TRAINING_SCRIPT", "training_script"
    )
    raise InvalidModelSettings(
        f"dataset {dataset}: {tuning_where} with {script_where}: a tuning job cannot tune a training"
        " script here (SageMaker's tuning treats the XGBoost image as the built-in algorithm and refuses"
        " the script's metric definitions); tune the built-in algorithm, or search in the script"
    )


@dataclass(frozen=True)
class _ScoringSource:
    """What the run scores: the export's score files (SAGEMAKER), or the scoring view in place."""

    columns: list[str]
    rows: int
    files: int = 0
    prefix: str | None = None
    view: str | None = None


def _scoring_source(
    request: ExecutionInput, manifest: Manifest, sections: dict[str, ManifestSection], model: ResolvedModel
) -> _ScoringSource:
    if model.plan.scoring_engine == "SAGEMAKER":
        score = sections["score"]
        return _ScoringSource(score.columns, score.rows, score.file_count, score.prefix)
    if request.model_package_arn is not None:
        where = setting_location(model.plan.sources["scoring_engine"], "SCORING_ENGINE", "scoring_engine")
        function = f"ML_PREDICT_{manifest.dataset.upper()}"
        raise InvalidExecutionInput(
            f"execution input 'model_package_arn' with {where} 'SNOWFLAKE': {function}"
            " serves the dataset's champion to every caller, so a named package cannot score in"
            ' Snowflake without replacing it; score it with "scoring_engine": "SAGEMAKER"'
        )
    view = manifest.scoring_view
    if view is None:  # pragma: no cover - check_manifest refuses a SNOWFLAKE run without one
        raise InvalidModelSettings(f"dataset {manifest.dataset}: the export names no scoring view")
    return _ScoringSource(view.columns, view.rows, view=view.name.upper())


def build_run_plan(
    *,
    execution_name: str,
    request: ExecutionInput,
    manifest: Manifest,
    sections: dict[str, ManifestSection],
    location: ManifestLocation,
    settings: PrepareRunSettings,
    now: datetime,
    image_uri: str,
    find_script: FindScript | None = None,
    warm_start_sources: WarmStartSources | None = None,
) -> RunPlan:
    run_id = run_id_for(execution_name)
    dataset = location.dataset
    model = resolve_model(
        dataset=dataset,
        label_column=manifest.label_column.upper(),
        template=TemplateDefaults(
            settings.hyperparameters,
            settings.evaluation_metric,
            settings.evaluation_threshold,
            settings.training_instance_count,
            settings.transform_instance_count,
        ),
        row=manifest.model,
        request=request,
        labels=manifest.label_summary,
    )
    predictions_table = manifest.predictions_table.upper()
    check_predictions_columns(dataset, predictions_table, manifest.predictions_columns, model.plan.problem)
    group = model_package_group(settings.resource_prefix, location.dataset)
    scoring = _scoring_source(request, manifest, sections, model)
    stage_path = f"predictions/{location.dataset}/{run_id}/"
    training = (
        _training_plan(
            settings=settings,
            request=request,
            sections=sections,
            location=location,
            run_id=run_id,
            model=model,
            image_uri=image_uri,
            find_script=find_script,
        )
        if request.mode == "train_and_score"
        else None
    )
    if training is not None and training.script is not None and model.tuning is not None:
        _refuse_tuned_script(location.dataset, model.plan.sources)
    tuning = (
        tuning_plan(
            settings=model.tuning,
            metric_name=model.metric_name,
            direction=metric_direction(model.metric_name),
            # The trials run what Train would: the script's sagemaker_* and the GPU tree method too.
            hyperparameters=training.hyperparameters,
            job_name_base=tuning_job_name_base(settings.resource_prefix, run_id),
        )
        if model.tuning is not None and training is not None
        else None
    )
    if tuning is not None:
        tuning = plan_warm_start(group, tuning, warm_start_sources)
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
        training=training,
        evaluation=EvaluationPlan(metric_name=model.metric_name, threshold=model.threshold),
        scoring=ScoringPlan(
            input_uri=_uri(location.bucket, scoring.prefix) if scoring.prefix else None,
            output_uri=_uri(location.bucket, stage_path),
            stage_path=stage_path,
            transform_resources=TransformResources(
                InstanceType=request.transform_instance_type or settings.transform_instance_type,
                InstanceCount=scale_out.transform_instances(
                    model.plan.transform_instance_count, scoring.files
                ),
            ),
            rows=scoring.rows,
            files=scoring.files,
            features=scoring.columns[1:],
            timeout_seconds=settings.transform_timeout_seconds,
            output_filter=output_filter(len(scoring.columns)),
            view=scoring.view,
        ),
        selection=Selection(model_package_group=group, model_package_arn=request.model_package_arn),
        model=model.plan,
        tuning=tuning,
    )
