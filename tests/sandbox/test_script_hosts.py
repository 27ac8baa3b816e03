"""A training script on several instances: each host runs it with only its ShardedByS3Key share, its
own /opt/ml and SM_HOSTS / SM_CURRENT_HOST; the model is every host's model directory aggregated; a
host that fails fails the job with its own traceback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sandbox.sagemaker import SageMakerEmulator, runner, script_hosts
from snowsage.script_mode import metric_definition
from snowsage_setup.training_code import TRAINING_DIR, build_archive
from tests.sandbox.emulator_helpers import (
    BUCKET,
    csv_text,
    make_rows,
    model_archive_files,
    put,
    script_request,
    source_archive,
)

GATE = metric_definition("validation:auc")
TRAIN = f"s3://{BUCKET}/data/train/"

# Each host records what it saw in a file of its own; only the first host saves the model.
SEES = """
import json, os
host, hosts = os.environ["SM_CURRENT_HOST"], json.loads(os.environ["SM_HOSTS"])
seen = {
    "host": host,
    "hosts": hosts,
    "train": sorted(os.listdir(os.environ["SM_CHANNEL_TRAIN"])),
    "validation": sorted(os.listdir(os.environ["SM_CHANNEL_VALIDATION"])),
    "config": json.load(open("/".join([os.environ["SM_INPUT_CONFIG_DIR"], "resourceconfig.json"]))),
    "resource_variable": os.environ["SM_RESOURCE_CONFIG"],
}
model = os.environ["SM_MODEL_DIR"]
open(os.path.join(model, "seen-" + host + ".json"), "w").write(json.dumps(seen))
print("validation-auc:0.%d" % (hosts.index(host) + 6))
if host == hosts[0] or os.environ.get("EVERY_HOST_SAVES"):
    open(os.path.join(model, "xgboost-model"), "w").write("model of " + host)
"""


def _three_train_files(s3: Any) -> None:
    x, y = make_rows(300, 1)
    for part in range(3):
        put(s3, f"data/train/part-{part}.csv", csv_text(y[part::3], x[part::3]))
    xv, yv = make_rows(100, 2)
    put(s3, "data/validation/part-0.csv", csv_text(yv, xv))


def _run_on_two(emulator: SageMakerEmulator, s3: Any, program: str | bytes) -> dict[str, Any]:
    """``program``: the train.py, or a whole source archive."""
    _three_train_files(s3)
    archive = program if isinstance(program, bytes) else source_archive({"train.py": program})
    put(s3, "code/demo/sourcedir.tar.gz", archive)
    request = script_request([GATE.model_dump()])
    request["ResourceConfig"]["InstanceCount"] = 2
    request["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3DataDistributionType"] = "ShardedByS3Key"
    emulator.create_training_job(request)
    return emulator.describe_training_job(request["TrainingJobName"])


def test_each_host_runs_the_script_on_its_own_share_and_the_model_is_aggregated(
    s3: Any, emulator: SageMakerEmulator
) -> None:
    job = _run_on_two(emulator, s3, SEES)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    files = model_archive_files(s3, job["ModelArtifacts"]["S3ModelArtifacts"])
    assert sorted(files) == ["seen-algo-1.json", "seen-algo-2.json", "xgboost-model"]
    first, second = (json.loads(files[f"seen-algo-{n}.json"]) for n in (1, 2))
    assert first["hosts"] == second["hosts"] == ["algo-1", "algo-2"]
    assert first["train"] == ["part-0.csv", "part-2.csv"] and second["train"] == ["part-1.csv"]
    assert first["validation"] == second["validation"] == ["part-0.csv"]
    assert first["config"] == {
        "current_host": "algo-1",
        "current_instance_type": "ml.m5.xlarge",
        "hosts": ["algo-1", "algo-2"],
        "network_interface_name": "eth0",
    }
    assert second["config"]["current_host"] == "algo-2"
    assert json.loads(second["resource_variable"]) == second["config"]
    assert files["xgboost-model"] == b"model of algo-1"
    # What EmulatorInstances reports is what each host was given.
    assert [h["Channels"]["train"] for h in job["EmulatorInstances"]] == [
        [f"{TRAIN}part-0.csv", f"{TRAIN}part-2.csv"],
        [f"{TRAIN}part-1.csv"],
    ]
    # FinalMetricDataList from the first host's log; the job's log holds both hosts'.
    assert [m["Value"] for m in job["FinalMetricDataList"]] == [0.6]
    log = emulator.training_log(job["TrainingJobName"])
    assert [line for line in log if line.startswith("validation-auc")] == [
        "validation-auc:0.6",
        "validation-auc:0.7",
    ]


def test_two_hosts_writing_the_same_model_file_fail_the_job(s3: Any, emulator: SageMakerEmulator) -> None:
    every_host_saves = SEES.replace('os.environ.get("EVERY_HOST_SAVES")', "True")
    job = _run_on_two(emulator, s3, every_host_saves)
    assert job["TrainingJobStatus"] == "Failed"
    assert "hosts algo-1 and algo-2 both wrote xgboost-model to /opt/ml/model" in job["FailureReason"]
    assert "ModelArtifacts" not in job


def test_a_failing_host_fails_the_job_with_its_traceback(s3: Any, emulator: SageMakerEmulator) -> None:
    crash_on_second = (
        "import os\n\ndef train():\n"
        "    if os.environ['SM_CURRENT_HOST'] == 'algo-2':\n"
        "        raise RuntimeError('algo-2 lost its shard')\n"
        "    open(os.path.join(os.environ['SM_MODEL_DIR'], 'xgboost-model'), 'w').write('m')\n\ntrain()\n"
    )
    job = _run_on_two(emulator, s3, crash_on_second)
    assert job["TrainingJobStatus"] == "Failed"
    assert job["FailureReason"].startswith("AlgorithmError: ExecuteUserScriptError:\nExitCode 1")
    assert "RuntimeError: algo-2 lost its shard" in emulator.training_log(job["TrainingJobName"])
    assert "ModelArtifacts" not in job


def test_the_sample_script_says_it_trains_on_one_instance(s3: Any, emulator: SageMakerEmulator) -> None:
    job = _run_on_two(emulator, s3, build_archive(TRAINING_DIR / "merchant_risk"))
    assert job["TrainingJobStatus"] == "Failed"
    log = emulator.training_log(job["TrainingJobName"])
    assert any("train.py trains on one instance, not 2 (algo-1, algo-2)" in line for line in log)


def _hosts(tmp_path: Path) -> list[script_hosts.Host]:
    request = script_request([GATE.model_dump()])
    return script_hosts.prepare(
        tmp_path, request=request, names=["algo-1", "algo-2"], channels={"train": [[], []]}
    )


def _run_hosts(
    hosts: list[script_hosts.Host], *, seconds_left: float, stop: bool
) -> script_hosts.HostsOutcome:
    return script_hosts.run(
        ["python3", "-c", "print('ran')"],
        hosts,
        variables=lambda host: {"PATH": str(runner.environment_python("1.7.4").parent)},
        workdir="/",
        parallel=1,
        seconds_left=seconds_left,
        should_stop=lambda: stop,
    )


def test_a_job_stopped_before_its_hosts_start_is_stopped_not_completed(tmp_path: Path) -> None:
    hosts = _hosts(tmp_path)
    outcome = _run_hosts(hosts, seconds_left=60, stop=True)
    assert outcome.stopped == "Stopped" and outcome.first_failure is None
    assert all(host.outcome is None for host in hosts)


def test_hosts_waiting_for_a_core_keep_the_jobs_deadline(tmp_path: Path) -> None:
    hosts = _hosts(tmp_path)
    outcome = _run_hosts(hosts, seconds_left=0, stop=False)
    assert outcome.stopped == "MaxRuntimeExceeded"
    assert all(host.outcome is None for host in hosts)


def test_stopping_a_job_on_two_instances_stops_every_host(s3: Any, background: SageMakerEmulator) -> None:
    _three_train_files(s3)
    put(s3, "code/demo/sourcedir.tar.gz", source_archive({"train.py": "import time\ntime.sleep(600)\n"}))
    request = script_request([GATE.model_dump()])
    request["ResourceConfig"]["InstanceCount"] = 2
    request["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3DataDistributionType"] = "ShardedByS3Key"
    background.create_training_job(request)
    background.stop_training_job(request["TrainingJobName"])
    job = background.wait(request["TrainingJobName"], timeout=60)
    assert job["TrainingJobStatus"] == "Stopped" and job["SecondaryStatus"] == "Stopped"
    assert "ModelArtifacts" not in job
