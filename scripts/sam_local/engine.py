"""A Docker engine for `sam local`: the running one, or Debian's docker.io installed and started here.

An engine this module starts is stopped again by its PID (dockerd stops the containerd it started).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker  # type: ignore[import-untyped]

START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
# Another apt-get (a colleague's install, unattended upgrades) may hold the dpkg lock for a while.
APT_LOCK_TIMEOUT = 600


def _as_root(command: list[str]) -> list[str]:
    return command if os.geteuid() == 0 else ["sudo", "--non-interactive", *command]


def apt_get(*arguments: str) -> None:
    subprocess.run(
        _as_root(["apt-get", "-o", f"DPkg::Lock::Timeout={APT_LOCK_TIMEOUT}", "-q", *arguments]),
        check=True,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )


def client(timeout: int = 120) -> Any:
    return docker.from_env(timeout=timeout)


def answers() -> bool:
    try:
        return bool(client(timeout=5).ping())
    except Exception:  # no socket, refused, not ours to read: no engine
        return False


def install() -> None:
    """Debian's engine (docker.io: dockerd, containerd, runc, the docker CLI)."""
    apt_get("update")
    apt_get("install", "-y", "--no-install-recommends", "docker.io")


@dataclass
class Engine:
    """The engine `sam local` talks to; ``process`` is set when this run started it."""

    process: subprocess.Popen[bytes] | None = None

    @classmethod
    def ensure(cls, log_path: Path) -> Engine:
        if answers():
            return cls()
        if not shutil.which("dockerd"):
            install()
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                _as_root(["dockerd"]), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        engine = cls(process)
        deadline = time.monotonic() + START_TIMEOUT
        while not answers():
            if process.poll() is not None or time.monotonic() > deadline:
                engine.stop()
                tail = log_path.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"dockerd did not start (exit {process.returncode}):\n{tail}")
            time.sleep(0.3)
        return engine

    @property
    def started_here(self) -> bool:
        return self.process is not None

    def stop(self) -> None:
        """Stop dockerd if this run started it: SIGTERM to its PID, then wait for it to exit."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
