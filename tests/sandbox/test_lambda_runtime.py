"""The sandbox's Lambda runtime runs invocations concurrently, one per execution environment.

Handlers here meet at a barrier shared through a layer module: they only get past it when every
party is in flight at once, so a runtime that serialised invocations would break the barrier.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from sandbox.aws.lambda_runtime import LambdaRuntime

RENDEZVOUS = """
import threading

BARRIERS = {}
LOCK = threading.Lock()


def meet(name, parties):
    with LOCK:
        barrier = BARRIERS.setdefault(name, threading.Barrier(parties, timeout=30))
    barrier.wait()
"""

HANDLER = """
import os

import rendezvous_{tag}

SEEN_AT_IMPORT = os.environ.get("WHO")


def handler(event, context):
    os.environ["LEFT_BEHIND"] = os.environ["WHO"]  # a handler's write stays in its invocation
    rendezvous_{tag}.meet(event["barrier"], event["parties"])
    return {{
        "who": os.environ["WHO"],
        "at_import": SEEN_AT_IMPORT,
        "left_behind": os.environ.get("LEFT_BEHIND"),
        "stream": context.log_stream_name,
    }}
"""


@pytest.fixture
def runtime(tmp_path: Path) -> LambdaRuntime:
    tag = tmp_path.name.replace("-", "_")
    layer = tmp_path / "layer"
    layer.mkdir()
    (layer / f"rendezvous_{tag}.py").write_text(RENDEZVOUS)
    runtime = LambdaRuntime()
    for name in ("alpha", "beta"):
        code = tmp_path / name
        code.mkdir()
        (code / "app.py").write_text(HANDLER.format(tag=tag))
        runtime.register(name, code, "app.handler", [layer])
    return runtime


def _invoke(runtime: LambdaRuntime, name: str, barrier: str, parties: int) -> dict[str, str]:
    payload, errored, _ = runtime.invoke_local(
        name, {"barrier": barrier, "parties": parties}, environment={"WHO": name}
    )
    assert not errored, payload
    result: dict[str, str] = json.loads(payload)
    return result


def test_two_functions_run_at_once_and_each_sees_only_its_environment(runtime: LambdaRuntime) -> None:
    with ThreadPoolExecutor(max_workers=2) as pool:
        alpha = pool.submit(_invoke, runtime, "alpha", "two-functions", 2)
        beta = pool.submit(_invoke, runtime, "beta", "two-functions", 2)
        results = {"alpha": alpha.result(), "beta": beta.result()}
    for name, result in results.items():
        assert (result["who"], result["at_import"], result["left_behind"]) == (name, name, name)
    assert "LEFT_BEHIND" not in os.environ and "WHO" not in os.environ  # the process's is untouched


def test_overlapping_invocations_of_one_function_get_their_own_environments(runtime: LambdaRuntime) -> None:
    parties = 4
    with ThreadPoolExecutor(max_workers=parties) as pool:
        results = list(pool.map(lambda _: _invoke(runtime, "alpha", "one-function", parties), range(parties)))
    assert runtime.environments_of("alpha") == parties
    assert len({result["stream"] for result in results}) == parties  # one log stream per environment
    invocations = runtime.invocations_of("alpha")
    assert sorted(invocation.environment for invocation in invocations) == [1, 2, 3, 4]
    assert all(invocation.cold_start for invocation in invocations)

    # one at a time, an idle environment is reused: a warm start, no new environment
    again = _invoke(runtime, "alpha", "alone", 1)
    assert runtime.environments_of("alpha") == parties
    assert again["stream"] in {result["stream"] for result in results}
    assert not runtime.invocations_of("alpha")[-1].cold_start
