"""``make bench-scale`` (``python -m bench.scale``): an export of 100,000 files, end to end in the sandbox.

Details: bench/README.md, "scale.py".
"""

from __future__ import annotations

import argparse
import json
import math
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.sandbox_bench import replay
from sandbox import pipeline_run
from sandbox.aws.executions import largest_state_io
from sandbox.services import Sandbox
from sandbox.snowflake.export import file_count
from tooling.sample_data import SAMPLE_DATASET, load_sample_data
from tooling.template import project

ROOT = Path(__file__).resolve().parents[1]
DOCUMENT = ROOT / "docs" / "benchmarks.md"
BEGIN = "<!-- bench-scale: begin (written by `make bench-scale`; `make bench` keeps it) -->"
END = "<!-- bench-scale: end -->"
SECTIONS = ("train", "validation", "score")
# A merchant is one score row and, when labelled, one train or validation row: ~1.8 files a
# merchant at one row per file (measured: 1,000 merchants -> 657 + 161 + 1,000 files).
FILES_PER_MERCHANT = 1.8
TRANSACTIONS_PER_MERCHANT = 20
EXECUTION_TIMEOUT = 4 * 3600.0  # a bound for the wait, not an expected time
HEADER = (
    "| files (train/validation/score) | manifest bytes | run | largest state I/O | where |"
    " PrepareRun s (timeout) | PrepareRun peak RSS MB (memory) | export s | execution s | longest states |"
    " measured |"
)
RULE = "|---|---|---|---|---|---|---|---|---|---|---|"


@dataclass
class ScaleFigures:
    files: dict[str, int]
    manifest_bytes: int
    status: str
    largest_bytes: int
    largest_state: str
    prepare_seconds: float | None
    prepare_timeout: int
    prepare_peak_rss_mb: float | None
    prepare_memory_mb: int
    export_seconds: float
    execution_seconds: float
    longest_states: list[tuple[str, float]]
    measured: str
    error: str | None = None

    @property
    def total_files(self) -> int:
        return sum(self.files.values())

    def row(self) -> str:
        files = "/".join(f"{self.files[name]:,}" for name in SECTIONS)
        status = self.status if self.error is None else f"{self.status} ({self.error})"
        prepare = "-" if self.prepare_seconds is None else f"{self.prepare_seconds:.1f}"
        rss = "-" if self.prepare_peak_rss_mb is None else f"{self.prepare_peak_rss_mb:.0f}"
        states = ", ".join(f"{name} {seconds:.0f}" for name, seconds in self.longest_states)
        return (
            f"| {self.total_files:,} ({files}) | {self.manifest_bytes:,} | {status}"
            f" | {self.largest_bytes:,} B | {self.largest_state} | {prepare} ({self.prepare_timeout})"
            f" | {rss} ({self.prepare_memory_mb})"
            f" | {self.export_seconds:.0f} | {self.execution_seconds:.0f} | {states} | {self.measured} |"
        )


def _say(message: str) -> None:
    print(f"[bench-scale] {message}", file=sys.stderr, flush=True)


def _commit() -> str:
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return f"{head or 'unknown'}{' (dirty)' if dirty else ''}"


def run(target_files: int) -> ScaleFigures:
    """Export about ``target_files`` data files and follow the run they start."""
    merchants = max(200, math.ceil(target_files / FILES_PER_MERCHANT))
    prepare = project().functions["PrepareRunFunction"]
    with Sandbox() as sb:
        with sb.snowflake_connection() as connection:
            load_sample_data(
                connection,
                merchants * TRANSACTIONS_PER_MERCHANT,
                s3_client=sb.client("s3"),
                bucket=sb.bucket,
                n_merchants=merchants,
            )
        _say(f"{merchants:,} merchants loaded; exporting at one row per file")
        started = time.perf_counter()
        manifest = pipeline_run.export(sb, SAMPLE_DATASET, f"scale-{target_files}", rows_per_file=1)
        export_seconds = time.perf_counter() - started
        files = {name: file_count(manifest[name]) for name in SECTIONS}
        _say(f"exported {sum(files.values()):,} files in {export_seconds:.0f} s; following the run")
        result = pipeline_run.follow_export(
            sb,
            manifest,
            on_state=lambda span: _say(f"state {span.name} {span.seconds or 0:.0f} s"),
            timeout=EXECUTION_TIMEOUT,
        )
        largest, where = largest_state_io(sb.client("stepfunctions"), result.execution.arn)
        spans = [(span.name, span.seconds) for span in result.execution.spans if span.seconds is not None]
        prepare_seconds = next((seconds for name, seconds in spans if name == "PrepareRun"), None)
        assert sb.runtime is not None
        physical = sb.deployed.resources["PrepareRunFunction"]
        invocation = next(i for i in sb.runtime.invocations if i.function == physical)
        _say("replaying PrepareRun's event in a fresh interpreter for its peak RSS")
        replayed = replay(sb, invocation, rows=manifest["score"]["rows"])
        return ScaleFigures(
            files=files,
            manifest_bytes=len(json.dumps(manifest).encode()),
            status=result.status,
            largest_bytes=largest,
            largest_state=where,
            prepare_seconds=prepare_seconds,
            prepare_timeout=prepare.timeout_seconds,
            prepare_peak_rss_mb=None if replayed.errored else replayed.peak_rss_mb,
            prepare_memory_mb=prepare.memory_mb,
            export_seconds=export_seconds,
            execution_seconds=result.timings.get("execution", 0.0),
            longest_states=sorted(spans, key=lambda item: -item[1])[:3],
            measured=f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {_commit()}",
            error=None
            if result.status == "SUCCEEDED"
            else f"{result.execution.failed_state}: {result.execution.error}",
        )


def block(rows: list[str]) -> str:
    """The marked block: what it measures, and one row per file count."""
    return "\n".join(
        [
            BEGIN,
            "",
            "**100,000 files** (`make bench-scale`, a separate target: it takes longer than `make bench`'s"
            " budget; `make bench-scale FILES=N` runs another count, each count its own row). The sample"
            " dataset exported at one row per file, then the run its manifest starts."
            " The manifest is version 2's summary (files, rows, bytes per section), so it does not grow"
            " with the files; PrepareRun walks each prefix with a paged listing (1,000 keys a call) and"
            " keeps a count and a sum. The production code (the Lambdas, the state machine) reaches S3"
            " over HTTP as on AWS; the sandbox's stand-ins (the export for Snowflake's unload, the SageMaker"
            " emulator, fakesnow's COPY INTO reading the stage) read and write moto's S3 in process"
            " (`sandbox/aws/moto_s3.py`), and fakesnow's COPY loads thousands of files a statement."
            " PrepareRun's peak RSS: its recorded event replayed in a fresh"
            " interpreter. Goal: SUCCEEDED, largest state I/O < 16 KB, PrepareRun within its timeout"
            " and memory.",
            "",
            HEADER,
            RULE,
            *rows,
            "",
            END,
        ]
    )


def _rows_in(text: str) -> dict[str, str]:
    """The block's rows now in ``text``, by their first cell's file count."""
    match = re.search(re.escape(BEGIN) + r"(.*?)" + re.escape(END), text, flags=re.S)
    if match is None:
        return {}
    rows = [line for line in match.group(1).splitlines() if re.match(r"\| [\d,]+ \(", line)]
    return {line.split(" ", 2)[1]: line for line in rows}


def write(text: str, figures: ScaleFigures) -> str:
    """``text`` with this run's row in the block (replacing a row of the same count)."""
    rows = _rows_in(text)
    rows[f"{figures.total_files:,}"] = figures.row()
    ordered = [rows[key] for key in sorted(rows, key=lambda key: int(key.replace(",", "")))]
    new_block = block(ordered)
    if BEGIN in text and END in text:
        start, end = text.index(BEGIN), text.index(END) + len(END)
        return text[:start] + new_block + text[end:]
    return _insert_in_file_counts(text, new_block)


def _insert_in_file_counts(text: str, new_block: str) -> str:
    """Put the block at the end of section 4 (file counts), before the next section."""
    heading = re.search(r"^## 4\..*$", text, flags=re.M)
    if heading is None:
        return text.rstrip() + "\n\n" + new_block + "\n"
    following = re.search(r"^## ", text[heading.end() :], flags=re.M)
    at = heading.end() + following.start() if following else len(text)
    return text[:at].rstrip() + "\n\n" + new_block + "\n\n" + text[at:]


def keep_block(old: str, new: str) -> str:
    """For ``make bench``: the regenerated document ``new`` with ``old``'s bench-scale block kept."""
    if BEGIN not in old or END not in old or BEGIN in new:
        return new
    kept = old[old.index(BEGIN) : old.index(END) + len(END)]
    return _insert_in_file_counts(new, kept)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100_000, help="about this many data files in all")
    parser.add_argument("--output", type=Path, default=DOCUMENT)
    args = parser.parse_args(argv)
    figures = run(args.files)
    _say(figures.row())
    text = args.output.read_text(encoding="utf-8") if args.output.exists() else "# Benchmarks\n"
    args.output.write_text(write(text, figures), encoding="utf-8")
    _say(f"wrote {args.output}")
    return 0 if figures.status == "SUCCEEDED" else 1


if __name__ == "__main__":
    sys.exit(main())
