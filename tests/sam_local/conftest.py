"""One served sandbox, one Docker engine, one stand-in image and one x86_64 `sam build` for the folder.

`make sam-local` sets SNOWSAGE_SAM_LOCAL=1; without it these tests skip (the rest of the suite runs
no container). Serve starts first and comes up while the engine, the image and the build are made.
Everything started here is stopped here by PID: serve, `sam local start-lambda` (in its test),
dockerd when this run started it, and any container sam left behind.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest

from scripts.sam_local import image
from scripts.sam_local.build import BUILD, sam_build
from scripts.sam_local.engine import Engine
from tests.sam_local.harness import ENABLE, VENV_BIN, SamLocal, remove_left_containers
from tests.serve.test_serve import Served

T = TypeVar("T")


def timed(what: str, function: Callable[..., T], *arguments: Any) -> T:
    started = time.monotonic()
    result = function(*arguments)
    print(f"sam-local: {what}: {time.monotonic() - started:.0f} s")
    return result


@pytest.fixture(scope="session")
def sam_local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SamLocal]:
    if os.environ.get(ENABLE) != "1":
        pytest.skip(f"runs through `make sam-local` (installs and starts Docker when none runs): {ENABLE}=1")
    folder = tmp_path_factory.mktemp("sam-local")
    env_json = folder / "env.json"
    served = Served.start(folder, "--host", "0.0.0.0", "--with-sample-data", "--env-json", str(env_json))
    engine = Engine()
    local: SamLocal | None = None
    started = time.monotonic()
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            built = pool.submit(timed, "sam build", sam_build, VENV_BIN)
            engine = timed("docker engine", Engine.ensure, BUILD / "dockerd.log")
            tag = timed("stand-in image", image.build, Path(sys.executable))
            template = built.result()
        timed("sandbox serve (started first)", served.wait_ready)
        ready = time.monotonic() - started
        print(f"sam-local: ready in {ready:.0f} s; dockerd started here: {engine.started_here}")
        local = SamLocal(template, tag, env_json, served, folder)
        yield local
        code, _ = served.stop(signal.SIGINT)
        assert code == 0, served.stderr_tail()
    finally:
        served.kill()
        left = remove_left_containers(local.containers) if local else []
        engine.stop()
    assert not left, f"sam left these containers running: {left}"
