"""Every events/ file through its function, as `sam local invoke -e` would hand it.

The sandbox is prepared as the events were recorded (sandbox.samples.run_reference), so every
bucket, key, job, package and execution the events name exists here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sandbox.environment import Sandbox
from sandbox.samples import ReferenceRuns, run_reference

EVENTS = Path(__file__).resolve().parents[2] / "events"
FUNCTIONS = {
    "start_pipeline": "StartPipelineFunction",
    "prepare_run": "PrepareRunFunction",
    "evaluate_model": "EvaluateModelFunction",
    "select_model": "SelectModelFunction",
    "load_predictions": "LoadPredictionsFunction",
    "record_run": "RecordRunFunction",
    "record_execution_outcome": "RecordExecutionOutcomeFunction",
}
FUNCTION_EVENTS = sorted(path for path in EVENTS.glob("*/*.json") if path.parent.name in FUNCTIONS)


@pytest.fixture(scope="module")
def reference(sandbox: Sandbox) -> ReferenceRuns:
    runs = run_reference(sandbox)
    assert runs.succeeded.status == "SUCCEEDED"
    assert runs.failed.status == "FAILED"
    return runs


def invoke(sandbox: Sandbox, folder: str, event: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    name = sandbox.deployed.functions[FUNCTIONS[folder]]
    response = sandbox.client("lambda").invoke(FunctionName=name, Payload=json.dumps(event).encode())
    return json.loads(response["Payload"].read()), "FunctionError" in response


def test_every_function_has_sample_events() -> None:
    assert {path.parent.name for path in FUNCTION_EVENTS} == set(FUNCTIONS)
    assert {path.name for path in (EVENTS / "statemachine").glob("*.json")} >= {
        "train_and_score.json",
        "score_only.json",
    }


@pytest.mark.parametrize("path", FUNCTION_EVENTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_event_runs_through_its_handler(sandbox: Sandbox, reference: ReferenceRuns, path: Path) -> None:
    event = json.loads(path.read_text())
    result, errored = invoke(sandbox, path.parent.name, event)
    assert not errored, result
    checks: dict[str, Callable[[dict[str, Any]], bool]] = {
        "start_pipeline": lambda r: r["status"] == "duplicate",  # the reference run exists already
        "prepare_run": lambda r: r["run_id"] == "merchant-risk-20261126t020000z" and r["scoring"]["rows"] > 0,
        "evaluate_model": lambda r: (
            r["approval_status"] in {"Approved", "Rejected"} and r["metric_value"] > 0.5
        ),
        "select_model": lambda r: r["model_version"] == 1,
        "load_predictions": lambda r: r["rows_loaded"] == r["rows_scored"] > 0,
        "record_run": lambda r: r["status"] == event["status"],
        # The reference failure went through RecordFailure and NotifyFailure: nothing left to do.
        "record_execution_outcome": lambda r: r["action"] == "none",
    }
    assert checks[path.parent.name](result), result


def test_record_run_names_the_failed_state(sandbox: Sandbox, reference: ReferenceRuns) -> None:
    result, _ = invoke(sandbox, "record_run", json.loads((EVENTS / "record_run/failed.json").read_text()))
    assert (result["failed_state"], result["error"]) == ("PrepareRun", "ManifestNotFound")
    assert "does not exist" in result["cause"]


@pytest.mark.parametrize("name", ["train_and_score.json", "score_only.json", "with_overrides.json"])
def test_console_inputs_are_valid_execution_inputs(name: str) -> None:
    from snowsage.prepare import parse_execution_input

    parse_execution_input(json.loads((EVENTS / "statemachine" / name).read_text()))
