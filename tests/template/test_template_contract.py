"""template.yaml against the code it deploys: handlers, ASL placeholders, environment variables."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from snowsage.settings import PrepareRunSettings, SnowflakeSettings
from tests.template.template_model import (
    ASL_PATH,
    REQUIRED_PARAMETERS,
    ROOT,
    SETTINGS_CLASSES,
    function_environment,
    function_globals,
    function_layers,
    functions,
    resources,
    settings_used_by,
    snowflake_functions,
    sub_text,
    template,
)
from tooling.template import project

# README, deploy checklist: the stack name is at most this long (state machine name <= 80,
# storage role name <= 64).
STACK_NAME_MAX = 46

INTEGRATIONS = {
    "SageMakerCreateTrainingJobSync": "sagemaker:createTrainingJob.sync",
    "SageMakerCreateHyperParameterTuningJobSync": "sagemaker:createHyperParameterTuningJob.sync",
    "SageMakerCreateModel": "sagemaker:createModel",
    "SageMakerCreateTransformJobSync": "sagemaker:createTransformJob.sync",
    "SnsPublish": "sns:publish",
}
SUBSTITUTIONS = {
    *INTEGRATIONS,
    "PrepareRunFunctionArn",
    "EvaluateModelFunctionArn",
    "SelectModelFunctionArn",
    "RegisterModelFunctionArn",
    "LoadPredictionsFunctionArn",
    "PublishModelFunctionArn",
    "TrainInSnowflakeFunctionArn",
    "ScoreInSnowflakeFunctionArn",
    "RecordRunFunctionArn",
    "DeployEndpointFunctionArn",
    "SettleEndpointFunctionArn",
    "SageMakerRoleArn",
    "XGBoostImageUri",
    "NotificationTopicArn",
}
ENV_READ_CALLS = re.compile(r"""(?:os\.environ(?:\.get)?\s*[\[(]|os\.getenv\s*\()\s*["']([A-Z0-9_]+)["']""")
POWERTOOLS_AND_RUNTIME = {
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_METRICS_NAMESPACE",
    "POWERTOOLS_LOG_LEVEL",
    "LOG_LEVEL",
}


def test_every_function_folder_is_a_function_of_the_template() -> None:
    folders = {path.parent for path in (ROOT / "functions").glob("*/app.py")}
    assert folders == {function.code_dir for function in functions().values()}


def test_globals_pin_the_lambda_platform() -> None:
    glob = function_globals()
    assert glob["Runtime"] == "python3.12"
    # arm64 when deployed; the parameter lets sam local run x86_64 on an x86_64 machine (docs/sam-local.md).
    assert glob["Architectures"] == [{"Ref": "Architecture"}]
    architecture = template()["Parameters"]["Architecture"]
    assert (architecture["Default"], architecture["AllowedValues"]) == ("arm64", ["arm64", "x86_64"])
    assert glob["Tracing"] == "Active"
    assert glob["Handler"] == "app.lambda_handler"
    env = glob["Environment"]["Variables"]
    assert env["POWERTOOLS_SERVICE_NAME"] == "snowsage"
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == "Snowsage"
    assert env["RESOURCE_PREFIX"] == {"Ref": "ResourcePrefix"}


@pytest.mark.parametrize("name", sorted(functions()))
def test_function_code_defines_the_handler(name: str) -> None:
    function = functions()[name]
    module, _, attribute = function.handler.rpartition(".")
    source = function.code_dir / f"{module}.py"
    assert source.is_file(), f"{name}: {source.relative_to(ROOT)} is missing"
    tree = ast.parse(source.read_text(encoding="utf-8"))
    defined = {
        node.name for node in tree.body if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    } | {
        target.id
        for node in tree.body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    assert attribute in defined, f"{name}: {source.relative_to(ROOT)} defines no {attribute}"
    assert not (function.code_dir / "requirements.txt").exists(), "functions are pure code: deps go in layers"


@pytest.mark.parametrize("name", sorted(functions()))
def test_function_layers(name: str) -> None:
    """The driver's layer goes to the functions whose code reads the Snowflake settings, only."""
    expected = ["CommonLayer", "SnowflakeLayer"] if name in snowflake_functions() else ["CommonLayer"]
    assert function_layers(name) == expected


@pytest.mark.parametrize("layer", ["CommonLayer", "SnowflakeLayer"])
def test_layers_are_built_by_their_makefile(layer: str) -> None:
    res = resources()[layer]
    assert res["Metadata"]["BuildMethod"] == "makefile"
    assert res["Properties"]["CompatibleRuntimes"] == ["python3.12"]
    assert res["Properties"]["CompatibleArchitectures"] == [{"Ref": "Architecture"}]
    # One Makefile for both layers: SAM runs <ContextPath>/Makefile in a copy of ProjectRootDirectory.
    assert res["Metadata"]["ContextPath"] == res["Metadata"]["ProjectRootDirectory"] == "layers/"
    assert (ROOT / res["Properties"]["ContentUri"]).resolve().parent == (ROOT / "layers").resolve()
    makefile = ROOT / res["Metadata"]["ContextPath"] / "Makefile"
    text = makefile.read_text(encoding="utf-8")
    assert re.search(rf"^build-{layer}:", text, re.M), f"{makefile} has no build-{layer} target"


@pytest.mark.parametrize(
    ("architecture", "platform"),
    [(None, "manylinux2014_aarch64"), ("arm64", "manylinux2014_aarch64"), ("x86_64", "manylinux2014_x86_64")],
)
def test_layer_makefile_fetches_wheels_for_the_architecture(architecture: str | None, platform: str) -> None:
    """LAMBDA_ARCHITECTURE (the template's Architecture) picks the wheels; unset, the deployed arm64."""
    environment = {k: v for k, v in os.environ.items() if k != "LAMBDA_ARCHITECTURE"}
    if architecture:
        environment["LAMBDA_ARCHITECTURE"] = architecture
    dry_run = subprocess.run(
        ["make", "--dry-run", "-C", str(ROOT / "layers"), "build-SnowflakeLayer", "ARTIFACTS_DIR=/nowhere"],
        capture_output=True, text=True, env=environment, check=True,
    )  # fmt: skip
    assert f"--platform {platform} " in dry_run.stdout
    refused = subprocess.run(
        ["make", "--dry-run", "-C", str(ROOT / "layers"), "build-SnowflakeLayer", "ARTIFACTS_DIR=/nowhere"],
        capture_output=True, text=True, env={**environment, "LAMBDA_ARCHITECTURE": "aarch64"}, check=False,
    )  # fmt: skip
    assert refused.returncode != 0
    assert "LAMBDA_ARCHITECTURE must be arm64 or x86_64" in refused.stderr


def test_definition_substitutions_match_the_asl() -> None:
    machine = resources()["PipelineStateMachine"]["Properties"]
    keys = set(machine["DefinitionSubstitutions"])
    assert keys == SUBSTITUTIONS
    assert machine["DefinitionUri"] == "statemachines/pipeline.asl.json"
    assert ASL_PATH.is_file(), "statemachines/pipeline.asl.json is missing"
    text = ASL_PATH.read_text(encoding="utf-8")
    json.loads(text)
    used = set(re.findall(r"\$\{([^}]+)\}", text))
    assert used - keys == set(), "placeholders in the ASL without a DefinitionSubstitutions entry"
    assert keys - used == set(), "DefinitionSubstitutions the ASL never uses"


def test_function_arn_substitutions_point_at_their_functions() -> None:
    subs = resources()["PipelineStateMachine"]["Properties"]["DefinitionSubstitutions"]
    for key, value in subs.items():
        if key.endswith("FunctionArn"):
            assert value == {"Fn::GetAtt": [key.removesuffix("Arn"), "Arn"]}


def _literal_env_reads(paths: list[Path]) -> set[str]:
    names: set[str] = set()
    for path in paths:
        names |= set(ENV_READ_CALLS.findall(path.read_text(encoding="utf-8")))
    return names


@pytest.mark.parametrize("name", sorted(functions()))
def test_every_environment_variable_the_code_reads_is_set(name: str) -> None:
    code_dir = functions()[name].code_dir
    env = function_environment(name)
    classes = settings_used_by(name)
    assert classes <= set(SETTINGS_CLASSES), f"unknown settings classes {classes - set(SETTINGS_CLASSES)}"
    needed = {var for cls in classes for var in SETTINGS_CLASSES[cls].variable_names()}
    needed |= _literal_env_reads(sorted(code_dir.rglob("*.py")))
    missing = needed - set(env)
    assert not missing, f"{name} reads {sorted(missing)} but template.yaml does not set them"


def test_environment_variables_read_by_the_shared_package_are_global() -> None:
    package = ROOT / "layers" / "common" / "snowsage"
    reads = _literal_env_reads([p for p in package.rglob("*.py") if p.name != "settings.py"])
    glob = set(function_globals()["Environment"]["Variables"])
    assert reads - glob == set(), "snowsage reads these outside settings.py: set them in Globals"


@pytest.mark.parametrize("name", sorted(functions()))
def test_every_function_variable_is_read_by_its_code(name: str) -> None:
    """The reverse check: a variable only this function sets must be one its code reads (no typos)."""
    code_dir = functions()[name].code_dir
    own = set(resources()[name]["Properties"].get("Environment", {}).get("Variables", {}))
    classes = settings_used_by(name)
    read = {var for cls in classes for var in SETTINGS_CLASSES[cls].variable_names()}
    read |= _literal_env_reads(sorted(code_dir.rglob("*.py")))
    assert own - read == set(), f"{name} sets variables nothing reads"


def _deployed_environment(name: str) -> dict[str, str]:
    """The function's variables on a deploy with default parameters (and the required ones given)."""
    references = {logical_id: f"<{logical_id}>" for logical_id in resources()}
    return project().environment(name, REQUIRED_PARAMETERS, references)


def test_parameter_defaults_satisfy_the_prepare_run_settings() -> None:
    settings = PrepareRunSettings.from_env(_deployed_environment("PrepareRunFunction"))
    assert settings.resource_prefix == "snowsage"
    assert settings.hyperparameters["objective"] == "binary:logistic"
    assert settings.evaluation_metric == "validation:auc"
    assert settings.use_spot_training is False
    assert settings.max_wait_seconds >= settings.max_runtime_seconds


@pytest.mark.parametrize("name", snowflake_functions())
def test_parameter_defaults_satisfy_the_snowflake_settings(name: str) -> None:
    settings = SnowflakeSettings.from_env(_deployed_environment(name))
    assert settings.snowflake_stage == "ML_STAGE"
    assert (settings.snowflake_host, settings.snowflake_port, settings.snowflake_protocol) == ("", "", "")


def test_parameter_patterns_accept_their_defaults() -> None:
    for name, parameter in template()["Parameters"].items():
        if "Default" in parameter and "AllowedPattern" in parameter:
            assert re.fullmatch(parameter["AllowedPattern"], str(parameter["Default"])), name
        if "Default" in parameter and "AllowedValues" in parameter:
            assert parameter["Default"] in parameter["AllowedValues"], name
    hyperparameters = json.loads(template()["Parameters"]["Hyperparameters"]["Default"])
    assert all(isinstance(value, str) for value in hyperparameters.values())


def test_snowflake_object_parameters_have_the_cores_identifier_grammar() -> None:
    """Warehouse, database, schema, role, stage: the Snowflake strings whose default is an identifier."""
    from snowsage.names import SNOWFLAKE_IDENTIFIER

    parameters = template()["Parameters"]
    objects = [
        name
        for name, parameter in parameters.items()
        if name.startswith("Snowflake")
        and parameter["Type"] == "String"
        and re.fullmatch(r"[A-Z_]+", str(parameter.get("Default", "")))
        and "AllowedValues" not in parameter  # a keyword (SnowflakeWarehouseSize), not an object's name
    ]
    assert {"SnowflakeWarehouse", "SnowflakeDatabase", "SnowflakeSchema", "SnowflakeRole"} <= set(objects)
    for name in objects:
        assert parameters[name].get("AllowedPattern") == f"^{SNOWFLAKE_IDENTIFIER.pattern}$", name


def test_resource_prefix_pattern_matches_the_code() -> None:
    from snowsage.names import RESOURCE_PREFIX_PATTERN

    assert (
        template()["Parameters"]["ResourcePrefix"]["AllowedPattern"] == f"^{RESOURCE_PREFIX_PATTERN.pattern}$"
    )


def test_globals_log_level_comes_from_the_parameter() -> None:
    env = function_globals()["Environment"]["Variables"]
    assert {key for key in env if key in POWERTOOLS_AND_RUNTIME} == POWERTOOLS_AND_RUNTIME
    assert env["POWERTOOLS_LOG_LEVEL"] == env["LOG_LEVEL"] == {"Ref": "LogLevel"}


@pytest.mark.parametrize(("key", "action"), sorted(INTEGRATIONS.items()))
def test_integrations_are_in_the_stacks_partition(key: str, action: str) -> None:
    """The image map offers aws-cn and aws-us-gov regions: integration ARNs name the partition."""
    subs = resources()["PipelineStateMachine"]["Properties"]["DefinitionSubstitutions"]
    assert subs[key] == {"Fn::Sub": f"arn:${{AWS::Partition}}:states:::{action}"}


def test_the_state_machine_name_fits_80_characters_for_the_longest_stack_name() -> None:
    """CreateStateMachine: name 1-80 characters; "<stack>-pipeline" fits when the stack name does
    (README deploy checklist: stack names of at most 46 characters)."""
    name = sub_text(resources()["PipelineStateMachine"]["Properties"]["Name"])
    assert len(name.replace("${AWS::StackName}", "s" * STACK_NAME_MAX)) <= 80
    role = resources()["SnowflakeStorageRole"]["Properties"]["RoleName"]
    assert len(sub_text(role).replace("${AWS::StackName}", "s" * STACK_NAME_MAX)) <= 64
