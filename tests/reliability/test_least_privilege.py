"""A granted permission is a used permission: every action template.yaml grants is exercised by the
sandbox's runs, or kept with the reason only AWS's side uses it (docs/reliability.md, "Least
privilege, proven", generated here: ``SNOWSAGE_WRITE_DOCS=1`` rewrites the section).

The runs cover every path: a tuned run started by its S3 event, a warm-started one, a score_only
run, one scored in Snowflake (SCORING_ENGINE), the Snowflake training engine, a run stopped during
Train (the safety net), the staleness check and an alarm. Every authorization the sandbox made is
recorded; each granted action is then removed alone and the recorded requests it allowed are
evaluated again. tests/reliability/test_permissions.py
runs a sample of such removals for real: each fails its run in the state that made the call.
"""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from sandbox import pipeline_run
from sandbox.aws import iam_enforcement, least_privilege, moto_patches
from sandbox.services import Sandbox, SandboxConfig
from sandbox.snowflake import functions
from tests.reliability.helpers import export_quietly, manifest_uri, name_for, start
from tooling.template import PROJECT_ROOT

DOC = PROJECT_ROOT / "docs" / "reliability.md"
BEGIN = "<!-- BEGIN GENERATED least-privilege (tests/reliability/test_least_privilege.py) -->"
END = "<!-- END GENERATED least-privilege -->"
TUNING = {
    "max_jobs": 2,
    "max_parallel_jobs": 2,
    "strategy": "Random",
    "warm_start": True,
    "ranges": {"max_depth": [2, 5]},
}
# Removals a real run proves in test_permissions.py: the replay must agree.
PROVEN = {
    ("PipelineStateMachineRole", "sagemaker:CreateTrainingJob"),
    ("PipelineStateMachineRole", "lambda:InvokeFunction"),
    ("PrepareRunFunctionRole", "s3:ListBucket"),
    ("SnowflakeStorageRole", "s3:PutObject"),
}


@pytest.fixture(scope="module")
def sandbox_config() -> SandboxConfig:
    """The reliability sandbox's, with no baking period: an endpoint update completes as soon as its
    new fleet serves (the alarms are still evaluated once)."""
    return SandboxConfig(template_parameters={"EvaluationThreshold": "0.5", "EndpointBakingSeconds": "0"})


@functools.cache
def snowpark() -> bool:
    """The Snowflake-runtime venv holds Snowpark (asked once, when a test needs it)."""
    check = [str(functions.runtime_python()), "-c", "import snowflake.snowpark"]
    return subprocess.run(check, capture_output=True, check=False).returncode == 0


def _sql(sb: Sandbox, statement: str) -> None:
    with sb.snowflake_connection() as connection:
        connection.cursor().execute(statement)


def _run_every_path(sb: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    # A tuned run started by its export's S3 event (no champion: tunes cold), then a warm start;
    # the dataset has a serverless endpoint, which the promoted runs create and update.
    _sql(sb, f"UPDATE ML_DATASETS SET TUNING = '{json.dumps(TUNING)}' WHERE NAME = 'merchant_risk'")
    _sql(sb, "UPDATE ML_DATASETS SET ENDPOINT = 'SERVERLESS' WHERE NAME = 'merchant_risk'")
    first = pipeline_run.run_from_export(sb, "merchant_risk", export_id="20261208t010000z")
    assert first.status == "SUCCEEDED", first.execution.cause
    export_quietly(sb, "20261208t020000z")
    warm = start(sb, "20261208t020000z")
    assert warm.status == "SUCCEEDED", warm.execution.cause
    _sql(sb, "UPDATE ML_DATASETS SET TUNING = NULL WHERE NAME = 'merchant_risk'")
    assert first.execution.output["endpoint"]["status"] == "CREATED", first.execution.output.get("endpoint")
    assert warm.execution.output["endpoint"]["status"] == "UPDATED", warm.execution.output.get("endpoint")
    _sql(sb, "UPDATE ML_DATASETS SET ENDPOINT = NULL WHERE NAME = 'merchant_risk'")
    # endpoint 'NONE' (the input's, over the exported row's): the rescore deletes the endpoint, its
    # alarms, configs and models.
    rescored = pipeline_run.start_by_hand(
        sb,
        {"manifest": manifest_uri(sb, "20261208t020000z"), "mode": "score_only", "endpoint": "NONE"},
        name="least-privilege-rescore",
    )
    assert rescored.status == "SUCCEEDED", rescored.execution.cause
    assert rescored.execution.output["endpoint"]["status"] == "DELETED"
    # The SNOWFLAKE scoring engine: an export without score/, scored in place by ML_PREDICT_<DATASET>.
    _sql(sb, "UPDATE ML_DATASETS SET SCORING_ENGINE = 'SNOWFLAKE' WHERE NAME = 'merchant_risk'")
    export_quietly(sb, "20261208t025000z")
    in_place = pipeline_run.start_by_hand(
        sb,
        {"manifest": manifest_uri(sb, "20261208t025000z"), "mode": "score_only"},
        name="least-privilege-score-in-snowflake",
    )
    _sql(sb, "UPDATE ML_DATASETS SET SCORING_ENGINE = NULL WHERE NAME = 'merchant_risk'")
    assert in_place.status == "SUCCEEDED", in_place.execution.cause
    if snowpark():
        _sql(sb, "UPDATE ML_DATASETS SET TRAINING_ENGINE = 'SNOWFLAKE' WHERE NAME = 'merchant_risk'")
        export_quietly(sb, "20261208t030000z")
        in_snowflake = start(sb, "20261208t030000z")
        _sql(sb, "UPDATE ML_DATASETS SET TRAINING_ENGINE = 'SAGEMAKER' WHERE NAME = 'merchant_risk'")
        assert in_snowflake.status == "SUCCEEDED", in_snowflake.execution.cause
    # Stopped while Train, Tune and Score wait on their jobs: Step Functions stops each job (Stop*
    # as the role); the safety net records the ABORTED runs.
    for export_id, describe, tuning in (
        ("20261208t040000z", "describe_training_job", None),
        ("20261208t050000z", "describe_hyper_parameter_tuning_job", TUNING),
        ("20261208t060000z", "describe_transform_job", None),
    ):
        _sql(
            sb,
            f"UPDATE ML_DATASETS SET TUNING = {repr(json.dumps(tuning)) if tuning else 'NULL'}"
            " WHERE NAME = 'merchant_risk'",
        )
        export_quietly(sb, export_id)
        _stop_on_first(sb, monkeypatch, export_id, describe)
        assert start(sb, export_id).status == "ABORTED"
        monkeypatch.undo()
    _sql(sb, "UPDATE ML_DATASETS SET TUNING = NULL WHERE NAME = 'merchant_risk'")
    moto_patches.wait_for_event_deliveries()
    _gate_waits_for_another_runs_lease(sb)
    # The hourly staleness check (its schedule is AWS's: invoked here) and an alarm's action.
    scheduled = (PROJECT_ROOT / "events" / "check_staleness" / "scheduled.json").read_bytes()
    answer = sb.client("lambda").invoke(
        FunctionName=sb.deployed.functions["StalenessCheckFunction"], Payload=scheduled
    )
    assert "FunctionError" not in answer, answer["Payload"].read()
    alarm = sb.deployed.resources["PipelineFailedAlarm"]
    sb.client("cloudwatch").set_alarm_state(
        AlarmName=alarm, StateValue="ALARM", StateReason="least privilege"
    )


def _gate_waits_for_another_runs_lease(sb: Sandbox) -> None:
    """Another run of the dataset holds the promotion lease: the gate reads who, and says so."""
    table, dynamodb = sb.deployed.resources["PromotionLeaseTable"], sb.client("dynamodb")
    held = {
        "dataset": {"S": "merchant_risk"},
        "holder": {"S": "another-run"},
        "expires_at": {"N": "4102444800"},
    }
    dynamodb.put_item(TableName=table, Item=held)
    candidate = (PROJECT_ROOT / "events" / "evaluate_model" / "candidate.json").read_bytes()
    answer = sb.client("lambda").invoke(
        FunctionName=sb.deployed.functions["EvaluateModelFunction"], Payload=candidate
    )
    dynamodb.delete_item(TableName=table, Key={"dataset": {"S": "merchant_risk"}})
    payload = json.loads(answer["Payload"].read())
    assert payload["errorType"] == "PromotionInProgress" and "another-run" in payload["errorMessage"], payload


def _stop_on_first(sb: Sandbox, monkeypatch: pytest.MonkeyPatch, export_id: str, describe: str) -> None:
    """An operator stops the execution while its .sync task polls the job for the first time."""
    sfn, emulator = sb.client("stepfunctions"), sb.emulator
    arn = f"{sb.state_machine_arn.replace(':stateMachine:', ':execution:')}:{name_for(export_id)}"
    original = getattr(emulator, describe)
    stopped: list[str] = []

    def describe_then_stop(name: str) -> dict[str, Any]:
        if not stopped:
            stopped.append(name)
            sfn.stop_execution(executionArn=arn, error="Operator.Stopped", cause="stopped by hand")
        answer: dict[str, Any] = original(name)
        return answer

    monkeypatch.setattr(emulator, describe, describe_then_stop)


def _stack(sb: Sandbox) -> list[tuple[str, str, str]]:
    listed = sb.client("cloudformation").describe_stack_resources(StackName=sb.deployed.stack_name)[
        "StackResources"
    ]
    return [
        (item["LogicalResourceId"], item["PhysicalResourceId"], item["ResourceType"])
        for item in listed
        if "PhysicalResourceId" in item
    ]


SECTION = re.compile(re.escape(BEGIN) + r"\n(.*?)" + re.escape(END), re.DOTALL)


def _section(text: str) -> str:
    match = SECTION.search(text)
    assert match, f"docs/reliability.md has no {BEGIN} … {END} section"
    return match.group(1)


def test_every_granted_action_is_exercised_or_kept_for_a_path_only_aws_takes(
    sb: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    _run_every_path(sb, monkeypatch)  # the record holds this sandbox's calls from its start
    stack = _stack(sb)
    grants = least_privilege.granted(stack)
    outcomes = least_privilege.exercised(grants, iam_enforcement.decisions())

    unexplained = sorted(
        {
            (o.grant.owner, o.grant.sid, o.grant.action)
            for o in outcomes
            if o.exercised_by is None and o.kept is None
        }
    )
    assert not unexplained, "granted, never used, no reason kept (remove them or say why):\n" + "\n".join(
        map(str, unexplained)
    )
    used = {(o.grant.owner, o.grant.action) for o in outcomes if o.exercised_by is not None}
    assert not used & set(least_privilege.KEPT), (
        f"kept, yet exercised: drop {sorted(used & set(least_privilege.KEPT))}"
    )
    stale = {*least_privilege.KEPT, *least_privilege.SANDBOX_GAPS} - {(g.owner, g.action) for g in grants}
    assert stale == set(), "KEPT names grants the template no longer makes"
    if not snowpark():
        pytest.skip("the Snowflake engine's run needs snowflake-snowpark-python in the runtime venv")
    assert used >= PROVEN, "a removal a real run proves is not seen by the replay"

    report = least_privilege.render(outcomes, stack)
    text = DOC.read_text(encoding="utf-8")
    if os.environ.get("SNOWSAGE_WRITE_DOCS") == "1":
        _section(text)  # the markers are there
        DOC.write_text(SECTION.sub(lambda _: f"{BEGIN}\n{report}{END}", text, count=1), encoding="utf-8")
    assert _section(DOC.read_text(encoding="utf-8")) == report, (
        "regenerate: SNOWSAGE_WRITE_DOCS=1 pytest " + str(Path(__file__).relative_to(PROJECT_ROOT))
    )
