"""The commands of docs/sam-local.md as the tests run them: sam local invoke and start-lambda."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker.errors  # type: ignore[import-untyped]

from scripts.sam_local.build import parameter_overrides
from scripts.sam_local.engine import client
from tests.serve.test_serve import Served

ENABLE = "SNOWSAGE_SAM_LOCAL"
VENV_BIN = Path(sys.executable).parent
SAM = VENV_BIN / "sam"
# Linux's Docker Engine has no host.docker.internal: name the bridge gateway, where serve listens
# on 0.0.0.0 (sam 1.170's --docker-network host leaves the container on the bridge; docs/sam-local.md).
CONTAINER_HOST_ARGUMENT = ["--add-host", "host.docker.internal:host-gateway"]
CONTAINER_ID = re.compile(r"SAM_CONTAINER_ID: ([0-9a-f]{12,64})")
INVOKE_TIMEOUT = 300  # seconds; a cold container on a loaded 2-core machine, not a speed goal


@dataclass
class SamLocal:
    """The commands of docs/sam-local.md, pointed at the stand-in image and this run's sandbox."""

    template: Path
    image: str
    env_json: Path
    served: Served
    folder: Path
    containers: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def environment(self) -> dict[str, str]:
        # docs/sam-local.md step 3: dummy credentials, so nothing can reach a real account.
        environment = {k: v for k, v in os.environ.items() if k not in {"AWS_PROFILE", "AWS_SESSION_TOKEN"}}
        environment.update(
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_DEFAULT_REGION="us-east-1",
            SAM_CLI_TELEMETRY="0",
        )
        return environment

    def arguments(self) -> list[str]:
        return [
            "--template",
            str(self.template),
            "--env-vars",
            str(self.env_json),
            *parameter_overrides(),
            "--skip-pull-image",  # no registry: SAM would ask one for the image's digest
            "--invoke-image",
            self.image,
            *CONTAINER_HOST_ARGUMENT,
        ]

    def record_containers(self, log: str) -> None:
        with self.lock:
            self.containers.update(CONTAINER_ID.findall(log))

    def invoke(self, logical_id: str, event: Path) -> Invocation:
        completed = subprocess.run(  # noqa: PLW1510 - the test reads the result and the log
            [str(SAM), "local", "invoke", logical_id, "--event", str(event), *self.arguments()],
            capture_output=True,
            text=True,
            timeout=INVOKE_TIMEOUT,
            env=self.environment(),
        )
        self.record_containers(completed.stderr)
        return Invocation(logical_id, event, completed.returncode, completed.stdout, completed.stderr)

    def start_lambda(self, port: int, log: Path) -> subprocess.Popen[bytes]:
        with log.open("wb") as out:
            command = ["local", "start-lambda", "--host", "127.0.0.1", "--port", str(port)]
            return subprocess.Popen(
                [str(SAM), *command, *self.arguments()],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.environment(),
                start_new_session=True,
            )


@dataclass
class Invocation:
    logical_id: str
    event: Path
    returncode: int
    stdout: str
    stderr: str

    def result(self) -> Any:
        """What the function returned: the last line sam prints on stdout."""
        assert self.returncode == 0, self.describe()
        lines = [line for line in self.stdout.splitlines() if line.strip()]
        assert lines, self.describe()
        return json.loads(lines[-1])

    def describe(self) -> str:
        head = f"{self.logical_id} {self.event.name}: exit {self.returncode}"
        return f"{head}\n{self.stdout[-2000:]}\n{self.stderr[-4000:]}"


def remove_left_containers(containers: set[str]) -> list[str]:
    """Containers sam started and did not remove: removed now, and named so the run fails."""
    left = []
    for container_id in sorted(containers):
        try:
            container = client().containers.get(container_id)
        except docker.errors.NotFound:
            continue
        left.append(container_id)
        container.remove(force=True)
    return left
