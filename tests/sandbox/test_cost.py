"""sandbox.cost: the demo's cost line from the ML_RUNS row's COST_* columns (sandbox figures)."""

from __future__ import annotations

from sandbox import cost


def test_the_demo_line_shows_the_total_and_its_parts_as_sandbox_figures() -> None:
    figures = {
        "cost_usd": 0.0042,
        "cost_training_usd": 0.003,
        "cost_transform_usd": 0.001,
        "cost_step_functions_usd": 0.0002,
        "cost_lambda_usd": 0.0,
        "cost_warehouse_usd": 0.000001,
        "warehouse_seconds": 1.8,
    }
    text = cost.cost_text(figures)
    assert text.startswith("$0.004200 (training $0.003000, transform $0.001000, Step Functions $0.000200,")
    assert "Lambda $0.000000, warehouse $0.000001 for 1.800 s)" in text
    assert text.endswith(cost.SANDBOX_LABEL) and "not an AWS estimate" in text
    assert "if AWS took as long" not in text


def test_a_score_only_run_shows_no_training_part_and_an_unpriced_run_says_so() -> None:
    text = cost.cost_text({"cost_usd": 0.001, "cost_training_usd": None, "cost_transform_usd": 0.001})
    assert "training" not in text
    assert cost.cost_text(None).startswith("not recorded")
    assert cost.cost_text({"cost_usd": None}).startswith("not recorded")


def test_a_tuned_run_says_how_many_trials_its_training_part_sums() -> None:
    text = cost.cost_text({"cost_usd": 0.002, "cost_training_usd": 0.002, "tuning_trials": 8.0})
    assert "training $0.002000 over 8 tuning trials" in text
