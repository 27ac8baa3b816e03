"""EvaluateModel and RegisterModel: the promotion gate and the candidate registered with its verdict."""

from __future__ import annotations

from snowsage.errors import MetricMissing
from snowsage.model_settings import metric_direction
from snowsage.models import (
    EvaluateModelRequest,
    RegisteredModel,
    RegisterModelRequest,
    TrainingResult,
    Verdict,
)
from snowsage.registry import (
    ModelPackage,
    ModelRegistry,
    ModelRegistryWriter,
    NewModelPackage,
    client_token,
    customer_metadata,
)


def better_or_equal(metric_name: str, candidate: float, reference: float) -> bool:
    return candidate >= reference if metric_direction(metric_name) == "max" else candidate <= reference


def final_metric(training: TrainingResult, metric_name: str) -> float:
    for metric in training.final_metrics:
        if metric.MetricName == metric_name:
            return metric.Value
    available = ", ".join(metric.MetricName for metric in training.final_metrics) or "none"
    raise MetricMissing(
        f"training job {training.job_name} reported no {metric_name!r} (it reported: {available});"
        " check EvaluationMetric against the eval_metric hyperparameter"
    )


def judge(
    metric_name: str, metric_value: float, threshold: float, champion: ModelPackage | None
) -> tuple[bool, str, float | None]:
    """(promote, reason, champion metric): the threshold first, then the champion."""
    if not better_or_equal(metric_name, metric_value, threshold):
        return False, f"{metric_name} {metric_value:.6g} misses the threshold {threshold:.6g}", None
    champion_metric = champion.metric(metric_name) if champion else None
    if champion is None or champion_metric is None:
        return (
            True,
            f"{metric_name} {metric_value:.6g} meets the threshold {threshold:.6g}; no champion",
            None,
        )
    if better_or_equal(metric_name, metric_value, champion_metric):
        return (
            True,
            f"{metric_name} {metric_value:.6g} meets the threshold and matches or beats"
            f" champion v{champion.version} ({champion_metric:.6g})",
            champion_metric,
        )
    return (
        False,
        f"{metric_name} {metric_value:.6g} is worse than champion"
        f" v{champion.version} ({champion_metric:.6g})",
        champion_metric,
    )


def tuning_metadata(training: TrainingResult) -> dict[str, str]:
    """A tuned model's package names its tuning job and the winning values (``tuned.<name>``): a
    warm start reads the champion's tuning job from there. At most 8 searched hyperparameters
    (snowsage/tuning.py), well within the 50 entries of CustomerMetadataProperties."""
    if training.tuning_job is None:
        return {}
    tuned = {f"tuned.{name}": value for name, value in sorted((training.tuned_hyperparameters or {}).items())}
    return {"tuning_job": training.tuning_job, **tuned}


def evaluate_model(request: EvaluateModelRequest, registry: ModelRegistry) -> Verdict:
    metric_name = request.evaluation.metric_name
    value = final_metric(request.training, metric_name)
    champion = registry.latest_approved(request.model_package_group)
    promote, reason, champion_metric = judge(metric_name, value, request.evaluation.threshold, champion)
    return Verdict(
        promote=promote,
        approval_status="Approved" if promote else "Rejected",
        metric_name=metric_name,
        metric_value=value,
        threshold=request.evaluation.threshold,
        champion_metric=champion_metric,
        champion_package_arn=champion.arn if champion else None,
        reason=reason,
        # API_ModelPackage: CustomerMetadataProperties values cannot hold the reason's ";", "(" or ")".
        package_metadata=customer_metadata(
            {
                "run_id": request.run_id,
                "export_id": request.export_id,
                "training_job": request.training.job_name,
                "metric_name": metric_name,
                "metric_value": repr(value),
                "gate": reason,
                **tuning_metadata(request.training),
            }
        ),
    )


def register_model(request: RegisterModelRequest, registry: ModelRegistryWriter) -> RegisteredModel:
    """Register the candidate with the gate's verdict as its approval status (group ensured)."""
    verdict = request.evaluation
    arn = registry.register(
        NewModelPackage(
            group=request.model_package_group,
            group_description=f"Snowsage models for dataset {request.dataset}",
            description=verdict.reason,
            approval_status=verdict.approval_status,
            image_uri=request.image_uri,
            model_data_url=request.training.model_data_url,
            metadata=verdict.package_metadata,
            # One package per training job, however often the call is retried.
            token=client_token(request.model_package_group, request.training.job_name),
        )
    )
    return RegisteredModel(model_package_arn=arn)
