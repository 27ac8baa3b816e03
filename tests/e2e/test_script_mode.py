"""Script mode and scale-out end to end (issue 13): the sample dataset's own train.py trains, is gated,
registered, scored and loaded; a crashing script or a requirements.txt that cannot be installed fails
the run with its error in ML_RUNS.CAUSE; several instances read the export sharded by key, a script on
two instances included; PrepareRun refuses what cannot run, naming the field."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Iterator
from typing import Any

import pytest

from sandbox import pipeline_run
from sandbox.reference_runs import load_reference_data
from sandbox.services import Sandbox
from sandbox.snowflake.export import export_dataset
from snowsage.names import execution_name, run_id_for
from snowsage_setup.training_code import TRAINING_DIR, archive_key, build_archive
from tooling.sample_data import SAMPLE_DATASET

SCRIPT = f"training/{SAMPLE_DATASET}/train.py"


def _sql(sandbox: Sandbox, statement: str) -> list[tuple[Any, ...]]:
    with sandbox.snowflake_connection() as connection:
        cursor = connection.cursor()
        cursor.execute(statement)
        return [tuple(row) for row in cursor.fetchall()] if cursor.description else []


def _set_row(
    sandbox: Sandbox, script: str | None, instances: int | None, tuning: dict[str, Any] | None = None
) -> None:
    script_sql = "NULL" if script is None else f"'{script}'"
    instances_sql = "NULL" if instances is None else str(instances)
    tuning_sql = "NULL" if tuning is None else f"'{json.dumps(tuning)}'"
    _sql(
        sandbox,
        f"UPDATE ML_DATASETS SET TRAINING_SCRIPT = {script_sql}, TRAINING_INSTANCE_COUNT = {instances_sql},"
        f" TUNING = {tuning_sql} WHERE NAME = '{SAMPLE_DATASET}'",
    )


@pytest.fixture(scope="module")
def sample(sandbox: Sandbox) -> None:
    load_reference_data(sandbox)


@pytest.fixture
def row(sandbox: Sandbox, sample: None) -> Iterator[None]:
    """Each test sets the row's script mode / instance count; the row goes back to the built-in after."""
    yield
    _set_row(sandbox, None, None)
    sandbox.client("s3").put_object(
        Bucket=sandbox.bucket,
        Key=archive_key(SAMPLE_DATASET),
        Body=build_archive(TRAINING_DIR / SAMPLE_DATASET),
    )


def _cause(sandbox: Sandbox, run_id: str) -> str:
    rows = _sql(sandbox, f"SELECT CAUSE FROM ML_RUNS WHERE RUN_ID = '{run_id}'")
    assert len(rows) == 1, rows
    return str(rows[0][0])


def _training_job(sandbox: Sandbox, result: pipeline_run.RunResult) -> dict[str, Any]:
    assert sandbox.emulator is not None
    plan: Any = (result.execution.output or {})["plan"]
    return sandbox.emulator.describe_training_job(f"{plan['name_base']}-train-0")


def test_the_sample_script_trains_and_its_model_is_scored_and_loaded(sandbox: Sandbox, row: None) -> None:
    _set_row(sandbox, SCRIPT, None)
    result = pipeline_run.run_from_export(sandbox, SAMPLE_DATASET, export_id="20261127t110000z")
    assert result.status == "SUCCEEDED", result.execution.cause
    plan: Any = (result.execution.output or {})["plan"]
    training = plan["training"]
    assert training["script"]["program"] == "train.py"
    assert training["hyperparameters"]["sagemaker_program"] == "train.py"
    assert training["hyperparameters"]["sagemaker_submit_directory"] == (
        f"s3://{sandbox.bucket}/code/{SAMPLE_DATASET}/sourcedir.tar.gz"
    )
    assert plan["model"]["sources"]["training_script"] == "ML_DATASETS"
    job = _training_job(sandbox, result)
    assert job["AlgorithmSpecification"]["MetricDefinitions"][0]["Name"] == "validation:auc"
    assert sandbox.emulator is not None
    log = sandbox.emulator.training_log(job["TrainingJobName"])
    assert any(line.startswith("class weights from the data") for line in log)
    assert result.metric["name"] == "validation:auc" and result.metric["value"] > 0.75
    assert result.gate["promoted"] is True
    assert result.rows_loaded == result.rows_scored and (result.rows_loaded or 0) > 0


def _deploy_source(sandbox: Sandbox, files: dict[str, str]) -> None:
    """Replace the sample dataset's deployed source archive (the ``row`` fixture puts it back)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, text in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(text.encode())
            archive.addfile(info, io.BytesIO(text.encode()))
    sandbox.client("s3").put_object(
        Bucket=sandbox.bucket, Key=archive_key(SAMPLE_DATASET), Body=buffer.getvalue()
    )


def _train_failure(sandbox: Sandbox, export_id: str) -> tuple[str, str]:
    """Run the sample export: the run fails in Train; ML_RUNS's CAUSE for it and the job's log."""
    result = pipeline_run.run_from_export(sandbox, SAMPLE_DATASET, export_id=export_id)
    assert result.status == "FAILED"
    assert result.execution.failed_state == "Train"
    run_id = run_id_for(execution_name(SAMPLE_DATASET, export_id))
    assert sandbox.emulator is not None
    (job,) = sandbox.emulator.list_training_jobs({"NameContains": run_id})["TrainingJobSummaries"]
    return _cause(sandbox, run_id), "\n".join(sandbox.emulator.training_log(job["TrainingJobName"]))


def test_a_crashing_script_fails_the_run_and_its_log_holds_the_traceback(sandbox: Sandbox, row: None) -> None:
    crash = (
        "import sys\n\ndef read_labels():\n"
        "    raise ValueError('no label column IS_RISKY (crash test)')\n\nread_labels()\n"
    )
    _deploy_source(sandbox, {"train.py": crash})
    _set_row(sandbox, SCRIPT, None)
    cause, log = _train_failure(sandbox, "20261127t110001z")
    # The toolkit's failure file names the error and the command; the traceback is in the job's log.
    assert "ExecuteUserScriptError" in cause and " train.py" in cause
    assert "Traceback (most recent call last)" in log
    assert "in read_labels" in log
    assert "ValueError: no label column IS_RISKY (crash test)" in log


def test_a_requirement_that_cannot_be_installed_fails_the_run_and_its_log_holds_pips_error(
    sandbox: Sandbox, row: None
) -> None:
    sample = (TRAINING_DIR / SAMPLE_DATASET / "train.py").read_text()
    # --no-index: pip looks nowhere but beside the file, so the test stays on this machine.
    _deploy_source(
        sandbox, {"train.py": sample, "requirements.txt": "--no-index\nsnowsage-missing-dep==1.0\n"}
    )
    _set_row(sandbox, SCRIPT, None)
    cause, log = _train_failure(sandbox, "20261127t110005z")
    assert "InstallRequirementsError" in cause
    assert "-m pip install -r requirements.txt" in cause
    assert "No matching distribution found for snowsage-missing-dep==1.0" in log


def test_a_script_missing_from_the_archive_is_refused_naming_the_column(sandbox: Sandbox, row: None) -> None:
    _set_row(sandbox, f"training/{SAMPLE_DATASET}/missing.py", None)
    result = pipeline_run.run_from_export(sandbox, SAMPLE_DATASET, export_id="20261127t110002z")
    assert result.status == "FAILED"
    assert result.execution.failed_state == "PrepareRun"
    assert f"ML_DATASETS.TRAINING_SCRIPT 'training/{SAMPLE_DATASET}/missing.py' is missing" in str(
        result.execution.cause
    )


def test_more_instances_than_training_files_is_refused(sandbox: Sandbox, row: None) -> None:
    _set_row(sandbox, None, 40)
    result = pipeline_run.run_from_export(sandbox, SAMPLE_DATASET, export_id="20261127t110003z")
    assert result.status == "FAILED"
    assert result.execution.failed_state == "PrepareRun"
    assert (
        "ML_DATASETS.TRAINING_INSTANCE_COUNT 40 is more instances than the export's 1 training file"
        in str(result.execution.cause)
    )


def test_two_instances_each_read_their_share_of_the_export(sandbox: Sandbox, row: None) -> None:
    _set_row(sandbox, None, 2)
    with sandbox.snowflake_connection() as connection:
        manifest = export_dataset(
            connection,
            sandbox.client("s3"),
            sandbox.bucket,
            SAMPLE_DATASET,
            "20261127t110004z",
            rows_per_file=50,
        )
    listing = sandbox.client("s3").list_objects_v2(Bucket=sandbox.bucket, Prefix=manifest["train"]["prefix"])
    train_files = [item["Key"] for item in listing["Contents"]]
    assert len(train_files) >= 2
    result = pipeline_run.follow_export(sandbox, manifest)
    assert result.status == "SUCCEEDED", result.execution.cause
    job = _training_job(sandbox, result)
    assert job["ResourceConfig"]["InstanceCount"] == 2
    assert (
        job["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3DataDistributionType"] == "ShardedByS3Key"
    )
    hosts = job["EmulatorInstances"]
    assert [host["Host"] for host in hosts] == ["algo-1", "algo-2"]
    shares = [set(host["Channels"]["train"]) for host in hosts]
    assert shares[0] and shares[1] and not shares[0] & shares[1]
    assert shares[0] | shares[1] == {f"s3://{sandbox.bucket}/{key}" for key in train_files}
    # Validation is replicated: every instance evaluates on all of it.
    assert hosts[0]["Channels"]["validation"] == hosts[1]["Channels"]["validation"]


# Every host records the training files it was given; the first one trains the sample's model on its share.
EACH_HOST = """
import json, os, sys
host, hosts = os.environ["SM_CURRENT_HOST"], json.loads(os.environ["SM_HOSTS"])
print(host, "reads", json.dumps(sorted(os.listdir(os.environ["SM_CHANNEL_TRAIN"]))))
if host == hosts[0]:
    os.environ["SM_HOSTS"] = json.dumps([host])
    import sample
    sample.main(sys.argv[1:])
"""


def test_a_script_on_two_instances_runs_on_each_with_its_share(sandbox: Sandbox, row: None) -> None:
    sample = (TRAINING_DIR / SAMPLE_DATASET / "train.py").read_text()
    _deploy_source(sandbox, {"train.py": EACH_HOST, "sample.py": sample})
    _set_row(sandbox, SCRIPT, 2)
    with sandbox.snowflake_connection() as connection:
        manifest = export_dataset(
            connection,
            sandbox.client("s3"),
            sandbox.bucket,
            SAMPLE_DATASET,
            "20261127t110006z",
            rows_per_file=50,
        )
    result = pipeline_run.follow_export(sandbox, manifest)
    assert result.status == "SUCCEEDED", result.execution.cause
    job = _training_job(sandbox, result)
    assert job["ResourceConfig"]["InstanceCount"] == 2
    assert sandbox.emulator is not None
    read = {
        line.split(" ", 1)[0]: json.loads(line.split(" reads ", 1)[1])
        for line in sandbox.emulator.training_log(job["TrainingJobName"])
        if " reads " in line
    }
    given = {
        h["Host"]: sorted(uri.rsplit("/", 1)[1] for uri in h["Channels"]["train"])
        for h in job["EmulatorInstances"]
    }
    assert read == given and set(read) == {"algo-1", "algo-2"}
    assert read["algo-1"] and read["algo-2"] and not set(read["algo-1"]) & set(read["algo-2"])
    # The first host's model (half the export) was gated on the metric its log printed.
    assert result.metric["name"] == "validation:auc" and result.metric["value"] > 0.5
    assert result.rows_loaded == result.rows_scored and (result.rows_loaded or 0) > 0


def test_tuning_a_script_is_refused_naming_both_columns(sandbox: Sandbox, row: None) -> None:
    tuning = {"max_jobs": 2, "max_parallel_jobs": 2, "strategy": "Random", "ranges": {"eta": [0.1, 0.5]}}
    _set_row(sandbox, SCRIPT, None, tuning)
    result = pipeline_run.run_from_export(sandbox, SAMPLE_DATASET, export_id="20261127t110007z")
    assert result.status == "FAILED"
    assert result.execution.failed_state == "PrepareRun"
    assert (
        "ML_DATASETS.TUNING with ML_DATASETS.TRAINING_SCRIPT: a tuning job cannot tune a training script"
        in str(result.execution.cause)
    )
