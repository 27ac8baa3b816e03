"""bench/scoring_engines.py on injected figures: the checks flip when a figure regresses, the cost
model follows its quoted rates, and the crossover is where the modelled costs meet. No sandbox."""

from __future__ import annotations

import pytest

from bench import markdown, scoring_engines

ASSUMED = scoring_engines.Assumptions()  # XSMALL, $2 a credit, ml.m5.large, 120 s + 60 s start-up
WAREHOUSE = 2.0 / 3600  # USD per X-Small second at $2 a credit
INSTANCE = 0.115 / 3600  # USD per ml.m5.large second


def run(engine: str, rows: int = 100_000, **overrides: object) -> scoring_engines.ScoringRun:
    figures: dict[str, object] = {
        "engine": engine,
        "rows": rows,
        "status": "SUCCEEDED",
        "rows_loaded": rows,
        "export_seconds": 2.0 if engine == "SAGEMAKER" else 0.5,
        "scoring_seconds": 1.0,
        "wall_seconds": 5.0,
        "instance_seconds": 0.8 if engine == "SAGEMAKER" else 0.0,
        "warehouse_seconds": 0.4,
        **overrides,
    }
    return scoring_engines.ScoringRun(**figures)  # type: ignore[arg-type]


def measured(*runs: scoring_engines.ScoringRun, difference: float = 0.0) -> scoring_engines.Measured:
    sizes = {run.rows for run in runs}
    return scoring_engines.Measured(list(runs), {rows: (rows, difference) for rows in sizes})


def _met(found: list[tuple[str, str, bool]], fragment: str) -> bool:
    [flag] = [flag for what, _, flag in found if fragment in what]
    return flag


def test_a_healthy_pair_meets_every_check() -> None:
    found = scoring_engines.checks(measured(run("SAGEMAKER"), run("SNOWFLAKE")))
    assert len(found) == 2 and all(flag for _, _, flag in found)


def test_scores_that_differ_or_rows_that_go_missing_fail() -> None:
    pair = (run("SAGEMAKER"), run("SNOWFLAKE"))
    assert not _met(scoring_engines.checks(measured(*pair, difference=1e-5)), "the same scores")
    short = scoring_engines.Measured(list(pair), {100_000: (99_999, 0.0)})
    assert not _met(scoring_engines.checks(short), "the same scores")
    lost = (run("SAGEMAKER"), run("SNOWFLAKE", rows_loaded=99_000))
    assert not _met(scoring_engines.checks(measured(*lost)), "rows loaded = scoring rows")
    failed = (run("SAGEMAKER", status="FAILED (ScoringFailed)"), run("SNOWFLAKE"))
    assert not _met(scoring_engines.checks(measured(*failed)), "both runs succeeded")


def test_the_transform_is_billed_its_start_up_and_work_and_the_load_a_warehouse_minute() -> None:
    runs = [run("SAGEMAKER"), run("SNOWFLAKE")]
    sagemaker = scoring_engines.model(runs[0], runs, ASSUMED)
    assert sagemaker.instance_seconds == pytest.approx(60 + 0.8)
    # The unload is SAGEMAKER's export minus SNOWFLAKE's; the load resumes the warehouse.
    assert sagemaker.warehouse_seconds == pytest.approx(1.5 + 0.4)
    assert sagemaker.billed_warehouse_seconds == pytest.approx(1.5 + 60)
    assert sagemaker.seconds == pytest.approx(120 + 60.8 + 1.9)
    assert sagemaker.usd == pytest.approx(60.8 * INSTANCE + 61.5 * WAREHOUSE)
    assert sagemaker.usd_warehouse_up == pytest.approx(60.8 * INSTANCE + 1.9 * WAREHOUSE)


def test_snowflake_is_billed_its_statement_with_the_warehouse_minimum_when_resumed() -> None:
    runs = [run("SAGEMAKER"), run("SNOWFLAKE", warehouse_seconds=90.0)]
    long = scoring_engines.model(runs[1], runs, ASSUMED)
    assert (long.instance_seconds, long.billed_warehouse_seconds, long.seconds) == (0.0, 90.0, 90.0)
    short = scoring_engines.model(run("SNOWFLAKE"), runs, ASSUMED)
    assert short.billed_warehouse_seconds == 60 and short.usd == pytest.approx(60 * WAREHOUSE)
    assert short.usd_warehouse_up == pytest.approx(0.4 * WAREHOUSE)


def test_the_crossover_is_where_the_modelled_costs_meet() -> None:
    """A warehouse that scores a million rows in 100 s against a transform whose work is 10 s per
    million: SNOWFLAKE is cheaper (warehouse up) only while its seconds cost less than SageMaker's."""
    line = scoring_engines.Line
    fitting = scoring_engines.Fitted(
        {
            "SAGEMAKER": (line(0.0, 10e-6), line(0.0, 0.0), line(0.0, 0.0)),
            "SNOWFLAKE": (line(0.0, 0.0), line(0.0, 0.0), line(0.0, 100e-6)),
        }
    )
    first, rows = scoring_engines.crossover(fitting, ASSUMED, lambda m: m.usd_warehouse_up)
    # SNOWFLAKE: rows x 1e-4 s x WAREHOUSE; SAGEMAKER: (60 + rows x 1e-5) x INSTANCE.
    expected = 60 * INSTANCE / (100e-6 * WAREHOUSE - 10e-6 * INSTANCE)
    assert first == "SNOWFLAKE" and rows == pytest.approx(expected, rel=1e-6)
    assert "SNOWFLAKE up to about" in scoring_engines.crossover_text("Cheaper", first, rows)
    # A SageMaker start-up no one pays: SAGEMAKER is the cheaper from the first row, no crossover.
    free = scoring_engines.Assumptions(billed_startup_seconds=0.0)
    assert scoring_engines.crossover(fitting, free, lambda m: m.usd_warehouse_up) == ("SAGEMAKER", None)


def test_a_fit_recovers_a_line() -> None:
    fitted = scoring_engines.fit([(1_000, 1.1), (100_000, 11.0), (1_000_000, 101.0)])
    assert fitted.fixed == pytest.approx(1.0) and fitted.per_row == pytest.approx(1e-4)


def test_the_break_even_statement_and_the_section_name_their_sources() -> None:
    runs = [run("SAGEMAKER"), run("SNOWFLAKE")]
    sagemaker = scoring_engines.model(runs[0], runs, ASSUMED)
    assert scoring_engines.break_even_seconds(sagemaker, ASSUMED, resumed=False) == pytest.approx(
        sagemaker.usd_warehouse_up / WAREHOUSE
    )
    text = "\n".join(scoring_engines.section(measured(*runs), ASSUMED, markdown.table, markdown.met, 12.0))
    for source in ("API_DescribeTransformJob", "warehouses-overview", "pricing-options", "sagemaker/pricing"):
        assert source in text
    assert "Where the crossover lies" in text and "| 100,000 | SAGEMAKER | SUCCEEDED |" in text
