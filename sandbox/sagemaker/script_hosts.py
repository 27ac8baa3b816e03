"""A job's hosts run the image's command side by side, each in its own namespace with its own /opt/ml.

Details: sandbox/sagemaker/README.md, "script_hosts.py".
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox.sagemaker import container
from sandbox.sagemaker.errors import JobFailure


@dataclass
class Host:
    name: str
    layout: container.Layout
    outcome: container.HostOutcome | None = None  # None: never started (another host failed first)
    objects: dict[str, list[str]] = field(default_factory=dict)  # channel -> the S3 URIs it was given


@dataclass
class HostsOutcome:
    hosts: list[Host]
    failed: list[Host] = field(default_factory=list)  # in the order they failed
    not_started: str | None = None  # Stopped / MaxRuntimeExceeded: a host never started for it

    @property
    def first_failure(self) -> container.HostOutcome | None:
        return self.failed[0].outcome if self.failed else None

    @property
    def stopped(self) -> str | None:
        """Stopped / MaxRuntimeExceeded when a host was stopped by the job (not by another's failure)."""
        if self.failed:
            return None
        ran = (h.outcome.stopped for h in self.hosts if h.outcome and h.outcome.stopped)
        return next(ran, self.not_started)

    @property
    def log(self) -> list[str]:
        return [line for host in self.hosts if host.outcome for line in host.outcome.log]

    @property
    def metrics_log(self) -> list[str]:
        first = self.hosts[0].outcome
        return first.log if first else []


def prepare(
    root: Path,
    *,
    request: Mapping[str, Any],
    names: Sequence[str],
    channels: Mapping[str, Sequence[Sequence[tuple[str, bytes]]]],
) -> list[Host]:
    """Each host's ``/opt/ml`` under ``root/<host>``: its config and ITS share of each channel.

    ``channels``: channel name -> per host, the (path in the channel, bytes) of the objects it reads.
    """
    hosts = []
    for index, name in enumerate(names):
        layout = container.Layout(root / name)
        layout.create()
        for channel, shares in channels.items():
            container.write_channel(layout, channel, shares[index])
        container.write_config(layout, request, names, name)
        hosts.append(Host(name, layout))
    return hosts


def run(
    command: Sequence[str],
    hosts: list[Host],
    *,
    variables: Callable[[Host], Mapping[str, str]],
    workdir: str,
    parallel: int,
    seconds_left: float,
    should_stop: Callable[[], bool],
) -> HostsOutcome:
    """Run ``command`` on every host, ``parallel`` at a time; the first failure stops the rest."""
    outcome = HostsOutcome(hosts)
    failed = threading.Event()
    lock = threading.Lock()
    names = [host.name for host in hosts]
    deadline = time.monotonic() + seconds_left  # the job's, for hosts that wait for a free core too

    def stop() -> bool:
        return failed.is_set() or should_stop()

    def run_host(host: Host) -> None:
        if failed.is_set():
            return
        left = deadline - time.monotonic()
        if should_stop() or left <= 0:
            with lock:
                outcome.not_started = outcome.not_started or (
                    "Stopped" if should_stop() else "MaxRuntimeExceeded"
                )
            return
        host.outcome = container.run_host(
            command,
            host.layout,
            host=host.name,
            hosts=names,
            variables=variables(host),
            workdir=workdir,
            seconds_left=left,
            should_stop=stop,
        )
        if host.outcome.exit_code not in (0, None):
            with lock:
                outcome.failed.append(host)
            failed.set()

    if len(hosts) == 1:
        run_host(hosts[0])
        return outcome
    with ThreadPoolExecutor(max_workers=max(1, min(parallel, len(hosts))), thread_name_prefix="host") as pool:
        for future in [pool.submit(run_host, host) for host in hosts]:
            future.result()
    return outcome


def model_files(hosts: Sequence[Host]) -> list[tuple[str, Path]]:
    """Every host's ``/opt/ml/model`` files, aggregated; a path two hosts wrote fails the job."""
    return _aggregated(hosts, container.model_files, "/opt/ml/model", "model.tar.gz")


def output_files(hosts: Sequence[Host]) -> list[tuple[str, Path]]:
    """Every host's ``/opt/ml/output/data`` files, aggregated likewise (output.tar.gz)."""
    return _aggregated(hosts, container.output_files, "/opt/ml/output/data", "output.tar.gz")


def _aggregated(
    hosts: Sequence[Host],
    files_of: Callable[[container.Layout], list[tuple[str, Path]]],
    folder: str,
    archive: str,
) -> list[tuple[str, Path]]:
    owners: dict[str, str] = {}
    files: list[tuple[str, Path]] = []
    for host in hosts:
        for name, path in files_of(host.layout):
            if name in owners:
                raise JobFailure(
                    f"EmulatorError: hosts {owners[name]} and {host.name} both wrote {name} to {folder}:"
                    f" SageMaker aggregates every host's folder into one {archive} and the names must"
                    " not clash (docs: your-algorithms-training-algo-output); write it on one host"
                    " (SM_CURRENT_HOST == SM_HOSTS[0])"
                )
            owners[name] = host.name
            files.append((name, path))
    return sorted(files)
