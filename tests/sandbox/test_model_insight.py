"""sandbox.model_insight: the report's curves from hand-made figures."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from sandbox import html_report
from sandbox.model_insight import ModelInsight, histogram, roc_points, validation_rounds


def test_validation_rounds_read_the_algorithm_log() -> None:
    log = ["[0]\ttrain-auc:0.80\tvalidation-auc:0.75", "noise", "[1]\ttrain-auc:0.85\tvalidation-auc:0.78"]
    assert validation_rounds(log) == ("auc", [(0, 0.75), (1, 0.78)])


def test_roc_by_hand() -> None:
    # ranked: 0.9 (+), 0.8 (-), 0.4 (+), 0.1 (-): TPR/FPR step by step
    points = roc_points([1, 0, 1, 0], [0.9, 0.8, 0.4, 0.1])
    assert points == [(0.0, 0.0), (0.0, 0.5), (0.5, 0.5), (0.5, 1.0), (1.0, 1.0)]


def test_tied_scores_make_one_point_and_one_class_makes_no_curve() -> None:
    assert roc_points([1, 0], [0.5, 0.5]) == [(0.0, 0.0), (1.0, 1.0)]
    assert roc_points([1, 1], [0.2, 0.3]) == []


def test_histogram_bins_like_the_drift_view() -> None:
    assert histogram([0.0, 0.05, 0.15, 0.99, 1.0]) == [2, 1, 0, 0, 0, 0, 0, 0, 0, 2]


def test_a_run_trained_in_snowflake_gets_no_training_job_insight() -> None:
    """TrainInSnowflake's job name is not a SageMaker job: the report says so instead of describing it."""
    output = {
        "training": {"job_name": "snowflake:TRAIN_MODEL:run-1"},
        "plan": {"model": {"training_engine": "SNOWFLAKE"}, "training": {"validation_uri": None}},
    }
    result: Any = SimpleNamespace(execution=SimpleNamespace(output=output))
    sandbox: Any = SimpleNamespace(emulator=object())  # no client: nothing may be called
    insight = html_report._insight(result, sandbox)
    assert insight.problem is not None and "TRAIN_MODEL" in insight.problem


def test_the_charts_name_the_features_and_give_exact_values_on_hover() -> None:
    insight = ModelInsight(
        rounds=[(0, 0.7), (1, 0.75)],
        metric_name="auc",
        labels=[1, 0, 1, 0],
        scores=[0.9, 0.8, 0.4, 0.1],
        gain={"f0": 2.5, "f2": 7.25, "f9": 1.0},
    )
    manifest = {"train": {"columns": ["LABEL", "CHARGEBACK_RATE", "NIGHT_SHARE", "ECOM_SHARE"]}}
    figures = html_report.charts(insight, html_report.feature_names(manifest))
    assert sorted(figures) == ["chart-gain", "chart-histogram", "chart-roc", "chart-rounds"]
    (gain,) = figures["chart-gain"].data
    # largest gain on top; a name the columns do not cover stays as xgboost gave it
    assert list(gain.y) == ["f9", "CHARGEBACK_RATE", "ECOM_SHARE"] and list(gain.x) == [1.0, 2.5, 7.25]
    assert list(figures["chart-histogram"].data[0].y) == histogram(insight.scores)
    for figure in figures.values():
        layout = figure.layout
        assert layout.xaxis.title.text or layout.yaxis.title.text
        assert any(trace.hovertemplate for trace in figure.data)


def test_a_run_without_a_model_draws_no_chart() -> None:
    assert html_report.charts(ModelInsight(problem="score only"), []) == {}
