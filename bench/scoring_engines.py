"""Scoring engines: the batch transform (SAGEMAKER) vs ML_PREDICT_<DATASET> inside Snowflake
(SNOWFLAKE), on one dataset at each size, measured in the sandbox and modelled on AWS and Snowflake.

Details: bench/README.md, "scoring_engines.py".
"""

from __future__ import annotations

import itertools
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bench import engines, int_list
from snowsage import prices

DATASET = "txn_score"
SIZES = (1_200, 100_000, 1_000_000)
TRAIN_TRANSACTIONS = 20_000
SEED = 13
ENGINE_NAMES = ("SAGEMAKER", "SNOWFLAKE")
STATES = {
    "SAGEMAKER": ("CreateModel", "Score", "LoadPredictions"),
    "SNOWFLAKE": ("PublishForScoring", "ScoreInSnowflake"),
}
PARITY = 1e-6  # the engines' predictions of the same rows may differ by at most this
# Every transaction is scored; the labelled ones (30 days and older) train. A threshold of 0 makes
# the first model the champion whatever its AUC: the bench measures scoring, not the model.
SETUP = """
CREATE OR REPLACE VIEW TXN_SCORE_SCORING AS SELECT TXN_ID, AMOUNT, HOUR_OF_DAY, IS_ECOM, IS_MOTO,
  IS_CROSS_BORDER, MERCHANT_TXN_COUNT, MERCHANT_AVG_AMOUNT, AMOUNT_VS_MERCHANT_AVG FROM TXN_REFUND_FEATURES;
CREATE OR REPLACE VIEW TXN_SCORE_TRAINING AS SELECT * FROM TXN_REFUND_TRAINING;
CREATE TABLE IF NOT EXISTS TXN_SCORE_PREDICTIONS (ID VARCHAR, SCORE FLOAT, RUN_ID VARCHAR,
  EXPORT_ID VARCHAR, MODEL_VERSION VARCHAR, SCORED_AT TIMESTAMP_NTZ);
DELETE FROM ML_DATASETS WHERE NAME = 'txn_score';
INSERT INTO ML_DATASETS (NAME, TRAINING_VIEW, SCORING_VIEW, ID_COLUMN, LABEL_COLUMN, PREDICTIONS_TABLE,
  ENABLED, CREATED_AT, EVALUATION_THRESHOLD) VALUES ('txn_score', 'TXN_SCORE_TRAINING', 'TXN_SCORE_SCORING',
  'TXN_ID', 'IS_REFUND', 'TXN_SCORE_PREDICTIONS', TRUE, SYSDATE(), 0.0)
"""

# What SageMaker bills of a transform job: TransformStartTime to TransformEndTime ("You are billed for
# the time interval between this time and the value of TransformEndTime"), x the instances; the
# instances' launch before TransformStartTime is not billed (docs: sagemaker/latest/APIReference/
# API_DescribeTransformJob, read 2026-12-07). AWS documents no duration for either part of the
# start-up (the container starting and loading the model is inside the billed interval): both are
# PARAMETERS, as bench/engines.py takes the training job's, with the same defaults; `make smoke`
# measures both on an account (smoke.plan's measure_transform).
PROVISIONING_SECONDS = engines.PROVISIONING_SECONDS
BILLED_STARTUP_SECONDS = engines.BILLED_STARTUP_SECONDS
TRANSFORM_SOURCE = (
    "docs.aws.amazon.com/sagemaker/latest/APIReference/API_DescribeTransformJob.html (TransformStartTime:"
    " billed from it to TransformEndTime; the instance launch before it is not), read 2026-12-07; AWS"
    " documents no start-up duration: provisioning and billed start-up are parameters"
    " (`--transform-provisioning-seconds`, `--transform-billed-startup-seconds`), which `make smoke` measures"
    " on an account (its `measured` lines: docs/smoke.md)"
)
LARGEST_ROWS = 10**10  # the crossover search's upper end


@dataclass(frozen=True)
class ScoringRun:
    """One measured sandbox run: the sample data at ``rows`` transactions scored by one engine."""

    engine: str
    rows: int
    status: str
    rows_loaded: int
    export_seconds: float  # EXPORT_DATASET: score/ unloaded (SAGEMAKER) or the view counted (SNOWFLAKE)
    scoring_seconds: float  # the scoring states' spans (STATES), as Step Functions saw them
    wall_seconds: float  # the export and the whole execution
    instance_seconds: float  # SAGEMAKER: the emulator job's read + compute + write (0 for SNOWFLAKE)
    warehouse_seconds: float  # the scoring step's statements, as its Lambdas report them
    export_id: str = ""

    @property
    def path_seconds(self) -> float:
        return self.export_seconds + self.scoring_seconds

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.path_seconds if self.path_seconds > 0 else 0.0


@dataclass(frozen=True)
class Assumptions:
    """The model's rates: each quoted with its source, or a parameter."""

    warehouse_size: str = prices.DEFAULT_WAREHOUSE_SIZE
    credit_price_usd: float = engines.CREDIT_PRICE_USD
    provisioning_seconds: float = PROVISIONING_SECONDS
    billed_startup_seconds: float = BILLED_STARTUP_SECONDS
    instance_type: str = "ml.m5.large"
    region: str = "us-east-1"

    @property
    def warehouse_usd_per_second(self) -> float:
        return prices.WAREHOUSE_CREDITS_PER_HOUR[self.warehouse_size] / 3600 * self.credit_price_usd

    @property
    def instance_usd_per_second(self) -> float:
        return prices.PRICES[self.region].transform_per_hour[self.instance_type] / 3600


@dataclass(frozen=True)
class Modelled:
    """The scoring step of one run on the services, on paper."""

    engine: str
    rows: int
    seconds: float  # the step's time
    instance_seconds: float  # SageMaker's billed instance-seconds (0: none)
    warehouse_seconds: float  # what the step adds to a warehouse that is up
    billed_warehouse_seconds: float  # with the 60 s minimum where the warehouse resumes for it
    usd: float  # the warehouse resumed
    usd_warehouse_up: float


@dataclass(frozen=True)
class Work:
    """A run's parts the model prices: seconds on the instance and on the warehouse."""

    instance: float
    unload: float  # SAGEMAKER: score/ unloaded inside the export (the warehouse is up)
    statements: float  # the load (SAGEMAKER) or the scoring statement (SNOWFLAKE)


def model_work(engine: str, work: Work, rows: int, a: Assumptions) -> Modelled:
    """SAGEMAKER: provisioning (not billed) + billed start-up + the job's work on the instance; on the
    warehouse the unload (inside the export's session) and the load, which runs minutes after the
    export, when the warehouse has suspended (AUTO_SUSPEND = 60 in 00_account.sql), so it resumes for
    it: its 60 s minimum. SNOWFLAKE: the scoring statement on the warehouse, billed as if it resumed
    for it (the dearer case), or only its seconds with the warehouse still up."""
    minimum = engines.WAREHOUSE_MINIMUM_SECONDS
    rate = a.warehouse_usd_per_second
    if engine == "SNOWFLAKE":
        billed = max(work.statements, minimum)
        return Modelled(
            engine, rows, work.statements, 0.0, work.statements, billed, billed * rate, work.statements * rate
        )
    instance = a.billed_startup_seconds + work.instance
    up = work.unload + work.statements
    billed = work.unload + max(work.statements, minimum)
    machine = instance * a.instance_usd_per_second
    return Modelled(
        engine,
        rows,
        a.provisioning_seconds + instance + up,
        instance,
        up,
        billed,
        machine + billed * rate,
        machine + up * rate,
    )


def unload_seconds(runs: Sequence[ScoringRun], rows: int) -> float:
    """The score/ unload: SAGEMAKER's export minus SNOWFLAKE's (a COUNT), same data (0 when lower)."""
    by_engine = {run.engine: run for run in runs if run.rows == rows}
    if set(by_engine) != set(ENGINE_NAMES):
        return 0.0
    return max(by_engine["SAGEMAKER"].export_seconds - by_engine["SNOWFLAKE"].export_seconds, 0.0)


def work_of(run: ScoringRun, runs: Sequence[ScoringRun]) -> Work:
    unload = unload_seconds(runs, run.rows) if run.engine == "SAGEMAKER" else 0.0
    return Work(run.instance_seconds, unload, run.warehouse_seconds)


def model(run: ScoringRun, runs: Sequence[ScoringRun], a: Assumptions) -> Modelled:
    return model_work(run.engine, work_of(run, runs), run.rows, a)


# --- The crossover: each part fitted as seconds = fixed + per row x rows over the measured sizes ----


@dataclass(frozen=True)
class Line:
    fixed: float
    per_row: float

    def __call__(self, rows: float) -> float:
        return max(self.fixed + self.per_row * rows, 0.0)


def fit(points: Sequence[tuple[int, float]]) -> Line:
    """Least squares over (rows, seconds); one point: all of it per row."""
    if len(points) == 1:
        rows, seconds = points[0]
        return Line(0.0, seconds / rows if rows else 0.0)
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / spread if spread else 0.0
    return Line(mean_y - slope * mean_x, slope)


@dataclass(frozen=True)
class Fitted:
    """Each engine's work, fitted over the sizes: modelled at any number of rows."""

    lines: dict[str, tuple[Line, Line, Line]]  # engine -> instance, unload, statements

    def work(self, engine: str, rows: float) -> Work:
        instance, unload, statements = self.lines[engine]
        return Work(instance(rows), unload(rows), statements(rows))


def fitted(runs: Sequence[ScoringRun]) -> Fitted:
    lines = {}
    for engine in ENGINE_NAMES:
        mine = [run for run in runs if run.engine == engine]
        works = [(run.rows, work_of(run, runs)) for run in mine]
        lines[engine] = (
            fit([(rows, work.instance) for rows, work in works]),
            fit([(rows, work.unload) for rows, work in works]),
            fit([(rows, work.statements) for rows, work in works]),
        )
    return Fitted(lines)


Measure = Callable[[Modelled], float]


def crossover(fitting: Fitted, a: Assumptions, measure: Measure) -> tuple[str, float | None]:
    """(the engine that wins at one row, the rows above which the other wins; None: never, up to
    LARGEST_ROWS). Found on a log grid, then by bisection."""

    def gap(rows: float) -> float:
        sagemaker = model_work("SAGEMAKER", fitting.work("SAGEMAKER", rows), int(rows), a)
        snowflake = model_work("SNOWFLAKE", fitting.work("SNOWFLAKE", rows), int(rows), a)
        return measure(snowflake) - measure(sagemaker)

    first = "SNOWFLAKE" if gap(1) < 0 else "SAGEMAKER"
    grid = [10 ** (step / 4) for step in range(0, 4 * int(math.log10(LARGEST_ROWS)) + 1)]
    for start, end in itertools.pairwise(grid):
        if (gap(start) < 0) != (gap(end) < 0):
            low, high = start, end
            for _ in range(60):
                middle = (low + high) / 2
                low, high = (middle, high) if (gap(middle) < 0) == (gap(low) < 0) else (low, middle)
            return first, high
    return first, None


def break_even_seconds(sagemaker: Modelled, a: Assumptions, *, resumed: bool) -> float | None:
    """The scoring statement's seconds at which SNOWFLAKE costs what SAGEMAKER does at that size
    (a faster statement makes SNOWFLAKE the cheaper; None: the 60 s minimum alone costs more)."""
    usd = sagemaker.usd if resumed else sagemaker.usd_warehouse_up
    seconds = usd / a.warehouse_usd_per_second
    return None if resumed and seconds < engines.WAREHOUSE_MINIMUM_SECONDS else seconds


def crossover_text(what: str, first: str, rows: float | None) -> str:
    other = "SAGEMAKER" if first == "SNOWFLAKE" else "SNOWFLAKE"
    if rows is None:
        return f"{what}: {first} at every size up to {LARGEST_ROWS:.0e} rows (no crossover)"
    return f"{what}: {first} up to about {rows:,.0f} scoring rows, {other} above"


# --- Measuring --------------------------------------------------------------------------------


def _query(sb: Any, sql: str) -> list[tuple[Any, ...]]:
    with sb.snowflake_connection() as connection:
        cursor = connection.cursor()
        cursor.execute(sql)
        return [tuple(row) for row in cursor.fetchall()] if cursor.description else []


def _set_up(sb: Any) -> None:
    from sandbox import pipeline_run
    from tooling.lambda_functions import ROOT

    pipeline_run.apply_user_sql(sb, [ROOT / "snowflake" / "examples" / "txn_refund.sql"])
    for statement in filter(str.strip, SETUP.split(";")):
        _query(sb, statement)


def _load(sb: Any, transactions: int) -> None:
    from tooling.sample_data import load_sample_data

    with sb.snowflake_connection() as connection:
        load_sample_data(connection, transactions, SEED, s3_client=sb.client("s3"), bucket=sb.bucket)


def _train(sb: Any) -> None:
    """The champion both engines score with (PublishModel publishes it as ML_PREDICT_TXN_SCORE); then
    one SNOWFLAKE run of the same export, so that both paths' Lambdas are warm before the first size."""
    from sandbox import pipeline_run

    _load(sb, TRAIN_TRANSACTIONS)
    result = pipeline_run.run_from_export(sb, DATASET, export_id="train")
    output = result.execution.output or {}
    if result.status != "SUCCEEDED" or not output.get("published"):
        raise RuntimeError(f"{DATASET}: the training run did not publish a model ({result.execution.error})")
    warm = {"manifest": output["plan"]["manifest_uri"], "mode": "score_only"}
    _execute(sb, {**warm, "scoring_engine": "SNOWFLAKE"}, "bench-warm-up")
    # score_only reads no training rows: with the row's TRAINING_ENGINE set to SNOWFLAKE the exports
    # unload none, so an export's seconds are its scoring part alone (the unload, or the count).
    _query(sb, f"UPDATE ML_DATASETS SET TRAINING_ENGINE = 'SNOWFLAKE' WHERE NAME = '{DATASET}'")  # nosec B608


def _execute(sb: Any, document: dict[str, Any], name: str) -> Any:
    """A hand start, followed to its end (no reading back: the bench times the run alone)."""
    import json

    from sandbox.aws.executions import wait_for_execution

    sfn = sb.client("stepfunctions")
    arn = sfn.start_execution(stateMachineArn=sb.state_machine_arn, name=name, input=json.dumps(document))
    return wait_for_execution(sfn, arn["executionArn"], timeout=1800)


def _one_run(sb: Any, engine: str, rows: int) -> ScoringRun:
    from sandbox import pipeline_run

    value = "'SNOWFLAKE'" if engine == "SNOWFLAKE" else "NULL"
    _query(sb, f"UPDATE ML_DATASETS SET SCORING_ENGINE = {value} WHERE NAME = '{DATASET}'")  # nosec B608: constants
    export_id = f"{engine.lower()}-{rows}"
    manifest = f"s3://{sb.bucket}/exports/{DATASET}/{export_id}/manifest.json"
    started = time.perf_counter()
    pipeline_run.export_for_input(sb, {"manifest": manifest})
    exported = time.perf_counter()
    summary = _execute(sb, {"manifest": manifest, "mode": "score_only"}, f"bench-{export_id}")
    wall = time.perf_counter() - started
    output = summary.output or {}
    load = output.get("load") or {}
    instance = 0.0
    if engine == "SAGEMAKER" and output.get("transform"):
        timings = sb.emulator.describe_transform_job(output["transform"]["job_name"]).get(
            "EmulatorTimings", {}
        )
        instance = sum(
            float(timings.get(key, 0.0)) for key in ("read_seconds", "compute_seconds", "write_seconds")
        )
    published = (output.get("published") or {}).get("warehouse_seconds") or 0.0
    return ScoringRun(
        engine=engine,
        rows=rows,
        status=summary.status if summary.status == "SUCCEEDED" else f"{summary.status} ({summary.error})",
        rows_loaded=int(load.get("rows_loaded") or 0),
        export_seconds=exported - started,
        scoring_seconds=sum(span.seconds or 0.0 for span in summary.spans if span.name in STATES[engine]),
        wall_seconds=wall,
        instance_seconds=instance,
        warehouse_seconds=float(load.get("warehouse_seconds") or 0.0) + float(published),
        export_id=export_id,
    )


def largest_difference(sb: Any, rows: int) -> tuple[int, float]:
    """(rows both engines scored, the largest |difference| of their scores) at one size."""
    [(matched, largest)] = _query(
        sb,
        "SELECT COUNT(*), MAX(ABS(a.SCORE - b.SCORE)) FROM TXN_SCORE_PREDICTIONS a"  # nosec B608: constants
        " JOIN TXN_SCORE_PREDICTIONS b ON a.ID = b.ID"
        f" WHERE a.EXPORT_ID = 'sagemaker-{rows}' AND b.EXPORT_ID = 'snowflake-{rows}'",
    )
    return int(matched), float(largest) if largest is not None else math.inf


@dataclass(frozen=True)
class Measured:
    runs: list[ScoringRun]
    differences: dict[int, tuple[int, float]]  # rows -> (matched, largest difference)


def run(sizes: Sequence[int]) -> Measured:
    """Every size x engine in one sandbox; the engines alternate which goes first."""
    from sandbox.services import Sandbox, SandboxConfig

    found: list[ScoringRun] = []
    differences: dict[int, tuple[int, float]] = {}
    with Sandbox(SandboxConfig(quiet=True)) as sb:
        _set_up(sb)
        _train(sb)
        for index, rows in enumerate(sorted(sizes)):
            _load(sb, rows)
            for engine in ENGINE_NAMES if index % 2 == 0 else ENGINE_NAMES[::-1]:
                found.append(_one_run(sb, engine, rows))
                print(f"bench: scoring {engine} {rows:,}: {found[-1].wall_seconds:.1f} s", file=sys.stderr)
            differences[rows] = largest_difference(sb, rows)
    return Measured(found, differences)


# --- The section ---------------------------------------------------------------------------------

Table = Callable[[Sequence[str], Sequence[Sequence[object]]], list[str]]


def checks(measured: Measured) -> list[tuple[str, str, bool]]:
    found = []
    for rows in sorted(measured.differences):
        by_engine = {run.engine: run for run in measured.runs if run.rows == rows}
        statuses = " / ".join(by_engine[engine].status for engine in ENGINE_NAMES if engine in by_engine)
        loaded = [by_engine[engine].rows_loaded for engine in ENGINE_NAMES if engine in by_engine]
        found.append(
            (
                f"{rows:,}: both runs succeeded, rows loaded = scoring rows",
                f"{statuses}; loaded {', '.join(f'{n:,}' for n in loaded)}",
                statuses == "SUCCEEDED / SUCCEEDED" and loaded == [rows, rows],
            )
        )
        matched, largest = measured.differences[rows]
        found.append(
            (
                f"{rows:,}: the same rows, the same scores (max |SNOWFLAKE - SAGEMAKER| <= {PARITY:g})",
                f"{matched:,} rows matched, max difference {largest:.1e}",
                matched == rows and largest <= PARITY,
            )
        )
    return found


def section(
    measured: Measured,
    a: Assumptions,
    table: Table,
    met: Callable[[bool], str],
    seconds: float,
    *,
    provenance: str = "",
) -> list[str]:
    """docs/benchmarks.md's section (``table`` and ``met`` are bench.markdown's; ``provenance`` the
    run that measured it, for a section measured apart from the rest of the document)."""
    runs = measured.runs
    measured_rows = [
        [
            f"{run.rows:,}",
            run.engine,
            run.status,
            f"{run.export_seconds:.2f}",
            f"{run.scoring_seconds:.2f}",
            f"{run.wall_seconds:.2f}",
            f"{run.rows_per_second:,.0f}",
            f"{run.instance_seconds:.2f}",
            f"{run.warehouse_seconds:.2f}",
        ]
        for run in runs
    ]
    modelled = [model(run, runs, a) for run in runs]
    modelled_rows = [
        [
            f"{item.rows:,}",
            item.engine,
            f"{item.seconds:.1f}",
            f"{item.instance_seconds:.1f}",
            f"{item.warehouse_seconds:.2f}",
            f"{item.billed_warehouse_seconds:.1f}",
            f"${item.usd:.5f}",
            f"${item.usd_warehouse_up:.5f}",
        ]
        for item in modelled
    ]
    even_rows = []
    for rows in sorted({run.rows for run in runs}):
        by_engine = {item.engine: item for item in modelled if item.rows == rows}
        sagemaker, snowflake = by_engine.get("SAGEMAKER"), by_engine.get("SNOWFLAKE")
        if sagemaker is None or snowflake is None:
            continue
        resumed = break_even_seconds(sagemaker, a, resumed=True)
        even_rows.append(
            [
                f"{rows:,}",
                "SNOWFLAKE" if snowflake.seconds < sagemaker.seconds else "SAGEMAKER",
                "SNOWFLAKE" if snowflake.usd < sagemaker.usd else "SAGEMAKER",
                "SNOWFLAKE" if snowflake.usd_warehouse_up < sagemaker.usd_warehouse_up else "SAGEMAKER",
                f"{snowflake.warehouse_seconds:.2f} s",
                "never (the 60 s minimum costs more)" if resumed is None else f"{resumed:,.1f} s",
                f"{break_even_seconds(sagemaker, a, resumed=False):,.1f} s",
            ]
        )
    fitting = fitted(runs)
    lines = [
        crossover_text("Faster", *crossover(fitting, a, lambda m: m.seconds)),
        crossover_text(
            "Cheaper, the warehouse resumed for each step", *crossover(fitting, a, lambda m: m.usd)
        ),
        crossover_text("Cheaper, the warehouse up", *crossover(fitting, a, lambda m: m.usd_warehouse_up)),
    ]
    fits = "; ".join(
        f"{engine}: instance {i.fixed:.3f} + {i.per_row * 1e6:.3f}/M rows s, unload {u.fixed:.3f} +"
        f" {u.per_row * 1e6:.3f}/M rows s, statements {s.fixed:.3f} + {s.per_row * 1e6:.3f}/M rows s"
        for engine, (i, u, s) in fitting.lines.items()
    )
    return [
        "## 9. Scoring engines: SAGEMAKER vs SNOWFLAKE",
        "",
        *([provenance, ""] if provenance else []),
        f"`bench/scoring_engines.py`: `{DATASET}` (every transaction of `snowflake/examples/txn_refund.sql`'s"
        " features is a scoring row, so the scoring view holds exactly the transactions loaded), trained once"
        f" on {TRAIN_TRANSACTIONS:,} transactions (the gate promotes the model, PublishModel publishes"
        f" `ML_PREDICT_{DATASET.upper()}`); then, at each size, each engine scores the same data through the"
        " production path: the row's `SCORING_ENGINE` set, EXPORT_DATASET, a `score_only` execution; the"
        " engines alternate which goes first. The row's `TRAINING_ENGINE` is SNOWFLAKE after the training"
        " run, so no export unloads training rows (a `score_only` run reads none): an export's seconds are"
        f" its scoring part. The phase took {seconds:.0f} s. 'Export' is EXPORT_DATASET"
        " (score/ unloaded to S3 for SAGEMAKER; for SNOWFLAKE only the view counted); 'scoring states' the"
        f" spans of {', '.join(STATES['SAGEMAKER'])} or {', '.join(STATES['SNOWFLAKE'])}; rows/s = rows ÷"
        " (export + scoring states), each engine's whole scoring path. 'Instance work' is the emulator job's"
        " read + compute + write; 'warehouse s' what the Lambdas report for the step's statements (the load,"
        " or the check and the scoring statement). All of them are this machine's seconds: moto, fakesnow's"
        " DuckDB, the emulator and the function's worker process, not an instance or a warehouse.",
        "",
        *table(
            [
                "scoring rows",
                "engine",
                "status",
                "export s",
                "scoring states s",
                "wall s",
                "rows/s",
                "instance work s",
                "warehouse s",
            ],
            measured_rows,
        ),
        "",
        *table(
            ["check", "measured", "met?"],
            [[what, value, met(flag)] for what, value, flag in checks(measured)],
        ),
        "",
        "**Modelled on AWS and Snowflake** (the scoring step of one run; each figure's source):",
        "",
        f"* SAGEMAKER: {a.provisioning_seconds:.0f} s provisioning (not billed)"
        f" + {a.billed_startup_seconds:.0f} s billed start-up + the instance work above, billed per second"
        " x 1 instance; on the warehouse the score/ unload (SAGEMAKER's export seconds minus SNOWFLAKE's"
        " at the same size, inside the export:"
        " no minimum of its own) and the load, which runs after the transform's minutes, when the warehouse"
        " has suspended (`AUTO_SUSPEND = 60`), so it bills its"
        f" {engines.WAREHOUSE_MINIMUM_SECONDS} s minimum."
        f" Billing and start-up: {TRANSFORM_SOURCE}.",
        "* SNOWFLAKE: the warehouse seconds above (the check that the function serves the model, and the"
        " scoring statement), billed as if the warehouse resumed for them"
        f" ({engines.WAREHOUSE_MINIMUM_SECONDS} s minimum), or only their seconds with the warehouse"
        " still up.",
        f"* Warehouse: {a.warehouse_size}, {prices.WAREHOUSE_CREDITS_PER_HOUR[a.warehouse_size]} credit(s)"
        f" per hour ({engines.WAREHOUSE_SOURCE}); a credit ${a.credit_price_usd:.2f}"
        f" ({engines.CREDIT_PRICE_SOURCE}).",
        f"* SageMaker batch transform {a.instance_type}:"
        f" ${prices.PRICES[a.region].transform_per_hour[a.instance_type]}/hour on demand in {a.region}"
        f" (snowsage.prices, aws.amazon.com/sagemaker/pricing, as of {prices.AS_OF}).",
        "",
        *table(
            [
                "scoring rows",
                "engine",
                "scoring step s",
                "instance-s billed",
                "warehouse s",
                "warehouse s billed",
                "USD",
                "USD, warehouse up",
            ],
            modelled_rows,
        ),
        "",
        "Per size: which engine is faster and cheaper, and the scoring statement's seconds at which"
        " SNOWFLAKE would cost what SAGEMAKER does (a warehouse slower than that makes SAGEMAKER the"
        " cheaper; this machine's statement took the seconds shown):",
        "",
        *table(
            [
                "scoring rows",
                "faster",
                "cheaper, warehouse resumed",
                "cheaper, warehouse up",
                "SNOWFLAKE statement here",
                "break-even, resumed",
                "break-even, up",
            ],
            even_rows,
        ),
        "",
        "**Where the crossover lies.** Each part fitted over the measured sizes as seconds = fixed + per row"
        f" x rows ({fits}), then both engines modelled as above at any number of rows:",
        "",
        *[f"* {line}." for line in lines],
        "",
    ]


# --- The phase (bench/__main__.py) ---------------------------------------------------------------


def add_arguments(parser: Any) -> None:
    parser.add_argument(
        "--scoring-rows",
        type=int_list,
        default=list(SIZES),
        help="scoring rows of the per-scoring-engine runs (bench/scoring_engines.py; empty: skip)",
    )
    parser.add_argument("--transform-provisioning-seconds", type=float, default=PROVISIONING_SECONDS)
    parser.add_argument("--transform-billed-startup-seconds", type=float, default=BILLED_STARTUP_SECONDS)


def phase(args: Any, seconds: dict[str, float]) -> list[str]:
    """The section, when `--scoring-rows` names some sizes; else nothing (bench/__main__.py's PHASES)."""
    from bench import markdown

    if not args.scoring_rows:
        return []
    print("bench: scoring engines (SAGEMAKER vs SNOWFLAKE)", file=sys.stderr, flush=True)
    provenance = (
        f"Measured {markdown.now():%Y-%m-%d %H:%M} UTC ({markdown.git_commit()}), load average at its start"
        f" {markdown.load_average()}, by `{' '.join(['python -m bench', *sys.argv[1:]])}`."
    )
    started = time.perf_counter()
    measured = run(args.scoring_rows)
    seconds["scoring engines"] = time.perf_counter() - started
    assumptions = Assumptions(
        warehouse_size=args.warehouse_size,
        credit_price_usd=args.credit_price,
        provisioning_seconds=args.transform_provisioning_seconds,
        billed_startup_seconds=args.transform_billed_startup_seconds,
    )
    return section(
        measured, assumptions, markdown.table, markdown.met, seconds["scoring engines"], provenance=provenance
    )
