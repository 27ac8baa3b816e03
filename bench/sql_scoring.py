"""Scoring in SQL vs the batch transform: the same rows, the same model, in the sandbox.

Details: bench/README.md, "sql_scoring.py".
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Any

from bench.stats import median
from sandbox import pipeline_run
from sandbox.services import Sandbox, SandboxConfig
from tooling.lambda_functions import ROOT
from tooling.sample_data import load_sample_data

DATASET = "txn_refund"
SETUP_SQL = ROOT / "snowflake" / "examples" / "txn_refund.sql"
THRESHOLD = "0.5"  # its AUC is below the template's default EvaluationThreshold (0.75)
SEED = 7
REPEATS = 3


@dataclass(frozen=True)
class ScoringFigures:
    transactions: int
    rows: int
    score_state_seconds: float
    transform_compute_seconds: float
    sql_seconds: float
    max_abs_diff: float


def _sql_seconds(sb: Sandbox, plan: dict[str, Any]) -> tuple[float, pipeline_run.SqlScoring]:
    timings: list[float] = []
    scoring: pipeline_run.SqlScoring | None = None
    for _ in range(REPEATS):
        started = time.perf_counter()
        scoring = pipeline_run.score_in_sql(sb, plan, sample=0)
        timings.append(time.perf_counter() - started)
    if scoring is None:
        raise RuntimeError(f"{DATASET}: no function was published (was the model promoted?)")
    return median(timings), scoring


def run(transactions: list[int]) -> list[ScoringFigures]:
    found: list[ScoringFigures] = []
    config = SandboxConfig(quiet=True, template_parameters={"EvaluationThreshold": THRESHOLD})
    with Sandbox(config) as sb:
        pipeline_run.apply_user_sql(sb, [SETUP_SQL])
        for count in sorted(transactions):
            with sb.snowflake_connection() as connection:
                load_sample_data(connection, count, SEED, s3_client=sb.client("s3"), bucket=sb.bucket)
            result = pipeline_run.run_from_export(sb, DATASET, export_id=f"sql-{count}")
            output = result.execution.output or {}
            # A run the gate does not promote scores with the champion, which is also the function's
            # model: the comparison holds either way.
            if result.status != "SUCCEEDED":
                raise RuntimeError(f"{DATASET} at {count:,}: {result.status} ({result.execution.error})")
            score = result.execution.span("Score")
            assert sb.emulator is not None
            describe = sb.emulator.describe_transform_job(output["transform"]["job_name"])
            compute = float(describe.get("EmulatorTimings", {}).get("compute_seconds", 0.0))
            seconds, scoring = _sql_seconds(sb, output["plan"])
            found.append(
                ScoringFigures(
                    transactions=count,
                    rows=scoring.rows,
                    score_state_seconds=(score.seconds or 0.0) if score else 0.0,
                    transform_compute_seconds=compute,
                    sql_seconds=seconds,
                    max_abs_diff=scoring.max_abs_diff,
                )
            )
            print(f"bench: sql scoring {count:,}: {found[-1]}", file=sys.stderr, flush=True)
    return found


def section(figures: list[ScoringFigures], table: Any) -> list[str]:
    """docs/benchmarks.md's section (``table`` is bench.markdown.table)."""
    return [
        "## 7. Scoring in SQL vs the batch transform",
        "",
        f"`bench/sql_scoring.py`: `{DATASET}` (one row per transaction) set up as `python -m sandbox run"
        f" --setup-sql snowflake/examples/txn_refund.sql --dataset {DATASET} --threshold {THRESHOLD}` does;"
        " the first run's model is promoted and published as `ML_PREDICT_TXN_REFUND` (a later run the gate"
        " does not promote scores with that champion, which the function serves). The transform's"
        " figure is the Score state as Step Functions saw it (the emulator's job: model load, CSV in and"
        " out, S3) and its compute alone; SQL is `SELECT ID, ML_PREDICT_TXN_REFUND(…)` over the scoring"
        f" view through the connector (fakesnow over HTTP, the function's body in its worker process),"
        f" median of {REPEATS}, joined with the loaded predictions to compare every score."
        " In the sandbox neither side pays what dominates on AWS: the emulated transform starts no"
        " instance, and the SQL side's time is the connector, fakesnow's DuckDB (the join with the"
        " loaded predictions included) and the pipe to the function's process; the table shows the"
        " two paths give the same scores and comparable local cost, not AWS's times.",
        "",
        *table(
            ["transactions", "rows scored", "Score state s", "transform compute s", "SQL s", "max abs diff"],
            [
                [
                    f"{f.transactions:,}",
                    f"{f.rows:,}",
                    f"{f.score_state_seconds:.2f}",
                    f"{f.transform_compute_seconds:.3f}",
                    f"{f.sql_seconds:.2f}",
                    f"{f.max_abs_diff:.1e}",
                ]
                for f in figures
            ],
        ),
        "",
        "**On AWS, on paper** (not measured from this machine): a batch transform job provisions its"
        " instances and starts the algorithm's container for every job before reading a row; AWS bills"
        " that start-up and documents no figure for it (the cost section above calls it minutes, as"
        " typically observed), so a transform costs minutes whatever the row count. A query calling the"
        " function runs on a warehouse: if the warehouse is suspended it resumes (billed 60 s at least),"
        " the first call in a Python process resolves the packages and loads the model, and then rows"
        " are scored in batches. For a few rows, or any row at any time, SQL answers in seconds; for the"
        " scheduled scoring of a whole table the transform keeps its lineage in the predictions table"
        " and leaves the warehouse free (docs/snowflake.md, 'Scoring in SQL').",
        "",
    ]
