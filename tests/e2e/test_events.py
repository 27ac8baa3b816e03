"""Every events/ file through its function, as `sam local invoke -e` would hand it.

The sandbox is prepared as the events were recorded (sandbox.reference_runs.run_reference), so every
bucket, key, job, package and execution the events name exists here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sandbox.reference_runs import ReferenceRuns, run_reference
from sandbox.services import Sandbox
from tooling.template import project

EVENTS = Path(__file__).resolve().parents[2] / "events"
# events/<code folder>/ holds the events of the function with that CodeUri.
FUNCTIONS = {function.module: logical_id for logical_id, function in project().functions.items()}
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
        "prepare_run": lambda r: (
            r["run_id"] == "merchant-risk-20261126-hf5245c1bee474ebc" and r["scoring"]["rows"] > 0
        ),
        "evaluate_model": lambda r: verdict_is_the_gates(sandbox, event, r),
        "select_model": lambda r: r["model_version"] == 1,
        "register_model": lambda r: r["model_package_arn"].split("/")[-2] == "snowsage-merchant-risk",
        "load_predictions": lambda r: r["rows_loaded"] == r["rows_scored"] > 0,
        "publish_model": lambda r: (
            r["function_name"] == "ML_PREDICT_MERCHANT_RISK" and r["model_version"] == 1
        ),
        "score_in_snowflake": lambda r: (
            r["rows_loaded"] == r["rows_scored"] > 0
            and r["scored_by"] == "snowflake:ML_PREDICT_MERCHANT_RISK:v1"
        ),
        "train_in_snowflake": lambda r: (
            r["model_data_url"].endswith("/model.tar.gz") and len(r["final_metrics"]) > 0
        ),
        "record_run": lambda r: run_row_is_what_was_returned(sandbox, event, r),
        # The reference failure went through RecordFailure and NotifyFailure: nothing left to do.
        "record_execution_outcome": lambda r: r["action"] == "none",
        # merchant_risk has no endpoint here: removing it is a no-op, and settling finds it gone.
        "deploy_endpoint": lambda r: (r["endpoint_name"], r["action"]) == ("snowsage-merchant-risk", "none"),
        "settle_endpoint": lambda r: (r["status"], r["model_version"]) == ("DELETED", None),
        # the reference run succeeded just now: within merchant_risk's default 24 h
        "check_staleness": lambda r: r["stale"] == [],
    }
    assert checks[path.parent.name](result), result


def verdict_is_the_gates(sandbox: Sandbox, event: dict[str, Any], verdict: dict[str, Any]) -> bool:
    """The gate worked out by hand: the event's metric against its threshold and the champion.

    The reference run registered version 1, so it is the champion here. Its metric is what this
    sandbox's training gave, which the event's recorded metric may match, beat or miss: the
    expected verdict follows from the two numbers.
    """
    sagemaker = sandbox.client("sagemaker")
    group = event["model_package_group"]
    packages = sagemaker.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"]
    champion_arn = next(p["ModelPackageArn"] for p in packages if p["ModelPackageVersion"] == 1)
    champion = sagemaker.describe_model_package(ModelPackageName=champion_arn)
    champion_metric = float(champion["CustomerMetadataProperties"]["metric_value"])
    name = event["evaluation"]["metric_name"]
    value = next(m["Value"] for m in event["training"]["final_metrics"] if m["MetricName"] == name)
    # The champion is judged on this export's validation rows when they could be scored (its
    # figure there is tests/e2e/test_gate.py's to check), else on its recorded metric.
    on_export = verdict["champion_judged_on"] == "this_export"
    if on_export:
        assert verdict["champion_rows"] > 0
    bar = verdict["champion_metric_on_export"] if on_export else champion_metric
    promote = value >= event["evaluation"]["threshold"] and value >= bar
    expected = {
        "promote": promote,
        "approval_status": "Approved" if promote else "Rejected",
        "metric_name": name,
        "metric_value": value,
        "threshold": event["evaluation"]["threshold"],
        "champion_metric": champion_metric,
        "champion_package_arn": champion_arn,
    }
    assert {key: verdict[key] for key in expected} == expected
    return True


def run_row_is_what_was_returned(sandbox: Sandbox, event: dict[str, Any], record: dict[str, Any]) -> bool:
    """RecordRun wrote one ML_RUNS row, mapped from the state it was given, and returned it."""
    state = event["state"]
    with sandbox.snowflake_connection() as connection:
        cursor = connection.cursor()
        cursor.execute("SELECT * FROM ML_RUNS WHERE RUN_ID = %(r)s", {"r": record["run_id"]})
        names = [column[0].lower() for column in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    assert len(rows) == 1, rows
    plan, load, model = state.get("plan") or {}, state.get("load") or {}, state.get("model") or {}
    expected = {
        "status": event["status"],
        "execution_name": event["execution_name"],
        "run_id": plan.get("run_id", record["run_id"]),
        "rows_loaded": load.get("rows_loaded"),
        "promoted": (state.get("evaluation") or {}).get("promote"),
        "error": (state.get("error") or {}).get("Error"),
    }
    written = {key: rows[0][key] for key in expected}
    returned = {key: record[key] for key in expected}
    assert written == returned == expected, (written, returned)
    version = model.get("model_version")
    assert record["model_version"] == version and rows[0]["model_version"] == (
        str(version) if version else None
    )
    return True


def test_record_run_names_the_failed_state(sandbox: Sandbox, reference: ReferenceRuns) -> None:
    result, _ = invoke(sandbox, "record_run", json.loads((EVENTS / "record_run/failed.json").read_text()))
    assert (result["failed_state"], result["error"]) == ("PrepareRun", "ManifestNotFound")
    assert "does not exist" in result["cause"]


@pytest.mark.parametrize(
    "name",
    [
        "train_and_score.json",
        "score_only.json",
        "with_overrides.json",
        "script_mode.json",
        "tuning.json",
        "tuning_warm_start.json",
    ],
)
def test_console_inputs_are_valid_execution_inputs(name: str) -> None:
    from snowsage.prepare import parse_execution_input

    parse_execution_input(json.loads((EVENTS / "statemachine" / name).read_text()))


def test_the_success_events_come_from_a_successful_run() -> None:
    """events/ are written from the reference runs: a run that failed must not pass for a success."""
    succeeded = json.loads((EVENTS / "record_run" / "succeeded.json").read_text())
    assert succeeded["status"] == "SUCCEEDED"
    assert succeeded["state"].get("error") is None
    assert succeeded["state"]["load"]["rows_loaded"] == succeeded["state"]["load"]["rows_scored"] > 0
