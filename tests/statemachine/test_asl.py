"""The real state machine file, checked as a graph and as a data flow.

Every path a state reads (``$.plan.scoring.rows``) must be produced on every way into that state,
by the execution input or by an earlier state's ResultPath, with the field existing in the model
that produces it; every Lambda state's Parameters must be exactly what its handler's request
model takes. A renamed field in the core or the ASL fails here, not in a deployed account.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from snowsage import errors, models, states
from snowsage.names import EXECUTION_NAME_MAX, RUN_ID_MAX, SAGEMAKER_NAME, name_base, run_id_for

ASL_PATH = Path(__file__).resolve().parents[2] / "statemachines" / "pipeline.asl.json"
DEFINITION: dict[str, Any] = json.loads(ASL_PATH.read_text())
STATES: dict[str, dict[str, Any]] = DEFINITION["States"]

# What each state's ResultPath puts into the state: a model, or the ResultSelector's own keys.
PRODUCERS: dict[str, type[BaseModel] | None] = {
    "manifest": None,
    "mode": None,
    "hyperparameters": None,
    "model_package_arn": None,
    "training_instance_type": None,
    "transform_instance_type": None,
    "evaluation_threshold": None,
    "plan": models.RunPlan,
    "training": models.TrainingResult,
    "evaluation": models.Verdict,
    "registered": models.RegisteredModel,
    "model": models.ModelSelection,
    "transform": models.TransformResult,
    "load": models.LoadResult,
    "published": models.PublishedModel,
    "record": models.RunRecord,
    "error": models.CaughtError,
    "created_model": None,
}
# Keys a ResultSelector writes, by the ResultPath it writes them to.
SELECTED: dict[str, set[str]] = {
    str(state["ResultPath"]).split(".")[1]: {key.removesuffix(".$") for key in state["ResultSelector"]}
    for state in STATES.values()
    if "ResultSelector" in state and state.get("ResultPath")
}
LAMBDA_REQUESTS: dict[str, type[BaseModel]] = {
    "${PrepareRunFunctionArn}": models.PrepareRunRequest,
    "${EvaluateModelFunctionArn}": models.EvaluateModelRequest,
    "${SelectModelFunctionArn}": models.SelectModelRequest,
    "${RegisterModelFunctionArn}": models.RegisterModelRequest,
    "${LoadPredictionsFunctionArn}": models.LoadPredictionsRequest,
    "${PublishModelFunctionArn}": models.PublishModelRequest,
    "${TrainInSnowflakeFunctionArn}": models.TrainInSnowflakeRequest,
    "${ScoreInSnowflakeFunctionArn}": models.ScoreInSnowflakeRequest,
    "${RecordRunFunctionArn}": models.RecordRunRequest,
}
PATH = re.compile(r"(?<![$\w])\$((?:\.[A-Za-z_][A-Za-z0-9_]*)+)")


def edges(state: dict[str, Any]) -> Iterator[tuple[str, str | None]]:
    """(target, key the transition adds): a Catch adds its ResultPath."""
    if "Next" in state:
        yield state["Next"], None
    for choice in state.get("Choices", []):
        yield choice["Next"], None
    if "Default" in state:
        yield state["Default"], None
    for catch in state.get("Catch", []):
        path = catch.get("ResultPath")
        yield catch["Next"], path.split(".")[1] if path else None


def produced_key(state: dict[str, Any]) -> str | None:
    path = state.get("ResultPath", "$" if state["Type"] in {"Task", "Pass"} else None)
    if path in (None, "$"):
        return None
    return str(path).split(".")[1]


def available_keys() -> dict[str, set[str]]:
    """Top-level keys present on EVERY path into each state (a forward must-analysis)."""
    start_keys = {"manifest"}
    available: dict[str, set[str] | None] = dict.fromkeys(STATES)
    available[DEFINITION["StartAt"]] = start_keys
    changed = True
    while changed:
        changed = False
        for name, state in STATES.items():
            keys_in = available[name]
            if keys_in is None:
                continue
            key = produced_key(state)
            for target, catch_key in edges(state):
                keys_out = set(keys_in)
                if catch_key:
                    keys_out.add(catch_key)
                elif key:
                    keys_out.add(key)
                current = available[target]
                merged = keys_out if current is None else current & keys_out
                if merged != current:
                    available[target] = merged
                    changed = True
    return {name: keys or set() for name, keys in available.items()}


def field_exists(model: type[BaseModel] | None, parts: list[str]) -> bool:
    if model is None or not parts:
        return True
    field = model.model_fields.get(parts[0])
    if field is None:
        return False
    annotation: Any = field.annotation
    inner: list[Any] = [arg for arg in getattr(annotation, "__args__", ()) if isinstance(arg, type)] or [
        annotation
    ]
    nested = next((arg for arg in inner if isinstance(arg, type) and issubclass(arg, BaseModel)), None)
    if nested is None:
        return len(parts) == 1 or _is_mapping(annotation)
    return field_exists(nested, parts[1:])


def _is_mapping(annotation: Any) -> bool:
    return "dict" in str(annotation)


def reads(value: Any) -> Iterator[str]:
    """Every JSONPath a Parameters / ResultSelector value reads from the state (not $$ context)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key.endswith(".$") and isinstance(item, str):
                yield from (match.group(1) for match in PATH.finditer(item) if not item.startswith("$$"))
            yield from reads(item)
    elif isinstance(value, list):
        for item in value:
            yield from reads(item)


def reachable(*starts: str) -> set[str]:
    """The states reachable from ``starts`` (default: StartAt), themselves included."""
    seen: set[str] = set()
    stack = list(starts) or [DEFINITION["StartAt"]]
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        stack.extend(target for target, _ in edges(STATES[name]))
    return seen


# The states a Catch leads to, and every state after them.
FAILURE_BRANCH = reachable(*(catch["Next"] for state in STATES.values() for catch in state.get("Catch", [])))


def test_every_state_is_reachable_and_every_target_exists() -> None:
    targets = {target for state in STATES.values() for target, _ in edges(state)}
    assert targets <= STATES.keys(), f"dangling: {targets - STATES.keys()}"
    assert reachable() == set(STATES), f"unreachable: {set(STATES) - reachable()}"


def test_every_state_ends_or_moves_on() -> None:
    for name, state in STATES.items():
        terminal = state["Type"] in {"Succeed", "Fail"} or state.get("End")
        assert terminal or list(edges(state)), name


@pytest.mark.parametrize("name", [n for n, s in STATES.items() if s["Type"] == "Task"])
def test_every_task_retries_and_catches(name: str) -> None:
    state = STATES[name]
    assert state.get("Retry"), f"{name} has no Retry"
    assert state.get("Catch"), f"{name} has no Catch"
    for retry in state["Retry"]:
        assert "States.ALL" not in retry["ErrorEquals"], f"{name} retries everything, permanent errors too"
        assert retry.get("BackoffRate", 1) > 1 or name in FAILURE_BRANCH
    catch_all = [c for c in state["Catch"] if "States.ALL" in c["ErrorEquals"]]
    assert catch_all, f"{name} does not catch States.ALL"
    if name not in FAILURE_BRANCH and name != "Notify":
        assert catch_all[0]["Next"] == states.RECORD_FAILURE and catch_all[0]["ResultPath"] == "$.error"


def test_the_cores_state_names_are_the_asls() -> None:
    """snowsage.states, derived from the ASL: the failure path, the recording and announcing states."""
    path = [states.RECORD_FAILURE]
    while STATES[path[-1]]["Type"] != "Fail":
        path.append(STATES[path[-1]]["Next"])
    assert tuple(path) == states.FAILURE_PATH
    assert set(path) == states.FAILURE_BRANCH_STATES
    tasks = {name: state for name, state in STATES.items() if state["Type"] == "Task"}
    recording = {name for name, state in tasks.items() if state["Resource"] == "${RecordRunFunctionArn}"}
    announcing = {name for name, state in tasks.items() if state["Resource"] == "${SnsPublish}"}
    assert recording == states.RECORDING_STATES
    assert announcing == states.ANNOUNCING_STATES
    assert {states.RECORD_RUN, states.NOTIFY} <= recording | announcing


def test_the_failure_branch_keeps_the_original_error() -> None:
    """Whatever fails inside the failure branch must not overwrite the error the run failed with."""
    for name in states.FAILURE_BRANCH_STATES:
        assert all(c.get("ResultPath") != "$.error" for c in STATES[name].get("Catch", [])), name


@pytest.mark.parametrize("name", list(STATES))
def test_paths_read_exist_on_every_way_in(name: str) -> None:
    state = STATES[name]
    keys = available_keys()[name]
    paths = list(reads(state.get("Parameters", {})))
    paths += [choice["Variable"][2:] for choice in state.get("Choices", []) if "Variable" in choice]
    paths += [state[key][2:] for key in ("TimeoutSecondsPath", "HeartbeatSecondsPath") if key in state]
    for path in paths:
        parts = path.strip(".").split(".")
        assert parts[0] in keys, (
            f"{name} reads $.{path.strip('.')} but '{parts[0]}' may be missing (has {sorted(keys)})"
        )
        if parts[0] in SELECTED and len(parts) > 1:
            assert parts[1] in SELECTED[parts[0]], f"{name} reads $.{'.'.join(parts)}: not selected"
        assert field_exists(PRODUCERS[parts[0]], parts[1:]), (
            f"{name} reads $.{path.strip('.')}: no such field"
        )


@pytest.mark.parametrize("resource", list(LAMBDA_REQUESTS))
def test_lambda_parameters_match_the_request_model(resource: str) -> None:
    model = LAMBDA_REQUESTS[resource]
    required = {name for name, field in model.model_fields.items() if field.is_required()}
    for name, state in STATES.items():
        if state.get("Resource") != resource:
            continue
        keys = {key.removesuffix(".$") for key in state["Parameters"]}
        assert keys <= model.model_fields.keys(), f"{name} passes {keys - model.model_fields.keys()}"
        assert required <= keys, f"{name} misses {required - keys}"


@pytest.mark.parametrize(
    ("name", "field"),
    [("Train", "TrainingJobName.$"), ("CreateModel", "ModelName.$"), ("Score", "TransformJobName.$")],
)
def test_sagemaker_names_are_unique_across_retries(name: str, field: str) -> None:
    expression = STATES[name]["Parameters"][field]
    assert "$$.State.RetryCount" in expression
    assert "$.plan.name_base" in expression


SAGEMAKER_NAME_MAX = 63  # API_CreateTrainingJob, API_CreateModel, API_CreateTransformJob
SAGEMAKER_FORMAT = re.compile(r"States\.Format\('([^']*)', \$\.plan\.name_base, \$\$\.State\.RetryCount\)")


@pytest.mark.parametrize(
    "execution",
    ["merchant_risk-20261126t100000z", "3f1c0d2e-9a8b-4c7d-8e6f-5a4b3c2d1e0f", "X" * 80, "a_b__c"],
)
@pytest.mark.parametrize(
    ("name", "field"),
    [("Train", "TrainingJobName.$"), ("CreateModel", "ModelName.$"), ("Score", "TransformJobName.$")],
)
def test_sagemaker_names_are_valid_for_every_retry(execution: str, name: str, field: str) -> None:
    """The ASL's own States.Format, rendered for the longest base and every RetryCount it can reach."""
    state = STATES[name]
    match = SAGEMAKER_FORMAT.fullmatch(state["Parameters"][field])
    assert match, state["Parameters"][field]
    last_retry = sum(rule.get("MaxAttempts", 3) for rule in state.get("Retry", []))
    base = name_base("snowsage", run_id_for(execution))
    for retry in range(last_retry + 1):
        rendered = match.group(1).replace("{}", base, 1).replace("{}", str(retry), 1)
        assert SAGEMAKER_NAME.fullmatch(rendered), rendered
        assert len(rendered) <= SAGEMAKER_NAME_MAX, rendered


@pytest.mark.parametrize("key", sorted(SELECTED))
def test_result_selectors_give_what_the_models_read(key: str) -> None:
    model = PRODUCERS[key]
    if model is not None:
        assert SELECTED[key] <= model.model_fields.keys(), (
            f"{key}: {SELECTED[key] - model.model_fields.keys()}"
        )


# --- issue 10: what AWS would refuse ------------------------------------------------------------
FORMAT = re.compile(r"States\.Format\('(?P<template>[^']*)'(?P<args>(?:,\s*[^,)]+)*)\)")


@pytest.mark.parametrize("name", [n for n, s in STATES.items() if s["Type"] == "Fail"])
def test_no_fail_state_raises_a_states_error(name: str) -> None:
    """concepts-error-handling: custom error names "must not begin with the States. prefix".
    A Fail state's ErrorPath that re-raises a caught error must therefore add a prefix."""
    state = STATES[name]
    if "Error" in state:
        assert not state["Error"].startswith("States."), name
    if "ErrorPath" in state:
        match = FORMAT.fullmatch(state["ErrorPath"])
        assert match, f"{name}: ErrorPath {state['ErrorPath']!r} may carry a States.* name as it is"
        prefix = match["template"].split("{}", 1)[0]
        assert prefix and not prefix.startswith("States."), f"{name}: prefix {prefix!r}"


def test_integrations_name_the_partition() -> None:
    """aws-cn and aws-us-gov regions are in the image map: no Resource says arn:aws:. Every
    Resource is a placeholder; the template test checks each substitution's partition."""
    for name, state in STATES.items():
        if "Resource" in state:
            assert re.fullmatch(r"\$\{\w+\}", state["Resource"]), f"{name}: {state['Resource']}"


def test_no_state_calls_an_aws_sdk_integration() -> None:
    """aws-sdk tasks surface error names derived from AWS error codes (supported-services-awssdk),
    which the registry does not document per call: the registry is called from a Lambda."""
    for name, state in STATES.items():
        assert ":aws-sdk:" not in state.get("Resource", ""), name


TRANSIENT_NAMES = {
    cls.__name__
    for cls in vars(errors).values()
    if isinstance(cls, type) and issubclass(cls, errors.TransientError) and cls is not errors.TransientError
}
LAMBDA_SERVICE_ERRORS = {
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
}


@pytest.mark.parametrize("name", [n for n, s in STATES.items() if s["Type"] == "Task"])
def test_retried_names_are_ones_the_task_can_raise(name: str) -> None:
    """A Retry on a name nothing raises never matches (SageMaker.ResourceLimitExceeded, say)."""
    state = STATES[name]
    resource = state["Resource"]
    if resource in LAMBDA_REQUESTS:
        raisable = LAMBDA_SERVICE_ERRORS | TRANSIENT_NAMES
    elif resource.startswith("${SageMaker"):
        # The optimized integration's name for every create-time error (sagemaker-iam / connect-sagemaker).
        raisable = {"SageMaker.AmazonSageMakerException"}
    else:
        raisable = {"States.TaskFailed"}
    for retry in state["Retry"]:
        assert set(retry["ErrorEquals"]) <= raisable, f"{name}: {set(retry['ErrorEquals']) - raisable}"


@pytest.mark.parametrize("name", ["Train", "CreateModel", "Score"])
def test_sagemaker_errors_are_retried_briefly(name: str) -> None:
    """SageMaker.AmazonSageMakerException covers permanent validation errors too: at most two
    retries, at most a minute and a half of waiting in all."""
    (retry,) = STATES[name]["Retry"]
    delays = [
        min(retry["IntervalSeconds"] * retry["BackoffRate"] ** attempt, retry.get("MaxDelaySeconds", 1e9))
        for attempt in range(retry["MaxAttempts"])
    ]
    assert retry["MaxAttempts"] <= 2 and sum(delays) <= 90, delays


def test_score_has_a_timeout() -> None:
    """A batch transform has no runtime limit of its own; the Score task has one."""
    score = STATES["Score"]
    assert score.get("TimeoutSecondsPath") == "$.plan.scoring.timeout_seconds" or "TimeoutSeconds" in score
    assert "timeout_seconds" in models.ScoringPlan.model_fields


# The longest value each Subject argument can take.
SUBJECT_ARGUMENTS = {
    "$$.Execution.Name": EXECUTION_NAME_MAX,
    "$.record.run_id": RUN_ID_MAX,
    "$.record.status": max(len(status) for status in models.RunStatus.__args__),
}


@pytest.mark.parametrize("name", [n for n, s in STATES.items() if s.get("Resource") == "${SnsPublish}"])
def test_sns_subjects_stay_under_100_characters(name: str) -> None:
    """API_Publish: Subject is ASCII, "must be less than 100 characters long"."""
    parameters = STATES[name]["Parameters"]
    if "Subject" in parameters:
        longest = len(parameters["Subject"])
    else:
        match = FORMAT.fullmatch(parameters["Subject.$"])
        assert match, parameters["Subject.$"]
        args = [arg.strip() for arg in match["args"].split(",") if arg.strip()]
        assert all(arg in SUBJECT_ARGUMENTS for arg in args), args
        assert match["template"].isascii()
        longest = len(match["template"].replace("{}", "")) + sum(SUBJECT_ARGUMENTS[arg] for arg in args)
    assert longest < 100, f"{name}: a Subject of up to {longest} characters"


# --- Choice states, evaluated on documents --------------------------------------------------
def _lookup(document: dict[str, Any], path: str) -> tuple[bool, Any]:
    value: Any = document
    for part in path.removeprefix("$.").split("."):
        if not isinstance(value, dict) or part not in value:
            return False, None
        value = value[part]
    return True, value


# The comparisons the ASL's Choice states use, on a value that is present.
COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "IsNull": lambda value, expected: (value is None) is expected,
    "BooleanEquals": lambda value, expected: value is expected,
    "StringEquals": lambda value, expected: isinstance(value, str) and value == expected,
}


def _matches(rule: dict[str, Any], document: dict[str, Any]) -> bool:
    """A Choice rule as Step Functions evaluates it (amazon-states-language-choice-state); a
    comparison on a missing path is States.Runtime, an operator this does not know fails loudly."""
    if "And" in rule:
        return all(_matches(inner, document) for inner in rule["And"])
    if "Or" in rule:
        return any(_matches(inner, document) for inner in rule["Or"])
    if "Not" in rule:
        return not _matches(rule["Not"], document)
    present, value = _lookup(document, rule["Variable"])
    if "IsPresent" in rule:
        return present is rule["IsPresent"]
    assert present, f"States.Runtime: {rule['Variable']} is missing from {document}"
    (operator,) = set(rule) - {"Variable", "Next"}
    assert operator in COMPARISONS, f"an operator this test does not evaluate: {rule}"
    return COMPARISONS[operator](value, rule[operator])


def choose(name: str, document: dict[str, Any]) -> str:
    """The state a Choice state moves to for ``document``."""
    state = STATES[name]
    return next((rule["Next"] for rule in state["Choices"] if _matches(rule, document)), state["Default"])


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"plan": {"mode": "train_and_score"}, "evaluation": {"promote": True}}, "PublishModel"),
        ({"plan": {"mode": "train_and_score"}, "evaluation": {"promote": False}}, "RecordRun"),
        ({"plan": {"mode": "score_only"}}, "RecordRun"),  # no gate ran: nothing new to publish
    ],
)
def test_only_a_model_promoted_this_run_is_published(document: dict[str, Any], expected: str) -> None:
    assert STATES["LoadPredictions"]["Next"] == "IsModelToPublish"
    assert choose("IsModelToPublish", document) == expected


def test_a_failed_publish_is_recorded_and_snowflake_outages_are_retried() -> None:
    publish = STATES["PublishModel"]
    assert (publish["Next"], publish["ResultPath"]) == ("RecordRun", "$.published")
    assert "SnowflakeUnavailable" in {name for retry in publish["Retry"] for name in retry["ErrorEquals"]}


TUNING = {"parameter_ranges": {}}


@pytest.mark.parametrize(
    ("plan", "expected"),
    [
        ({"model": {"training_engine": "SAGEMAKER"}}, "Train"),
        ({"model": {"training_engine": "SAGEMAKER"}, "tuning": None}, "Train"),
        ({"model": {"training_engine": "SAGEMAKER"}, "tuning": TUNING}, "Tune"),
        (
            {"model": {"training_engine": "SAGEMAKER"}, "tuning": {**TUNING, "warm_start_config": None}},
            "Tune",
        ),
        (
            {"model": {"training_engine": "SAGEMAKER"}, "tuning": {**TUNING, "warm_start_config": {}}},
            "TuneWarm",
        ),
        ({"model": {"training_engine": "SNOWFLAKE"}, "tuning": TUNING}, "TrainInSnowflake"),
    ],
)
def test_a_train_and_score_plan_chooses_its_training(plan: dict[str, Any], expected: str) -> None:
    """The engine first; on SageMaker a tuned plan tunes (warm when PrepareRun found a parent)."""
    document = {"plan": {"mode": "train_and_score", **plan}}
    state = choose("ChooseMode", document)
    while STATES[state]["Type"] == "Choice":
        state = choose(state, document)
    assert state == expected


def test_tune_runs_trains_job_and_recovers_like_train() -> None:
    """Tune's trials are Train's job (same image, role, channels, output, resources, stopping
    condition, spot), and it retries and catches as Train does; only a tuned plan reaches it."""
    train, tune = STATES["Train"], STATES["Tune"]
    definition = tune["Parameters"]["TrainingJobDefinition"]
    for key in ("RoleArn", "InputDataConfig", "OutputDataConfig"):
        assert definition[key] == train["Parameters"][key], key
    for key in (
        "AlgorithmSpecification.$",
        "ResourceConfig.$",
        "StoppingCondition.$",
        "EnableManagedSpotTraining.$",
    ):
        assert definition[key] == train["Parameters"][key], key
    assert definition["StaticHyperParameters.$"] == "$.plan.tuning.static_hyperparameters"
    assert (tune["Retry"], tune["Catch"], tune["Next"]) == (train["Retry"], train["Catch"], train["Next"])
    assert tune["ResultPath"] == train["ResultPath"] == "$.training"


def test_tune_warm_is_tune_with_the_plans_warm_start_config() -> None:
    """A Parameters field cannot be left out, so a warm start is its own state: Tune's very request,
    result, Retry and Catch plus WarmStartConfig (which plan reaches it:
    test_a_train_and_score_plan_chooses_its_training)."""
    tune, warm = STATES["Tune"], copy.deepcopy(STATES["TuneWarm"])
    assert warm["Parameters"].pop("WarmStartConfig.$") == "$.plan.tuning.warm_start_config"
    assert {key: value for key, value in warm.items() if key != "Comment"} == {
        key: value for key, value in tune.items() if key != "Comment"
    }


def test_the_scoring_engine_chooses_the_transform_or_scoring_in_snowflake() -> None:
    """After SelectModel, SNOWFLAKE publishes the model if the function does not serve it yet, then
    scores in Snowflake into $.load, as LoadPredictions does; no transform state is on that path."""
    assert STATES["SelectModel"]["Next"] == "ChooseScoringEngine"
    for engine, expected in (("SNOWFLAKE", "PublishForScoring"), ("SAGEMAKER", "CreateModel")):
        assert choose("ChooseScoringEngine", {"plan": {"model": {"scoring_engine": engine}}}) == expected
    publish = STATES["PublishForScoring"]
    assert publish["Resource"] == STATES["PublishModel"]["Resource"]
    assert publish["Parameters"]["if_not_served"] is True
    assert (publish["ResultPath"], publish["Next"]) == ("$.published", "ScoreInSnowflake")
    score = STATES["ScoreInSnowflake"]
    assert (score["ResultPath"], score["Next"]) == (STATES["LoadPredictions"]["ResultPath"], "RecordRun")
    assert "SnowflakeUnavailable" in {name for retry in score["Retry"] for name in retry["ErrorEquals"]}
    after = reachable("PublishForScoring") - FAILURE_BRANCH
    assert not after & {"CreateModel", "Score", "LoadPredictions", "PublishModel"}, after
