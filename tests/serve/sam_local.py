"""What ``sam local invoke --env-vars env.json`` hands each function, computed by SAM CLI's own code.

SAM CLI (pinned in requirements/dev.lock) resolves a function's environment with
``samcli.local.lambdafn.env_vars.EnvironmentVariables``: the AWS_* variables it always sets
(credentials and region from the shell sam runs in), then each variable the template DECLARES
for the function (Globals merged: the template model, tooling.template), valued by --env-vars
(the "Parameters" section, then the function's own entry) over the shell over the template. A
variable env.json gives but the template does not declare is dropped. That class needs no Docker,
so the tests run the handlers with exactly the environment a container gets.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from samcli.local.lambdafn.env_vars import EnvironmentVariables  # type: ignore[import-untyped]

from sandbox.serve import CONTAINER_HOST, DEFAULT_AWS_PORT, DEFAULT_SNOWFLAKE_PORT, ENDPOINT_VARIABLE
from tooling.template import NO_VALUE, PROJECT_ROOT, Template, TemplateError, project

ROOT = PROJECT_ROOT
ENV_JSON = ROOT / "env.json"
# docs/sam-local.md: run sam with these in the shell (env.json cannot set AWS credentials).
SHELL_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
ENV_VARS = dict[str, dict[str, str]]


def load_env_json(path: Path = ENV_JSON) -> ENV_VARS:
    document: ENV_VARS = json.loads(path.read_text())
    return document


def merged(document: ENV_VARS, logical_id: str) -> dict[str, str]:
    """What env.json gives one function: "Parameters" under the function's own entry (SAM's order)."""
    return {**document.get("Parameters", {}), **document.get(logical_id, {})}


def adapt(document: ENV_VARS, aws_port: int, snowflake_port: int, host: str = CONTAINER_HOST) -> ENV_VARS:
    """env.json for other ports (and, with host="127.0.0.1", for a process on this machine)."""

    def value(name: str, text: str) -> str:
        if name == ENDPOINT_VARIABLE and text == f"http://{CONTAINER_HOST}:{DEFAULT_AWS_PORT}":
            return f"http://{host}:{aws_port}"
        if name == "SNOWFLAKE_HOST" and text == CONTAINER_HOST:
            return host
        if name == "SNOWFLAKE_PORT" and text == str(DEFAULT_SNOWFLAKE_PORT):
            return str(snowflake_port)
        return text

    return {
        section: {name: value(name, text) for name, text in variables.items()}
        for section, variables in document.items()
    }


def _sam_cli_value(template: Template, value: Any) -> Any:
    """A template value as SAM CLI's local provider resolves it (docs/sam-local.md): parameter Refs
    to their defaults (a parameter without one to its name), resource Refs to the logical id; what
    it cannot resolve stays an intrinsic, which EnvironmentVariables turns into "" (as it does an
    absent AWS::NoValue branch)."""
    defaults = {name: p.default for name, p in template.parameters.items() if p.default is not None}
    names = {name: name for name in [*template.resources, *template.parameters]}
    try:
        resolved = template.resolve(value, defaults, names)
    except TemplateError:
        return value
    return "" if resolved is NO_VALUE else resolved


def sam_local_environment(document: ENV_VARS, template: Template | None = None) -> dict[str, dict[str, str]]:
    """Each function's container environment under ``sam local invoke --env-vars <document>``."""
    template = template or project()
    environments: dict[str, dict[str, str]] = {}
    for logical_id, function in template.functions.items():
        logging = function.properties.get("LoggingConfig", {})
        variables = EnvironmentVariables(
            logical_id,
            function.memory_mb,
            function.timeout_seconds,
            function.handler,
            {key: _sam_cli_value(template, value) for key, value in logging.items()},
            variables={name: _sam_cli_value(template, value) for name, value in function.environment.items()},
            shell_env_values=SHELL_AWS,
            override_values=merged(document, logical_id),
            aws_creds={
                "region": SHELL_AWS["AWS_DEFAULT_REGION"],
                "key": SHELL_AWS["AWS_ACCESS_KEY_ID"],
                "secret": SHELL_AWS["AWS_SECRET_ACCESS_KEY"],
            },
        )
        environments[logical_id] = {str(key): str(value) for key, value in variables.resolve().items()}
    return environments
