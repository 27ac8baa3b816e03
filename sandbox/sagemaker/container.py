"""A training host as SageMaker runs the image: its own ``/opt/ml`` and the image's environment.

Details: sandbox/sagemaker/README.md, "container.py".
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess  # nosec B404: runs bubblewrap with the image's command, no shell
import tarfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox.sagemaker import runner, training
from sandbox.sagemaker.errors import FAILURE_FILE_LIMIT, JobFailure

OPT_ML = "/opt/ml"
POLL_SECONDS = 0.1
# API_StopTrainingJob: "SageMaker sends the algorithm the SIGTERM signal, which delays job termination
# for 120 seconds"; then SIGKILL.
STOP_GRACE_SECONDS = 120
# The image's own ENV lines (aws/sagemaker-xgboost-container 1.7-1, docker/1.7-1/final/Dockerfile.cpu;
# base/Dockerfile.cpu lines 41-45). SAGEMAKER_TRAINING_MODULE is the emulator's choice (see
# `environment`), not the image's.
IMAGE_ENVIRONMENT = {
    "SM_INPUT": f"{OPT_ML}/input",
    "SM_INPUT_TRAINING_CONFIG_FILE": f"{OPT_ML}/input/config/hyperparameters.json",
    "SM_INPUT_DATA_CONFIG_FILE": f"{OPT_ML}/input/config/inputdataconfig.json",
    "SM_CHECKPOINT_CONFIG_FILE": f"{OPT_ML}/input/config/checkpointconfig.json",
    "SM_MODEL_DIR": f"{OPT_ML}/model",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONUNBUFFERED": "1",
    "PYTHONIOENCODING": "utf-8",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
}
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
SANDBOX_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


@dataclass(frozen=True)
class Layout:
    """One host's ``/opt/ml``, at ``root`` on this machine."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "input" / "config"

    @property
    def model(self) -> Path:
        return self.root / "model"

    @property
    def output(self) -> Path:
        return self.root / "output"

    @property
    def output_data(self) -> Path:
        return self.root / "output" / "data"

    @property
    def failure(self) -> Path:
        return self.root / "output" / "failure"

    @property
    def code(self) -> Path:
        return self.root / "code"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    def channel(self, name: str) -> Path:
        return self.root / "input" / "data" / name

    def create(self) -> None:
        for folder in (self.config, self.model, self.output_data, self.checkpoints, self.code):
            folder.mkdir(parents=True, exist_ok=True)


def write_config(layout: Layout, request: Mapping[str, Any], hosts: Sequence[str], current_host: str) -> None:
    """``input/config``: the request's HyperParameters as given (strings), the hosts (docs:
    your-algorithms-training-algo-running-container, "Distributed Training Configuration") and each
    channel as the algorithm reads it (``training.channel_config``)."""
    (layout.config / "hyperparameters.json").write_text(json.dumps(request.get("HyperParameters") or {}))
    resources = {
        "current_host": current_host,
        "current_instance_type": request["ResourceConfig"]["InstanceType"],
        "hosts": list(hosts),
        "network_interface_name": "eth0",
    }
    (layout.config / "resourceconfig.json").write_text(json.dumps(resources))
    mode = request["AlgorithmSpecification"].get("TrainingInputMode", "File")
    channels = {
        str(c["ChannelName"]): training.channel_config(c, mode) for c in request.get("InputDataConfig") or []
    }
    (layout.config / "inputdataconfig.json").write_text(json.dumps(channels))
    checkpoint = request.get("CheckpointConfig")
    if checkpoint:
        config = {
            "LocalPath": checkpoint.get("LocalPath") or f"{OPT_ML}/checkpoints",
            "S3Path": checkpoint["S3Uri"],
        }
        (layout.config / "checkpointconfig.json").write_text(json.dumps(config))


def write_channel(layout: Layout, name: str, files: Sequence[tuple[str, bytes]]) -> list[Path]:
    """File mode: each object at its path under the channel's prefix; the paths written."""
    folder = layout.channel(name)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for relative, data in files:
        target = folder / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        written.append(target)
    return written


def environment(version: str, *, endpoint_url: str | None, region: str, packages: Path) -> dict[str, str]:
    """The host's environment: the image's (its Python first on PATH: ``python``, ``python3``, the
    toolkit's ``train``), the region, the sandbox's S3 endpoint for the toolkit's downloads
    (``S3_ENDPOINT_URL``, toolkit params.py) and any AWS client (``AWS_ENDPOINT_URL``), and pip
    pointed at ``packages`` (``PIP_TARGET``, ahead on ``PYTHONPATH``) so that a requirements.txt never
    changes the image's environment, which every job shares."""
    python = runner.environment_python(version)
    variables = {
        **IMAGE_ENVIRONMENT,
        "PATH": f"{python.parent}:{SYSTEM_PATH}",
        "HOME": os.environ.get("HOME", "/root"),
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        **SANDBOX_CREDENTIALS,
        "PIP_TARGET": str(packages),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_NO_INPUT": "1",
        "PYTHONPATH": str(packages),
    }
    if endpoint_url:
        variables |= {"AWS_ENDPOINT_URL": endpoint_url, "S3_ENDPOINT_URL": endpoint_url}
    return variables


def bubblewrap() -> str:
    """The ``bwrap`` binary; JobFailure saying how to install it when it is missing."""
    found = shutil.which("bwrap")
    if found is None:
        raise JobFailure(
            "EmulatorError: bubblewrap (bwrap) is missing: a training host runs in a mount namespace of "
            "its own with its /opt/ml; run `make venv` (it installs Debian's bubblewrap) or "
            "`apt-get install bubblewrap`"
        )
    return found


@dataclass
class HostOutcome:
    exit_code: int | None  # None when stopped
    stopped: str | None  # Stopped / MaxRuntimeExceeded
    log: list[str] = field(default_factory=list)
    failure: str | None = None  # the failure file, when the host wrote one


def run_host(
    command: Sequence[str],
    layout: Layout,
    *,
    host: str,
    hosts: Sequence[str],
    variables: Mapping[str, str],
    workdir: str,
    seconds_left: float,
    should_stop: Callable[[], bool],
) -> HostOutcome:
    """Run ``command`` as host ``host`` with ``layout`` at /opt/ml, until it exits, a stop request or
    the deadline (SIGTERM to the host's processes, SIGKILL after STOP_GRACE_SECONDS)."""
    hosts_file = layout.root.parent / f"{host}.hosts"
    hosts_file.write_text("127.0.0.1\tlocalhost\n" + "".join(f"127.0.0.1\t{name}\n" for name in hosts))
    wrapped = [
        bubblewrap(),
        "--dev-bind", "/", "/",
        "--bind", str(layout.root), OPT_ML,
        "--ro-bind", str(hosts_file), "/etc/hosts",
        "--unshare-uts", "--hostname", host,
        "--die-with-parent",
        "--chdir", workdir,
        "--",
        *command,
    ]  # fmt: skip
    log_path = layout.root.parent / f"{host}.log"
    deadline = time.monotonic() + seconds_left
    stopped: str | None = None
    with open(log_path, "wb") as log:
        process = subprocess.Popen(  # noqa: S603  # nosec B603: no shell; bwrap then the image's command
            wrapped, stdout=log, stderr=subprocess.STDOUT, env=dict(variables), start_new_session=True
        )
        while process.poll() is None:
            if should_stop():
                stopped = "Stopped"
            elif time.monotonic() > deadline:
                stopped = "MaxRuntimeExceeded"
            if stopped is not None:
                _terminate(process)
                break
            try:
                process.wait(timeout=POLL_SECONDS)
            except subprocess.TimeoutExpired:
                continue
    failure = layout.failure.read_text(errors="replace") if layout.failure.is_file() else None
    return HostOutcome(
        exit_code=None if stopped else process.returncode,
        stopped=stopped,
        log=log_path.read_text(errors="replace").splitlines(),
        failure=failure,
    )


def _terminate(process: subprocess.Popen[bytes]) -> None:
    for sig, wait in ((signal.SIGTERM, STOP_GRACE_SECONDS), (signal.SIGKILL, None)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def failure_reason(outcome: HostOutcome) -> str:
    """FailureReason: ``AlgorithmError: <the failure file>`` (docs: your-algorithms-training-algo-output;
    1024 characters as DescribeTrainingJob returns it), else ``AlgorithmError: , exit code: <n>`` (what
    SageMaker reports for an image that exits without one)."""
    if outcome.failure and outcome.failure.strip():
        return f"AlgorithmError: {outcome.failure}"[:FAILURE_FILE_LIMIT]
    return f"AlgorithmError: , exit code: {outcome.exit_code}"


def model_files(layout: Layout) -> list[tuple[str, Path]]:
    """Every file in the host's /opt/ml/model, by its path there (all go into model.tar.gz)."""
    return sorted(
        (str(path.relative_to(layout.model)), path) for path in layout.model.rglob("*") if path.is_file()
    )


def output_files(layout: Layout) -> list[tuple[str, Path]]:
    """Every file in /opt/ml/output/data (SageMaker uploads them as output.tar.gz)."""
    return sorted(
        (str(path.relative_to(layout.output_data)), path)
        for path in layout.output_data.rglob("*")
        if path.is_file()
    )


def archive(files: Sequence[tuple[str, Path]]) -> bytes:
    """A gzipped tar of ``files`` (name inside, path here), as SageMaker packs model.tar.gz."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=6) as packed:
        for name, path in files:
            raw = path.read_bytes()
            info = tarfile.TarInfo(name)
            info.size = len(raw)
            info.mtime = int(time.time())
            info.mode = 0o644
            packed.addfile(info, io.BytesIO(raw))
    return buffer.getvalue()
