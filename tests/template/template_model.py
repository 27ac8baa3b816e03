"""Helpers for the template tests over the one template model (tooling.template)."""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from typing import Any

from snowsage import settings as settings_module
from snowsage.settings import EnvSettings, SnowflakeSettings
from tooling import template as model
from tooling.template import Function, granted_statements, project

ROOT = model.PROJECT_ROOT
TEMPLATE_PATH = model.TEMPLATE_PATH
ASL_PATH = project().state_machine.definition_path
# Values a deploy must pass: the parameters without a Default.
REQUIRED_PARAMETERS = {
    "SnowflakeAccount": "myorg-myaccount",
    "SnowflakeSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:snowsage-AbCdEf",
}
SETTINGS_CLASSES = {
    name: cls
    for name, cls in vars(settings_module).items()
    if isinstance(cls, type) and issubclass(cls, EnvSettings) and cls is not EnvSettings
}


def template() -> dict[str, Any]:
    return project().document


def resources() -> dict[str, Any]:
    return project().resources


def resources_of_type(kind: str) -> dict[str, Any]:
    return project().resources_of_type(kind)


def functions() -> dict[str, Function]:
    return project().functions


def function_globals() -> dict[str, Any]:
    return dict(template().get("Globals", {}).get("Function", {}))


def function_environment(name: str) -> dict[str, Any]:
    """The function's environment variables with the Globals' merged in (SAM's rule)."""
    return project().functions[name].environment


def function_layers(name: str) -> list[str]:
    """Layer logical ids: Globals' list first, then the function's (SAM concatenates lists)."""
    return list(project().functions[name].layers)


def settings_used_by(name: str) -> set[str]:
    """Names of the settings classes whose ``from_env`` the function's handler module calls."""
    tree = ast.parse((project().functions[name].code_dir / "app.py").read_text(encoding="utf-8"))
    return {
        node.func.value.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "from_env"
        and isinstance(node.func.value, ast.Name)
    }


def snowflake_functions() -> list[str]:
    """The functions whose handler reads the Snowflake settings (from the code, not the template)."""
    return sorted(
        name
        for name in functions()
        if any(
            issubclass(SETTINGS_CLASSES.get(cls, EnvSettings), SnowflakeSettings)
            for cls in settings_used_by(name)
        )
    )


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


@functools.cache
def translated() -> dict[str, Any]:
    """The CloudFormation template SAM makes of template.yaml (what is deployed)."""
    return project().translate(REQUIRED_PARAMETERS)


def identity_statements() -> list[tuple[str, dict[str, Any]]]:
    """(owner, statement) for every identity-policy statement SAM's translation grants: inline
    statements, managed policies of the template and SAM policy templates (expanded)."""
    return granted_statements(translated())


def sam_policy_templates(name: str) -> list[tuple[str, dict[str, Any]]]:
    """(template name, parameters) of the SAM policy templates a function or state machine uses."""
    owner = project().functions.get(name) or project().state_machines[name]
    found: list[tuple[str, dict[str, Any]]] = []
    for policy in owner.policies:
        for doc in unwrap_if(policy):
            if isinstance(doc, dict) and "Statement" not in doc and "Ref" not in doc:
                found.extend(doc.items())
    return found


def sub_text(value: Any) -> str:
    """The text of a Fn::Sub (short or long form) or a plain string."""
    if isinstance(value, dict) and "Fn::Sub" in value:
        sub = value["Fn::Sub"]
        return str(sub[0] if isinstance(sub, list) else sub)
    return str(value)
