"""Fixtures of the SageMaker emulator's tests: one moto S3 per module, an emulator per test."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.server import ThreadedMotoServer

from sandbox.sagemaker import SageMakerEmulator
from tests.sandbox.emulator_helpers import BUCKET, keys


def allow_all_role(iam: Any, name: str) -> str:
    """A role the services these tests drive may assume and that may do anything: the sandbox
    enforces IAM, and these tests are about other rules."""
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {
                    "Service": ["states.amazonaws.com", "sagemaker.amazonaws.com", "lambda.amazonaws.com"]
                },
                "Action": "sts:AssumeRole",
            }
        ],
    }
    arn: str = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    everything = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    iam.put_role_policy(RoleName=name, PolicyName="everything", PolicyDocument=json.dumps(everything))
    return arn


@pytest.fixture(scope="module")
def aws_s3() -> Iterator[Any]:
    """One in-process moto S3 for the module (starting moto per test is the slow part)."""
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


@pytest.fixture(scope="module")
def endpoint_url(aws_s3: Any) -> Iterator[str]:
    """The same moto over HTTP on loopback: a job's processes (the training toolkit) reach S3 through it."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3(aws_s3: Any) -> Iterator[Any]:
    """The module's S3 client with an empty bucket for each test."""
    yield aws_s3
    for key in keys(aws_s3, ""):
        aws_s3.delete_object(Bucket=BUCKET, Key=key)


@pytest.fixture
def emulator(s3: Any, endpoint_url: str) -> SageMakerEmulator:
    return SageMakerEmulator(s3, background=False, endpoint_url=endpoint_url)


@pytest.fixture
def background(s3: Any, endpoint_url: str) -> SageMakerEmulator:
    return SageMakerEmulator(s3, background=True, endpoint_url=endpoint_url)
