"""make smoke-errors without AWS: the TestState requests it builds and the report it prints.

moto has no TestState, so the requests go to a fake that answers as API_TestState does
(status, error, cause, nextState); on AWS the answers are AWS's own.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from smoke.errors import (
    Provocation,
    build_probes,
    named_errors,
    probe_errors,
    provocations,
    runnable_state,
    states_with_named_errors,
)

ROOT = Path(__file__).resolve().parents[2]
ASL = json.loads((ROOT / "statemachines" / "pipeline.asl.json").read_text())
ROLE = "arn:aws:iam::123456789012:role/snowsage-smoke-abc123-StateMachineRole"

DEFINITION: dict[str, Any] = {
    "StartAt": "Plain",
    "States": {
        "Plain": {
            "Type": "Task",
            "Resource": "arn:aws:lambda:eu-west-1:123456789012:function:f",
            "Retry": [{"ErrorEquals": ["States.ALL"]}],
            "Next": "Group",
        },
        "Group": {
            "Type": "Task",
            "Resource": "arn:aws:states:::aws-sdk:sagemaker:createModelPackageGroup",
            "Parameters": {"ModelPackageGroupName.$": "$.group"},
            "Retry": [{"ErrorEquals": ["SageMaker.ThrottlingException", "States.Timeout"]}],
            "Catch": [
                {"ErrorEquals": ["SageMaker.ConflictException"], "Next": "Done"},
                {"ErrorEquals": ["States.ALL"], "Next": "Done"},
            ],
            "Next": "Both",
        },
        "Both": {
            "Type": "Parallel",
            "Branches": [
                {
                    "StartAt": "Job",
                    "States": {
                        "Job": {
                            "Type": "Task",
                            "Resource": "arn:aws:states:::sagemaker:createTrainingJob.sync",
                            "Retry": [{"ErrorEquals": ["SageMaker.AmazonSageMakerException"]}],
                            "End": True,
                        }
                    },
                }
            ],
            "Next": "Done",
        },
        "Done": {"Type": "Succeed"},
    },
}


class FakeStepFunctions:
    def __init__(self, answers: list[dict[str, Any]]) -> None:
        self.answers = answers
        self.requests: list[dict[str, Any]] = []

    def describe_state_machine(self, stateMachineArn: str) -> dict[str, Any]:
        return {"definition": json.dumps(DEFINITION), "roleArn": ROLE}

    def test_state(self, **request: Any) -> dict[str, Any]:
        self.requests.append(request)
        return self.answers[len(self.requests) - 1]


def test_only_states_naming_errors_other_than_step_functions_own_are_probed() -> None:
    states = states_with_named_errors(DEFINITION)
    assert list(states) == ["Group", "Job"]  # nested states too; "Plain" names only States.ALL
    assert named_errors(states["Group"]) == ["SageMaker.ThrottlingException", "SageMaker.ConflictException"]


def test_a_sync_state_is_tested_request_response() -> None:
    job = DEFINITION["States"]["Both"]["Branches"][0]["States"]["Job"]
    assert runnable_state(job)["Resource"] == "arn:aws:states:::sagemaker:createTrainingJob"
    assert runnable_state(DEFINITION["States"]["Group"]) == DEFINITION["States"]["Group"]


def test_requests_carry_one_state_the_role_and_the_provoking_input() -> None:
    probes, skipped = build_probes(
        DEFINITION,
        ROLE,
        [
            Provocation("Group", "exists", {"group": "g"}),
            Provocation("Plain", "not probed: names only States.ALL", {}),
            Provocation("Gone", "not in the definition", {}),
        ],
    )
    assert [probe.state for probe in probes] == ["Group"]
    request = probes[0].request
    assert json.loads(request["definition"]) == DEFINITION["States"]["Group"]
    assert request["roleArn"] == ROLE
    assert json.loads(request["input"]) == {"group": "g"}
    assert request["inspectionLevel"] == "INFO"
    assert list(skipped) == ["Job"]
    assert "TestState does not run" in skipped["Job"]


def test_the_report_names_what_aws_gave_and_what_stayed_unverified() -> None:
    sfn = FakeStepFunctions(
        [
            {"status": "CAUGHT_ERROR", "error": "SageMaker.ConflictException", "nextState": "Done"},
        ]
    )
    lines: list[str] = []
    report = probe_errors(
        sfn, "arn:sm", [Provocation("Group", "the same group again", {"group": "g"})], lines.append
    )
    assert len(sfn.requests) == 1
    assert report.unverified == {"Group": ["SageMaker.ThrottlingException"]}
    assert list(report.skipped) == ["Job"]
    text = "\n".join(report.lines())
    assert (
        "Group                    the same group again: SageMaker.ConflictException  [CAUGHT_ERROR -> Done]"
        in text
    )
    assert "unverified" in text and "SageMaker.ThrottlingException" in text
    assert report.as_json()["answers"][0]["error"] == "SageMaker.ConflictException"
    assert lines == [str(report.answers[0])]


def test_the_shipped_provocations_fit_the_pipeline_definition() -> None:
    """Each provocation names a state of the ASL, and its input has every path the state reads."""
    states = {**ASL["States"]}
    for provocation in provocations("smkabc123", "bucket-x"):
        assert provocation.state in states, provocation.state
        state = states[provocation.state]
        for key, path in _paths(state.get("Parameters", {})):
            if path.startswith("$.") and not path.startswith("$$."):
                assert _resolve(provocation.input, path) is not None, (provocation.state, key, path)


def _paths(parameters: Any) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    if isinstance(parameters, dict):
        for key, value in parameters.items():
            if key.endswith(".$") and isinstance(value, str):
                found += [(key, path) for path in _jsonpaths(value)]
            else:
                found += _paths(value)
    elif isinstance(parameters, list):
        for item in parameters:
            found += _paths(item)
    return found


def _jsonpaths(expression: str) -> list[str]:
    """The `$.a.b` paths in a path or an intrinsic function's arguments."""
    return re.findall(r"(?<!\$)\$\.[A-Za-z0-9_.]+", expression)


def _resolve(document: dict[str, Any], path: str) -> Any:
    value: Any = document
    for part in path[2:].split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value
