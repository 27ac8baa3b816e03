"""The project's functions as a deploy configures them (code, layers, memory, the environment a deploy
with PARAMETER_VALUES gives them, Lambda's own variables), and their init in a fresh interpreter. The
template model (tooling.template) reads the template; the bench and the tests share this."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tooling.template import PROJECT_ROOT, Template, project

ROOT = PROJECT_ROOT
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
    layer_dirs: tuple[Path, ...]
    memory_mb: int
    environment: dict[str, str]

    @property
    def uses_snowflake(self) -> bool:
        return SNOWFLAKE_LAYER in self.layer_ids

    @property
    def module(self) -> str:
        return self.code_dir.name


def functions(template: Template | None = None) -> list[Function]:
    """Every function of the template, with the environment a deploy with PARAMETER_VALUES gives it."""
    template = template or project()
    references = {
        logical_id: RESOURCE_VALUES.get(resource["Type"], f"bench-{logical_id}")
        for logical_id, resource in template.resources.items()
    }
    return [
        Function(
            logical_id=logical_id,
            code_dir=function.code_dir,
            layer_ids=function.layers,
            layer_dirs=tuple(template.layer_dirs(logical_id)),
            memory_mb=function.memory_mb,
            environment=template.environment(logical_id, PARAMETER_VALUES, references),
        )
        for logical_id, function in template.functions.items()
    ]


def handler_env(function: Function) -> dict[str, str]:
    """The variables the function sees on Lambda (template + runtime), for a fresh interpreter."""
    return {
        **RUNTIME_ENV,
        "AWS_LAMBDA_FUNCTION_NAME": function.logical_id,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
        **function.environment,
    }


def clean_env(env: dict[str, str]) -> dict[str, str]:
    """``env`` for a child interpreter, with only PATH and HOME of this process's."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"), **env}


IMPORT_CHILD = Path(__file__).with_name("import_child.py")


def import_once(file: Path, paths: list[Path], env: dict[str, str]) -> dict[str, object]:
    """One fresh interpreter importing ``file`` (init only, no call); the child's JSON report."""
    done = subprocess.run(  # noqa: S603  # this interpreter, on this repository's child script
        [sys.executable, str(IMPORT_CHILD), str(file), *map(str, paths)],
        env=clean_env(env),
        capture_output=True,
        text=True,
        check=False,
        cwd=str(ROOT),
    )
    if done.returncode != 0:
        raise RuntimeError(f"importing {file} failed:\n{done.stderr[-3000:]}")
    report: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return report
