"""``make smoke-errors``: the error names AWS really gives, for the states whose Retry or Catch
depend on them, through Step Functions' TestState API (API_TestState).

Details: docs/smoke.md, "smoke/errors.py".
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

SYNC_SUFFIX = ".sync"
STEP_FUNCTIONS_PREFIX = "States."  # Step Functions' own names are documented (concepts-error-handling)


@dataclass(frozen=True)
class Provocation:
    """An input that makes a state's call fail, and why we expect it to."""

    state: str
    description: str
    input: dict[str, Any]


@dataclass(frozen=True)
class Probe:
    state: str
    description: str
    request: dict[str, Any]


@dataclass
class Answer:
    probe: Probe
    status: str
    error: str | None
    cause: str | None
    next_state: str | None

    def __str__(self) -> str:
        outcome = f"{self.status}" + (f" -> {self.next_state}" if self.next_state else "")
        return f"{self.probe.state:<24} {self.probe.description}: {self.error or '-'}  [{outcome}]"


@dataclass
class ErrorReport:
    answers: list[Answer] = field(default_factory=list)
    # state -> the names its Retry/Catch list that no provocation produced
    unverified: dict[str, list[str]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    def lines(self) -> list[str]:
        lines = ["Error names AWS gave (state, provocation: error [TestState status -> next state]):"]
        lines += [f"  {answer}" for answer in self.answers]
        if self.unverified:
            lines.append("Names in Retry/Catch that no provocation produced (unverified):")
            lines += [f"  {state:<24} {', '.join(names)}" for state, names in self.unverified.items()]
        if self.skipped:
            lines.append("States not tested:")
            lines += [f"  {state:<24} {why}" for state, why in self.skipped.items()]
        return lines

    def as_json(self) -> dict[str, Any]:
        return {
            "answers": [
                {
                    "state": a.probe.state,
                    "provocation": a.probe.description,
                    "status": a.status,
                    "error": a.error,
                    "cause": a.cause,
                    "next_state": a.next_state,
                }
                for a in self.answers
            ],
            "unverified": self.unverified,
            "skipped": self.skipped,
        }


def named_errors(state: dict[str, Any]) -> list[str]:
    """The error names a state's Retry and Catch match on, other than Step Functions' own."""
    names: list[str] = []
    for rule in [*state.get("Retry", []), *state.get("Catch", [])]:
        for name in rule.get("ErrorEquals", []):
            if not name.startswith(STEP_FUNCTIONS_PREFIX) and name not in names:
                names.append(name)
    return names


def states_with_named_errors(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every state (nested ones too) whose Retry or Catch names an error, by state name."""
    found: dict[str, dict[str, Any]] = {}

    def walk(states: dict[str, Any]) -> None:
        for name, state in states.items():
            if named_errors(state):
                found[name] = state
            for branch in state.get("Branches", []):
                walk(branch["States"])
            for key in ("Iterator", "ItemProcessor"):
                if key in state:
                    walk(state[key]["States"])

    walk(definition["States"])
    return found


def runnable_state(state: dict[str, Any]) -> dict[str, Any]:
    """The state as TestState can run it: a ``.sync`` resource becomes its request-response call."""
    resource = str(state.get("Resource", ""))
    if resource.endswith(SYNC_SUFFIX):
        return {**state, "Resource": resource[: -len(SYNC_SUFFIX)]}
    return state


def build_probes(
    definition: dict[str, Any], role_arn: str, provocations: list[Provocation]
) -> tuple[list[Probe], dict[str, str]]:
    """TestState requests (definition of one state, roleArn, input) for the states whose Retry or
    Catch name errors; the states no provocation covers, with why."""
    states = states_with_named_errors(definition)
    probes: list[Probe] = []
    for provocation in provocations:
        state = states.get(provocation.state)
        if state is None:
            continue  # the state no longer names errors (or no longer exists): nothing to verify
        probes.append(
            Probe(
                state=provocation.state,
                description=provocation.description,
                request={
                    "definition": json.dumps(runnable_state(state)),
                    "roleArn": role_arn,
                    "input": json.dumps(provocation.input),
                    "inspectionLevel": "INFO",
                },
            )
        )
    covered = {probe.state for probe in probes}
    skipped = {name: _why_untested(state) for name, state in states.items() if name not in covered}
    return probes, skipped


def _why_untested(state: dict[str, Any]) -> str:
    resource = str(state.get("Resource", ""))
    if resource.endswith(SYNC_SUFFIX):
        return "a .sync job: its names come from the job, which TestState does not run (API_TestState)"
    if ":lambda:" in resource or resource.startswith("${"):  # a function ARN, deployed or not
        return "Lambda.* are transient service errors no input provokes; other names are our own code's"
    return "no provocation for this state yet"


def run_probes(sfn: Any, probes: list[Probe]) -> Iterator[Answer]:
    for probe in probes:
        response = sfn.test_state(**probe.request)
        yield Answer(
            probe=probe,
            status=str(response.get("status")),
            error=response.get("error"),
            cause=(response.get("cause") or "")[:500] or None,
            next_state=response.get("nextState"),
        )


def report(definition: dict[str, Any], answers: list[Answer], skipped: dict[str, str]) -> ErrorReport:
    seen = {(answer.probe.state, answer.error) for answer in answers}
    unverified: dict[str, list[str]] = {}
    for name, state in states_with_named_errors(definition).items():
        if name in skipped:
            continue
        missing = [error for error in named_errors(state) if (name, error) not in seen]
        if missing:
            unverified[name] = missing
    return ErrorReport(answers=answers, unverified=unverified, skipped=skipped)


def probe_errors(
    sfn: Any,
    state_machine_arn: str,
    provocations: list[Provocation],
    say: Callable[[str], None] = print,
) -> ErrorReport:
    """Read the deployed definition (substitutions resolved) and role, run the probes, report."""
    machine = sfn.describe_state_machine(stateMachineArn=state_machine_arn)
    definition = json.loads(machine["definition"])
    probes, skipped = build_probes(definition, machine["roleArn"], provocations)
    answers: list[Answer] = []
    for answer in run_probes(sfn, probes):
        say(str(answer))
        answers.append(answer)
    return report(definition, answers, skipped)


# --- the provocations -----------------------------------------------------------------------------


# SageMaker's built-in XGBoost 1.7-1 in us-east-1 (sagemaker-algo-docker-registry-paths).
PROBE_TRAINING_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"


def provocations(resource_prefix: str, bucket: str) -> list[Provocation]:
    """Inputs that make each state's call fail, shaped like the state's real input (its JSONPaths).

    The model registry is written by RegisterModelFunction (boto3 reads the error code there), so
    the states whose Retry names an AWS error are the optimized SageMaker integrations: Train,
    CreateModel and Score retry ``SageMaker.AmazonSageMakerException``. Each gets a request the
    API refuses at create time (API_CreateTrainingJob, API_CreateModel, API_CreateTransformJob),
    so the answer is the name AWS gives a create-time error of that integration.
    """
    models = f"s3://{bucket}/models/smoke-errors/"
    plan = {
        "dataset": "smoke_errors",
        "run_id": "smoke-errors",
        "name_base": f"{resource_prefix}-smoke-errors",
        "training": {
            "train_uri": f"s3://{bucket}/exports/smoke_errors/probe/train/",
            "validation_uri": f"s3://{bucket}/exports/smoke_errors/probe/validation/",
            "output_uri": models,
            "checkpoint_uri": f"s3://{bucket}/checkpoints/smoke-errors/",
            "hyperparameters": {"num_round": "1"},
            # The built-in algorithm as PrepareRun plans it (its image is not what this probe provokes).
            "algorithm_specification": {"TrainingImage": PROBE_TRAINING_IMAGE, "TrainingInputMode": "File"},
            "train_distribution": "FullyReplicated",
            # VolumeSizeInGB below the API's minimum of 1 (ResourceConfig): refused at create time.
            "resource_config": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 0},
            "stopping_condition": {"MaxRuntimeInSeconds": 60},
            "enable_spot": False,
        },
        "scoring": {
            "input_uri": f"s3://{bucket}/exports/smoke_errors/probe/score/",
            "output_uri": f"s3://{bucket}/predictions/smoke_errors/probe/",
            "transform_resources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
            "timeout_seconds": 60,
            "output_filter": "$[0,-1]",
        },
    }
    return [
        Provocation("Train", "VolumeSizeInGB 0 (ResourceConfig minimum is 1)", {"plan": plan}),
        Provocation(
            "CreateModel",
            "an image URI that does not exist",
            {
                "plan": plan,
                "model": {
                    "image_uri": "000000000000.dkr.ecr.us-east-1.amazonaws.com/none:0",
                    "model_data_url": f"{models}model.tar.gz",
                },
            },
        ),
        Provocation(
            "Score",
            "a model that does not exist",
            {"plan": plan, "created_model": {"model_name": f"{resource_prefix}-smoke-errors-no-model"}},
        ),
    ]
