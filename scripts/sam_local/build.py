"""`sam build` for this machine's instruction set, into build/sam-local/ (the arm64 build stays in .aws-sam/).

The template's Architecture parameter and the layer Makefiles' LAMBDA_ARCHITECTURE get the same
value, so the functions, the layers' wheels and the runtime interface emulator agree.
"""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "build" / "sam-local"
# Lambda's names for the two instruction sets, from the machine's.
ARCHITECTURES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}


def local_architecture() -> str:
    machine = platform.machine().lower()
    if machine not in ARCHITECTURES:
        raise RuntimeError(f"Lambda runs x86_64 or arm64; this machine is {machine}")
    return ARCHITECTURES[machine]


def parameter_overrides() -> list[str]:
    """What every sam command of the local run passes: the template's Architecture for this machine."""
    return ["--parameter-overrides", f"Architecture={local_architecture()}"]


def sam_build(venv_bin: Path, build_dir: Path = BUILD) -> Path:
    """Build with the venv's python3.12 first on PATH (as `make build`); the built template's path."""
    environment = {
        **os.environ,
        "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
        "LAMBDA_ARCHITECTURE": local_architecture(),
        "SAM_CLI_TELEMETRY": "0",
    }
    completed = subprocess.run(  # noqa: PLW1510 - the output says what failed
        [
            str(venv_bin / "sam"),
            "build",
            "--build-dir",
            str(build_dir / "build"),
            # A cache per architecture: sam's cache keys ignore LAMBDA_ARCHITECTURE, and samconfig.toml's
            # cached builds must never hand arm64 layers to this one.
            "--cache-dir",
            str(build_dir / f"cache-{local_architecture()}"),
            *parameter_overrides(),
        ],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"sam build failed ({completed.returncode}):\n{completed.stdout[-4000:]}")
    return build_dir / "build" / "template.yaml"
