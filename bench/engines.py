"""Per-engine figures: SAGEMAKER vs SNOWFLAKE training, measured in the sandbox, modelled on
AWS and Snowflake.

Details: bench/README.md, "engines.py".
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench import int_list
from snowsage import prices

DATASET = "merchant_risk"
ENGINES = ("SAGEMAKER", "SNOWFLAKE")
SEED = 11
METRIC_PARITY = 0.02  # the SNOWFLAKE engine's metric within 0.02 of SageMaker's on the same data

# Snowflake "Overview of warehouses", "Warehouse size": credits per hour of a Gen1 standard
# warehouse; and "Impact on credit usage and billing": per-second billing with a 60-second minimum
# each time a warehouse starts (docs: user-guide/warehouses-overview, read 2026-11-27).
# One table for the pipeline and the bench: snowsage.prices (by the names WAREHOUSE_SIZE takes).
WAREHOUSE_CREDITS_PER_HOUR = prices.WAREHOUSE_CREDITS_PER_HOUR
WAREHOUSE_MINIMUM_SECONDS = 60
WAREHOUSE_SOURCE = (
    "docs.snowflake.com/en/user-guide/warehouses-overview ('Warehouse size', Gen1 standard"
    " warehouses; 'Impact on credit usage and billing': per second, 60 s minimum each time a"
    " warehouse starts), read 2026-11-27"
)
# Snowflake publishes the price of a credit by edition, cloud and region (snowflake.com/en/pricing-options):
# on demand in AWS US East, Standard $2, Enterprise $3, Business Critical $4. Quoted 2026-11-27
# from summaries of that page (not read from this machine); your contract sets yours. The bench uses
# the template's default (SnowflakeCreditPriceUsd), which RecordRun's COST_WAREHOUSE_USD uses too.
CREDIT_PRICE_USD = prices.DEFAULT_CREDIT_PRICE_USD
CREDIT_PRICE_SOURCE = (
    "Standard edition, on demand, AWS US East (Enterprise $3, Business Critical $4), as"
    " snowflake.com/en/pricing-options lists them by edition and region; quoted 2026-11-27 from"
    " summaries of that page, not read from this machine; the template's SnowflakeCreditPriceUsd"
    " default (`--credit-price`)"
)
# What SageMaker bills of a training job: TrainingStartTime to TrainingEndTime, which includes
# downloading the training image and data but not launching the instances (docs: sagemaker/latest/
# APIReference/API_DescribeTrainingJob, TrainingStartTime and BillableTimeInSeconds). AWS documents
# the start-up's phases (SecondaryStatus Starting: "Launching requested ML instances", "Preparing
# the instances for training"; Downloading; "Downloading the training image") but no duration
# (sagemaker/latest/dg/train-warm-pools: a first job "cold-starts a cluster with typical startup
# times"). The two figures below are therefore PARAMETERS, not quotes.
PROVISIONING_SECONDS = 120.0  # unbilled: CreateTrainingJob to TrainingStartTime
BILLED_STARTUP_SECONDS = 60.0  # billed: the image and the data downloaded before xgboost starts
SAGEMAKER_SOURCE = (
    "docs.aws.amazon.com/sagemaker/latest/APIReference/API_DescribeTrainingJob.html (TrainingStartTime:"
    " billed from it to TrainingEndTime, image and data download included, instance launch not),"
    " read 2026-11-27; AWS documents no start-up duration: provisioning and billed start-up are"
    " parameters (`--sagemaker-provisioning-seconds`, `--sagemaker-billed-startup-seconds`)"
)


@dataclass(frozen=True)
class EngineRun:
    """One measured sandbox run of the sample dataset on one engine."""

    engine: str
    transactions: int
    status: str
    rows_trained: int  # the training view's rows (train + validation)
    wall_seconds: float  # EXPORT_DATASET, the event, the execution, reading the predictions back
    export_seconds: float
    training_state_seconds: float  # Train or TrainInSnowflake, as Step Functions saw it
    work_seconds: float  # inside it: the emulator job's read + compute + write, or TRAIN_MODEL's own
    metric_name: str
    metric_value: float | None
    section_bytes: dict[str, int] = field(default_factory=dict)  # in S3, by section

    @property
    def training_bytes(self) -> int:
        return self.section_bytes.get("train", 0) + self.section_bytes.get("validation", 0)


@dataclass(frozen=True)
class Assumptions:
    """The model's rates: each quoted above with its source, or a parameter."""

    warehouse_size: str = prices.DEFAULT_WAREHOUSE_SIZE
    credit_price_usd: float = CREDIT_PRICE_USD
    provisioning_seconds: float = PROVISIONING_SECONDS
    billed_startup_seconds: float = BILLED_STARTUP_SECONDS
    instance_type: str = "ml.m5.large"
    region: str = "us-east-1"

    @property
    def credits_per_hour(self) -> float:
        return float(WAREHOUSE_CREDITS_PER_HOUR[self.warehouse_size])

    @property
    def instance_per_hour(self) -> float:
        return prices.PRICES[self.region].training_per_hour[self.instance_type]


@dataclass(frozen=True)
class Modelled:
    """The training step of one run on AWS and Snowflake, on paper."""

    engine: str
    transactions: int
    seconds: float  # the step's time on the services
    instance_seconds: float  # SageMaker's billed instance-seconds (0: none)
    warehouse_seconds: float  # warehouse seconds the step adds
    billed_warehouse_seconds: float  # with the 60 s minimum when the warehouse resumes for it
    credits: float
    usd: float
    # SNOWFLAKE with the warehouse still up from the export: only the work's seconds are added.
    usd_warehouse_up: float


def _warehouse_usd(seconds: float, assumptions: Assumptions) -> tuple[float, float]:
    credits = seconds * assumptions.credits_per_hour / 3600
    return credits, credits * assumptions.credit_price_usd


def model(run: EngineRun, assumptions: Assumptions, unload_seconds: float = 0.0) -> Modelled:
    """SNOWFLAKE: TRAIN_MODEL's seconds on the warehouse, billed as if it resumed for the CALL (the
    60 s minimum: the dearer case; with the warehouse still up from the export, only its seconds).
    SAGEMAKER: provisioning (unbilled) + billed start-up + the job's work on the instance, and the
    train/validation unload on the warehouse (``unload_seconds``, inside the export's session: no
    minimum of its own)."""
    if run.engine == "SNOWFLAKE":
        billed = max(run.work_seconds, WAREHOUSE_MINIMUM_SECONDS)
        credits, usd = _warehouse_usd(billed, assumptions)
        _, usd_up = _warehouse_usd(run.work_seconds, assumptions)
        return Modelled(
            run.engine,
            run.transactions,
            run.work_seconds,
            0.0,
            run.work_seconds,
            billed,
            credits,
            usd,
            usd_up,
        )
    instance_seconds = assumptions.billed_startup_seconds + run.work_seconds
    unload = max(unload_seconds, 0.0)
    credits, warehouse_usd = _warehouse_usd(unload, assumptions)
    usd = instance_seconds * assumptions.instance_per_hour / 3600 + warehouse_usd
    return Modelled(
        run.engine,
        run.transactions,
        assumptions.provisioning_seconds + instance_seconds + unload,
        instance_seconds,
        unload,
        unload,
        credits,
        usd,
        usd,
    )


def break_even_startup(sagemaker: Modelled, snowflake: Modelled, assumptions: Assumptions) -> float:
    """The billed SageMaker start-up (s) at which both engines cost the same (above it, SNOWFLAKE
    is the cheaper)."""
    warehouse_part = sagemaker.credits * assumptions.credit_price_usd
    work = sagemaker.instance_seconds - assumptions.billed_startup_seconds
    return (snowflake.usd - warehouse_part) * 3600 / assumptions.instance_per_hour - work


@dataclass(frozen=True)
class Check:
    what: str
    measured: str
    met: bool


def checks(runs: Sequence[EngineRun]) -> list[Check]:
    """Per size: both runs succeeded; the metrics agree within METRIC_PARITY; the SNOWFLAKE export
    holds no training byte in S3 while the SAGEMAKER one does."""
    found: list[Check] = []
    for size in sorted({run.transactions for run in runs}):
        by_engine = {run.engine: run for run in runs if run.transactions == size}
        sagemaker, snowflake = by_engine.get("SAGEMAKER"), by_engine.get("SNOWFLAKE")
        if sagemaker is None or snowflake is None:
            found.append(Check(f"{size:,}: both engines ran", f"only {sorted(by_engine)}", False))
            continue
        statuses = f"{sagemaker.status} / {snowflake.status}"
        found.append(Check(f"{size:,}: both runs succeeded", statuses, statuses == "SUCCEEDED / SUCCEEDED"))
        if sagemaker.metric_value is None or snowflake.metric_value is None:
            found.append(Check(f"{size:,}: {sagemaker.metric_name} within {METRIC_PARITY}", "missing", False))
        else:
            gap = abs(snowflake.metric_value - sagemaker.metric_value)
            found.append(
                Check(
                    f"{size:,}: SNOWFLAKE's {snowflake.metric_name} within {METRIC_PARITY} of SAGEMAKER's",
                    f"{snowflake.metric_value:.6f} vs {sagemaker.metric_value:.6f} (diff {gap:.6f})",
                    gap <= METRIC_PARITY,
                )
            )
        found.append(
            Check(
                f"{size:,}: training rows in S3 (train + validation bytes): none for SNOWFLAKE",
                f"SNOWFLAKE {snowflake.training_bytes:,} B, SAGEMAKER {sagemaker.training_bytes:,} B",
                snowflake.training_bytes == 0 and sagemaker.training_bytes > 0,
            )
        )
    return found


# --- Measuring --------------------------------------------------------------------------------


def _section_bytes(sb: Any, export_id: str) -> dict[str, int]:
    prefix = f"exports/{DATASET}/{export_id}/"
    sizes: dict[str, int] = {}
    pages = sb.client("s3").get_paginator("list_objects_v2").paginate(Bucket=sb.bucket, Prefix=prefix)
    for page in pages:
        for item in page.get("Contents", []):
            section = item["Key"].removeprefix(prefix).split("/")[0]
            if section != "manifest.json":
                sizes[section] = sizes.get(section, 0) + int(item["Size"])
    return sizes


def _query_one(sb: Any, sql: str) -> Any:
    with sb.snowflake_connection() as connection:
        cursor = connection.cursor()
        cursor.execute(sql)
        row = cursor.fetchone()
        return row[0] if row else None


def _work_seconds(sb: Any, engine: str, output: dict[str, Any]) -> float:
    training = output.get("training") or {}
    if engine == "SNOWFLAKE":
        return float(training.get("training_seconds") or 0.0)
    timings = sb.emulator.describe_training_job(training["job_name"]).get("EmulatorTimings", {})
    return sum(float(timings.get(key, 0.0)) for key in ("read_seconds", "compute_seconds", "write_seconds"))


def _one_run(sb: Any, engine: str, transactions: int, rows_trained: int) -> EngineRun:
    from sandbox import pipeline_run

    value = "'SNOWFLAKE'" if engine == "SNOWFLAKE" else "NULL"
    _query_one(sb, f"UPDATE ML_DATASETS SET TRAINING_ENGINE = {value} WHERE NAME = '{DATASET}'")  # nosec B608: constants
    export_id = f"engine-{engine.lower()}-{transactions}"
    started = time.perf_counter()
    result = pipeline_run.run_from_export(sb, DATASET, export_id=export_id)
    wall = time.perf_counter() - started
    output = result.execution.output or {}
    state = result.execution.span("TrainInSnowflake" if engine == "SNOWFLAKE" else "Train")
    succeeded = result.status == "SUCCEEDED"
    metric = result.metric
    return EngineRun(
        engine=engine,
        transactions=transactions,
        status=result.status if succeeded else f"{result.status} ({result.execution.error})",
        rows_trained=rows_trained,
        wall_seconds=wall,
        export_seconds=result.timings.get("export", 0.0),
        training_state_seconds=(state.seconds or 0.0) if state else 0.0,
        work_seconds=_work_seconds(sb, engine, output) if succeeded else 0.0,
        metric_name=str(metric.get("name") or ""),
        metric_value=float(metric["value"]) if metric.get("value") is not None else None,
        section_bytes=_section_bytes(sb, export_id),
    )


def _snowpark_ready() -> bool:
    from sandbox.snowflake import functions

    probe = [str(functions.runtime_python()), "-c", "import snowflake.snowpark"]
    return subprocess.run(probe, capture_output=True, check=False).returncode == 0  # nosec B603


def run(transactions: Sequence[int], repeats: int = 1) -> list[EngineRun]:
    """Every size x engine x repeat in one sandbox; the engines alternate which goes first."""
    from sandbox.services import Sandbox, SandboxConfig
    from tooling.sample_data import load_sample_data

    if not _snowpark_ready():
        raise RuntimeError(
            "the Snowflake-runtime venv lacks snowflake-snowpark-python: rebuild it (make venv)"
        )
    found: list[EngineRun] = []
    with Sandbox(SandboxConfig(quiet=True)) as sb:
        for index, count in enumerate(sorted(transactions)):
            with sb.snowflake_connection() as connection:
                load_sample_data(connection, count, SEED, s3_client=sb.client("s3"), bucket=sb.bucket)
            rows = int(_query_one(sb, "SELECT COUNT(*) FROM MERCHANT_RISK_TRAINING"))
            for attempt in range(repeats):
                order = ENGINES if (index + attempt) % 2 == 0 else ENGINES[::-1]
                for engine in order:
                    found.append(_one_run(sb, engine, count, rows))
                    print(
                        f"bench: engines {count:,} {engine}: {found[-1].wall_seconds:.1f} s", file=sys.stderr
                    )
    return found


# --- The section ---------------------------------------------------------------------------------


def _median_run(runs: Sequence[EngineRun]) -> EngineRun:
    """The run with the median wall time (repeats of one size and engine)."""
    ordered = sorted(runs, key=lambda run: run.wall_seconds)
    return ordered[(len(ordered) - 1) // 2]


def representative(runs: Sequence[EngineRun]) -> list[EngineRun]:
    keys = sorted({(run.transactions, run.engine) for run in runs})
    return [_median_run([run for run in runs if (run.transactions, run.engine) == key]) for key in keys]


def unload_seconds(runs: Sequence[EngineRun], transactions: int) -> float:
    """The train/validation unload: SAGEMAKER's export minus SNOWFLAKE's, same data (0 when lower)."""
    by_engine = {run.engine: run for run in runs if run.transactions == transactions}
    if set(by_engine) != set(ENGINES):
        return 0.0
    return max(by_engine["SAGEMAKER"].export_seconds - by_engine["SNOWFLAKE"].export_seconds, 0.0)


Table = Callable[[Sequence[str], Sequence[Sequence[object]]], list[str]]


def section(
    runs: Sequence[EngineRun],
    assumptions: Assumptions,
    table: Table,
    met: Callable[[bool], str],
    seconds: float,
) -> list[str]:
    """docs/benchmarks.md's section (``table`` and ``met`` are bench.markdown's)."""
    chosen = representative(runs)
    repeats = max(
        (sum(1 for r in runs if (r.transactions, r.engine) == (c.transactions, c.engine)) for c in chosen),
        default=0,
    )
    modelled = {
        (run.transactions, run.engine): model(run, assumptions, unload_seconds(chosen, run.transactions))
        for run in chosen
    }
    measured_rows = [
        [
            f"{run.transactions:,}",
            run.engine,
            f"{run.rows_trained:,}",
            run.status,
            f"{run.wall_seconds:.1f}",
            f"{run.export_seconds:.2f}",
            f"{run.training_state_seconds:.2f}",
            f"{run.work_seconds:.2f}",
            f"{run.training_bytes:,}",
            f"{run.metric_value:.6f}" if run.metric_value is not None else "-",
        ]
        for run in chosen
    ]
    modelled_rows = []
    for run in chosen:
        item = modelled[(run.transactions, run.engine)]
        modelled_rows.append(
            [
                f"{run.transactions:,}",
                run.engine,
                f"{item.seconds:.1f}",
                f"{item.instance_seconds:.1f}",
                f"{item.warehouse_seconds:.2f}",
                f"{item.billed_warehouse_seconds:.1f}",
                f"{item.credits:.5f}",
                f"${item.usd:.5f}",
                f"${item.usd_warehouse_up:.5f}",
            ]
        )
    verdict_rows = [[check.what, check.measured, met(check.met)] for check in checks(chosen)]
    even_rows = []
    for size in sorted({run.transactions for run in chosen}):
        sagemaker, snowflake = modelled.get((size, "SAGEMAKER")), modelled.get((size, "SNOWFLAKE"))
        if sagemaker is None or snowflake is None:
            continue
        faster = "SNOWFLAKE" if snowflake.seconds < sagemaker.seconds else "SAGEMAKER"
        even_rows.append(
            [
                f"{size:,}",
                faster,
                "SNOWFLAKE" if snowflake.usd < sagemaker.usd else "SAGEMAKER",
                "SNOWFLAKE" if snowflake.usd_warehouse_up < sagemaker.usd_warehouse_up else "SAGEMAKER",
                f"{break_even_startup(sagemaker, snowflake, assumptions):,.0f} s",
            ]
        )
    a = assumptions
    return [
        "## 8. Training engines: SAGEMAKER vs SNOWFLAKE",
        "",
        f"`bench/engines.py`: the sample dataset (`{DATASET}`, one row per merchant) at each size, run end"
        " to end once per engine in one sandbox (`pipeline_run.run_from_export`: EXPORT_DATASET, the S3"
        " event, the whole execution), the row's `TRAINING_ENGINE` set before each export; the engines"
        " alternate which goes first from one size to the next"
        + (f"; {repeats} runs each, the median-wall run shown" if repeats > 1 else "")
        + f". The phase took {seconds:.0f} s."
        " 'Work' is the emulator job's read + compute + write seconds (SAGEMAKER) or TRAIN_MODEL's"
        " handler seconds, its own `seconds` (SNOWFLAKE: reading the view with `to_pandas()`, the"
        " split, `xgboost.train`, the PUT, under Snowpark's local testing mode). The emulator trains"
        " with nthread 1 below 100k matrix values, TRAIN_MODEL with xgboost's default (every core),"
        " which on this shared machine under load mostly waits for its threads: the work's seconds"
        " are this machine's, not an instance's or a warehouse's."
        " The sandbox's TrainInSnowflake state also pays for"
        " starting a Python process and importing Snowpark and xgboost for each CALL; its Train state"
        " starts no instance. Training bytes are what S3 holds under the export's `train/` and"
        " `validation/`, listed after the run.",
        "",
        *table(
            [
                "transactions",
                "engine",
                "rows trained",
                "status",
                "wall s",
                "export s",
                "training state s",
                "work s",
                "training bytes in S3",
                "validation metric",
            ],
            measured_rows,
        ),
        "",
        *table(["check", "measured", "met?"], verdict_rows),
        "",
        "**Modelled on AWS and Snowflake** (the training step only: both engines score and load the"
        " same way). SNOWFLAKE: the work's seconds on the warehouse, billed as if the warehouse"
        f" resumed for the CALL ({WAREHOUSE_MINIMUM_SECONDS} s minimum; with it still up from the"
        " export, as `AUTO_SUSPEND = 60` in 00_account.sql often leaves it, only the work's seconds)."
        f" SAGEMAKER: {a.provisioning_seconds:.0f} s provisioning (not billed)"
        f" + {a.billed_startup_seconds:.0f} s billed start-up + the work's seconds on the instance,"
        " and the train/validation unload on the warehouse (SAGEMAKER's export seconds minus"
        " SNOWFLAKE's at the same size, in the sandbox)."
        " The work's seconds are this machine's, taken as the instance's and the warehouse's: a"
        " proxy, not a measurement of either.",
        "",
        f"* Warehouse: {a.warehouse_size}, credits per hour: {a.credits_per_hour:g} ({WAREHOUSE_SOURCE}).",
        f"* Credit: ${a.credit_price_usd:.2f} ({CREDIT_PRICE_SOURCE}).",
        f"* SageMaker {a.instance_type}: ${a.instance_per_hour}/hour on demand in {a.region}"
        f" (snowsage.prices, aws.amazon.com/sagemaker/pricing, as of {prices.AS_OF});"
        f" billing and start-up: {SAGEMAKER_SOURCE}.",
        "",
        *table(
            [
                "transactions",
                "engine",
                "training step s",
                "SageMaker instance-s billed",
                "warehouse s",
                "warehouse s billed",
                "credits",
                "USD",
                "USD, warehouse up",
            ],
            modelled_rows,
        ),
        "",
        "Which engine is faster and cheaper on paper (warehouse resumed for the CALL, or still up),"
        " and the billed SageMaker start-up at which both cost the same with the warehouse resumed"
        " (a longer start-up makes SNOWFLAKE the cheaper):",
        "",
        *table(
            ["transactions", "faster", "cheaper", "cheaper, warehouse up", "break-even billed start-up"],
            even_rows,
        ),
        "",
    ]


# --- The phase (bench/__main__.py) ---------------------------------------------------------------


def add_arguments(parser: Any) -> None:
    parser.add_argument(
        "--engine-rows",
        type=int_list,
        default=int_list("10000,100000,1000000"),
        help="transactions of the per-engine runs (bench/engines.py; empty: skip)",
    )
    parser.add_argument(
        "--engine-repeats", type=int, default=1, help="runs per size and engine (median shown)"
    )
    parser.add_argument(
        "--warehouse-size", choices=sorted(WAREHOUSE_CREDITS_PER_HOUR), default=prices.DEFAULT_WAREHOUSE_SIZE
    )
    parser.add_argument(
        "--credit-price", type=float, default=CREDIT_PRICE_USD, help="USD per Snowflake credit"
    )
    parser.add_argument("--sagemaker-provisioning-seconds", type=float, default=PROVISIONING_SECONDS)
    parser.add_argument("--sagemaker-billed-startup-seconds", type=float, default=BILLED_STARTUP_SECONDS)


def phase(args: Any, seconds: dict[str, float]) -> list[str]:
    """The section, when `--engine-rows` names some sizes; else nothing (bench/__main__.py's PHASES)."""
    from bench import markdown

    if not args.engine_rows:
        return []
    print("bench: training engines (SAGEMAKER vs SNOWFLAKE)", file=sys.stderr, flush=True)
    started = time.perf_counter()
    runs = run(args.engine_rows, max(args.engine_repeats, 1))
    seconds["training engines"] = time.perf_counter() - started
    assumptions = Assumptions(
        warehouse_size=args.warehouse_size,
        credit_price_usd=args.credit_price,
        provisioning_seconds=args.sagemaker_provisioning_seconds,
        billed_startup_seconds=args.sagemaker_billed_startup_seconds,
    )
    return section(runs, assumptions, markdown.table, markdown.met, seconds["training engines"])
