"""bench/engines.py on injected figures: the checks flip when a figure regresses, the cost model's
arithmetic follows its quoted rates, and the section prints its sources. No sandbox, no timing."""

from __future__ import annotations

import dataclasses

import pytest

from bench import engines, markdown
from tests.bench.tables import row, table_rows

ASSUMED = engines.Assumptions()  # XSMALL, $2 a credit (template default), ml.m5.large, 120 s + 60 s start-up


def run(
    engine: str,
    transactions: int = 100_000,
    *,
    metric: float | None = 0.84,
    training_bytes: int | None = None,
    status: str = "SUCCEEDED",
    work: float = 1.0,
    wall: float = 10.0,
    export: float = 0.5,
) -> engines.EngineRun:
    if training_bytes is None:
        training_bytes = 0 if engine == "SNOWFLAKE" else 20_000
    sections = {"score": 5_000, **({"train": training_bytes} if training_bytes else {})}
    return engines.EngineRun(
        engine=engine,
        transactions=transactions,
        status=status,
        rows_trained=316,
        wall_seconds=wall,
        export_seconds=export,
        training_state_seconds=work + 0.5,
        work_seconds=work,
        metric_name="validation:auc",
        metric_value=metric,
        section_bytes=sections,
    )


def _met(found: list[engines.Check], fragment: str) -> bool:
    matching = [check for check in found if fragment in check.what]
    assert len(matching) == 1, [check.what for check in found]
    return matching[0].met


def test_a_healthy_pair_meets_every_check() -> None:
    found = engines.checks([run("SAGEMAKER", metric=0.84), run("SNOWFLAKE", metric=0.83)])
    assert len(found) == 3 and all(check.met for check in found)


def test_metrics_further_apart_than_the_issues_limit_fail() -> None:
    found = engines.checks([run("SAGEMAKER", metric=0.84), run("SNOWFLAKE", metric=0.81)])
    assert not _met(found, "within 0.02")
    assert not _met(engines.checks([run("SAGEMAKER"), run("SNOWFLAKE", metric=None)]), "within 0.02")


def test_training_rows_in_s3_on_the_snowflake_path_fail() -> None:
    """A regression: EXPORT_DATASET unloading train/validation for a SNOWFLAKE row."""
    leaked = engines.checks([run("SAGEMAKER"), run("SNOWFLAKE", training_bytes=20_000)])
    assert not _met(leaked, "training rows in S3")
    # and a SageMaker export without its training files is no comparison either
    assert not _met(engines.checks([run("SAGEMAKER", training_bytes=0), run("SNOWFLAKE")]), "training rows")


def test_a_failed_run_or_a_missing_engine_fails() -> None:
    failed = engines.checks([run("SAGEMAKER"), run("SNOWFLAKE", status="FAILED (TrainingFailed)")])
    assert not _met(failed, "both runs succeeded")
    alone = engines.checks([run("SAGEMAKER")])
    assert [(check.what, check.met) for check in alone] == [("100,000: both engines ran", False)]


def test_snowflake_is_billed_the_warehouse_minimum_at_its_sizes_credits_and_price() -> None:
    short = engines.model(run("SNOWFLAKE", work=1.0), ASSUMED)
    assert (short.billed_warehouse_seconds, short.instance_seconds) == (60, 0.0)
    assert short.credits == pytest.approx(1 / 60)  # X-Small: 1 credit an hour
    assert short.usd == pytest.approx(2.0 / 60)
    assert short.usd_warehouse_up == pytest.approx(2.0 / 3600)  # one second of a running warehouse
    long = engines.model(run("SNOWFLAKE", work=90.0), dataclasses.replace(ASSUMED, warehouse_size="MEDIUM"))
    assert long.billed_warehouse_seconds == 90.0
    assert long.credits == pytest.approx(90 * 4 / 3600)  # Medium: 4 credits an hour


def test_sagemaker_bills_the_start_up_and_the_work_but_not_the_provisioning() -> None:
    modelled = engines.model(run("SAGEMAKER", work=2.0), ASSUMED, unload_seconds=1.5)
    assert modelled.instance_seconds == pytest.approx(62.0)
    assert modelled.seconds == pytest.approx(120 + 62 + 1.5)
    assert modelled.warehouse_seconds == pytest.approx(1.5)
    assert modelled.usd == pytest.approx(62 * 0.115 / 3600 + 1.5 / 3600 * 2.0)
    assert engines.model(run("SAGEMAKER"), ASSUMED, unload_seconds=-0.2).warehouse_seconds == 0.0


def test_at_the_break_even_start_up_both_engines_cost_the_same() -> None:
    sagemaker_run, snowflake_run = run("SAGEMAKER", work=2.0), run("SNOWFLAKE", work=1.0)
    snowflake = engines.model(snowflake_run, ASSUMED)
    even = engines.break_even_startup(engines.model(sagemaker_run, ASSUMED, 1.5), snowflake, ASSUMED)
    at_even = dataclasses.replace(ASSUMED, billed_startup_seconds=even)
    assert engines.model(sagemaker_run, at_even, 1.5).usd == pytest.approx(snowflake.usd)
    later = dataclasses.replace(ASSUMED, billed_startup_seconds=even + 10)
    assert engines.model(sagemaker_run, later, 1.5).usd > snowflake.usd


def test_repeats_show_the_median_run_and_the_unload_is_the_export_difference() -> None:
    runs = [run("SNOWFLAKE", wall=wall) for wall in (30.0, 10.0, 12.0)]
    assert engines.representative(runs)[0].wall_seconds == 12.0
    pair = [run("SAGEMAKER", export=3.0), run("SNOWFLAKE", export=1.2)]
    assert engines.unload_seconds(pair, 100_000) == pytest.approx(1.8)
    assert engines.unload_seconds(pair[:1], 100_000) == 0.0


def test_the_section_prints_its_verdicts_and_its_sources() -> None:
    runs = [run("SAGEMAKER", 10_000), run("SNOWFLAKE", 10_000, training_bytes=1_000)]
    lines = "\n".join(engines.section(runs, ASSUMED, markdown.table, markdown.met, 42.0))
    assert "## 8. Training engines" in lines and "The phase took 42 s" in lines
    leaked = row(lines, "check", "10,000: training rows in S3 (train + validation bytes): none for SNOWFLAKE")
    assert leaked["met?"] == "**not met**"
    for source in (
        "user-guide/warehouses-overview",
        "API_DescribeTrainingJob",
        "pricing-options",
        "2026-11-27",
    ):
        assert source in lines, source
    modelled = engines.model(runs[1], ASSUMED)
    (snowflake,) = [
        found for found in table_rows(lines) if "credits" in found and found["engine"] == "SNOWFLAKE"
    ]
    assert snowflake["warehouse s billed"] == f"{modelled.billed_warehouse_seconds:.1f}"
    assert (snowflake["credits"], snowflake["USD"]) == (f"{modelled.credits:.5f}", f"${modelled.usd:.5f}")
