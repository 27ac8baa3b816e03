"""``python -m bench.prepare_sizing``: PrepareRun's memory and timeout, sized from a measurement.

Details: bench/README.md, "prepare_sizing.py".
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DOCUMENT = ROOT / "docs" / "benchmarks.md"
BEGIN = "<!-- prepare-sizing: begin (written by `python -m bench.prepare_sizing`) -->"
END = "<!-- prepare-sizing: end -->"
FULL_VCPU_MB = 1769  # configuration-memory: "at 1,769 MB, a function has the equivalent of one vCPU"
PAGE_KEYS = 1000  # API_ListObjectsV2: MaxKeys at most 1,000
PAGE_LATENCY_SECONDS = 0.2  # S3 performance guidelines: 100-200 ms per small request
SAFETY = 2.0  # the estimate, doubled, must fit the Timeout
SECTIONS = ("train", "validation", "score")

# The measurement the template is held to (tests/template/test_prepare_sizing.py): the figures
# `python -m bench.prepare_sizing --sizes 5000,20000` printed and wrote into docs/benchmarks.md.
MEASURED_FIXED_CPU_SECONDS = 0.178
MEASURED_CPU_SECONDS_PER_FILE = 0.0001539
# The export the sizing must hold: bench-scale's (docs/benchmarks.md, section 4), 100,041 files.
REQUIRED_FILES = 100_000


@dataclass(frozen=True)
class Sample:
    files: int
    call_cpu_seconds: float
    call_seconds: float
    peak_rss_mb: float


def share(memory_mb: int) -> float:
    """The vCPU share Lambda gives a function of ``memory_mb`` (one vCPU at 1,769 MB)."""
    return min(1.0, memory_mb / FULL_VCPU_MB)


def estimate_seconds(files: int, memory_mb: int, fixed_cpu: float, per_file_cpu: float) -> float:
    """PrepareRun's duration on Lambda for an export of ``files`` data files (the model above)."""
    pages = sum(math.ceil(part / PAGE_KEYS) for part in _sections(files))
    return (fixed_cpu + per_file_cpu * files) / share(memory_mb) + pages * PAGE_LATENCY_SECONDS


def largest_export(memory_mb: int, timeout_seconds: int, fixed_cpu: float, per_file_cpu: float) -> int:
    """The most files whose estimate, times SAFETY, fits ``timeout_seconds`` (to the 1,000 below)."""
    files = 0
    while estimate_seconds(files + 1000, memory_mb, fixed_cpu, per_file_cpu) * SAFETY <= timeout_seconds:
        files += 1000
    return files


def _sections(files: int) -> list[int]:
    """An export's files by section, as the sample splits them (train 35.5 %, validation 8.9 %)."""
    train, validation = round(files * 0.355), round(files * 0.089)
    return [train, validation, files - train - validation]


def fit(samples: list[Sample]) -> tuple[float, float]:
    """(fixed, per file) CPU seconds: the line through the smallest and the largest sample."""
    low, high = min(samples, key=lambda s: s.files), max(samples, key=lambda s: s.files)
    per_file = (high.call_cpu_seconds - low.call_cpu_seconds) / (high.files - low.files)
    return max(0.0, low.call_cpu_seconds - per_file * low.files), per_file


# --- the measurement (a running sandbox) ----------------------------------------------------------


def _scaled_export(sb: Any, manifest: dict[str, Any], files: int, export_id: str) -> str:
    """The sample export's files copied to ``files`` in all under a new export id; its manifest's URI."""
    s3 = sb.stand_in_s3()
    base = f"exports/{manifest['dataset']}/{export_id}/"
    scaled = {**manifest, "export_id": export_id}
    for section, count in zip(SECTIONS, _sections(files), strict=True):
        source = manifest[section]
        listed = s3.list_objects_v2(Bucket=sb.bucket, Prefix=source["prefix"])["Contents"]
        body = s3.get_object(Bucket=sb.bucket, Key=listed[0]["Key"])["Body"].read()
        prefix = f"{base}{section}/"
        for index in range(count):
            s3.put_object(Bucket=sb.bucket, Key=f"{prefix}data_{index:06d}.csv", Body=body)
        rows = int(source["rows"]) // len(listed)
        scaled[section] = {
            **source,
            "prefix": prefix,
            "files": count,
            "rows": rows * count,
            "bytes": len(body) * count,
        }
    key = f"{base}manifest.json"
    s3.put_object(Bucket=sb.bucket, Key=key, Body=json.dumps(scaled).encode())
    return f"s3://{sb.bucket}/{key}"


def measure(sizes: list[int]) -> list[Sample]:
    from bench import lambda_packages  # the sandbox only for the measurement
    from bench.sandbox_bench import _function_env, replay_module
    from sandbox import pipeline_run
    from sandbox.services import Sandbox
    from tooling.sample_data import SAMPLE_DATASET, load_sample_data

    samples = []
    with Sandbox() as sb:
        assert sb.runtime is not None
        with sb.snowflake_connection() as connection:
            load_sample_data(connection, 20_000, s3_client=sb.client("s3"), bucket=sb.bucket)
        # No run: the export's manifest event must start nothing (the rule keeps no targets).
        events = sb.client("events")
        for rule in events.list_rules()["Rules"]:
            if "aws.s3" not in rule.get("EventPattern", ""):
                continue
            targets = [t["Id"] for t in events.list_targets_by_rule(Rule=rule["Name"])["Targets"]]
            if targets:
                events.remove_targets(Rule=rule["Name"], Ids=targets)
        manifest = pipeline_run.export(sb, SAMPLE_DATASET, "sizing-sample", rows_per_file=1_000_000)
        physical = sb.deployed.resources["PrepareRunFunction"]
        spec = sb.runtime.functions[physical]
        module = spec.code_dir / (spec.handler.rpartition(".")[0].replace(".", "/") + ".py")
        environment = _function_env(sb, physical)
        for files in sizes:
            export_id = f"sizing-{files}"
            started = time.perf_counter()
            uri = _scaled_export(sb, manifest, files, export_id)
            _say(f"{files:,} files written in {time.perf_counter() - started:.0f} s; replaying PrepareRun")
            event = {
                "execution_name": f"{SAMPLE_DATASET}-{export_id}",
                "input": {"manifest": uri},
                "xgboost_image_uri": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
            }
            report = replay_module(
                module,
                [spec.code_dir, *spec.layer_dirs],
                environment,
                event,
                lambda_packages.blocked_modules(spec.layer_dirs),
            )
            if report["errored"]:
                raise RuntimeError(f"PrepareRun failed on {files} files: {report['error']}")
            samples.append(
                Sample(
                    files=files,
                    call_cpu_seconds=float(report["call_cpu_seconds"]),
                    call_seconds=float(report["call_seconds"]),
                    peak_rss_mb=report["peak_rss_kb"] / 1024,
                )
            )
            _say(f"{samples[-1]}")
    return samples


def _say(message: str) -> None:
    print(f"[prepare-sizing] {message}", file=sys.stderr, flush=True)


def document(samples: list[Sample], memory_mb: int, timeout_seconds: int, measured: str) -> str:
    fixed, per_file = fit(samples)
    largest = largest_export(memory_mb, timeout_seconds, fixed, per_file)
    rows = [
        f"| {s.files:,} | {s.call_cpu_seconds:.2f} | {s.call_seconds:.2f} | {s.peak_rss_mb:.0f} |"
        for s in samples
    ]
    at_256 = estimate_seconds(100_000, 256, fixed, per_file)
    return "\n".join(
        [
            BEGIN,
            "",
            "PrepareRun lists every export section: its time grows with the files, and Lambda gives it"
            ' CPU in proportion to its memory (one vCPU at 1,769 MB; Lambda developer guide, "Memory'
            ' and computing power"). Measured in one run (`python -m bench.prepare_sizing`): the'
            " handler replayed in a fresh interpreter on exports of N files (the sample export's files"
            " copied to N), its own CPU time (the listing's pages parsed by botocore; moto answers in"
            " another process):",
            "",
            "| files | CPU s (one core) | wall s | peak RSS MB |",
            "|---|---|---|---|",
            *rows,
            "",
            f"Fitted: {fixed:.2f} CPU s fixed + {per_file * 1000:.3f} CPU s per 1,000 files. On Lambda,"
            f" estimated: seconds = CPU s / min(1, memory / 1,769) + {PAGE_LATENCY_SECONDS} s per page"
            " of 1,000 keys (S3's 100-200 ms per request, the upper figure). An extrapolation beyond"
            f" {max(s.files for s in samples):,} files, with the per-file cost measured here.",
            "",
            f"At the old 256 MB an export of 100,000 files is estimated at {at_256:.0f} s (timeout 60 s)."
            f" PrepareRun is now {memory_mb} MB, timeout {timeout_seconds} s: sized for exports of up"
            f" to **{largest:,} files** (the estimate doubled fits the timeout). Measured {measured}.",
            "",
            END,
        ]
    )


HEADING = "## PrepareRun's size"


def write(text: str, block: str) -> str:
    if BEGIN in text and END in text:
        start, end = text.index(BEGIN), text.index(END) + len(END)
        return text[:start] + block + text[end:]
    return text.rstrip() + f"\n\n{HEADING}\n\n" + block + "\n"


def keep_block(old: str, new: str) -> str:
    """For ``make bench``: the regenerated document ``new`` with ``old``'s sizing block kept."""
    if BEGIN not in old or END not in old or BEGIN in new:
        return new
    return write(new, old[old.index(BEGIN) : old.index(END) + len(END)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.prepare_sizing", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--sizes", default="5000,20000", help="file counts, comma-separated")
    parser.add_argument("--output", type=Path, default=DOCUMENT)
    args = parser.parse_args(argv)
    samples = measure([int(size) for size in args.sizes.split(",")])
    from tooling.template import project

    prepare = project().functions["PrepareRunFunction"]
    measured = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    block = document(samples, prepare.memory_mb, prepare.timeout_seconds, measured)
    print(json.dumps([asdict(sample) for sample in samples]))
    fixed, per_file = fit(samples)
    print(json.dumps({"fixed_cpu_seconds": round(fixed, 3), "cpu_seconds_per_file": round(per_file, 7)}))
    text = args.output.read_text(encoding="utf-8")
    args.output.write_text(write(text, block), encoding="utf-8")
    _say(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
