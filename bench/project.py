"""What the benchmarks read from the project: functions, their layers and their environment."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from samtranslator.yaml_helper import yaml_parse

ROOT = Path(__file__).resolve().parent.parent
SNOWFLAKE_LAYER = "SnowflakeLayer"
REGION = "us-east-1"
ACCOUNT = "123456789012"

# Values for parameters without a Default (what a deploy would pass) and for resource Refs.
PARAMETER_VALUES = {
    "SnowflakeAccount": "myorg-myaccount",
    "SnowflakeSecretArn": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:snowsage/snowflake-AbCdEf",
}
RESOURCE_VALUES = {
    "AWS::Serverless::StateMachine": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:snowsage-pipeline",
    "AWS::S3::Bucket": "snowsage-databucket-1a2b3c4d5e6f",
}
# What the Lambda runtime sets besides the template's variables (X-Ray off: no daemon here).
RUNTIME_ENV = {
    "AWS_REGION": REGION,
    "AWS_DEFAULT_REGION": REGION,
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
    "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
    "POWERTOOLS_TRACE_DISABLED": "true",
}


@dataclass(frozen=True)
class Function:
    logical_id: str
    code_dir: Path
    layer_ids: tuple[str, ...]
    memory_mb: int
    environment: dict[str, str]

    @property
    def uses_snowflake(self) -> bool:
        return SNOWFLAKE_LAYER in self.layer_ids

    @property
    def module(self) -> str:
        return self.code_dir.name

    def layer_dirs(self, template: dict[str, Any]) -> list[Path]:
        resources = template["Resources"]
        return [ROOT / resources[layer]["Properties"]["ContentUri"] for layer in self.layer_ids]


@cache
def template() -> dict[str, Any]:
    parsed: dict[str, Any] = yaml_parse((ROOT / "template.yaml").read_text(encoding="utf-8"))
    return parsed


NO_VALUE = object()


def _condition(value: Any, tpl: dict[str, Any]) -> bool:
    """Evaluate a Conditions entry with the parameters' defaults (Fn::Equals/Not/And/Or, Condition)."""
    if isinstance(value, dict):
        if "Condition" in value:
            return _condition(tpl["Conditions"][value["Condition"]], tpl)
        if "Fn::Equals" in value:
            left, right = (_resolve(item, tpl) for item in value["Fn::Equals"])
            return bool(left == right)
        if "Fn::Not" in value:
            return not _condition(value["Fn::Not"][0], tpl)
        if "Fn::And" in value:
            return all(_condition(item, tpl) for item in value["Fn::And"])
        if "Fn::Or" in value:
            return any(_condition(item, tpl) for item in value["Fn::Or"])
    raise ValueError(f"cannot evaluate condition {value!r}")


def _resolve(value: Any, tpl: dict[str, Any]) -> Any:
    """A template value with the parameters' defaults; NO_VALUE for AWS::NoValue."""
    if isinstance(value, dict) and "Fn::If" in value:
        name, when_true, when_false = value["Fn::If"]
        return _resolve(when_true if _condition(tpl["Conditions"][name], tpl) else when_false, tpl)
    if value == {"Ref": "AWS::NoValue"}:
        return NO_VALUE
    if isinstance(value, dict) and "Ref" in value:
        name = str(value["Ref"])
        parameter = tpl.get("Parameters", {}).get(name)
        if parameter is not None:
            default = parameter.get("Default")
            return str(PARAMETER_VALUES.get(name, default if default is not None else f"bench-{name}"))
        resource = tpl["Resources"].get(name, {})
        return RESOURCE_VALUES.get(resource.get("Type", ""), f"bench-{name}")
    if isinstance(value, dict):
        return f"bench-{next(iter(value), 'value')}"
    return str(value)


def functions() -> list[Function]:
    """Every AWS::Serverless::Function, with the environment template.yaml would give it."""
    tpl = template()
    function_globals = tpl.get("Globals", {}).get("Function", {})
    global_env = function_globals.get("Environment", {}).get("Variables", {})
    global_layers = [layer["Ref"] for layer in function_globals.get("Layers", []) if "Ref" in layer]
    found: list[Function] = []
    for name, resource in sorted(tpl["Resources"].items()):
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        props = resource["Properties"]
        variables = {**global_env, **props.get("Environment", {}).get("Variables", {})}
        layers = global_layers + [layer["Ref"] for layer in props.get("Layers", []) if "Ref" in layer]
        found.append(
            Function(
                logical_id=name,
                code_dir=ROOT / props["CodeUri"],
                layer_ids=tuple(layers),
                memory_mb=int(props.get("MemorySize", function_globals.get("MemorySize", 128))),
                environment={
                    key: str(resolved)
                    for key, value in variables.items()
                    if (resolved := _resolve(value, tpl)) is not NO_VALUE
                },
            )
        )
    return found


def handler_env(function: Function) -> dict[str, str]:
    """The variables the function sees on Lambda (template + runtime), for a fresh interpreter."""
    return {
        **RUNTIME_ENV,
        "AWS_LAMBDA_FUNCTION_NAME": function.logical_id,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
        **function.environment,
    }
