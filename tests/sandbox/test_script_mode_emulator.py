"""Script mode through the SageMaker training toolkit in the job's own /opt/ml, and ShardedByS3Key shares."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sandbox.sagemaker import SageMakerEmulator, SageMakerError
from sandbox.sagemaker.script_mode import final_metrics
from sandbox.sagemaker.sharding import channel_shares
from snowsage.script_mode import metric_definition
from snowsage_setup.training_code import TRAINING_DIR, build_archive
from tests.sandbox.emulator_helpers import (
    BUCKET,
    csv_text,
    make_rows,
    put,
    put_training_data,
    script_request,
    source_archive,
    training_request,
)

GATE = metric_definition("validation:auc")


def _script_request(**hyperparameters: str) -> dict[str, Any]:
    return script_request([GATE.model_dump()], **hyperparameters)


ECHO = """
import json, os, socket, sys
print("args", json.dumps(sys.argv[1:]))
print("env", json.dumps({k: v for k, v in os.environ.items() if k.startswith("SM_")}))
print("files", json.dumps(sorted(os.listdir(os.environ["SM_CHANNEL_TRAIN"]))))
print("opt_ml", json.dumps(sorted(os.listdir("/opt/ml/input/config")) + [socket.gethostname(), os.getcwd()]))
print("[0]\\ttrain-auc:0.5\\tvalidation-auc:0.61")
print("[1]\\ttrain-auc:0.7\\tvalidation-auc:0.83")
open(os.path.join(os.environ["SM_MODEL_DIR"], "xgboost-model"), "w").write("m")
"""


def _logged(emulator: SageMakerEmulator, name: str, prefix: str) -> Any:
    line = next(line for line in emulator.training_log(name) if line.startswith(prefix + " "))
    return json.loads(line.split(" ", 1)[1])


def test_a_script_runs_under_the_toolkit_contract(s3: Any, emulator: SageMakerEmulator) -> None:
    put_training_data(s3)
    put(s3, "code/demo/sourcedir.tar.gz", source_archive({"train.py": ECHO}))
    request = _script_request(eta="0.3", num_round="20")
    emulator.create_training_job(request)
    job = emulator.describe_training_job(request["TrainingJobName"])
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    name = request["TrainingJobName"]
    assert _logged(emulator, name, "args") == ["--eta", "0.3", "--num_round", "20"]
    env = _logged(emulator, name, "env")
    # The toolkit decodes each hyperparameter as JSON (a value that is not JSON stays a string).
    assert json.loads(env["SM_HPS"]) == {"eta": 0.3, "num_round": 20}
    assert env["SM_MODEL_DIR"] == "/opt/ml/model" and env["SM_CURRENT_HOST"] == "algo-1"
    assert env["SM_CHANNEL_TRAIN"] == "/opt/ml/input/data/train"
    assert env["SM_CHANNEL_VALIDATION"] == "/opt/ml/input/data/validation"
    # Its own /opt/ml (a mount namespace), hostname algo-1, the toolkit's working folder /opt/ml/code.
    config = ["hyperparameters.json", "inputdataconfig.json", "resourceconfig.json"]
    assert _logged(emulator, name, "opt_ml") == [*config, "algo-1", "/opt/ml/code"]
    assert not Path("/opt/ml/input/config/resourceconfig.json").exists()
    assert (env["SM_HP_ETA"], env["SM_HP_NUM_ROUND"]) == ("0.3", "20")
    assert json.loads(env["SM_INPUT_DATA_CONFIG"])["train"]["S3DistributionType"] == "FullyReplicated"
    assert _logged(emulator, name, "files") == ["part-0.csv"]
    # The LAST value the metric definition matched, as SageMaker reads the log.
    assert [(m["MetricName"], m["Value"]) for m in job["FinalMetricDataList"]] == [("validation:auc", 0.83)]
    assert job["ModelArtifacts"]["S3ModelArtifacts"].endswith("/output/model.tar.gz")


def test_a_crashing_script_fails_the_job_with_its_traceback(s3: Any, emulator: SageMakerEmulator) -> None:
    put_training_data(s3)
    crash = "def train():\n    raise ValueError('labels must be 0 or 1, found 7')\n\ntrain()\n"
    put(s3, "code/demo/sourcedir.tar.gz", source_archive({"train.py": crash}))
    request = _script_request()
    emulator.create_training_job(request)
    job = emulator.describe_training_job(request["TrainingJobName"])
    assert job["TrainingJobStatus"] == "Failed"
    reason = job["FailureReason"]
    # The toolkit's failure file, which it writes without the script's stderr (the image runs the
    # entry point with capture_error=False): the traceback is in the job's log.
    assert reason.startswith(
        'AlgorithmError: ExecuteUserScriptError:\nExitCode 1\nErrorMessage ""\nCommand "'
    )
    assert reason.endswith(' train.py"')
    assert "ValueError: labels must be 0 or 1, found 7" in emulator.training_log(request["TrainingJobName"])
    assert "ModelArtifacts" not in job


def test_a_missing_program_fails_the_job(s3: Any, emulator: SageMakerEmulator) -> None:
    put_training_data(s3)
    put(s3, "code/demo/sourcedir.tar.gz", source_archive({"other.py": "print(1)"}))
    request = _script_request()
    emulator.create_training_job(request)
    job = emulator.describe_training_job(request["TrainingJobName"])
    assert job["TrainingJobStatus"] == "Failed"
    assert job["FailureReason"].startswith("AlgorithmError: ")
    assert "train.py" in job["FailureReason"]


def test_the_sample_script_trains_a_model_the_transform_scores(s3: Any, emulator: SageMakerEmulator) -> None:
    put_training_data(s3)
    put(s3, "code/demo/sourcedir.tar.gz", build_archive(TRAINING_DIR / "merchant_risk"))
    request = _script_request(
        objective="binary:logistic", eval_metric="auc", num_round="20", max_depth="3", eta="0.3"
    )
    emulator.create_training_job(request)
    job = emulator.describe_training_job(request["TrainingJobName"])
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    assert any(
        line.startswith("class weights from the data")
        for line in emulator.training_log(job["TrainingJobName"])
    )
    (metric,) = job["FinalMetricDataList"]
    assert metric["MetricName"] == "validation:auc" and 0.7 < metric["Value"] <= 1.0
    model = job["ModelArtifacts"]["S3ModelArtifacts"]
    emulator.create_model(
        {
            "ModelName": "script-model",
            "PrimaryContainer": {
                "Image": request["AlgorithmSpecification"]["TrainingImage"],
                "ModelDataUrl": model,
            },
            "ExecutionRoleArn": request["RoleArn"],
        }
    )
    x, _ = make_rows(10, 3)
    put(s3, "score/part-0.csv", csv_text(x))
    emulator.create_transform_job(
        {
            "TransformJobName": "script-score",
            "ModelName": "script-model",
            "TransformInput": {
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/score/"}},
                "ContentType": "text/csv",
                "SplitType": "Line",
            },
            "TransformOutput": {"S3OutputPath": f"s3://{BUCKET}/out/"},
            "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
        }
    )
    scored = emulator.describe_transform_job("script-score")
    assert scored["TransformJobStatus"] == "Completed", scored.get("FailureReason")
    assert scored["EmulatorInstances"] == [{"Host": "algo-1", "Objects": [f"s3://{BUCKET}/score/part-0.csv"]}]


def test_several_instances_read_the_export_sharded_by_key(s3: Any, emulator: SageMakerEmulator) -> None:
    x, y = make_rows(300, 1)
    for part in range(3):
        put(s3, f"data/train/part-{part}.csv", csv_text(y[part::3], x[part::3]))
    xv, yv = make_rows(100, 2)
    put(s3, "data/validation/part-0.csv", csv_text(yv, xv))
    request = training_request(
        ResourceConfig={"InstanceType": "ml.m5.xlarge", "InstanceCount": 2, "VolumeSizeInGB": 10}
    )
    request["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3DataDistributionType"] = "ShardedByS3Key"
    emulator.create_training_job(request)
    job = emulator.describe_training_job(request["TrainingJobName"])
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    train = f"s3://{BUCKET}/data/train/"
    validation = [f"s3://{BUCKET}/data/validation/part-0.csv"]
    assert job["EmulatorInstances"] == [
        {
            "Host": "algo-1",
            "Channels": {"train": [f"{train}part-0.csv", f"{train}part-2.csv"], "validation": validation},
        },
        {"Host": "algo-2", "Channels": {"train": [f"{train}part-1.csv"], "validation": validation}},
    ]


def test_shares_deal_keys_out_and_replicate_otherwise() -> None:
    uris = ["a", "b", "c", "d", "e"]
    assert channel_shares(uris, "ShardedByS3Key", 2) == [["a", "c", "e"], ["b", "d"]]
    assert channel_shares(uris, "FullyReplicated", 2) == [uris, uris]
    assert channel_shares(uris, "ShardedByS3Key", 1) == [uris]


def test_the_metric_regex_keeps_the_last_match() -> None:
    log = ["[0]\ttrain-auc:0.7\tvalidation-auc:0.8", "[1]\tvalidation-auc:9.1e-01", "validation-aucpr:0.2"]
    assert final_metrics(log, [GATE.model_dump()]) == [("validation:auc", 0.91)]
    assert final_metrics(["nothing"], [GATE.model_dump()]) == []


def test_metric_definitions_are_held_to_the_api_limits(emulator: SageMakerEmulator) -> None:
    request = _script_request()
    request["AlgorithmSpecification"]["MetricDefinitions"] = [{"Name": "validation:auc", "Regex": ""}]
    with pytest.raises(SageMakerError, match=r"metricDefinitions\.1\.member\.regex"):
        emulator.create_training_job(request)


def test_a_transform_deals_its_objects_to_its_instances(s3: Any, emulator: SageMakerEmulator) -> None:
    put_training_data(s3)
    emulator.create_training_job(training_request())
    job = emulator.describe_training_job("snowsage-run-train-0")
    emulator.create_model(
        {
            "ModelName": "m",
            "PrimaryContainer": {
                "Image": job["AlgorithmSpecification"]["TrainingImage"],
                "ModelDataUrl": job["ModelArtifacts"]["S3ModelArtifacts"],
            },
            "ExecutionRoleArn": job["RoleArn"],
        }
    )
    x, _ = make_rows(9, 3)
    for part in range(3):
        put(s3, f"score/part-{part}.csv", csv_text(x[part::3]))
    emulator.create_transform_job(
        {
            "TransformJobName": "spread",
            "ModelName": "m",
            "TransformInput": {
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/score/"}},
                "ContentType": "text/csv",
                "SplitType": "Line",
            },
            "TransformOutput": {"S3OutputPath": f"s3://{BUCKET}/out/"},
            "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 2},
        }
    )
    scored = emulator.describe_transform_job("spread")
    assert scored["TransformJobStatus"] == "Completed", scored.get("FailureReason")
    score = f"s3://{BUCKET}/score/"
    assert scored["EmulatorInstances"] == [
        {"Host": "algo-1", "Objects": [f"{score}part-0.csv", f"{score}part-2.csv"]},
        {"Host": "algo-2", "Objects": [f"{score}part-1.csv"]},
    ]
