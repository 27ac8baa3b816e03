"""bench/run_cost.py's sections from injected ML_RUNS figures: the parts as RecordRun recorded them,
labelled as sandbox figures, and the tuned run's training part against the trials' hand sum."""

from __future__ import annotations

from bench import markdown, run_cost
from sandbox.cost import SANDBOX_LABEL
from tests.bench.tables import row

TRIALS = [
    run_cost.Trial("snowsage-t0-001-a", "Completed", "ml.m5.large", 1, 120),
    run_cost.Trial("snowsage-t0-002-b", "Failed", "ml.m5.large", 2, 30),
]
HAND = (120 * 1 + 30 * 2) * 0.115 / 3600


def tuning(recorded: float) -> run_cost.TuningCost:
    return run_cost.TuningCost(
        transactions=50_000,
        untuned={"cost_usd": 0.002, "cost_training_usd": 0.001, "cost_warehouse_usd": 0.0001},
        tuned={"cost_usd": 0.01, "cost_training_usd": recorded, "tuning_trials": 2.0},
        tuning_job="snowsage-t0",
        trials=TRIALS,
        run_seconds=12.0,
    )


def test_the_tuned_runs_recorded_training_is_checked_against_the_trials_hand_sum() -> None:
    assert tuning(HAND).trials_usd == HAND
    text = "\n".join(run_cost.tuning_section(tuning(HAND), markdown.table))
    assert f"`COST_TRAINING_USD` ${HAND:.6f} equals it" in text
    failed = row(text, "trial", "snowsage-t0-002-b")
    assert (failed["status"], failed["instances"], failed["billable s"]) == (
        "Failed",
        "2 x ml.m5.large",
        "30",
    )
    assert failed["USD"] == f"${30 * 2 * 0.115 / 3600:.6f}"
    assert row(text, "run", "tuned, 2 trials")["TUNING_TRIALS"] == "2"
    wrong = "\n".join(run_cost.tuning_section(tuning(HAND / 2), markdown.table))
    assert "**differs from** it" in wrong


def test_the_cost_section_shows_each_part_and_says_they_are_sandbox_figures() -> None:
    cost = {
        "cost_usd": 0.0042,
        "cost_training_usd": 0.003,
        "cost_transform_usd": 0.001,
        "cost_step_functions_usd": 0.0002,
        "cost_lambda_usd": 0.0,
        "cost_warehouse_usd": None,
    }
    lines = run_cost.billed_section([(100_000, 15, cost), (1_000_000, 15, None)], markdown.table)
    text = "\n".join(lines)
    assert SANDBOX_LABEL in text
    assert "if AWS took as long" not in text
    billed = row(text, "transactions", "100,000")
    assert (billed["transitions"], billed["COST_USD"]) == ("15", "**$0.004200**")
    for part, column in run_cost.COST_PARTS.items():  # each part its own USD; none where not recorded
        assert billed[part] == ("" if cost[column] is None else f"${cost[column]:.6f}"), part
    assert row(text, "transactions", "1,000,000")["COST_USD"] == "not recorded"
    assert run_cost.billed_section([], markdown.table) == []
