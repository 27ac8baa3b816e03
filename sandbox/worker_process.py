"""Ending a worker process the sandbox started (the xgboost workers, the Snowflake function workers)."""

from __future__ import annotations

import shutil
import subprocess  # nosec B404: only waits for and kills processes the sandbox started
from typing import IO, Any

GRACE_SECONDS = 5


def stop_worker(process: subprocess.Popen[Any], log: IO[Any], scratch: str) -> None:
    """Close its stdin (the worker's signal to exit), wait, kill it if it does not; then close its
    stdout and log and remove its scratch folder."""
    if process.stdin is not None:
        process.stdin.close()
    try:
        process.wait(timeout=GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if process.stdout is not None:
        process.stdout.close()
    log.close()
    shutil.rmtree(scratch, ignore_errors=True)
