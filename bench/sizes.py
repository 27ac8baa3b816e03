"""Package size: each built function's unzipped code + layers, against the budgets and a naive package.

Details: bench/README.md, "sizes.py".
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.pulled_in import Pulled, attribute, read_tree
from tooling.lambda_functions import ROOT

MB = 1_000_000
LAMBDA_LIMIT_MB = 250
PIP_PLATFORM = [
    "--platform",
    "manylinux2014_aarch64",
    "--only-binary=:all:",
    "--python-version",
    "3.12",
    "--implementation",
    "cp",
]
CONNECTOR_PIN = "snowflake-connector-python[pandas]==4.8.1"
# requirements/dev.in pins sagemaker-core==2.27.0 (the tooling's SageMaker SDK); the SDK release
# built on it is sagemaker 3.27.0 (its Requires-Dist: sagemaker-core>=2.27.0,<3).
SAGEMAKER_PIN = "sagemaker==3.27.0"
NAIVE_REQUIREMENTS = [CONNECTOR_PIN, SAGEMAKER_PIN]


@dataclass(frozen=True)
class PublishedLayer:
    """The smallest published layer we can cite that carries what the naive package needs most
    (pandas + pyarrow + numpy): quoted, not measured here."""

    name: str
    mb: float
    what: str
    source: str
    date: str


SMALLEST_PUBLISHED_LAYER = PublishedLayer(
    name="AWS SDK for pandas (awswrangler) managed layer 3.16.0",
    mb=167,
    what="awswrangler with pandas, pyarrow and numpy; no Snowflake connector, no SageMaker SDK",
    source="github.com/aws/aws-sdk-pandas/issues/3331 (`du` of the unzipped layers: 167M for 3.15.1 and"
    " 3.16.0, 204M for 3.16.1)",
    date="2026-05-11",
)
CACHE = ROOT / "build" / "bench"


@dataclass
class SizeRow:
    function: str
    code_mb: float
    layers_mb: float
    total_mb: float
    budget_mb: int

    @property
    def met(self) -> bool:
        return self.total_mb <= self.budget_mb


@dataclass
class NaivePackage:
    requirements: list[str]
    platform: str
    mb: float
    note: str
    pulled: dict[str, list[Pulled]] = field(default_factory=dict)


def tree_size(path: Path) -> int:
    return sum(item.stat().st_size for item in path.rglob("*") if item.is_file() and not item.is_symlink())


def sam_build(build_dir: Path) -> float:
    """``sam build`` into ``build_dir`` (python3.12 of the venv first on PATH, as ``make build``)."""
    venv_bin = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{venv_bin}:{os.environ.get('PATH', '')}", "SAM_CLI_TELEMETRY": "0"}
    started = time.perf_counter()
    subprocess.run(
        [str(venv_bin / "sam"), "build", "--build-dir", str(build_dir)],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def built_sizes(build_dir: Path) -> list[SizeRow]:
    from scripts.sizes import report  # the `make sizes` report

    rows, _ = report(build_dir)
    return [
        SizeRow(name, code / MB, layers / MB, total / MB, budget)
        for name, code, layers, total, budget in rows
    ]


def _pip_target(target: Path, requirements: list[str], platform: list[str]) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-compile",
            *platform,
            "--target",
            str(target),
            *requirements,
        ],
        check=True,
        capture_output=True,
    )
    shutil.rmtree(target / "bin", ignore_errors=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "compileall",
            "-q",
            "-j0",
            "--invalidation-mode",
            "unchecked-hash",
            str(target),
        ],
        check=True,
        capture_output=True,
    )


def naive_package() -> NaivePackage:
    """Install (once, cached) and measure the naive package."""
    common = [
        line.strip()
        for line in (ROOT / "layers" / "common" / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    requirements = common + NAIVE_REQUIREMENTS
    key = hashlib.sha256("\n".join(requirements).encode()).hexdigest()[:12]
    for platform, label in ((PIP_PLATFORM, "manylinux2014_aarch64"), ([], "host (x86_64)")):
        target = CACHE / f"naive-{label.split()[0]}-{key}"
        if not (target / ".complete").exists():
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir(parents=True)
            try:
                _pip_target(target, requirements, platform)
            except subprocess.CalledProcessError as error:
                shutil.rmtree(target, ignore_errors=True)
                print(f"  naive package for {label} failed: {error.stderr[-500:]!r}", file=sys.stderr)
                continue
            (target / ".complete").write_text("ok\n")
        size = tree_size(target) - (target / ".complete").stat().st_size
        return NaivePackage(
            requirements=[*NAIVE_REQUIREMENTS, "+ the common layer's requirements"],
            platform=label,
            mb=size / MB,
            note=f"pip install --target, cached in {target.relative_to(ROOT)}",
            pulled=attribute(read_tree(target), requirements),
        )
    raise RuntimeError("the naive package could not be installed for any platform")


def run() -> tuple[list[SizeRow], NaivePackage, float]:
    with tempfile.TemporaryDirectory(prefix="snowsage-bench-build-") as scratch:
        build_dir = Path(scratch) / "build"
        seconds = sam_build(build_dir)
        rows = built_sizes(build_dir)
    return rows, naive_package(), seconds
