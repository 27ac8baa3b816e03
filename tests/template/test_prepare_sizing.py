"""PrepareRun's memory and timeout hold the export the project measures (bench-scale's 100,000 files).

The estimate is bench/prepare_sizing.py's: the CPU seconds measured for the listing, at the vCPU share
Lambda gives the function's memory (one vCPU at 1,769 MB; lambda/latest/dg/configuration-memory), plus
S3's time per page of 1,000 keys; doubled, it must fit the Timeout."""

from __future__ import annotations

import re

from bench import prepare_sizing as sizing
from tests.template.template_model import ROOT, functions


def _prepare() -> tuple[int, int]:
    prepare = functions()["PrepareRunFunction"]
    return prepare.memory_mb, prepare.timeout_seconds


def _estimate(files: int, memory_mb: int) -> float:
    return sizing.estimate_seconds(
        files, memory_mb, sizing.MEASURED_FIXED_CPU_SECONDS, sizing.MEASURED_CPU_SECONDS_PER_FILE
    )


def test_prepare_run_is_sized_for_the_largest_export_measured() -> None:
    memory_mb, timeout = _prepare()
    estimate = _estimate(sizing.REQUIRED_FILES, memory_mb)
    assert estimate * sizing.SAFETY <= timeout, (
        f"PrepareRun at {memory_mb} MB is estimated at {estimate:.0f} s for {sizing.REQUIRED_FILES:,} files;"
        f" doubled it exceeds its Timeout {timeout} s (docs/benchmarks.md, {sizing.HEADING!r})"
    )


def test_the_cpu_share_follows_memory_up_to_one_vcpu() -> None:
    assert sizing.share(256) == 256 / 1769
    assert sizing.share(1769) == sizing.share(3008) == 1.0
    assert _estimate(100_000, 256) > 2 * _estimate(100_000, 1024)  # 256 MB: a seventh of a vCPU


def test_the_document_states_the_largest_export_the_template_is_sized_for() -> None:
    memory_mb, timeout = _prepare()
    largest = sizing.largest_export(
        memory_mb, timeout, sizing.MEASURED_FIXED_CPU_SECONDS, sizing.MEASURED_CPU_SECONDS_PER_FILE
    )
    text = (ROOT / "docs" / "benchmarks.md").read_text()
    block = text[text.index(sizing.BEGIN) : text.index(sizing.END)]
    sized = f"PrepareRun is now {memory_mb} MB, timeout {timeout} s"
    assert f"{sized}: sized for exports of up to **{largest:,} files**" in block
    fitted = re.search(r"Fitted: ([\d.]+) CPU s fixed \+ ([\d.]+) CPU s per 1,000 files", block)
    assert fitted is not None
    fixed, per_thousand = fitted.groups()
    assert float(fixed) == round(sizing.MEASURED_FIXED_CPU_SECONDS, 2)
    assert float(per_thousand) == round(sizing.MEASURED_CPU_SECONDS_PER_FILE * 1000, 3)
