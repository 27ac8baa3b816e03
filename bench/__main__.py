"""``python -m bench`` (``make bench``): run the benchmarks, write docs/benchmarks.md.

Details: bench/README.md, "__main__.py".
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bench import (
    coldstart,
    earlier,
    engines,
    int_list,
    markdown,
    prepare_sizing,
    scale,
    scoring_engines,
    sizes,
    verdicts,
)
from bench.stats import median
from tooling.lambda_functions import ROOT

if TYPE_CHECKING:
    from bench.sandbox_bench import RunFigures

BUDGET_MINUTES = 15


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only", default="", help=f"comma list of phases to run (default: all of {', '.join(PHASE_NAMES)})"
    )
    parser.add_argument("--skip", default="", help="comma list of phases to leave out")
    parser.add_argument(
        "--samples",
        type=int,
        default=coldstart.DEFAULT_SAMPLES,
        help=f"cold-start samples per module (>= {coldstart.MIN_SAMPLES}; default %(default)s)",
    )
    parser.add_argument("--memory-rows", type=int_list, default=int_list("10000,100000,1000000,10000000"))
    parser.add_argument("--e2e-rows", type=int_list, default=int_list("100000,1000000"))
    parser.add_argument(
        "--payload-files",
        type=int_list,
        default=int_list("1,100,1000"),
        help="target files per export (10000 takes ~8 min in the sandbox; default %(default)s)",
    )
    parser.add_argument("--repeats", type=int, default=11, help="emulator vs bare job repeats")
    parser.add_argument(
        "--large-rows",
        type=int,
        default=50_000,
        help="rows of the synthetic matrix of the emulator vs bare comparison (0: skip; default %(default)s)",
    )
    parser.add_argument(
        "--large-repeats", type=int, default=5, help="emulator vs bare repeats on it (default %(default)s)"
    )
    parser.add_argument(
        "--txn-rows",
        type=int_list,
        default=int_list("100000"),
        help="transactions of the txn_refund end-to-end runs (empty: skip; default 100000; 1000000"
        " adds a run that is nearly all training compute)",
    )
    parser.add_argument(
        "--sql-rows",
        type=int_list,
        default=int_list("20000,100000"),
        help="transactions of the SQL-vs-transform scoring runs (bench/sql_scoring.py)",
    )
    engines.add_arguments(parser)
    scoring_engines.add_arguments(parser)
    parser.add_argument(
        "--tuning-trials",
        type=int,
        default=8,
        help="trials of the tuning run whose cost per run bench/run_cost.py shows (0: skip)",
    )
    parser.add_argument(
        "--tuning-rows", type=int, default=50_000, help="transactions of the tuning run (the demo's)"
    )
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md")
    return parser


def _mb(value: float) -> str:
    return f"{value:.1f}"


def _driver_loaded(row: dict[str, object]) -> str:
    if row["connector_at_init"]:
        return "at init"
    return "in the first call" if row["connector_loaded"] else "no"


def coldstart_section(found: list[coldstart.Target], samples: int) -> list[str]:
    rows = coldstart.rows(found)
    out = [
        "## 1. Cold start",
        "",
        "Init (imports + module-level set-up) plus the first invocation of each `functions/<name>/app.py`,"
        " in a fresh interpreter per sample (`bench/replay_child.py --cold-start`), against a running"
        " sandbox: each function replays the event it received in a sandbox run at 10,000 transactions"
        " (RecordExecutionOutcomeFunction: from a run that fails at PrepareRun, the only kind that"
        " invokes it), with its deployed environment and `sys.path` = its CodeUri + layer sources."
        " Each interpreter can import only what the function has on Lambda: the runtime's boto3 tree"
        " and its layers' pinned requirements (`bench/lambda_packages.py`); the dev venv's other"
        " packages fail to import, as they would there (the driver then imports neither pandas nor"
        " pyarrow, botocore neither awscrt nor pyOpenSSL)."
        f" Median of {samples} samples, interleaved over all modules (after"
        f" {coldstart.WARMUP_ROUNDS} warm-up round)."
        " References, timed the same way: `bench/reference/minimal.py` (powertools Logger, Tracer,"
        " Metrics, parser + pydantic, one boto3 client; first call: parse the event, one S3 request)"
        " and `minimal_snowflake.py` (the same plus `import snowflake.connector` at init; first call:"
        " the key-pair secret, a sandbox connect and `SELECT 1`), each with the packages of the"
        " functions it stands for. The Snowflake functions import the driver in their first call, so"
        " both sides pay for it. Goal: init + first invocation <= 1.2x the reference's, and no"
        " function without the Snowflake layer loads the driver at all (`bench/verdicts.py`,"
        " `cold_start`).",
        "",
        "The verdict is on **CPU time** (user + system of the child, init + first call): on this shared"
        " machine the wall time of a one-second child swings with whatever else runs, its CPU time"
        " much less (the spread column: (largest - smallest) / median of the function's samples), and"
        " the servers a first call talks to (moto, fakesnow) run in the bench's own process, standing"
        " in for AWS and Snowflake, whose latency the sandbox cannot reproduce anyway. Wall-time"
        " medians are shown beside it. Why this many samples is enough: the spread bounds how far any"
        " one sample strays, and the median of the samples strays less; where the spread of both a"
        " function and its reference is well under the goal's 20 %, a function that became 20 % dearer"
        " than its reference flips the verdict.",
        "",
    ]
    out += markdown.table(
        [
            "function",
            "reference",
            "init CPU ms",
            "first call CPU ms",
            "init + call CPU ms",
            "reference CPU ms",
            "ratio",
            "spread",
            "wall ms (reference)",
            "goal",
            "met?",
            "driver loaded",
        ],
        [
            [
                row["function"],
                str(row["reference"]).removeprefix("reference: "),
                f"{row['init_cpu_ms']:.0f}",
                f"{row['call_cpu_ms']:.0f}",
                f"{row['cpu_ms']:.0f}",
                f"{row['reference_cpu_ms']:.0f}",
                f"{row['ratio']:.2f}x",
                f"{row['spread']:.0%}",
                f"{row['wall_ms']:.0f} ({row['reference_wall_ms']:.0f})",
                "<= 1.2x",
                markdown.met(bool(row["met"])) + (f" ({row['why']})" if row["why"] else ""),
                _driver_loaded(row),
            ]
            for row in rows
        ],
    )
    references = [target for target in found if target.reference is None]
    errors = [f"{row['function']}: {'; '.join(row['errors'])}" for row in rows if row["errors"]]  # type: ignore[arg-type]
    out += [
        "",
        "Reference medians (init + first call, CPU): "
        + "; ".join(
            f"{target.name.removeprefix('reference: ')} {target.cpu_median * 1000:.0f} ms"
            f" ({target.init_cpu_median * 1000:.0f} + {target.call_cpu_median * 1000:.0f};"
            f" spread {target.cpu_spread:.0%})"
            for target in references
        )
        + ". A function whose first call did not need Snowflake (RecordExecutionOutcomeFunction when"
        ' the failure branch already recorded the run) shows "no" in the last column.'
        " `tests/unit/test_handler_imports.py` checks on every test run that no handler imports the"
        " driver at init and that no contract model (`snowsage.models`) is built at init: pydantic"
        " builds each one's validator on its first use (`defer_build`), so a function pays only for"
        " the few it uses.",
        "",
        "What a function does beyond its reference, and so what its ratio above 1 is made of: the"
        " project's own modules at init (the contract classes of `snowsage.models`, settings, the core"
        " the handler calls) and the client of its service (the SageMaker registry functions load"
        " SageMaker's service model, larger than S3's); in its first call, its real work instead of"
        " one request (RecordRunFunction creates Step Functions and Lambda clients at init and reads"
        " the execution history and the functions' configurations before writing its row;"
        " LoadPredictionsFunction runs COPY INTO and its checks; PublishModelFunction copies the model"
        " into a stage, creates the function and records it).",
        *(["", "First calls that raised (their time still counts): " + "; ".join(errors)] if errors else []),
        "",
        "Measured with the dev venv's interpreter (x86_64) against moto and fakesnow on this machine:"
        " absolute times differ from Lambda's, for functions and references alike.",
        "",
    ]
    return out


def sizes_section(rows: list[sizes.SizeRow], naive: sizes.NaivePackage, build_seconds: float) -> list[str]:
    out = [
        "## 2. Package size",
        "",
        "Unzipped code + layers of each function from `sam build` (arm64 wheels, bytecode kept),"
        f" measured by `scripts/sizes.py` (the `make sizes` report); build took {build_seconds:.0f} s."
        f" Lambda's limit is {sizes.LAMBDA_LIMIT_MB} MB for a function with all its layers.",
        "",
    ]
    out += markdown.table(
        ["function", "code MB", "layers MB", "total MB", "% of 250 MB", "goal", "met?"],
        [
            [
                row.function,
                f"{row.code_mb:.2f}",
                _mb(row.layers_mb),
                _mb(row.total_mb),
                f"{row.total_mb / sizes.LAMBDA_LIMIT_MB:.0%}",
                f"<= {row.budget_mb} MB",
                markdown.met(row.met),
            ]
            for row in rows
        ],
    )
    largest = max(row.total_mb for row in rows)
    layer = sizes.SMALLEST_PUBLISHED_LAYER
    out += [
        "",
        f"Naive package ({', '.join(naive.requirements)}; {naive.platform} wheels, byte-compiled):"
        f" **{naive.mb:.0f} MB**, {naive.mb / sizes.LAMBDA_LIMIT_MB:.1f}x Lambda's {sizes.LAMBDA_LIMIT_MB} MB"
        f" limit ({'over' if naive.mb > sizes.LAMBDA_LIMIT_MB else 'under'} it) and"
        f" {naive.mb / largest:.0f}x the largest function here ({largest:.1f} MB); {naive.note}."
        " What pulled in what (each installed distribution counted once, under the first requirement"
        " whose dependencies reach it; the chain is how it was reached; the five largest of each):",
        "",
        *markdown.table(
            ["requirement", "MB it brought", "distributions", "largest (MB, pulled in by)"],
            _pulled_rows(naive),
        ),
        "",
        f"Smallest published layer we can cite with pandas + pyarrow: {layer.name}, {layer.mb:.0f} MB"
        f" unzipped ({layer.what}; quoted from {layer.source}, {layer.date}; not measured here):"
        f" {layer.mb / sizes.LAMBDA_LIMIT_MB:.0%} of the limit before the connector, and"
        f" {layer.mb / largest:.0f}x the largest function here.",
        "",
    ]
    return out


def _pulled_rows(naive: sizes.NaivePackage) -> list[list[str]]:
    rows = []
    for requirement, pulled in naive.pulled.items():
        if not pulled:  # all of it already brought in by an earlier requirement
            continue
        rows.append(
            [
                f"`{requirement}`",
                f"{sum(item.size for item in pulled) / sizes.MB:.1f}",
                str(len(pulled)),
                "; ".join(
                    f"{item.name} {item.version} {item.size / sizes.MB:.1f}"
                    + (f" ({' -> '.join(item.chain[:-1])})" if len(item.chain) > 1 else "")
                    for item in pulled[:5]
                ),
            ]
        )
    return rows


def memory_section(results: object, memory_rows: list[int]) -> list[str]:
    from bench.sandbox_bench import MEMORY_ROWS_PER_FILE, SandboxResults

    assert isinstance(results, SandboxResults)
    runs = [run for run in results.runs if run.transactions in memory_rows and run.replays]
    if not runs:
        return []
    functions = sorted({replay.function for run in runs for replay in run.replays})
    header = [
        "function",
        *(f"{run.transactions:,} tx ({run.rows_scored:,} scored, {run.files:,} files)" for run in runs),
    ]
    header += ["largest / smallest", "goal", "met?", "traced peak in the call (KB)"]
    body = []
    for function in functions:
        peaks, traced = [], []
        for run in runs:
            found = [replay for replay in run.replays if replay.function == function]
            peaks.append(max(replay.peak_rss_mb for replay in found) if found else float("nan"))
            traced.append(max(replay.call_traced_peak_kb for replay in found) if found else 0)
        verdict = verdicts.memory_flatness(peaks)
        body.append(
            [
                function,
                *("not invoked" if math.isnan(peak) else f"{peak:.1f} MB" for peak in peaks),
                f"{verdict.value:.3f}",
                f"<= {verdicts.MEMORY_GOAL}",
                markdown.met(verdict.met) + (f" ({verdict.why})" if verdict.why else ""),
                " / ".join(
                    "-" if math.isnan(peak) else str(t) for peak, t in zip(peaks, traced, strict=True)
                ),
            ]
        )
    errors = [
        f"{replay.function} at {replay.rows:,}: {replay.error}"
        for run in runs
        for replay in run.replays
        if replay.errored
    ]
    smallest, largest = runs[0], runs[-1]
    out = [
        "## 3. Memory flatness",
        "",
        "Peak RSS (VmHWM) of each Lambda over exports that grow in rows and in files: the sample"
        " generator's transactions, exported at a fixed"
        f" {MEMORY_ROWS_PER_FILE:,} rows per file, so a larger export is more rows, more files, more"
        f" keys and a larger manifest ({smallest.files:,} files and a {smallest.manifest_bytes:,}-byte"
        f" manifest at {smallest.transactions:,} transactions; {largest.files:,} files and"
        f" {largest.manifest_bytes:,} bytes at {largest.transactions:,}). Each function's recorded"
        " event from the real sandbox run is replayed in a fresh interpreter, with the function's"
        " environment and only the packages it has on Lambda (`bench/lambda_packages.py`), against the"
        " still-running sandbox (`bench/replay_child.py`); the last column is"
        " the tracemalloc peak of the handler call alone, per size. Goal: largest / smallest <= 1.1 per"
        " function (`bench/verdicts.py`, `memory_flatness`; `tests/bench/test_memory_check.py` shows"
        " a handler that reads every export file into memory failing it). A function a run did not"
        " invoke at some size (PublishModelFunction runs only when the gate promotes the model) shows"
        ' "not invoked" there; its verdict is over the sizes where it ran, which must include the'
        " smallest and the largest.",
        "",
    ]
    out += markdown.table(header, body)
    if errors:
        out += ["", "Replays that raised (their memory still counts): " + "; ".join(errors)]
    out.append("")
    return out


def payload_section(results: object) -> list[str]:
    from bench.sandbox_bench import SandboxResults

    assert isinstance(results, SandboxResults)
    if not results.payloads:
        return []
    smallest = results.payloads[0].largest_bytes
    body = []
    for item in results.payloads:
        files = sum(item.files.values())
        growth = item.largest_bytes / smallest
        body.append(
            [
                f"{files:,} ({item.files['train']}/{item.files['validation']}/{item.files['score']})",
                f"{item.manifest_bytes:,}",
                item.status + (f" ({item.failed_state}: {item.error})" if item.status != "SUCCEEDED" else ""),
                f"{item.largest_bytes:,} B",
                item.largest_state,
                f"{growth:.3f}x",
                "< 16 KB, no growth",
                markdown.met(item.largest_bytes < 16 * 1024 and growth <= 1.1),
            ]
        )
    top = max(item.target_files for item in results.payloads)
    return [
        "## 4. Payload flatness",
        "",
        f"One dataset ({results.payload_merchants:,} merchants) exported in 1 file per section, then"
        f" in about {', '.join(f'{item.target_files:,}' for item in results.payloads[1:])} files in all"
        " (`export_dataset(..., rows_per_file=N)`), each a full run; the largest state input or output"
        " in the execution history"
        " (`includeExecutionData`). Step Functions' limit is 256 KB. Goal: < 16 KB and not growing"
        " with the file count (growth = largest / largest at 1 file per section <= 1.1).",
        "",
        *markdown.table(
            [
                "files (train/validation/score)",
                "manifest bytes",
                "run",
                "largest state I/O",
                "where",
                "growth",
                "goal",
                "met?",
            ],
            body,
        ),
        "",
        *(
            [
                f"This run stops at ~{top:,} files. Larger: `python -m bench --only sandbox"
                " --payload-files 1,100,10000`.",
                "",
            ]
            if top < 10_000
            else []
        ),
        *earlier.lines_for("payload", top),
    ]


def _comparison_rows(comparisons: Sequence[object]) -> list[list[str]]:
    from bench.sandbox_bench import Comparison

    rows = []
    for c in comparisons:
        assert isinstance(c, Comparison)
        rows.append(
            [
                c.what,
                f"{median(c.emulator) * 1000:.1f}",
                f"{median(c.bare) * 1000:.1f}",
                f"{c.ratio:.2f}x",
                f"<= {c.goal}x" if c.goal else "none (diagnostic)",
                markdown.met(verdicts.job_overhead(median(c.emulator), median(c.bare), c.goal).met)
                if c.goal
                else "",
            ]
        )
    return rows


def comparison_note(comparisons: Sequence[object]) -> str:
    """Why the comparison's size is enough: how the bare training's time splits, and how far the
    ratio of one run's pair strays from the medians' ratio."""
    from bench.sandbox_bench import Comparison

    found = [c for c in comparisons if isinstance(c, Comparison)]
    if len(found) < 2 or not found[0].bare:
        return ""
    wall, compute = found[0], found[1]
    share = median(compute.bare) / median(wall.bare)
    spreads = []
    for c in found:
        if c.goal is None:
            continue
        pairs = [job / plain for job, plain in zip(c.emulator, c.bare, strict=True) if plain > 0]
        spreads.append(f"{c.what.split(':')[0]} {min(pairs):.2f}x to {max(pairs):.2f}x")
    return (
        f"In the bare training, `xgb.train` is {share:.0%} of the wall time and reading, parsing and"
        " writing the rest, so a regression in either the emulator's data path or its training call"
        " moves the ratio. One run's pair (emulator / bare, same attempt) ranged: " + "; ".join(spreads) + "."
    )


def _run_row(run: RunFigures) -> list[str]:
    wall = run.wall_seconds
    return [
        run.dataset,
        f"{run.transactions:,}",
        f"{run.rows_trained:,}",
        f"{run.rows_scored:,}",
        f"{run.files:,}",
        f"{run.export_bytes / 1e6:.2f}",
        run.status,
        f"{wall:.2f}",
        f"{run.training_compute:.3f} ({run.training_compute / wall:.1%})",
        f"{run.transform_compute:.3f} ({run.transform_compute / wall:.1%})",
        f"{run.other_seconds:.2f} ({run.other_seconds / wall:.1%})",
    ]


def state_table(runs: Sequence[RunFigures]) -> list[str]:
    """Where the loop's time goes, per run: the export, each state's span, and the rest."""
    states: list[str] = []
    for run in runs:
        states += [name for name in run.state_seconds if name not in states]
    body = [["export (EXPORT_DATASET to S3)", *(f"{run.export_seconds:.2f}" for run in runs)]]
    body += [
        [f"state {name}", *(f"{run.state_seconds.get(name, 0.0):.2f}" for run in runs)] for name in states
    ]
    body.append(
        [
            "rest (event delivery, start, polling, reading predictions back)",
            *(f"{run.wall_seconds - run.export_seconds - run.execution_seconds:.2f}" for run in runs),
        ]
    )
    body.append(["**wall**", *(f"**{run.wall_seconds:.2f}**" for run in runs)])
    body.append(
        [
            "of which training + transform compute",
            *(f"{run.training_compute + run.transform_compute:.2f}" for run in runs),
        ]
    )
    return markdown.table(["seconds", *(f"{run.dataset} {run.transactions:,}" for run in runs)], body)


def e2e_section(results: object, e2e_rows: list[int]) -> list[str]:
    from bench.sandbox_bench import LARGE_ROUNDS, TXN_DATASET, SandboxResults

    assert isinstance(results, SandboxResults)
    runs = list(results.runs) + list(results.txn_runs)
    if not runs:
        return []
    series = sorted(results.runs, key=lambda run: run.transactions)
    checks: list[list[str]] = []
    if series:
        smallest, largest = series[0], series[-1]
        fixed = verdicts.fixed_cost(smallest.other_seconds)
        warm = (
            f"; the sandbox's first run before it, same size, {results.warmup.other_seconds:.2f} s"
            if results.warmup
            else ""
        )
        checks.append(
            [
                f"(a) the loop's fixed cost: wall minus training and transform compute at"
                f" {smallest.transactions:,} transactions{warm}",
                f"{fixed.value:.2f} s",
                f"<= {verdicts.FIXED_COST_GOAL_SECONDS} s on 2 cores",
                markdown.met(fixed.met),
            ]
        )
        if largest is not smallest:
            grown = verdicts.growth(
                smallest.other_seconds, largest.other_seconds, smallest.export_bytes, largest.export_bytes
            )
            checks.append(
                [
                    f"(b) its growth from {smallest.transactions:,} to {largest.transactions:,}"
                    f" transactions against the export's ({smallest.export_bytes:,} ->"
                    f" {largest.export_bytes:,} bytes): {grown.why}",
                    f"{grown.value:.4f}",
                    "<= 1 (no steeper than the export)",
                    markdown.met(grown.met),
                ]
            )
    comparisons = _comparison_rows(results.comparisons)
    large = _comparison_rows(results.large)
    repeats = len(results.comparisons[0].emulator) if results.comparisons else 0
    large_repeats = len(results.large[0].emulator) if results.large else 0
    rows, features = results.large_shape
    return [
        "## 5. Sandbox end to end",
        "",
        "Wall time of one run (EXPORT_DATASET, the S3 event, the whole execution, reading the"
        " predictions back; `pipeline_run.run_from_export` with the export's rows per file fixed"
        " by the bench)"
        " split into the emulator's training compute (`xgboost.train`), its transform compute"
        " (`Booster.inplace_predict`) and the loop's own cost, everything else (moto, fakesnow,"
        " Lambda handlers, Step Functions polling, S3 transfers, CSV parsing). Two datasets:"
        " `merchant_risk` (the sample dataset, one row per merchant) and"
        f" `{TXN_DATASET}` (`snowflake/examples/txn_refund.sql`, one row per transaction), the latter in"
        " its own sandbox set up as `python -m sandbox run --setup-sql snowflake/examples/txn_refund.sql"
        f" --dataset {TXN_DATASET} --sample-rows N` does (its ML_DATASETS row sets its own threshold)."
        " The merchant_risk rows are the memory"
        " benchmark's runs.",
        "",
        *markdown.table(
            [
                "dataset",
                "transactions",
                "rows trained",
                "rows scored",
                "files",
                "export MB",
                "status",
                "wall s",
                "training compute s",
                "transform compute s",
                "loop's own cost s",
            ],
            [_run_row(run) for run in runs],
        ),
        "",
        "Goals on the merchant_risk series (`bench/verdicts.py`: `fixed_cost`, `growth`). The fixed"
        f" cost's goal is stated for 2 cores (this machine: {os.cpu_count()}).",
        "",
        *markdown.table(["check", "measured", "goal", "met?"], checks),
        "",
        "### (c) Where the time goes, per state",
        "",
        "Seconds per state from the execution history (state entered -> exited; a state entered"
        " more than once summed), the export before the execution and the rest of the wall time:",
        "",
        *state_table(runs),
        "",
        "### Emulator jobs vs bare equivalents",
        "",
        "`bench/bare.py` does each job's work with plain pyarrow + xgboost (no validation, job state,"
        " round log or SageMaker CSV contract), on the same S3 objects through the same boto3 client,"
        " with the same hyperparameters and the nthread the emulator picks (1 below 100k matrix"
        " values, else the CPU count; both sides). Both sides run the same xgboost: the emulator's"
        " jobs in its worker process of the image's environment (`sandbox/sagemaker/runner.py`), the"
        " bare code in a worker process of that same environment (`bench/bare_worker.py`: plain"
        " `xgb.train`, `inplace_predict`), both warm before the first timed job; the bare transform"
        " scores the emulator's model. As run:"
        f" {results.xgboost_versions}. Both sides are timed by the same wall clock"
        " around the same work: the emulator from CreateTrainingJob / CreateTransformJob (the job"
        " submitted) until the job has completed (`wait` returns), the bare code from starting its"
        " thread (it reads the inputs) until the thread has written the model / the predictions and"
        " ended. The bare transform loads the model from S3 too (the job does). Runs are interleaved"
        " in ABBA order (the emulator first on even attempts, the bare code on odd ones), each job on"
        " a fresh thread on both sides; figures are medians. The goals are on those wall times. The"
        " compute-only rows, without a goal, say where a difference comes from: the time inside"
        " `xgb.train` (the emulator adds the container's round monitor and early-stopping callback)"
        " and inside prediction (the container's `DMatrix` + `predict` against `inplace_predict`)."
        " The bare code does a subset of the job's work, so a ratio below 1 is the noise of this"
        " shared machine, not the emulator being faster.",
        "",
        f"Sample run: the {results.comparison_rows:,}-transaction merchant_risk run's jobs,"
        f" re-run {repeats} times (rounds trained: {results.comparison_rounds}):",
        "",
        *markdown.table(["what", "emulator ms", "bare ms", "ratio", "goal", "met?"], comparisons),
        "",
        comparison_note(results.comparisons),
        "",
        *(
            [
                f"Larger matrix: synthetic, {rows:,} training rows x {features} features (+ {rows // 4:,}"
                f" validation rows), {rows:,} rows scored; the sample run's requests and"
                f" hyperparameters with num_round {LARGE_ROUNDS}; {large_repeats} runs each (rounds"
                f" trained: {results.large_rounds}):",
                "",
                *markdown.table(["what", "emulator ms", "bare ms", "ratio", "goal", "met?"], large),
                "",
                comparison_note(results.large),
                "",
            ]
            if results.large
            else []
        ),
    ]


def cost_section(results: object, e2e_rows: list[int]) -> list[str]:
    from bench import run_cost
    from bench.sandbox_bench import SandboxResults

    assert isinstance(results, SandboxResults)
    runs = [
        (run.transactions, run.transitions, run.cost) for run in results.runs if run.transactions in e2e_rows
    ]
    return run_cost.billed_section(runs, markdown.table)


def tuning_cost_phase(args: argparse.Namespace, seconds: dict[str, float]) -> list[str]:
    from bench import run_cost

    if args.tuning_trials < 1:
        return []
    print(f"bench: a tuning run's cost ({args.tuning_trials} trials)", file=sys.stderr, flush=True)
    started = time.perf_counter()
    run = run_cost.run_tuning(args.tuning_rows, args.tuning_trials)
    lines = run_cost.tuning_section(run, markdown.table)
    seconds["tuning cost"] = time.perf_counter() - started
    return lines


def sizes_phase(args: argparse.Namespace, seconds: dict[str, float]) -> list[str]:
    print("bench: package sizes (sam build, naive package)", file=sys.stderr, flush=True)
    started = time.perf_counter()
    size_rows, naive, build_seconds = sizes.run()
    seconds["package sizes"] = time.perf_counter() - started
    return sizes_section(size_rows, naive, build_seconds)


def coldstart_phase(args: argparse.Namespace, seconds: dict[str, float]) -> list[str]:
    print("bench: cold start", file=sys.stderr, flush=True)
    started = time.perf_counter()
    found = coldstart.run(samples=args.samples)
    seconds["cold start"] = time.perf_counter() - started
    return coldstart_section(found, args.samples)


def sandbox_phase(args: argparse.Namespace, seconds: dict[str, float]) -> list[str]:
    from bench import sandbox_bench

    print("bench: sandbox runs (memory, end to end, cost, payload)", file=sys.stderr, flush=True)
    started = time.perf_counter()
    results = sandbox_bench.run(
        args.memory_rows,
        args.e2e_rows,
        args.payload_files,
        args.repeats,
        large_rows=args.large_rows,
        large_repeats=args.large_repeats,
        txn_rows=args.txn_rows,
    )
    seconds["sandbox runs"] = time.perf_counter() - started
    seconds.update({f"  of which {name}": value for name, value in results.seconds.items()})
    return [
        *memory_section(results, args.memory_rows),
        *payload_section(results),
        *e2e_section(results, args.e2e_rows),
        *cost_section(results, args.e2e_rows),
    ]


def sql_scoring_phase(args: argparse.Namespace, seconds: dict[str, float]) -> list[str]:
    from bench import sql_scoring

    if not args.sql_rows:
        return []
    print("bench: scoring in SQL vs the batch transform", file=sys.stderr, flush=True)
    started = time.perf_counter()
    lines = sql_scoring.section(sql_scoring.run(args.sql_rows), markdown.table)
    seconds["sql scoring"] = time.perf_counter() - started
    return lines


@dataclass(frozen=True)
class Phase:
    """One phase of ``make bench``: ``run`` measures, records its seconds and returns its section."""

    name: str  # for --only / --skip
    run: Callable[[argparse.Namespace, dict[str, float]], list[str]]
    position: int  # where its section goes in the document (phases run in PHASES' order)


# Run order: the short sizes phase first, the sandbox's long runs last. A new phase: a module
# bench/<name>.py, its size options in build_parser, and one entry here (see bench/README.md, "__main__.py").
PHASES = (
    Phase("sizes", sizes_phase, position=20),
    Phase("coldstart", coldstart_phase, position=10),
    Phase("sandbox", sandbox_phase, position=30),
    Phase("sqlscoring", sql_scoring_phase, position=70),
    Phase("engines", engines.phase, position=80),
    Phase("scoringengines", scoring_engines.phase, position=90),
    Phase("tuningcost", tuning_cost_phase, position=60),  # section 6, after the runs' cost
)
PHASE_NAMES = tuple(phase.name for phase in PHASES)


def chosen_phases(only: str, skip: str) -> list[Phase]:
    """The phases ``--only`` names (all when empty) minus those ``--skip`` names; ValueError on a typo."""
    named = {part.strip() for text in (only, skip) for part in text.split(",") if part.strip()}
    unknown = named - set(PHASE_NAMES)
    if unknown:
        raise ValueError(
            f"unknown phase(s): {', '.join(sorted(unknown))}; choose from {', '.join(PHASE_NAMES)}"
        )
    wanted = {part.strip() for part in only.split(",") if part.strip()} or set(PHASE_NAMES)
    skipped = {part.strip() for part in skip.split(",") if part.strip()}
    return [phase for phase in PHASES if phase.name in wanted - skipped]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        phases = chosen_phases(args.only, args.skip)
    except ValueError as error:
        print(error, file=sys.stderr)
        return 2
    if args.samples < coldstart.MIN_SAMPLES:
        print(f"--samples must be at least {coldstart.MIN_SAMPLES}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.ERROR)
    from sandbox.services import quiet_services

    quiet_services(logging.ERROR)

    started_at = markdown.now()
    load_at_start = markdown.load_average()
    started = time.perf_counter()
    seconds: dict[str, float] = {}
    measured = [(phase.position, phase.run(args, seconds)) for phase in phases]
    sections = [line for _, lines in sorted(measured, key=lambda item: item[0]) for line in lines]

    total = time.perf_counter() - started
    command = (
        "make bench" if argv is None and sys.argv[1:] == [] else "python -m bench " + " ".join(sys.argv[1:])
    )
    doc = [
        "# Benchmarks",
        "",
        "Generated by `make bench` (`.venv/bin/python -m bench`, source in `bench/`); do not edit by hand.",
        "",
        *markdown.machine_section(started_at, load_at_start),
        f"- Command: `{command}`; phases: {', '.join(phase.name for phase in phases)}",
        "",
        "Reproduce: `make bench` (or `PYTHONPATH=.:layers/common .venv/bin/python -m bench --help` for"
        " the options: sizes, sample counts, payload file counts).",
        "",
        "## Duration of this run",
        "",
        *markdown.table(["phase", "seconds"], [[name, f"{value:.0f}"] for name, value in seconds.items()]),
        "",
        f"Total **{total / 60:.1f} min** (goal: < {BUDGET_MINUTES} min on 2 cores:"
        f" {markdown.met(total < BUDGET_MINUTES * 60)}). The naive package of benchmark 2 is installed once"
        " and cached under build/bench/ (a first run adds its pip downloads to this figure). The default"
        " sizes and sample counts keep the run within that budget; each section says why its size is"
        " enough for a regression to flip its verdict, and `--help` lists the options for larger runs.",
        "",
        *sections,
    ]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    previous = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
    # make bench-scale's rows (section 4) and PrepareRun's sizing are measured by their own
    # commands: kept as they wrote them.
    text = scale.keep_block(previous, "\n".join(doc).rstrip() + "\n")
    args.output.write_text(prepare_sizing.keep_block(previous, text), encoding="utf-8")
    print(f"bench: wrote {args.output} in {total / 60:.1f} min", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
