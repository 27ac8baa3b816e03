"""SageMaker Python SDK v3 as a notebook uses it, against ``sandbox serve`` (run by .venv-sagemaker-v3).

``python drive_v3.py '<json arguments>'`` trains the dataset's script with ``ModelTrainer`` and
``SourceCode`` on the XGBoost 1.7-1 image (the SDK uploads ``code`` and ``sm_drivers`` channels and
sets ContainerEntrypoint ``/bin/bash -c … sm_train.sh``), then prints one JSON line: the job's
DescribeTrainingJob and what tried to leave loopback.
"""

# ruff: noqa: I001 - the loopback guard is imported before anything that could open a connection
from __future__ import annotations

import loopback_only  # refuses and records anything that is not loopback

import json
import sys
from typing import Any

import boto3
from sagemaker.core import image_uris
from sagemaker.core.helper.session_helper import Session
from sagemaker.train import ModelTrainer
from sagemaker.train.configs import Compute, InputData, OutputDataConfig, SourceCode

REGION = "us-east-1"
HYPERPARAMETERS = {"objective": "binary:logistic", "eval_metric": "auc", "num_round": 10, "max_depth": 3}


def main(arguments: dict[str, Any]) -> dict[str, Any]:
    session = Session(boto_session=boto3.Session(region_name=REGION), default_bucket=arguments["bucket"])
    trainer = ModelTrainer(
        sagemaker_session=session,
        role=arguments["role"],
        training_image=image_uris.retrieve("xgboost", REGION, version="1.7-1"),
        source_code=SourceCode(source_dir=arguments["source_dir"], entry_script="train.py"),
        compute=Compute(instance_type="ml.m5.xlarge", instance_count=1),
        hyperparameters=dict(HYPERPARAMETERS),  # the SDK adds its own keys to the dict it is given
        output_data_config=OutputDataConfig(s3_output_path=arguments["output_path"]),
        base_job_name="sdk-v3-trainer",
    )
    channels = [
        InputData(channel_name=name, data_source=arguments[name], content_type="text/csv")
        for name in ("train", "validation")
    ]
    trainer.train(input_data_config=channels, wait=True, logs=False)
    name = trainer._latest_training_job.training_job_name
    return {
        "job": session.sagemaker_client.describe_training_job(TrainingJobName=name),
        "left_loopback": loopback_only.ATTEMPTS,
    }


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1])), default=str))
