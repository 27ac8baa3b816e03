"""env.json against template.yaml, the settings models and SAM CLI's own --env-vars rules (no servers).

tests/serve/test_serve.py checks the other side: that env.json is what `serve` deploys and prints.
"""

from __future__ import annotations

import pytest

from sandbox.serve import CONTAINER_HOST, DEFAULT_AWS_PORT, DEFAULT_SNOWFLAKE_PORT, ENDPOINT_VARIABLE
from tests.serve.sam_local import (
    SHELL_AWS,
    load_env_json,
    merged,
    sam_local_environment,
)
from tests.template.template_model import (
    REQUIRED_PARAMETERS,
    SETTINGS_CLASSES,
    settings_used_by,
    snowflake_functions,
)
from tooling.template import project

# The settings model each function's handler reads (from its code; EvaluateModel and SelectModel read none).
SETTINGS = sorted((name, cls) for name in project().functions for cls in settings_used_by(name))
SNOWFLAKE_OVERRIDES = {
    "SNOWFLAKE_HOST": CONTAINER_HOST,
    "SNOWFLAKE_PORT": str(DEFAULT_SNOWFLAKE_PORT),
    "SNOWFLAKE_PROTOCOL": "http",
}


def test_env_json_has_an_entry_per_function() -> None:
    assert set(load_env_json()) == {"Parameters", *project().functions}
    assert all(isinstance(value, str) for section in load_env_json().values() for value in section.values())


def test_env_json_points_at_the_served_sandbox() -> None:
    document = load_env_json()
    assert document["Parameters"][ENDPOINT_VARIABLE] == f"http://{CONTAINER_HOST}:{DEFAULT_AWS_PORT}"
    assert merged(document, "StartPipelineFunction")["STATE_MACHINE_ARN"] == (
        "arn:aws:states:us-east-1:123456789012:stateMachine:snowsage-pipeline"
    )
    assert merged(document, "PrepareRunFunction")["BUCKET_NAME"] == "snowsage-data-123456789012-us-east-1"
    assert snowflake_functions()
    for logical_id in snowflake_functions():
        env = merged(document, logical_id)
        assert {name: env[name] for name in SNOWFLAKE_OVERRIDES} == SNOWFLAKE_OVERRIDES
        # The secret's name as a partial ARN: deterministic, and GetSecretValue accepts it.
        assert env["SNOWFLAKE_SECRET_ARN"] == (
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:snowsage/snowflake"
        )


@pytest.mark.parametrize(("logical_id", "settings"), SETTINGS)
def test_env_json_gives_every_setting_a_function_requires(logical_id: str, settings: str) -> None:
    model = SETTINGS_CLASSES[settings]
    env = merged(load_env_json(), logical_id)
    required = {name.upper() for name, field in model.model_fields.items() if field.is_required()}
    assert required <= env.keys()
    model.from_env(env)  # and they validate


def test_sam_local_applies_every_variable_env_json_gives_except_the_endpoint() -> None:
    """`sam local --env-vars` sets only variables the template declares for the function."""
    document = load_env_json()
    resolved = sam_local_environment(document)
    for logical_id in project().functions:
        wanted = {k: v for k, v in merged(document, logical_id).items() if k != ENDPOINT_VARIABLE}
        got = {name: resolved[logical_id].get(name) for name in wanted}
        assert got == wanted, logical_id
        # Credentials and region come from the shell sam runs in (docs/sam-local.md), never env.json.
        assert resolved[logical_id]["AWS_ACCESS_KEY_ID"] == SHELL_AWS["AWS_ACCESS_KEY_ID"]
        assert resolved[logical_id]["AWS_REGION"] == SHELL_AWS["AWS_DEFAULT_REGION"]
        # powertools' Tracer turns itself off under SAM: no X-Ray daemon needed.
        assert resolved[logical_id]["AWS_SAM_LOCAL"] == "true"


def test_sam_local_passes_the_aws_endpoint_to_every_function() -> None:
    resolved = sam_local_environment(load_env_json())
    for logical_id in project().functions:
        assert resolved[logical_id].get(ENDPOINT_VARIABLE) == load_env_json()["Parameters"][ENDPOINT_VARIABLE]


def test_production_defaults_name_no_local_endpoint() -> None:
    """Without overrides the functions talk to AWS and Snowflake: no endpoint, host, port or protocol."""
    template = project()
    required = REQUIRED_PARAMETERS
    references = {name: f"<{name}>" for name in template.resources}
    local = {"SNOWFLAKE_HOST", "SNOWFLAKE_PORT", "SNOWFLAKE_PROTOCOL"}
    for logical_id in template.functions:
        environment = template.environment(logical_id, required, references)
        # AWS_ENDPOINT_URL is declared (sam local needs that) but absent when deployed.
        assert ENDPOINT_VARIABLE not in environment, logical_id
        assert ENDPOINT_VARIABLE in template.functions[logical_id].environment, logical_id
        assert {environment[name] for name in local & set(environment)} <= {""}, logical_id
    with_endpoint = template.environment(
        "PrepareRunFunction", {**required, "AwsEndpointUrl": "http://127.0.0.1:5105"}, references
    )
    assert with_endpoint[ENDPOINT_VARIABLE] == "http://127.0.0.1:5105"
