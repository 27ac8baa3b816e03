"""tooling.template: one model of template.yaml, and every reader picks up a new function from it.

The scratch project below is template.yaml with a ninth function added (and nothing else edited):
the sandbox deploy (whose MemorySize RecordRun's cost reads), the size report, the benchmarks'
environment and the `sam local` environment all include it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from sandbox.aws.deploy import deploy
from sandbox.aws.lambda_runtime import LambdaRuntime
from sandbox.aws.moto_patches import installed_patches
from sandbox.sagemaker import SageMakerEmulator
from sandbox.services import reset_moto
from scripts import sizes
from tests.serve.sam_local import sam_local_environment
from tests.template.template_model import REQUIRED_PARAMETERS as REQUIRED
from tooling import lambda_functions
from tooling.template import (
    DEFAULT_MEMORY_MB,
    DEFAULT_TIMEOUT_SECONDS,
    NO_VALUE,
    PROJECT_ROOT,
    TEMPLATE_PATH,
    Template,
    TemplateError,
    granted_statements,
    project,
    read,
)

NINTH = "ScoreDriftFunction"
NINTH_RESOURCES = f"""
  {NINTH}:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/score_drift/
      Layers: [!Ref SnowflakeLayer]
      MemorySize: 1024
      Environment:
        Variables:
          DRIFT_THRESHOLD: !Ref EvaluationThreshold
      Policies:
        - Statement:
            - Effect: Allow
              Action: s3:GetObject
              Resource: !Sub ${{DataBucket.Arn}}/predictions/*
"""


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the project with one more function in template.yaml (its folders linked, not copied)."""
    root = tmp_path_factory.mktemp("scratch")
    for folder in ("layers", "statemachines"):
        (root / folder).symlink_to(PROJECT_ROOT / folder)
    (root / "functions").mkdir()
    for code in (PROJECT_ROOT / "functions").iterdir():
        (root / "functions" / code.name).symlink_to(code)
    drift = root / "functions" / "score_drift"
    drift.mkdir()
    (drift / "app.py").write_text("def lambda_handler(event, context):\n    return event\n")
    text = TEMPLATE_PATH.read_text(encoding="utf-8")
    head, outputs = text.split("\nOutputs:\n")
    (root / "template.yaml").write_text(f"{head.rstrip()}\n{NINTH_RESOURCES}\nOutputs:\n{outputs}")
    return root


def test_the_model_reads_the_new_function_with_globals_and_defaults(scratch: Path) -> None:
    template = read(scratch / "template.yaml")
    assert set(template.functions) == {*project().functions, NINTH}
    ninth = template.functions[NINTH]
    assert ninth.code_dir == (scratch / "functions" / "score_drift").resolve()
    assert ninth.handler == "app.lambda_handler"  # from Globals
    assert ninth.runtime == "python3.12"
    assert ninth.architectures == ("arm64",)
    assert ninth.layers == ("CommonLayer", "SnowflakeLayer")  # Globals' first, as SAM concatenates
    assert (ninth.memory_mb, ninth.timeout_seconds) == (1024, 30)
    assert ninth.environment["DRIFT_THRESHOLD"] == {"Ref": "EvaluationThreshold"}
    assert ninth.environment["RESOURCE_PREFIX"] == {"Ref": "ResourcePrefix"}  # from Globals
    assert template.layer_dirs(NINTH) == [
        PROJECT_ROOT / "layers" / "common",
        PROJECT_ROOT / "layers" / "snowflake",
    ]


def test_the_deploy_stands_up_the_new_function(scratch: Path) -> None:
    template = read(scratch / "template.yaml")
    translated = template.translate(REQUIRED, inline_definitions=True)
    function = translated["Resources"][NINTH]
    assert function["Type"] == "AWS::Lambda::Function"
    assert function["Properties"]["MemorySize"] == 1024
    owners = {owner for owner, _ in granted_statements(translated)}
    assert NINTH in owners


@pytest.fixture
def moto_server() -> Iterator[tuple[str, LambdaRuntime]]:
    """A moto server with the sandbox's patches, as sandbox.services starts it."""
    saved = {name: os.environ.get(name) for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    reset_moto(endpoint)
    runtime = LambdaRuntime(endpoint_url=endpoint, region="us-east-1")
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    try:
        with installed_patches(emulator=SageMakerEmulator(s3, region="us-east-1"), lambda_runtime=runtime):
            yield endpoint, runtime
    finally:
        server.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def test_the_sandbox_deploys_and_registers_the_new_function(
    scratch: Path, moto_server: tuple[str, LambdaRuntime]
) -> None:
    endpoint, runtime = moto_server
    stack = deploy(
        session=boto3.Session(region_name="us-east-1"),
        endpoint_url=endpoint,
        runtime=runtime,
        stack_name="scratch",
        parameters=REQUIRED,
        template_path=scratch / "template.yaml",
    )
    assert set(stack.functions) == {*project().functions, NINTH}
    configuration = boto3.client("lambda", endpoint_url=endpoint, region_name="us-east-1")
    deployed = configuration.get_function_configuration(FunctionName=stack.functions[NINTH])
    assert deployed["MemorySize"] == 1024
    assert deployed["Environment"]["Variables"]["DRIFT_THRESHOLD"] == "0.75"


def test_the_size_report_includes_the_new_function(scratch: Path) -> None:
    rows, _ = sizes.report(scratch)
    (row,) = [row for row in rows if row[0] == NINTH]
    assert row[4] == sizes.BUDGET_MB["snowflake"]  # it has the Snowflake layer
    assert row[1] > 0 and row[2] > row[1]


def test_the_benchmarks_and_sam_local_give_the_new_function_its_environment(scratch: Path) -> None:
    template = read(scratch / "template.yaml")
    (ninth,) = [function for function in lambda_functions.functions(template) if function.logical_id == NINTH]
    assert ninth.uses_snowflake
    assert ninth.environment["DRIFT_THRESHOLD"] == "0.75"
    assert lambda_functions.handler_env(ninth)["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "1024"
    local = sam_local_environment({"Parameters": {"LOG_LEVEL": "DEBUG"}}, template)[NINTH]
    assert (local["DRIFT_THRESHOLD"], local["LOG_LEVEL"], local["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]) == (
        "0.75",
        "DEBUG",
        "1024",
    )


# --- SAM's and Lambda's rules, on small templates ---------------------------------------------------


def _small(tmp_path: Path, function: dict[str, Any], globals_: dict[str, Any] | None = None) -> Template:
    (tmp_path / "code").mkdir(exist_ok=True)
    (tmp_path / "layer").mkdir(exist_ok=True)
    document: dict[str, Any] = {
        "Parameters": {
            "Level": {"Type": "String", "Default": "INFO"},
            "Endpoint": {"Type": "String", "Default": ""},
        },
        "Conditions": {"HasEndpoint": {"Fn::Not": [{"Fn::Equals": [{"Ref": "Endpoint"}, ""]}]}},
        "Resources": {
            "Layer": {"Type": "AWS::Serverless::LayerVersion", "Properties": {"ContentUri": "layer/"}},
            "F": {
                "Type": "AWS::Serverless::Function",
                "Properties": {"CodeUri": "code/", "Handler": "app.handler", **function},
            },
        },
    }
    if globals_:
        document["Globals"] = {"Function": globals_}
    return Template(document, tmp_path)


def test_without_memory_or_timeout_a_function_gets_lambdas_defaults(tmp_path: Path) -> None:
    function = _small(tmp_path, {}).functions["F"]
    assert (function.memory_mb, function.timeout_seconds) == (DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT_SECONDS)
    assert (DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT_SECONDS) == (128, 3)


def test_globals_merge_as_sam_merges_them(tmp_path: Path) -> None:
    template = _small(
        tmp_path,
        {"Environment": {"Variables": {"OWN": "1", "SHARED": "function"}}, "MemorySize": 512},
        {"Environment": {"Variables": {"SHARED": "globals", "LEVEL": {"Ref": "Level"}}}, "MemorySize": 256},
    )
    function = template.functions["F"]
    assert function.memory_mb == 512
    assert function.environment == {"SHARED": "function", "LEVEL": {"Ref": "Level"}, "OWN": "1"}
    assert template.environment("F") == {"SHARED": "function", "LEVEL": "INFO", "OWN": "1"}
    assert template.environment("F", {"Level": "DEBUG"})["LEVEL"] == "DEBUG"


def test_conditions_are_evaluated_for_the_given_parameters(tmp_path: Path) -> None:
    endpoint = {"Fn::If": ["HasEndpoint", {"Ref": "Endpoint"}, {"Ref": "AWS::NoValue"}]}
    template = _small(tmp_path, {"Environment": {"Variables": {"AWS_ENDPOINT_URL": endpoint}}})
    assert template.environment("F") == {}
    assert template.environment("F", {"Endpoint": "http://x"}) == {"AWS_ENDPOINT_URL": "http://x"}
    assert template.resolve({"Ref": "AWS::NoValue"}, {}) is NO_VALUE


def test_what_cannot_be_resolved_is_a_clear_error(tmp_path: Path) -> None:
    template = _small(tmp_path, {"Environment": {"Variables": {"ARN": {"Fn::GetAtt": ["Layer", "Arn"]}}}})
    with pytest.raises(TemplateError, match="Fn::GetAtt"):
        template.environment("F")
    with pytest.raises(TemplateError, match="no such parameters"):
        template.parameter_values({"Nope": "x"})


def test_a_layer_that_is_not_in_the_template_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="F: layer"):
        _small(tmp_path, {"Layers": [{"Ref": "Elsewhere"}]})


def test_a_parameter_without_default_needs_a_value(tmp_path: Path) -> None:
    template = project()
    with pytest.raises(TemplateError, match="SnowflakeAccount"):
        template.parameter_values()
    assert (
        json.loads(template.parameter_values(REQUIRED)["Hyperparameters"])["objective"] == "binary:logistic"
    )
