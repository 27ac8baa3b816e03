"""What ``sam local invoke --env-vars env.json`` hands each function, computed by SAM CLI's own code.

SAM CLI (pinned in requirements/dev.lock) resolves a function's environment in
``LocalLambdaRunner._make_env_vars`` / ``EnvironmentVariables.resolve``: the AWS_* variables it
always sets (credentials and region from the shell's boto3 session), then each variable the
template DECLARES for the function (Globals merged), valued by --env-vars over the shell over the
template. A variable env.json gives but the template does not declare is dropped. Calling that
code needs no Docker, so the tests run the handlers with exactly the environment a container gets.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from sandbox.serve import CONTAINER_HOST, DEFAULT_AWS_PORT, DEFAULT_SNOWFLAKE_PORT, ENDPOINT_VARIABLE

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
ENV_JSON = ROOT / "env.json"
FUNCTION_DIRS = {
    "StartPipelineFunction": "functions/start_pipeline",
    "PrepareRunFunction": "functions/prepare_run",
    "EvaluateModelFunction": "functions/evaluate_model",
    "SelectModelFunction": "functions/select_model",
    "RegisterModelFunction": "functions/register_model",
    "LoadPredictionsFunction": "functions/load_predictions",
    "PublishModelFunction": "functions/publish_model",
    "RecordRunFunction": "functions/record_run",
    "RecordExecutionOutcomeFunction": "functions/record_execution_outcome",
}
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


@contextlib.contextmanager
def _shell(values: Mapping[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION"):
        os.environ.pop(name, None)
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@functools.cache
def _resolve(document_json: str, template: str) -> dict[str, dict[str, str]]:
    from samcli.commands.local.lib.local_lambda import LocalLambdaRunner  # type: ignore[import-untyped]
    from samcli.lib.providers.sam_function_provider import SamFunctionProvider  # type: ignore[import-untyped]
    from samcli.lib.providers.sam_stack_provider import SamLocalStackProvider  # type: ignore[import-untyped]

    with _shell(SHELL_AWS):
        stacks, _ = SamLocalStackProvider.get_stacks(template)
        provider = SamFunctionProvider(stacks)
        runner: Any = LocalLambdaRunner(
            local_runtime=None,
            function_provider=provider,
            cwd=str(ROOT),
            real_path=str(ROOT),
            env_vars_values=json.loads(document_json),
        )
        return {
            function.name: {str(k): str(v) for k, v in runner._make_env_vars(function).resolve().items()}
            for function in provider.get_all()
        }


def sam_local_environment(document: ENV_VARS, template: Path = TEMPLATE) -> dict[str, dict[str, str]]:
    """Each function's container environment under ``sam local invoke --env-vars <document>``."""
    return _resolve(json.dumps(document, sort_keys=True), str(template))
