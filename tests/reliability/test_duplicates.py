"""Exactly once: duplicate S3 events and a rewritten manifest start no second run.

StartPipeline names the execution ``<dataset>-<export_id>``; Step Functions refuses a second
execution of that name, so a duplicate event is a no-op however many arrive and however
concurrently. Re-running an export is a deliberate act: a hand start with a new name.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from sandbox import pipeline_run
from sandbox.aws import moto_patches
from sandbox.aws.executions import wait_for_execution_named
from sandbox.aws.lambda_runtime import Invocation
from sandbox.services import Sandbox
from snowsage.start import StepFunctionsStarter
from tests.reliability.helpers import (
    DATASET,
    assert_one_copy,
    export_quietly,
    name_for,
    prediction_run_ids,
    rerun,
)

pytestmark = pytest.mark.e2e

DELIVERIES = 50


def _start_invocations(sb: Sandbox, export_id: str) -> list[Invocation]:
    assert sb.runtime is not None
    key = f"exports/{DATASET}/{export_id}/manifest.json"
    return [
        invocation
        for invocation in sb.runtime.invocations_of(sb.deployed.functions["StartPipelineFunction"])
        if isinstance(invocation.event, dict) and invocation.event["detail"]["object"]["key"] == key
    ]


def _start_results(sb: Sandbox, export_id: str) -> list[dict[str, Any]]:
    return [json.loads(invocation.payload) for invocation in _start_invocations(sb, export_id)]


def test_the_same_event_fifty_times_concurrently_starts_one_execution(
    sb: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    export_quietly(sb, "dup-events")
    event = pipeline_run.manifest_event(sb, DATASET, "dup-events")

    # Every delivery waits inside StartPipeline until all fifty are there, then all call
    # StartExecution at once: the race is certain, not left to the scheduler. A runtime that ran
    # one invocation at a time would break this barrier.
    all_in_flight = threading.Barrier(DELIVERIES, timeout=120)
    real_start = StepFunctionsStarter.start

    def start_together(self: StepFunctionsStarter, name: str, document: dict[str, Any]) -> str | None:
        all_in_flight.wait()
        return real_start(self, name, document)

    monkeypatch.setattr(StepFunctionsStarter, "start", start_together)
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda _: pipeline_run.replay_event(sb, event), range(DELIVERIES)))
    moto_patches.wait_for_event_deliveries(timeout=180)
    monkeypatch.undo()

    name = name_for("dup-events")
    assert pipeline_run.executions_for(sb, name) == 1
    results = _start_results(sb, "dup-events")
    assert len(results) == DELIVERIES  # every delivery reached StartPipeline ...
    in_flight_together = {i.environment for i in _start_invocations(sb, "dup-events")}
    assert len(in_flight_together) == DELIVERIES  # ... at once: one execution environment each
    # ... and all of them name the one execution. StartExecution is idempotent for a running
    # execution with the same name and input (AWS answers with that execution, and so does moto),
    # so a duplicate within IN_FLIGHT_TOLERANCE_SECONDS of the start cannot be told from the
    # start: such answers say "started" with the one ARN; the rest say "duplicate" with none.
    statuses = Counter(result["status"] for result in results)
    assert statuses["started"] >= 1 and statuses["started"] + statuses["duplicate"] == DELIVERIES, statuses
    assert {result["execution_name"] for result in results} == {name}
    arns = {result.get("execution_arn") for result in results if result["status"] == "started"}
    execution = sb.client("stepfunctions").describe_execution(
        executionArn=arns.pop() if len(arns) == 1 else "more than one ARN"
    )
    assert execution["name"] == name
    assert all(result.get("execution_arn") is None for result in results if result["status"] == "duplicate")

    result = pipeline_run.follow_export(sb, {"dataset": DATASET, "export_id": "dup-events"})
    assert_one_copy(sb, result, "dup-events")


def test_a_rewritten_manifest_is_the_same_run_and_a_hand_start_reruns_it(sb: Sandbox) -> None:
    first = pipeline_run.run_from_export(sb, DATASET, export_id="rewritten")  # the production path
    assert_one_copy(sb, first, "rewritten")

    pipeline_run.export(sb, DATASET, "rewritten")  # the export written again: files, then the manifest
    moto_patches.wait_for_event_deliveries()

    name = name_for("rewritten")
    assert pipeline_run.executions_for(sb, name) == 1  # documented: same name, so no second run
    assert [result["status"] for result in _start_results(sb, "rewritten")] == ["started", "duplicate"]
    first_run_id = (first.execution.output or {})["plan"]["run_id"]
    assert prediction_run_ids(sb, "rewritten") == {first_run_id}

    # README, "Re-running an export": a hand start with a new name.
    again = rerun(sb, "rewritten")
    assert again.status == "SUCCEEDED"
    assert wait_for_execution_named(sb.client("stepfunctions"), sb.state_machine_arn, again.execution.name)
    assert_one_copy(sb, again, "rewritten")  # the earlier copy replaced, not added to
