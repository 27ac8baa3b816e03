"""The optional notebook instance (CreateNotebook): off by default, its lifecycle configuration
fetches only the pinned packages and the stack's own notebook, and its roles grant what the
notebook's five steps need and nothing the pipeline's roles hold."""

from __future__ import annotations

import base64
import re
from typing import Any

from tests.template.template_model import as_list, identity_statements, resources, sub_text, template
from tooling.template import PROJECT_ROOT

NOTEBOOK_RESOURCES = {"NotebookRole", "NotebookTrainingRole", "NotebookLifecycleConfig", "NotebookInstance"}
NOTEBOOK_IN = PROJECT_ROOT / "requirements" / "notebook.in"
PINS = re.compile(r'^\s*pins="([^"]*)"\s*$', re.M)
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==(\S+)$")


def _script(hook: str) -> str:
    """The lifecycle script of ``hook`` (OnCreate, OnStart) as the template writes it."""
    (entry,) = resources()["NotebookLifecycleConfig"]["Properties"][hook]
    return sub_text(entry["Content"]["Fn::Base64"])


def _statements(owner: str) -> list[dict[str, Any]]:
    return [st for name, st in identity_statements() if name == owner and st.get("Effect") == "Allow"]


def _grants(owner: str) -> set[tuple[str, str]]:
    return {
        (action, sub_text(resource))
        for statement in _statements(owner)
        for action in as_list(statement["Action"])
        for resource in as_list(statement["Resource"])
    }


def pins(requirements: str) -> dict[str, str]:
    """name -> version of each ``name==version`` line (extras dropped), names normalised."""
    found = {}
    for line in requirements.splitlines():
        match = PIN.match(line.split("#", 1)[0].strip())
        if match:
            found[match.group(1).lower().replace("_", "-")] = match.group(2)
    return found


def test_the_notebook_is_off_by_default_and_all_of_it_is_conditional() -> None:
    document = template()
    assert document["Parameters"]["CreateNotebook"]["Default"] == "false"
    assert document["Conditions"]["HasNotebook"] == {"Fn::Equals": [{"Ref": "CreateNotebook"}, "true"]}
    conditional = {name for name, res in resources().items() if res.get("Condition") == "HasNotebook"}
    assert conditional == NOTEBOOK_RESOURCES
    for name in ("NotebookInstanceName", "NotebookTrainingRoleArn"):
        assert document["Outputs"][name]["Condition"] == "HasNotebook"


def test_the_instance_runs_as_its_role_without_root_on_a_current_platform() -> None:
    properties = resources()["NotebookInstance"]["Properties"]
    assert properties["RoleArn"] == {"Fn::GetAtt": ["NotebookRole", "Arn"]}
    assert properties["RootAccess"] == "Disabled"
    assert properties["PlatformIdentifier"] == "notebook-al2023-v1"
    assert properties["LifecycleConfigName"] == {
        "Fn::GetAtt": ["NotebookLifecycleConfig", "NotebookInstanceLifecycleConfigName"]
    }


def test_the_lifecycle_installs_the_pinned_kernel_of_requirements_notebook_in() -> None:
    (line,) = PINS.findall(_script("OnCreate"))
    installed = pins("\n".join(line.split()))
    pinned = pins(NOTEBOOK_IN.read_text(encoding="utf-8"))
    assert installed and installed.items() <= pinned.items()
    assert {"snowflake-snowpark-python", "snowflake-connector-python", "sagemaker", "ipykernel"} <= set(
        installed
    )
    assert "pip install --quiet $pins" in _script("OnCreate")


def test_the_lifecycle_downloads_nothing_but_the_pins_and_the_stacks_notebook() -> None:
    for hook in ("OnCreate", "OnStart"):
        script = _script(hook)
        for fetcher in ("git ", "curl", "wget", "http://", "https://", "conda install", "pip download"):
            assert fetcher not in script, f"{hook}: {fetcher}"
        assert script.count("pip install") == (1 if hook == "OnCreate" else 0), hook
    copies = re.findall(r"aws s3 cp (\S+)", _script("OnStart"))
    assert copies == ['"s3://${DataBucket}/code/notebooks/quickstart.ipynb"']


def test_the_lifecycle_scripts_stay_under_the_five_minute_limit() -> None:
    """Lifecycle scripts may run at most 5 minutes (nbi-lifecycle-config-install): the install and
    the kernel's registration, which waits for it, run in the background."""
    assert re.search(r"nohup bash -c \"\$home/kernel/bin/pip install .*&$", _script("OnCreate"), re.M)
    assert "until [ -e $home/kernel/.ready ]" in _script("OnStart")
    for hook in ("OnCreate", "OnStart"):
        assert _script(hook).startswith("#!/bin/bash\nset -euo pipefail\nsudo -u ec2-user -i <<'EOF'\n")
        assert len(base64.b64encode(_script(hook).encode())) <= 16384  # API_NotebookInstanceLifecycleHook


def test_the_kernel_selects_the_stack() -> None:
    start = _script("OnStart")
    for setting in (
        "SNOWSAGE_TARGET aws",
        "SNOWSAGE_STACK_NAME ${AWS::StackName}",
        "AWS_DEFAULT_REGION ${AWS::Region}",
    ):
        assert f"--env {setting}" in start


def test_the_notebook_role_grants_the_five_steps_and_no_more() -> None:
    prefix = "arn:${AWS::Partition}"
    region = "${AWS::Region}:${AWS::AccountId}"
    assert _grants("NotebookRole") == {
        ("secretsmanager:GetSecretValue", "{'Ref': 'NotebookSnowflakeSecretArn'}"),
        ("cloudformation:DescribeStacks", f"{prefix}:cloudformation:{region}:stack/${{AWS::StackName}}/*"),
        *{
            ("s3:GetObject", f"${{DataBucket.Arn}}/{folder}/*")
            for folder in ("exports", "models", "code", "experiments")
        },
        ("s3:PutObject", "${DataBucket.Arn}/experiments/*"),
        ("s3:ListBucket", "{'Fn::GetAtt': ['DataBucket', 'Arn']}"),
        ("states:StartExecution", f"{prefix}:states:{region}:stateMachine:${{AWS::StackName}}-pipeline"),
        *{
            (action, f"{prefix}:states:{region}:execution:${{AWS::StackName}}-pipeline:*")
            for action in ("states:DescribeExecution", "states:GetExecutionHistory")
        },
        *{
            (
                f"sagemaker:{action}",
                f"{prefix}:sagemaker:{region}:training-job/${{ResourcePrefix}}-notebook-*",
            )
            for action in ("CreateTrainingJob", "DescribeTrainingJob", "StopTrainingJob", "AddTags")
        },
        *{
            (action, "{'Fn::GetAtt': ['NotebookTrainingRole', 'Arn']}")
            for action in ("iam:PassRole", "iam:GetRole", "iam:SimulatePrincipalPolicy")
        },
        *{
            (action, f"{prefix}:logs:{region}:log-group:/aws/sagemaker/TrainingJobs:*")
            for action in ("logs:DescribeLogStreams", "logs:GetLogEvents")
        },
        *{
            (action, f"{prefix}:logs:{region}:log-group:/aws/sagemaker/NotebookInstances:*")
            for action in (
                "logs:CreateLogGroup",
                "logs:CreateLogStream",
                "logs:PutLogEvents",
                "logs:DescribeLogStreams",
            )
        },
        # ModelRegistryReadPolicy, shared with the pipeline: the champion's package and its metric
        *{
            ("sagemaker:DescribeModelPackage", f"{prefix}:sagemaker:{region}:{kind}")
            for kind in ("model-package-group/${ResourcePrefix}-*", "model-package/${ResourcePrefix}-*/*")
        },
        ("sagemaker:ListModelPackages", "*"),
        ("sagemaker:ListModelPackageGroups", "*"),
    }


def test_the_notebook_passes_only_its_training_role_and_only_to_sagemaker() -> None:
    (passing,) = [st for st in _statements("NotebookRole") if "iam:PassRole" in as_list(st["Action"])]
    assert passing["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    listing = next(st for st in _statements("NotebookRole") if st["Action"] == "s3:ListBucket")
    assert listing["Condition"] == {
        "StringLike": {"s3:prefix": ["exports/*", "models/*", "code/*", "experiments/*"]}
    }


def test_the_training_role_writes_only_experiments_and_is_sagemakers_alone() -> None:
    writes = {resource for action, resource in _grants("NotebookTrainingRole") if action == "s3:PutObject"}
    assert writes == {"${DataBucket.Arn}/experiments/*"}
    trust = resources()["NotebookTrainingRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust == [
        {
            "Effect": "Allow",
            "Principal": {"Service": "sagemaker.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
        }
    ]
