"""SageMaker Python SDK v2 as a notebook uses it, against ``sandbox serve`` (run by .venv-sagemaker-v2).

``python drive_v2.py '<json arguments>'`` trains the dataset's script with ``sagemaker.xgboost.XGBoost``
(script mode) and scores with its ``transformer()``, trains the built-in algorithm with ``Estimator``
on the XGBoost image, and prints one JSON line: the Describe* results and what tried to leave loopback.
Every AWS client reaches the sandbox through ``AWS_ENDPOINT_URL``, which the test sets.
"""

# ruff: noqa: I001 - the loopback guard is imported before anything that could open a connection
from __future__ import annotations

import loopback_only  # refuses and records anything that is not loopback

import json
import sys
from typing import Any

import boto3
import sagemaker
from sagemaker.estimator import Estimator
from sagemaker.inputs import TrainingInput
from sagemaker.xgboost import XGBoost

REGION = "us-east-1"
HYPERPARAMETERS = {"objective": "binary:logistic", "eval_metric": "auc", "num_round": 10, "max_depth": 3}


def main(arguments: dict[str, Any]) -> dict[str, Any]:
    boto_session = boto3.Session(region_name=REGION)
    session = sagemaker.Session(boto_session=boto_session, default_bucket=arguments["bucket"])
    client = session.sagemaker_client
    channels = {
        name: TrainingInput(arguments[name], content_type="text/csv") for name in ("train", "validation")
    }
    common: dict[str, Any] = {
        "role": arguments["role"],
        "instance_count": 1,
        "instance_type": "ml.m5.xlarge",
        "output_path": arguments["output_path"],
        "sagemaker_session": session,
    }
    script = XGBoost(
        entry_point="train.py",
        source_dir=arguments["source_dir"],
        framework_version="1.7-1",
        hyperparameters=dict(HYPERPARAMETERS),  # the SDK adds its own keys to the dict it is given
        base_job_name="sdk-v2-script",
        **common,
    )
    script.fit(channels, wait=True, logs="None")
    transformer = script.transformer(
        instance_count=1, instance_type="ml.m5.large", output_path=arguments["predictions"], accept="text/csv"
    )
    # The export's score rows are id first: the model sees the features, the output keeps the id.
    transformer.transform(
        arguments["score"],
        content_type="text/csv",
        split_type="Line",
        input_filter="$[1:]",
        join_source="Input",
        output_filter="$[0,-1]",
        wait=True,
        logs=False,
    )
    builtin = Estimator(
        image_uri=sagemaker.image_uris.retrieve("xgboost", REGION, "1.7-1"),
        hyperparameters=dict(HYPERPARAMETERS),  # the SDK adds its own keys to the dict it is given
        base_job_name="sdk-v2-builtin",
        **common,
    )
    builtin.fit(channels, wait=True, logs="None")
    return {
        "script": client.describe_training_job(TrainingJobName=script.latest_training_job.name),
        "transform": client.describe_transform_job(TransformJobName=transformer.latest_transform_job.name),
        "builtin": client.describe_training_job(TrainingJobName=builtin.latest_training_job.name),
        "left_loopback": loopback_only.ATTEMPTS,
    }


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1])), default=str))
