"""The sandbox refuses what it cannot run: a resource type, a task integration, a missing handler.

These are the tests that fail when someone adds a function, a resource or a state to the
template or the ASL that the sandbox cannot stand up: teach sandbox/ first, then add it.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from sandbox.aws.deploy import (
    SandboxDeployError,
    check_state_machines,
    check_supported,
    check_tasks,
    substitute,
)
from tooling.template import PROJECT_ROOT, Template, TemplateError, project

ASL = project().state_machine.definition()
FUNCTIONS = set(project().functions)


def _document() -> dict[str, Any]:
    return copy.deepcopy(project().document)


def _substitutions(template: dict[str, Any]) -> dict[str, Any]:
    machine = template["Resources"]["PipelineStateMachine"]["Properties"]
    substitutions: dict[str, Any] = machine["DefinitionSubstitutions"]
    return substitutions


def test_the_sandbox_can_stand_up_the_template_and_run_its_state_machine() -> None:
    template = project()
    check_supported(template)
    check_state_machines(template)
    assert template.functions
    for logical_id, function in template.functions.items():
        assert (function.code_dir / "app.py").is_file()
        assert any((layer / "snowsage").is_dir() for layer in template.layer_dirs(logical_id))


def test_an_unknown_resource_type_is_refused() -> None:
    document = _document()
    document["Resources"]["Endpoint"] = {"Type": "AWS::SageMaker::Endpoint", "Properties": {}}
    with pytest.raises(SandboxDeployError, match=r"Endpoint \(AWS::SageMaker::Endpoint\)"):
        check_supported(Template(document, PROJECT_ROOT))


def test_an_unsupported_task_integration_is_refused() -> None:
    definition = copy.deepcopy(ASL)
    definition["States"]["Score"]["Resource"] = "arn:aws:states:::sagemaker:createEndpoint"
    with pytest.raises(SandboxDeployError, match="Score: arn:aws:states:::sagemaker:createEndpoint"):
        check_tasks(definition, _substitutions(_document()), FUNCTIONS)


def test_a_lambda_task_must_be_a_function_of_the_template() -> None:
    definition = copy.deepcopy(ASL)
    definition["States"]["PrepareRun"]["Resource"] = "${ValidateFunctionArn}"
    substitutions = {
        **_substitutions(_document()),
        "ValidateFunctionArn": {"Fn::GetAtt": ["ValidateFunction", "Arn"]},
    }
    with pytest.raises(SandboxDeployError, match="PrepareRun"):
        check_tasks(definition, substitutions, FUNCTIONS)


def test_a_function_without_code_is_refused() -> None:
    document = _document()
    document["Resources"]["PrepareRunFunction"]["Properties"]["CodeUri"] = "functions/does_not_exist/"
    with pytest.raises(TemplateError, match="PrepareRunFunction"):
        Template(document, PROJECT_ROOT)


def test_placeholders_without_a_substitution_are_errors() -> None:
    assert substitute('{"Resource": "${A}"}', {"A": "arn:x"}) == '{"Resource": "arn:x"}'
    with pytest.raises(SandboxDeployError, match=r"\$\{B\}"):
        substitute('{"Resource": "${B}"}', {"A": "arn:x"})


def test_a_hard_coded_partition_is_refused() -> None:
    """arn:aws:states:::… fails in aws-cn and aws-us-gov: integrations come from substitutions."""
    definition = copy.deepcopy(ASL)
    definition["States"]["Score"]["Resource"] = "arn:aws:states:::sagemaker:createTransformJob.sync"
    with pytest.raises(
        SandboxDeployError, match=r"Score: arn:aws:states:::sagemaker:createTransformJob\.sync"
    ):
        check_tasks(definition, _substitutions(_document()), FUNCTIONS)


def test_an_unsupported_integration_substitution_is_refused() -> None:
    substitutions = _substitutions(_document())
    substitutions["SageMakerCreateTransformJobSync"] = {
        "Fn::Sub": "arn:${AWS::Partition}:states:::sagemaker:createEndpoint"
    }
    with pytest.raises(SandboxDeployError, match=r"Score: .*createEndpoint"):
        check_tasks(copy.deepcopy(ASL), substitutions, FUNCTIONS)
