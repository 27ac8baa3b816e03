"""The SageMaker Python SDK v3 validates a training role with iam:SimulatePrincipalPolicy before it
trains (``sagemaker.core.helper.iam_role_resolver.resolve_and_validate_role``, no opt-out set):
against ``sandbox serve`` it gets IAM's verdict for each role the template makes.

The SDK gates a training role on the ``*``-resource actions of its own policy config (its
``_get_smoke_test_actions("training")``: ``cloudwatch:PutMetricData``, the ``ec2`` network-interface
actions, ``ecr:GetAuthorizationToken``, …). No pipeline role grants the ``ec2`` ones (the jobs run
in no VPC), and ``SageMakerExecutionRole`` grants ``cloudwatch:PutMetricData`` only under a
``cloudwatch:namespace`` condition the simulation is not given, so IAM's simulator answers
``implicitDeny`` and the SDK refuses each of them, as it would on AWS; a role granting the actions
(the notebook's ``NotebookTrainingRole``, deployed with ``CreateNotebook=true``) passes. The SDK
runs in its own venv (``.venv-sagemaker-v3``, ``requirements/sagemaker-v3.lock``).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.serve.test_serve import Served
from tests.template.template_model import as_list, identity_statements
from tooling.template import PROJECT_ROOT

SDK_PYTHON = PROJECT_ROOT / ".venv-sagemaker-v3" / "bin" / "python"
VALIDATE = """
import json, sys, types
import boto3
from sagemaker.core.helper.iam_role_resolver import (
    RoleValidationError, _get_smoke_test_actions, resolve_and_validate_role,
)

if sys.argv[1] == "actions":
    print(json.dumps(_get_smoke_test_actions("training")))
    sys.exit(0)
session = types.SimpleNamespace(boto_session=boto3.Session(region_name="us-east-1"))
verdicts = {}
for arn in sys.argv[1:]:
    try:
        resolve_and_validate_role(arn, "training", session)
        verdicts[arn] = "accepted"
    except RoleValidationError as refused:
        verdicts[arn] = "refused: " + str(refused)
print(json.dumps(verdicts))
"""
pytestmark = pytest.mark.skipif(not SDK_PYTHON.exists(), reason="no .venv-sagemaker-v3: run make venv")


def _sdk(endpoint: str, *arguments: str) -> Any:
    environment = {
        **os.environ,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    environment.pop("SAGEMAKER_VALIDATE_ROLE", None)  # no opt-out: the SDK validates
    done = subprocess.run(
        [str(SDK_PYTHON), "-c", VALIDATE, *arguments],
        capture_output=True,
        text=True,
        env=environment,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def star_actions(owner: str) -> set[str]:
    """The actions ``owner``'s policies allow on ``*`` in template.yaml."""
    return {
        action
        for name, statement in identity_statements()
        if name == owner and statement.get("Effect") == "Allow" and statement["Resource"] == "*"
        for action in as_list(statement["Action"])
    }


def sdk_smoke_test_actions(endpoint: str) -> list[str]:
    """The actions the SDK v3 simulates for a training role before it trains."""
    actions: list[str] = _sdk(endpoint, "actions")
    return actions


def test_the_sdks_role_validation_gets_iams_verdict_for_each_template_role(tmp_path: Path) -> None:
    served = Served.start(tmp_path)
    try:
        served.wait_ready()
        endpoint = f"http://127.0.0.1:{served.ports[0]}"
        iam = boto3.client(
            "iam",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        roles = [
            role["Arn"] for role in iam.list_roles()["Roles"] if role["RoleName"].startswith("snowsage-")
        ]
        assert any("SageMakerExecutionRole" in arn for arn in roles)
        actions = sdk_smoke_test_actions(endpoint)
        assert {"cloudwatch:PutMetricData", "ecr:GetAuthorizationToken"} <= set(actions)
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "sagemaker.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
        ready = iam.create_role(RoleName="sdk-ready", AssumeRolePolicyDocument=json.dumps(trust))["Role"][
            "Arn"
        ]
        grant = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}],
        }
        iam.put_role_policy(RoleName="sdk-ready", PolicyName="sdk-actions", PolicyDocument=json.dumps(grant))

        verdicts = _sdk(endpoint, ready, *roles)
    finally:
        served.kill()
    assert verdicts[ready] == "accepted"
    # The notebook's experiment role (CreateNotebook, which the sandbox deploys) is built to pass.
    (experiments,) = [arn for arn in roles if "NotebookTrainingRole" in arn]
    assert verdicts[experiments] == "accepted"
    assert star_actions("NotebookTrainingRole") == set(actions)  # exactly the pinned SDK's list
    for arn in set(roles) - {experiments}:
        assert verdicts[arn].startswith("refused: "), arn
        assert "ec2:CreateNetworkInterface" in verdicts[arn]
    sagemaker_role = next(arn for arn in roles if "SageMakerExecutionRole" in arn)
    assert "cloudwatch:PutMetricData" in verdicts[sagemaker_role]
