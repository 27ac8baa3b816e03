"""The SageMaker Python SDK (v2 and v3, pinned, each in its own venv) and the AWS CLI against
``python -m sandbox serve --with-sample-data``, as a data scientist uses them from a notebook.

The drivers (drive_v2.py, drive_v3.py) run in .venv-sagemaker-v2 / .venv-sagemaker-v3 with every AWS
client pointed at the served moto (``AWS_ENDPOINT_URL``), the SDK's telemetry off
(sagemaker-config.yaml) and a guard that refuses and records any connection off loopback.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.serve.sam_local import ROOT
from tests.serve.test_sagemaker_sdk_role import sdk_smoke_test_actions
from tests.serve.test_serve import BUCKET, Served, aws, serving_sample_data

pytestmark = pytest.mark.e2e

HERE = Path(__file__).resolve().parent
DATASET = "merchant_risk"
SDK_TIMEOUT = 900


def _sdk_python(version: str) -> Path:
    python = ROOT / f".venv-sagemaker-{version}" / "bin" / "python"
    if not python.exists():
        pytest.fail(f"{python} is missing: run `make venv` (requirements/sagemaker-{version}.lock)")
    return python


def _export_prefixes(port: int) -> dict[str, str]:
    """The sample export's train / validation / score prefixes."""
    s3 = aws("s3", port)
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=f"exports/{DATASET}/")
    keys = [o["Key"] for page in pages for o in page.get("Contents", [])]
    manifest = sorted(key for key in keys if key.endswith("/manifest.json"))[0]
    base = manifest.removesuffix("manifest.json")
    return {section: f"s3://{BUCKET}/{base}{section}/" for section in ("train", "validation", "score")}


def _notebook_role(port: int) -> str:
    """A data scientist's SageMaker execution role, as a notebook brings one: trusted by SageMaker,
    granted the actions the SDK v3 checks first (its ``_get_smoke_test_actions("training")``) and
    the bucket the jobs read and write. The stack's own roles grant neither (least privilege)."""
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
    grants = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": sdk_smoke_test_actions(f"http://127.0.0.1:{port}"),
                "Resource": "*",
            },
            {
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject", "s3:ListBucket", "s3:GetBucketLocation"],
                "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"],
            },
        ],
    }
    iam = aws("iam", port)
    arn: str = iam.create_role(RoleName="notebook-execution", AssumeRolePolicyDocument=json.dumps(trust))[
        "Role"
    ]["Arn"]
    iam.put_role_policy(
        RoleName="notebook-execution", PolicyName="notebook", PolicyDocument=json.dumps(grants)
    )
    return arn


def _environment(port: int, home: Path, **extra: str) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(home),  # no ~/.aws of the machine running the tests
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "SAGEMAKER_USER_CONFIG_OVERRIDE": str(HERE / "sagemaker-config.yaml"),
        "SAGEMAKER_SUPPRESS_V2_WARNING": "1",
        **extra,
    }


def _drive(version: str, arguments: dict[str, Any], environment: dict[str, str]) -> dict[str, Any]:
    completed = subprocess.run(
        [str(_sdk_python(version)), str(HERE / f"drive_{version}.py"), json.dumps(arguments)],
        capture_output=True,
        text=True,
        env=environment,
        timeout=SDK_TIMEOUT,
        check=False,
    )
    assert completed.returncode == 0, f"{completed.stdout[-3000:]}\n{completed.stderr[-5000:]}"
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serving_sample_data(tmp_path_factory.mktemp("serve")) as running:
        yield running


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="module")
def arguments(served: Served) -> dict[str, Any]:
    port = served.ports[0]
    return {
        **_export_prefixes(port),
        "bucket": BUCKET,
        "role": _notebook_role(port),
        "source_dir": str(ROOT / "training" / DATASET),
        "output_path": f"s3://{BUCKET}/sdk/models/",
        "predictions": f"s3://{BUCKET}/sdk/predictions/",
    }


@pytest.fixture(scope="module")
def v2(served: Served, arguments: dict[str, Any], home: Path) -> dict[str, Any]:
    return _drive("v2", arguments, _environment(served.ports[0], home))


@pytest.fixture(scope="module")
def v3(served: Served, arguments: dict[str, Any], home: Path) -> dict[str, Any]:
    # No SAGEMAKER_VALIDATE_ROLE: ModelTrainer asks iam:SimulatePrincipalPolicy first, as on AWS.
    return _drive("v3", arguments, _environment(served.ports[0], home))


def _model_exists(port: int, job: dict[str, Any]) -> bool:
    uri = job["ModelArtifacts"]["S3ModelArtifacts"]
    assert uri.startswith(f"s3://{BUCKET}/") and uri.endswith("/output/model.tar.gz")
    head = aws("s3", port).head_object(Bucket=BUCKET, Key=uri.removeprefix(f"s3://{BUCKET}/"))
    return int(head["ContentLength"]) > 0


def test_sdk_v2_xgboost_script_mode_fit_completes_and_its_transformer_scores(
    served: Served, v2: dict[str, Any], arguments: dict[str, Any]
) -> None:
    script = v2["script"]
    assert script["TrainingJobStatus"] == "Completed", script.get("FailureReason")
    assert _model_exists(served.ports[0], script)
    # The SDK sends every hyperparameter JSON-encoded; the toolkit decoded them for train.py.
    assert script["HyperParameters"]["sagemaker_program"] == '"train.py"'
    transform = v2["transform"]
    assert transform["TransformJobStatus"] == "Completed", transform.get("FailureReason")
    s3 = aws("s3", served.ports[0])
    outputs = s3.list_objects_v2(Bucket=BUCKET, Prefix="sdk/predictions/")["Contents"]
    assert outputs and all(o["Key"].endswith(".out") for o in outputs)
    first = s3.get_object(Bucket=BUCKET, Key=outputs[0]["Key"])["Body"].read().decode().splitlines()[0]
    merchant, score = first.split(",")
    assert merchant.startswith("M") and 0.0 <= float(score) <= 1.0
    assert not v2["left_loopback"]


def test_sdk_v2_builtin_xgboost_image_fit_completes(served: Served, v2: dict[str, Any]) -> None:
    builtin = v2["builtin"]
    assert builtin["TrainingJobStatus"] == "Completed", builtin.get("FailureReason")
    assert _model_exists(served.ports[0], builtin)
    metrics = {m["MetricName"] for m in builtin.get("FinalMetricDataList", [])}
    if "validation:auc" not in metrics:
        pytest.fail(json.dumps(builtin, indent=1))


def test_sdk_v3_model_trainer_with_source_code_completes(served: Served, v3: dict[str, Any]) -> None:
    job = v3["job"]
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    assert job["AlgorithmSpecification"]["ContainerEntrypoint"] == ["/bin/bash"]
    assert _model_exists(served.ports[0], job)
    assert not v3["left_loopback"]


def test_aws_cli_lists_both_sdk_jobs(
    served: Served, v2: dict[str, Any], v3: dict[str, Any], home: Path
) -> None:
    cli = shutil.which("aws")
    assert cli, "the AWS CLI (awscli) is not on PATH"
    listed = subprocess.run(
        [cli, "sagemaker", "list-training-jobs", "--output", "json"],
        capture_output=True,
        text=True,
        env=_environment(served.ports[0], home),
        timeout=120,
        check=True,
    )
    names = {job["TrainingJobName"] for job in json.loads(listed.stdout)["TrainingJobSummaries"]}
    assert {v2["script"]["TrainingJobName"], v3["job"]["TrainingJobName"]} <= names
