"""template.yaml as data, for the template tests: parsed once, with helpers over SAM's shapes."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from samtranslator.yaml_helper import yaml_parse

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = ROOT / "template.yaml"
ASL_PATH = ROOT / "statemachines" / "pipeline.asl.json"

FUNCTIONS = {
    "StartPipelineFunction": "functions/start_pipeline/",
    "PrepareRunFunction": "functions/prepare_run/",
    "EvaluateModelFunction": "functions/evaluate_model/",
    "SelectModelFunction": "functions/select_model/",
    "RegisterModelFunction": "functions/register_model/",
    "LoadPredictionsFunction": "functions/load_predictions/",
    "PublishModelFunction": "functions/publish_model/",
    "RecordRunFunction": "functions/record_run/",
    "RecordExecutionOutcomeFunction": "functions/record_execution_outcome/",
}
SNOWFLAKE_FUNCTIONS = {
    "LoadPredictionsFunction",
    "PublishModelFunction",
    "RecordRunFunction",
    "RecordExecutionOutcomeFunction",
}
# Invoked by EventBridge, not by the state machine.
TASK_FUNCTIONS = set(FUNCTIONS) - {"StartPipelineFunction", "RecordExecutionOutcomeFunction"}


@functools.cache
def template() -> dict[str, Any]:
    parsed: dict[str, Any] = yaml_parse(TEMPLATE_PATH.read_text(encoding="utf-8"))
    return parsed


def resources() -> dict[str, Any]:
    return dict(template()["Resources"])


def resources_of_type(kind: str) -> dict[str, Any]:
    return {name: res for name, res in resources().items() if res["Type"] == kind}


def function_globals() -> dict[str, Any]:
    return dict(template().get("Globals", {}).get("Function", {}))


def function_environment(name: str) -> dict[str, Any]:
    """The function's environment variables with the Globals' merged in (SAM's rule)."""
    merged = dict(function_globals().get("Environment", {}).get("Variables", {}))
    props = resources()[name]["Properties"]
    merged.update(props.get("Environment", {}).get("Variables", {}))
    return merged


def function_layers(name: str) -> list[str]:
    """Layer logical ids: Globals' list first, then the function's (SAM concatenates lists)."""
    layers = list(function_globals().get("Layers", [])) + list(
        resources()[name]["Properties"].get("Layers", [])
    )
    return [layer["Ref"] for layer in layers]


def unwrap_if(value: Any) -> Iterator[Any]:
    """Both branches of an Fn::If (policies may be conditional), else the value itself."""
    if isinstance(value, dict) and set(value) == {"Fn::If"}:
        for branch in value["Fn::If"][1:]:
            if not (isinstance(branch, dict) and branch.get("Ref") == "AWS::NoValue"):
                yield from unwrap_if(branch)
    else:
        yield value


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def identity_statements() -> Iterator[tuple[str, dict[str, Any]]]:
    """(owner, statement) for every inline identity-policy statement in the template.

    SAM policy templates (e.g. LambdaInvokePolicy) are SAM's own, scoped by their parameters, and
    managed policy names carry no statements: both are skipped here.
    """
    for name, res in resources().items():
        props = res.get("Properties", {})
        if res["Type"] in ("AWS::Serverless::Function", "AWS::Serverless::StateMachine"):
            for policy in as_list(props.get("Policies", [])):
                for doc in unwrap_if(policy):
                    if isinstance(doc, dict) and "Statement" in doc:
                        for statement in doc["Statement"]:
                            yield name, statement
        elif res["Type"] == "AWS::IAM::Role":
            for policy in props.get("Policies", []):
                for statement in policy["PolicyDocument"]["Statement"]:
                    yield name, statement


def sam_policy_templates(name: str) -> list[tuple[str, dict[str, Any]]]:
    policies = as_list(resources()[name]["Properties"].get("Policies", []))
    found: list[tuple[str, dict[str, Any]]] = []
    for policy in policies:
        for doc in unwrap_if(policy):
            if isinstance(doc, dict) and "Statement" not in doc:
                found.extend(doc.items())
    return found


def sub_text(value: Any) -> str:
    """The text of a Fn::Sub (short or long form) or a plain string."""
    if isinstance(value, dict) and "Fn::Sub" in value:
        sub = value["Fn::Sub"]
        return str(sub[0] if isinstance(sub, list) else sub)
    return str(value)
