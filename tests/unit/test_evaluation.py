from datetime import UTC, datetime
from typing import Any

import pytest

from snowsage.errors import MetricMissing, ModelPackageNotFound, NoApprovedModel
from snowsage.evaluation import evaluate_model
from snowsage.gate_metrics import ChampionOnExport, ChampionQuestion
from snowsage.model_settings import metric_direction
from snowsage.models import EvaluateModelRequest, SelectModelRequest
from snowsage.registry import ModelPackage
from snowsage.selection import select_model

GROUP = "snowsage-merchant-risk"
NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)


def _package(
    version: int,
    status: str = "Approved",
    metric: float | None = 0.8,
    group: str = GROUP,
    metric_name: str = "validation:auc",
) -> ModelPackage:
    metadata = {"metric_name": metric_name, "metric_value": repr(metric)} if metric is not None else {}
    return ModelPackage(
        arn=f"arn:aws:sagemaker:us-east-1:123456789012:model-package/{group}/{version}",
        group=group,
        version=version,
        approval_status=status,
        image_uri="683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
        model_data_url=f"s3://b/models/{version}/model.tar.gz",
        metadata=metadata,
    )


class FakeRegistry:
    def __init__(self, *packages: ModelPackage) -> None:
        self.packages = list(packages)

    def latest_approved(self, group: str) -> ModelPackage | None:
        approved = [p for p in self.packages if p.group == group and p.approval_status == "Approved"]
        return max(approved, key=lambda p: p.version) if approved else None

    def get(self, arn: str) -> ModelPackage:
        for package in self.packages:
            if package.arn == arn:
                return package
        raise ModelPackageNotFound(arn)


class FakeScorer:
    """The champion's metric on this export's rows, as Snowflake would answer (or why not)."""

    def __init__(self, answer: ChampionOnExport | None = None) -> None:
        self.answer = answer or ChampionOnExport(
            None, note="ML_PREDICT_MERCHANT_RISK serves no model, not champion v1"
        )
        self.questions: list[ChampionQuestion] = []

    def measure(self, question: ChampionQuestion) -> ChampionOnExport:
        self.questions.append(question)
        return self.answer


class FakeLease:
    def __init__(self) -> None:
        self.taken: list[tuple[str, str, int]] = []

    def acquire(self, dataset: str, holder: str, now: datetime, seconds: int) -> None:
        self.taken.append((dataset, holder, seconds))


def _request(value: float, threshold: float, metric: str, **model: Any) -> EvaluateModelRequest:
    return EvaluateModelRequest(
        execution_name="e",
        execution_arn="arn:aws:states:us-east-1:123456789012:execution:sm:e",
        dataset="merchant_risk",
        evaluation={"metric_name": metric, "threshold": threshold},
        model_package_group=GROUP,
        run_id="r1",
        export_id="x1",
        model=model,
        features=["TXN_COUNT", "AVG_AMOUNT"],
        image_uri="683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
        transform_timeout_seconds=3600,
        training={
            "job_name": "snowsage-r1-train-0",
            "model_data_url": "s3://b/m.tar.gz",
            "final_metrics": [
                {"MetricName": "validation:auc", "Value": value, "Timestamp": 1764151200000},
                {"MetricName": "validation:rmse", "Value": 1 - value},
            ],
        },
    )


def _evaluate(
    value: float,
    registry: FakeRegistry,
    threshold: float = 0.75,
    metric: str = "validation:auc",
    scorer: FakeScorer | None = None,
    **model: Any,
) -> Any:
    lease = FakeLease()
    verdict = evaluate_model(
        _request(value, threshold, metric, **model),
        registry,
        scorer or FakeScorer(),
        lease,
        NOW,  # type: ignore[arg-type]
    )
    assert lease.taken == [("merchant_risk", "arn:aws:states:us-east-1:123456789012:execution:sm:e", 7200)]
    return verdict


@pytest.mark.parametrize(
    ("metric", "direction"),
    [
        ("validation:auc", "max"),
        ("validation:aucpr", "max"),
        ("validation:ndcg@5", "max"),
        ("validation:rmse", "min"),
        ("validation:logloss", "min"),
        ("validation:error", "min"),
        # the container's other maximised metrics (xgboost-tuning; constants/xgb_constants.py)
        ("validation:precision", "max"),
        ("validation:recall_macro", "max"),
        ("validation:balanced_accuracy", "max"),
        ("validation:f1_binary", "max"),
        ("validation:mlogloss", "min"),
        ("validation:merror", "min"),
        ("validation:mae", "min"),
    ],
)
def test_metric_direction(metric: str, direction: str) -> None:
    assert metric_direction(metric) == direction


def test_first_model_over_the_threshold_is_promoted() -> None:
    verdict = _evaluate(0.9, FakeRegistry())
    assert verdict.promote and verdict.approval_status == "Approved"
    assert verdict.champion_metric is None
    assert verdict.package_metadata["metric_value"] == "0.9"


def test_a_model_under_the_threshold_is_rejected() -> None:
    verdict = _evaluate(0.6, FakeRegistry())
    assert not verdict.promote and verdict.approval_status == "Rejected"
    assert "misses the threshold" in verdict.reason


def test_a_model_worse_than_the_champion_is_rejected() -> None:
    verdict = _evaluate(0.85, FakeRegistry(_package(1, metric=0.9)))
    assert not verdict.promote
    assert verdict.champion_metric == 0.9
    assert verdict.champion_package_arn is not None and verdict.champion_package_arn.endswith("/1")


def test_a_model_as_good_as_the_champion_is_promoted() -> None:
    assert _evaluate(0.9, FakeRegistry(_package(1, metric=0.9))).promote


def test_minimised_metrics_compare_the_other_way() -> None:
    verdict = _evaluate(0.8, FakeRegistry(), threshold=0.3, metric="validation:rmse")
    assert verdict.metric_value == pytest.approx(0.2)
    assert verdict.promote


@pytest.mark.parametrize(("candidate_rmse", "promoted"), [(0.25, True), (0.5, True), (0.75, False)])
def test_a_regression_champion_is_beaten_by_a_lower_rmse(candidate_rmse: float, promoted: bool) -> None:
    """validation:rmse is minimised: lower than (or equal to) the champion's is better."""
    champion = _package(1, metric=0.5, metric_name="validation:rmse")
    verdict = _evaluate(1 - candidate_rmse, FakeRegistry(champion), threshold=0.9, metric="validation:rmse")
    assert verdict.promote is promoted
    assert verdict.champion_metric == 0.5
    if not promoted:
        assert "is worse than champion v1" in verdict.reason


def test_a_missing_metric_names_what_was_reported() -> None:
    with pytest.raises(MetricMissing, match=r"validation:f1.*validation:auc"):
        _evaluate(0.9, FakeRegistry(), metric="validation:f1")


def test_select_the_latest_approved() -> None:
    registry = FakeRegistry(
        _package(1), _package(2, status="Rejected"), _package(3), _package(4, status="PendingManualApproval")
    )
    selection = select_model(
        SelectModelRequest(execution_name="e", selection={"model_package_group": GROUP}), registry
    )
    assert selection.model_version == 3
    assert selection.metric_value == 0.8


def test_select_without_an_approved_model_fails_clearly() -> None:
    with pytest.raises(NoApprovedModel, match="no Approved package"):
        select_model(
            SelectModelRequest(execution_name="e", selection={"model_package_group": GROUP}), FakeRegistry()
        )


def test_select_a_named_package() -> None:
    registry = FakeRegistry(_package(1), _package(2, status="PendingManualApproval"))
    request = SelectModelRequest(
        execution_name="e",
        selection={"model_package_group": GROUP, "model_package_arn": registry.packages[1].arn},
    )
    assert select_model(request, registry).model_version == 2


@pytest.mark.parametrize(
    ("status", "group", "fragment"), [("Rejected", GROUP, "is Rejected"), ("Approved", "other", "belongs to")]
)
def test_a_named_package_must_be_usable(status: str, group: str, fragment: str) -> None:
    package = _package(5, status=status, group=group)
    request = SelectModelRequest(
        execution_name="e", selection={"model_package_group": GROUP, "model_package_arn": package.arn}
    )
    with pytest.raises(ModelPackageNotFound, match=fragment):
        select_model(request, FakeRegistry(package))


# --- the champion on this export's rows --------------------------------------------------------


def test_a_harder_export_promotes_a_candidate_better_on_the_same_rows() -> None:
    """Below the champion's recorded metric, above its metric on these rows: promoted."""
    scorer = FakeScorer(ChampionOnExport(0.78, rows=400))
    verdict = _evaluate(0.82, FakeRegistry(_package(1, metric=0.9)), scorer=scorer)
    assert verdict.promote
    assert (verdict.champion_metric, verdict.champion_metric_on_export) == (0.9, 0.78)
    assert verdict.champion_judged_on == "this_export" and verdict.champion_rows == 400
    assert "champion v1 on this export's validation rows (0.78 on 400 rows, recorded 0.9)" in verdict.reason
    assert verdict.package_metadata["champion_metric_on_export"] == "0.78"
    assert verdict.package_metadata["champion_metric_recorded"] == "0.9"
    assert scorer.questions[0].champion_arn.endswith("/1")


def test_an_easier_export_does_not_promote_a_worse_model() -> None:
    """Above the champion's recorded metric, below its metric on these rows: rejected."""
    verdict = _evaluate(
        0.92, FakeRegistry(_package(1, metric=0.9)), scorer=FakeScorer(ChampionOnExport(0.95, rows=400))
    )
    assert not verdict.promote
    assert "is worse than champion v1 on this export's validation rows" in verdict.reason


def test_without_the_champion_on_these_rows_the_recorded_metric_decides_and_the_reason_says_why() -> None:
    verdict = _evaluate(0.85, FakeRegistry(_package(1, metric=0.9)))
    assert not verdict.promote and verdict.champion_judged_on == "recorded"
    assert verdict.champion_metric_on_export is None
    assert "as recorded: ML_PREDICT_MERCHANT_RISK serves no model, not champion v1" in verdict.reason


def test_a_metric_sql_cannot_compute_is_named_and_never_sent_to_snowflake() -> None:
    scorer = FakeScorer(ChampionOnExport(0.1, rows=1))
    champion = _package(1, metric=0.5, metric_name="validation:auc")
    verdict = _evaluate(
        0.9, FakeRegistry(champion), scorer=scorer, problem="multiclass", objective="multi:softprob"
    )
    assert scorer.questions == [] and verdict.champion_judged_on == "recorded"
    assert "a multi-class model's metric is not computed in SQL" in verdict.reason


def test_a_candidate_under_the_threshold_costs_no_query() -> None:
    scorer = FakeScorer(ChampionOnExport(0.1, rows=1))
    assert not _evaluate(0.6, FakeRegistry(_package(1)), scorer=scorer).promote
    assert scorer.questions == []
