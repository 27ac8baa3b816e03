"""EvaluateModel and RegisterModel: the promotion gate and the candidate registered with its verdict."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, cast

from snowsage.errors import MetricMissing
from snowsage.gate_metrics import ChampionOnExport, ChampionQuestion, flavour_for, metric_sql
from snowsage.lease import PromotionLease, lease_seconds
from snowsage.model_settings import metric_direction
from snowsage.models import (
    ApprovalStatus,
    ChampionJudgedOn,
    EvaluateModelRequest,
    PublishModelRequest,
    RegisteredModel,
    RegisterModelRequest,
    TrainingResult,
    Verdict,
)
from snowsage.registry import (
    ModelApprover,
    ModelPackage,
    ModelRegistry,
    ModelRegistryWriter,
    NewModelPackage,
    client_token,
    customer_metadata,
)


class ChampionScorer(Protocol):
    def measure(self, question: ChampionQuestion) -> ChampionOnExport: ...


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


@dataclass(frozen=True)
class Judgement:
    promote: bool
    reason: str
    judged_on: ChampionJudgedOn | None = None


def judge(
    metric_name: str,
    metric_value: float,
    threshold: float,
    champion: ModelPackage | None,
    on_export: ChampionOnExport | None = None,
) -> Judgement:
    """The threshold first, then the champion: on this export's rows where it was scored on them,
    else on its recorded metric, and the reason says which and why."""
    value = f"{metric_name} {metric_value:.6g}"
    if not better_or_equal(metric_name, metric_value, threshold):
        return Judgement(False, f"{value} misses the threshold {threshold:.6g}")
    recorded = champion.metric(metric_name) if champion else None
    measured = on_export.value if on_export else None
    if champion is None:
        return Judgement(True, f"{value} meets the threshold {threshold:.6g}; no champion")
    why = on_export.note if on_export and on_export.note else "not scored on this export"
    if recorded is None and measured is None:
        return Judgement(
            True,
            f"{value} meets the threshold {threshold:.6g}; champion v{champion.version} has no"
            f" {metric_name} to compare: none recorded, {why}",
        )
    if measured is not None:
        basis: ChampionJudgedOn = "this_export"
        rows = f" on {on_export.rows} rows" if on_export and on_export.rows is not None else ""
        recorded_text = f"{recorded:.6g}" if recorded is not None else "none"
        against = (
            f"champion v{champion.version} on this export's validation rows"
            f" ({measured:.6g}{rows}, recorded {recorded_text})"
        )
        reference = measured
    else:
        basis = "recorded"
        reference = cast(float, recorded)  # not None: the branch above returned when both were
        against = f"champion v{champion.version} ({reference:.6g}, as recorded: {why})"
    if better_or_equal(metric_name, metric_value, reference):
        return Judgement(True, f"{value} meets the threshold and matches or beats {against}", basis)
    return Judgement(False, f"{value} is worse than {against}", basis)


def tuning_metadata(training: TrainingResult) -> dict[str, str]:
    """A tuned model's package names its tuning job and the winning values (``tuned.<name>``): a
    warm start reads the champion's tuning job from there. At most 8 searched hyperparameters
    (snowsage/tuning.py), well within the 50 entries of CustomerMetadataProperties."""
    if training.tuning_job is None:
        return {}
    tuned = {f"tuned.{name}": value for name, value in sorted((training.tuned_hyperparameters or {}).items())}
    return {"tuning_job": training.tuning_job, **tuned}


def champion_on_export(
    request: EvaluateModelRequest, champion: ModelPackage, scorer: ChampionScorer
) -> ChampionOnExport:
    """The champion's metric on this export's validation rows, or why it was not computed."""
    model = request.model
    flavour = flavour_for(
        image_uri=request.image_uri, script=model.training_script is not None, engine=model.training_engine
    )
    definition = metric_sql(request.evaluation.metric_name, model.problem, model.objective, flavour)
    if isinstance(definition, str):
        return ChampionOnExport(None, note=definition)
    return scorer.measure(
        ChampionQuestion(
            dataset=request.dataset,
            champion_arn=champion.arn,
            champion_version=champion.version,
            features=request.features,
            definition=definition,
            run_id=request.run_id,
        )
    )


def evaluate_model(
    request: EvaluateModelRequest,
    registry: ModelRegistry,
    scorer: ChampionScorer,
    lease: PromotionLease,
    now: datetime,
) -> Verdict:
    """Take the dataset's promotion lease, then judge the candidate against the champion of now."""
    lease.acquire(
        request.dataset, request.execution_arn, now, lease_seconds(request.transform_timeout_seconds)
    )
    metric_name = request.evaluation.metric_name
    value = final_metric(request.training, metric_name)
    threshold = request.evaluation.threshold
    champion = registry.latest_approved(request.model_package_group)
    on_export = None
    if champion is not None and better_or_equal(metric_name, value, threshold):
        on_export = champion_on_export(request, champion, scorer)
    judgement = judge(metric_name, value, threshold, champion, on_export)
    recorded = champion.metric(metric_name) if champion else None
    measured = on_export.value if on_export else None
    return Verdict(
        promote=judgement.promote,
        approval_status="Approved" if judgement.promote else "Rejected",
        metric_name=metric_name,
        metric_value=value,
        threshold=threshold,
        champion_metric=recorded,
        champion_package_arn=champion.arn if champion else None,
        reason=judgement.reason,
        champion_metric_on_export=measured,
        champion_rows=on_export.rows if on_export else None,
        champion_judged_on=judgement.judged_on,
        warehouse_seconds=on_export.warehouse_seconds if on_export and on_export.warehouse_seconds else None,
        # API_ModelPackage: CustomerMetadataProperties values cannot hold the reason's ";", "(" or ")".
        package_metadata=customer_metadata(
            {
                "run_id": request.run_id,
                "export_id": request.export_id,
                "training_job": request.training.job_name,
                "metric_name": metric_name,
                "metric_value": repr(value),
                "gate": judgement.reason,
                **({"champion_metric_recorded": repr(recorded)} if recorded is not None else {}),
                **({"champion_metric_on_export": repr(measured)} if measured is not None else {}),
                **tuning_metadata(request.training),
            }
        ),
    )


def registration_status(verdict: Verdict) -> ApprovalStatus:
    """A promoted candidate is registered PendingManualApproval and approved only once its function is
    published (approve_published), so the champion, the latest Approved package, is always served."""
    return "PendingManualApproval" if verdict.promote else "Rejected"


def register_model(request: RegisterModelRequest, registry: ModelRegistryWriter) -> RegisteredModel:
    """Register the candidate (group ensured): pending when the gate promoted it, else Rejected."""
    verdict = request.evaluation
    arn = registry.register(
        NewModelPackage(
            group=request.model_package_group,
            group_description=f"Snowsage models for dataset {request.dataset}",
            description=verdict.reason,
            approval_status=registration_status(verdict),
            image_uri=request.image_uri,
            model_data_url=request.training.model_data_url,
            metadata=verdict.package_metadata,
            # One package per training job, however often the call is retried.
            token=client_token(request.model_package_group, request.training.job_name),
        )
    )
    return RegisteredModel(model_package_arn=arn)


def approve_published(request: PublishModelRequest, registry: ModelApprover) -> bool:
    """Once ML_PREDICT_<DATASET> serves it, approve the package this run registered (PreferNewModel set
    ``promoted``): it becomes the champion. A champion selected otherwise is left as it is."""
    if not request.plan.selection.promoted:
        return False
    registry.approve(request.model.model_package_arn)
    return True
