"""Which xgboost an image runs, and the worker process that runs it (``worker.py``).

Details: sandbox/sagemaker/README.md, "runner.py".
"""

from __future__ import annotations

import atexit
import json
import os
import re
import shutil
import subprocess  # nosec B404: starts our own worker.py with a fixed interpreter
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sandbox.sagemaker.errors import JobFailure
from sandbox.worker_process import stop_worker

# Image tag -> xgboost version. 1.7-1: branch 1.7-1 docker/1.7-1/base/Dockerfile.cpu:35;
# 3.0-5: tag v3.0-5 docker/3.0-5/base/Dockerfile.cpu:35; 3.2-0: master after 7eefe63 (XGBoost 3.2.0,
# test/unit/algorithm_mode/test_serve_utils.py:80).
IMAGE_XGBOOST = {"1.7-1": "1.7.4", "3.0-5": "3.0.5", "3.2-0": "3.2.0"}
DEFAULT_IMAGE_TAG = "1.7-1"
ENVS_VARIABLE = "SNOWSAGE_XGBOOST_ENVS"
REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
WORKER_SCRIPT = Path(__file__).with_name("worker.py")


class WorkerError(Exception):
    """The worker answered with a failure: ``kind`` is the container's error class name."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


def image_tag(image: str) -> str:
    """``.../sagemaker-xgboost:1.7-1`` -> ``1.7-1`` (``-cpu-py3`` style suffixes are dropped)."""
    tag = image.rsplit(":", 1)[-1] if ":" in image.rsplit("/", 1)[-1] else "latest"
    match = re.match(r"^(\d+\.\d+-\d+)", tag)
    return match.group(1) if match else tag


def xgboost_version(image: str) -> str:
    """The xgboost version an image pins; ValueError naming the supported tags otherwise."""
    tag = image_tag(image)
    if tag not in IMAGE_XGBOOST:
        supported = ", ".join(sorted(IMAGE_XGBOOST))
        raise ValueError(f"image tag {tag!r} is not emulated: use one of {supported}")
    return IMAGE_XGBOOST[tag]


def environment_python(version: str) -> Path:
    """The interpreter of the environment holding xgboost ``version``; JobFailure when it is missing."""
    base = Path(os.environ.get(ENVS_VARIABLE) or REPOSITORY_ROOT)
    python = base / f".venv-xgboost-{version}" / "bin" / "python"
    if not python.exists():
        raise JobFailure(
            f"EmulatorError: the xgboost {version} environment is missing ({python.parent.parent}): "
            "run `make venv` (it builds .venv-xgboost-<version> from requirements/xgboost-<version>.lock)"
        )
    return python


class Worker:
    """One ``worker.py`` process on one xgboost version, with a scratch folder of its own."""

    def __init__(self, version: str, script: Path = WORKER_SCRIPT) -> None:
        """``script``: another program speaking the worker's protocol (bench/bare_worker.py)."""
        self.version = version
        self.folder = tempfile.mkdtemp(prefix=f"sagemaker-xgboost-{version}-")
        self._stderr = open(os.path.join(self.folder, "worker.log"), "wb")  # noqa: SIM115
        # A fixed interpreter (the environment's) and our own script, no shell.
        self.process = subprocess.Popen(  # noqa: S603  # nosec B603
            [str(environment_python(version)), "-u", str(script)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env={**os.environ, "PYTHONWARNINGS": "ignore", "OMP_WAIT_POLICY": "PASSIVE"},
            text=True,
        )

    def path(self, name: str) -> str:
        return os.path.join(self.folder, name)

    def request(self, command: str, **fields: Any) -> dict[str, Any]:
        """Send one request and return the answer; WorkerError on a failure the worker reports."""
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        try:
            self.process.stdin.write(json.dumps({"cmd": command, **fields}) + "\n")
            self.process.stdin.flush()
            line = self.process.stdout.readline()
        except (BrokenPipeError, OSError):
            line = ""
        if not line:
            raise WorkerError("AlgorithmError", f"the xgboost {self.version} worker died: {self._log_tail()}")
        answer: dict[str, Any] = json.loads(line)
        if not answer.pop("ok"):
            raise WorkerError(str(answer["kind"]), str(answer["message"]))
        return answer

    def alive(self) -> bool:
        return self.process.poll() is None

    def close(self) -> None:
        stop_worker(self.process, self._stderr, self.folder)

    def _log_tail(self) -> str:
        self._stderr.flush()
        text = Path(self.folder, "worker.log").read_text(errors="replace").strip()
        return text[-800:] or f"exit code {self.process.poll()}"

    def clear(self) -> None:
        """Remove the files a job left in the scratch folder (the log stays)."""
        for name in os.listdir(self.folder):
            if name != "worker.log":
                target = os.path.join(self.folder, name)
                if os.path.isdir(target):
                    shutil.rmtree(target)
                else:
                    os.remove(target)


class WorkerPool:
    """Idle workers per xgboost version; a job borrows one for its whole run."""

    def __init__(self) -> None:
        self._idle: dict[str, list[Worker]] = {}
        self._lock = threading.Lock()

    @contextmanager
    def borrow(self, version: str) -> Iterator[Worker]:
        with self._lock:
            idle = self._idle.setdefault(version, [])
            worker = idle.pop() if idle else None
        if worker is None or not worker.alive():
            worker = Worker(version)
        try:
            yield worker
        finally:
            if worker.alive():
                worker.clear()
                with self._lock:
                    self._idle[version].append(worker)
            else:
                worker.close()

    def close(self) -> None:
        with self._lock:
            workers = [w for idle in self._idle.values() for w in idle]
            self._idle.clear()
        for worker in workers:
            worker.close()


POOL = WorkerPool()
atexit.register(POOL.close)  # idle workers end with the process that started them
