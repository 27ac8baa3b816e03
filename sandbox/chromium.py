"""Headless Chromium for the report: the page's DOM after its scripts ran, its console, a screenshot.

Chromium's ``--enable-logging=stderr`` writes every console message (console.log/error, uncaught
exceptions) as an ``INFO:CONSOLE`` line; the report logs nothing, so any such line is a problem.
"""

from __future__ import annotations

import shutil
import subprocess  # nosec B404: runs the machine's Chromium on a file this process wrote
import tempfile
from dataclasses import dataclass
from pathlib import Path

INSTALL_HINT = "install it: apt-get install -y chromium (Debian/Ubuntu; .ci/run does)"
CANDIDATES = ("chromium", "chromium-browser", "google-chrome")


@dataclass(frozen=True)
class Rendered:
    dom: str
    console: list[str]


def find_chromium() -> str | None:
    return next((path for name in CANDIDATES if (path := shutil.which(name))), None)


def _run(binary: str, page: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(  # noqa: S603  # nosec B603: fixed arguments, a file we wrote
            [
                binary,
                "--headless",
                "--no-sandbox",  # root in containers; the page is our own file
                "--disable-gpu",
                "--enable-logging=stderr",
                "--v=0",
                f"--user-data-dir={profile}",
                "--virtual-time-budget=5000",  # let the page's script finish before the dump
                *extra,
                page.resolve().as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )


def render(page: Path, binary: str) -> Rendered:
    done = _run(binary, page, "--dump-dom")
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    return Rendered(dom=done.stdout, console=console)


def screenshot(page: Path, target: Path, binary: str, size: str = "1300,2600") -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    _run(binary, page, f"--screenshot={target.resolve()}", f"--window-size={size}", "--hide-scrollbars")
    return target
