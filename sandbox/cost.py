"""The run's cost as the demo, the report and bench show it: the ML_RUNS row's COST_* columns.

Details: sandbox/README.md, "cost.py".
"""

from __future__ import annotations

from typing import Any

from snowsage.snowflake.sql import COST_COLUMNS

# The parts of COST_USD as people read them, in the row's (lower-case) names.
COST_PARTS = {
    "training": "cost_training_usd",
    "transform": "cost_transform_usd",
    "Step Functions": "cost_step_functions_usd",
    "Lambda": "cost_lambda_usd",
    "warehouse": "cost_warehouse_usd",
}
SANDBOX_LABEL = "sandbox figures (snowsage.cost on the emulator's billed seconds; not an AWS estimate)"


def read_run_cost(connection: Any, run_id: str) -> dict[str, float | None] | None:
    """The run's COST_* columns from ML_RUNS (lower-case names), or None without a row."""
    cursor = connection.cursor()
    try:
        # B608: only module constants are inlined; the run id is a bind
        cursor.execute(f"SELECT {', '.join(COST_COLUMNS)} FROM ML_RUNS WHERE RUN_ID = %(r)s", {"r": run_id})  # noqa: S608  # nosec B608
        row = cursor.fetchone()
    finally:
        cursor.close()
    if row is None:
        return None
    return {
        name.lower(): (float(value) if value is not None else None)
        for name, value in zip(COST_COLUMNS, row, strict=True)
    }


def cost_parts(cost: dict[str, float | None]) -> dict[str, float]:
    """The parts the run used (a part is None when the run used nothing of the kind)."""
    found = {name: cost.get(column) for name, column in COST_PARTS.items()}
    return {name: usd for name, usd in found.items() if usd is not None}


def cost_text(cost: dict[str, float | None] | None) -> str:
    """The demo's cost line: the total and its parts, labelled as sandbox figures."""
    if not cost or cost.get("cost_usd") is None:
        return "not recorded (ML_RUNS.COST_USD is NULL: see RecordRun's log for the missing price)"
    shown = []
    for name, usd in cost_parts(cost).items():
        detail = ""
        if name == "training" and cost.get("tuning_trials") is not None:
            detail = f" over {cost['tuning_trials']:.0f} tuning trials"
        if name == "warehouse" and cost.get("warehouse_seconds") is not None:
            detail = f" for {cost['warehouse_seconds']:.3f} s"
        shown.append(f"{name} ${usd:.6f}{detail}")
    return f"${cost['cost_usd']:.6f} ({', '.join(shown)}): {SANDBOX_LABEL}"
