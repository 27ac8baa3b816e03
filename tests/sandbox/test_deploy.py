"""The sandbox refuses what it cannot run: a resource type, a task integration, a missing handler.

These are the tests that fail when someone adds a function, a resource or a state to the
template or the ASL that the sandbox cannot stand up: teach sandbox/ first, then add it.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from samtranslator.yaml_helper import yaml_parse

from sandbox.aws.deploy import (
    PROJECT_ROOT,
    TEMPLATE,
    SandboxDeployError,
    check_state_machines,
    check_supported,
    check_tasks,
    function_sources,
    substitute,
)

ASL = json.loads((PROJECT_ROOT / "statemachines" / "pipeline.asl.json").read_text())


def _template() -> dict[str, Any]:
    parsed: dict[str, Any] = yaml_parse(TEMPLATE.read_text())
    return parsed


def _substitutions(template: dict[str, Any]) -> dict[str, Any]:
    machine = template["Resources"]["PipelineStateMachine"]["Properties"]
    substitutions: dict[str, Any] = machine["DefinitionSubstitutions"]
    return substitutions


def test_the_sandbox_can_stand_up_the_template_and_run_its_state_machine() -> None:
    template = _template()
    check_supported(template)
    check_state_machines(template, PROJECT_ROOT)
    sources = function_sources(template)
    assert set(sources) == {
        name for name, res in template["Resources"].items() if res["Type"] == "AWS::Serverless::Function"
    }
    for source in sources.values():
        assert (source.code_dir / "app.py").is_file()
        assert any((layer / "snowsage").is_dir() for layer in source.layer_dirs)


def test_an_unknown_resource_type_is_refused() -> None:
    template = _template()
    template["Resources"]["Endpoint"] = {"Type": "AWS::SageMaker::Endpoint", "Properties": {}}
    with pytest.raises(SandboxDeployError, match=r"Endpoint \(AWS::SageMaker::Endpoint\)"):
        check_supported(template)


def test_an_unsupported_task_integration_is_refused() -> None:
    definition = copy.deepcopy(ASL)
    definition["States"]["Score"]["Resource"] = "arn:aws:states:::sagemaker:createEndpoint"
    template = _template()
    functions = {n for n, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}
    with pytest.raises(SandboxDeployError, match="Score: arn:aws:states:::sagemaker:createEndpoint"):
        check_tasks(definition, _substitutions(template), functions)


def test_a_lambda_task_must_be_a_function_of_the_template() -> None:
    definition = copy.deepcopy(ASL)
    definition["States"]["PrepareRun"]["Resource"] = "${ValidateFunctionArn}"
    template = _template()
    substitutions = {
        **_substitutions(template),
        "ValidateFunctionArn": {"Fn::GetAtt": ["ValidateFunction", "Arn"]},
    }
    functions = {n for n, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}
    with pytest.raises(SandboxDeployError, match="PrepareRun"):
        check_tasks(definition, substitutions, functions)


def test_a_function_without_code_is_refused(tmp_path: Path) -> None:
    template = _template()
    template["Resources"]["PrepareRunFunction"]["Properties"]["CodeUri"] = "functions/does_not_exist/"
    with pytest.raises(SandboxDeployError, match="PrepareRunFunction"):
        function_sources(template)


def test_placeholders_without_a_substitution_are_errors() -> None:
    assert substitute('{"Resource": "${A}"}', {"A": "arn:x"}) == '{"Resource": "arn:x"}'
    with pytest.raises(SandboxDeployError, match=r"\$\{B\}"):
        substitute('{"Resource": "${B}"}', {"A": "arn:x"})


def test_a_hard_coded_partition_is_refused() -> None:
    """arn:aws:states:::… fails in aws-cn and aws-us-gov: integrations come from substitutions."""
    definition = copy.deepcopy(ASL)
    definition["States"]["Score"]["Resource"] = "arn:aws:states:::sagemaker:createTransformJob.sync"
    template = _template()
    functions = {n for n, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}
    with pytest.raises(
        SandboxDeployError, match=r"Score: arn:aws:states:::sagemaker:createTransformJob\.sync"
    ):
        check_tasks(definition, _substitutions(template), functions)


def test_an_unsupported_integration_substitution_is_refused() -> None:
    template = _template()
    substitutions = _substitutions(template)
    substitutions["SageMakerCreateTransformJobSync"] = {
        "Fn::Sub": "arn:${AWS::Partition}:states:::sagemaker:createEndpoint"
    }
    functions = {n for n, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}
    with pytest.raises(SandboxDeployError, match=r"Score: .*createEndpoint"):
        check_tasks(copy.deepcopy(ASL), substitutions, functions)
