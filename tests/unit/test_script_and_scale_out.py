"""PrepareRun's script mode and scale-out: the plan, and every refusal naming its field."""

from __future__ import annotations

import io
import json
import re
import tarfile
from datetime import UTC, datetime
from typing import Any

import pytest

from snowsage.errors import InvalidExecutionInput, InvalidModelSettings
from snowsage.models import PrepareRunRequest, RunPlan
from snowsage.prepare import prepare_run
from snowsage.scale_out import gpu_hyperparameters, transform_instances
from snowsage.settings import PrepareRunSettings
from tests.unit.builders import BUCKET, PREFIX, XGBOOST_IMAGE, MemoryStore, store_for

NOW = datetime(2026, 11, 26, 10, 5, tzinfo=UTC)
SCRIPT = "training/merchant_risk/train.py"
ARCHIVE_KEY = "code/merchant_risk/sourcedir.tar.gz"


def _archive(*names: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name in names:
            info = tarfile.TarInfo(name)
            info.size = 1
            archive.addfile(info, io.BytesIO(b"#"))
    return buffer.getvalue()


def _store(document: dict[str, Any], archive: bytes | None = None) -> MemoryStore:
    store = store_for(document)
    if archive is not None:
        store.objects[ARCHIVE_KEY] = archive
    return store


def _plan(
    document: dict[str, Any],
    settings: PrepareRunSettings,
    store: MemoryStore | None = None,
    image: str = XGBOOST_IMAGE,
    **overrides: Any,
) -> RunPlan:
    request = PrepareRunRequest(
        execution_name="merchant_risk-20261126t100000z",
        input={"manifest": f"s3://{BUCKET}/{PREFIX}manifest.json", **overrides},
        xgboost_image_uri=image,
    )
    return prepare_run(request, settings, store or _store(document), now=NOW)


def _row(document: dict[str, Any], **model: Any) -> None:
    document["version"] = 2
    document["model"] = model


def _refused(message: str, document: dict[str, Any], settings: PrepareRunSettings, **kwargs: Any) -> None:
    with pytest.raises(InvalidModelSettings, match=f"^{re.escape(message)}"):
        _plan(document, settings, **kwargs)


def test_the_built_in_algorithm_keeps_its_own_metrics(
    document: dict[str, Any], settings: PrepareRunSettings
) -> None:
    training = _plan(document, settings).training
    assert training is not None
    assert training.script is None and training.train_distribution == "FullyReplicated"
    spec = training.algorithm_specification
    assert spec is not None
    # No MetricDefinitions at all for the algorithm (not null): the state passes it to CreateTrainingJob.
    assert spec.model_dump(mode="json") == {"TrainingImage": XGBOOST_IMAGE, "TrainingInputMode": "File"}
    assert "sagemaker_program" not in training.hyperparameters


def test_a_row_script_runs_in_framework_mode_with_the_gate_metric_read_from_its_log(
    document: dict[str, Any], settings: PrepareRunSettings
) -> None:
    _row(document, training_script=SCRIPT)
    plan = _plan(document, settings, _store(document, _archive("train.py", "requirements.txt")))
    training = plan.training
    assert training is not None and training.script is not None
    source = f"s3://{BUCKET}/{ARCHIVE_KEY}"
    assert (training.script.program, training.script.source_uri) == ("train.py", source)
    assert training.hyperparameters["sagemaker_program"] == "train.py"
    assert training.hyperparameters["sagemaker_submit_directory"] == source
    assert training.hyperparameters["eval_metric"] == "auc"  # the script's args keep the model's settings
    assert plan.model.sources["training_script"] == "ML_DATASETS"
    dumped = plan.model_dump(mode="json")["training"]["algorithm_specification"]
    (definition,) = dumped["MetricDefinitions"]
    assert definition["Name"] == "validation:auc"
    pattern = re.compile(definition["Regex"])
    match = pattern.search("[12]\ttrain-auc:0.95000\tvalidation-auc:0.91234")
    assert match is not None and float(match.group(1)) == 0.91234
    assert pattern.search("[12]\tvalidation-aucpr:0.5") is None


def test_an_input_script_overrides_the_row(document: dict[str, Any], settings: PrepareRunSettings) -> None:
    _row(document)
    plan = _plan(document, settings, _store(document, _archive("./train.py")), training_script=SCRIPT)
    assert plan.training is not None and plan.training.script is not None
    assert plan.model.sources["training_script"] == "execution input"


@pytest.mark.parametrize(
    ("script", "archive", "message"),
    [
        (
            "training/other/train.py",
            _archive("train.py"),
            "dataset merchant_risk: ML_DATASETS.TRAINING_SCRIPT 'training/other/train.py' must name a Python"
            " file in the repository's training/merchant_risk/ folder",
        ),
        (
            "train.py",
            _archive("train.py"),
            "dataset merchant_risk: ML_DATASETS.TRAINING_SCRIPT 'train.py' must name a Python file",
        ),
        (
            SCRIPT,
            None,
            f"dataset merchant_risk: ML_DATASETS.TRAINING_SCRIPT '{SCRIPT}' has no source archive:"
            f" s3://{BUCKET}/{ARCHIVE_KEY} does not exist",
        ),
        (
            SCRIPT,
            _archive("other.py"),
            f"dataset merchant_risk: ML_DATASETS.TRAINING_SCRIPT '{SCRIPT}' is missing: s3://{BUCKET}/"
            f"{ARCHIVE_KEY} holds ['other.py']",
        ),
        (
            SCRIPT,
            b"not a tar",
            f"dataset merchant_risk: ML_DATASETS.TRAINING_SCRIPT: s3://{BUCKET}/{ARCHIVE_KEY}"
            " is not a gzipped",
        ),
    ],
)
def test_a_script_that_cannot_run_is_refused_naming_the_column(
    document: dict[str, Any], settings: PrepareRunSettings, script: str, archive: bytes | None, message: str
) -> None:
    _row(document, training_script=script)
    _refused(message, document, settings, store=_store(document, archive))


def test_a_missing_input_script_names_the_input_key(
    document: dict[str, Any], settings: PrepareRunSettings
) -> None:
    _refused(
        f"dataset merchant_risk: execution input 'training_script' '{SCRIPT}' has no source archive",
        document,
        settings,
        training_script=SCRIPT,
    )


def test_several_instances_read_the_training_files_sharded_by_key(
    document: dict[str, Any], settings: PrepareRunSettings
) -> None:
    _row(document, training_instance_count=2)
    training = _plan(document, settings).training
    assert training is not None
    assert training.resource_config.InstanceCount == 2
    assert (training.train_distribution, training.train_files) == ("ShardedByS3Key", 2)


def test_more_instances_than_training_files_is_refused(
    document: dict[str, Any], settings: PrepareRunSettings
) -> None:
    _row(document, training_instance_count=3)
    _refused(
        "dataset merchant_risk: ML_DATASETS.TRAINING_INSTANCE_COUNT 3 is more instances than the export's 2"
        " training file(s)",
        document,
        settings,
    )
    _row(document)
    _refused(
        "dataset merchant_risk: execution input 'training_instance_count' 5 is more instances",
        document,
        settings,
        training_instance_count=5,
    )


def test_a_row_count_below_one_is_refused(document: dict[str, Any], settings: PrepareRunSettings) -> None:
    _row(document, training_instance_count=0)
    _refused(
        "dataset merchant_risk: ML_DATASETS.TRAINING_INSTANCE_COUNT must be at least 1, not 0",
        document,
        settings,
    )


def test_an_input_count_below_one_is_refused_by_the_contract(
    document: dict[str, Any], settings: PrepareRunSettings
) -> None:
    with pytest.raises(InvalidExecutionInput, match="training_instance_count"):
        _plan(document, settings, training_instance_count=0)


def test_a_script_on_several_instances_reads_the_export_sharded_by_key(
    document: dict[str, Any], settings: PrepareRunSettings
) -> None:
    _row(document, training_script=SCRIPT, training_instance_count=2)
    training = _plan(document, settings, store=_store(document, _archive("train.py"))).training
    assert training is not None and training.script is not None
    assert training.resource_config.InstanceCount == 2
    assert training.train_distribution == "ShardedByS3Key"
    assert training.hyperparameters["sagemaker_program"] == "train.py"
    # Never more instances than training files, script or not.
    _row(document, training_script=SCRIPT, training_instance_count=3)
    _refused(
        "dataset merchant_risk: ML_DATASETS.TRAINING_INSTANCE_COUNT 3 is more instances than the export's"
        " 2 training file(s)",
        document,
        settings,
        store=_store(document, _archive("train.py")),
    )


def test_gpu_instances_get_the_gpu_tree_method_unless_the_dataset_sets_one(
    document: dict[str, Any], settings: PrepareRunSettings
) -> None:
    training = _plan(document, settings, training_instance_type="ml.g4dn.xlarge").training
    assert training is not None
    assert training.hyperparameters["tree_method"] == "gpu_hist"
    _row(document, hyperparameters='{"tree_method": "approx"}')
    training = _plan(document, settings, training_instance_type="ml.p3.2xlarge").training
    assert training is not None and training.hyperparameters["tree_method"] == "approx"
    _row(document)
    cpu = _plan(document, settings).training
    assert cpu is not None and "tree_method" not in cpu.hyperparameters


def test_gpu_hyperparameters_follow_the_image_xgboost() -> None:
    assert gpu_hyperparameters("ml.m5.large", XGBOOST_IMAGE) == {}
    assert gpu_hyperparameters("ml.g5.xlarge", XGBOOST_IMAGE) == {"tree_method": "gpu_hist"}
    image_3 = XGBOOST_IMAGE.replace(":1.7-1", ":3.0-5")
    assert gpu_hyperparameters("ml.g5.xlarge", image_3) == {"tree_method": "hist", "device": "cuda"}


def test_the_transform_spreads_over_instances_up_to_its_files(
    document: dict[str, Any], settings: PrepareRunSettings
) -> None:
    assert (
        _plan(document, settings, transform_instance_count=2).scoring.transform_resources.InstanceCount == 2
    )
    # Two score files: a third instance would have nothing to read.
    assert (
        _plan(document, settings, transform_instance_count=5).scoring.transform_resources.InstanceCount == 2
    )
    assert transform_instances(4, 0) == 1


def test_a_tuning_job_over_a_script_is_refused_naming_both_fields(
    document: dict[str, Any], settings: PrepareRunSettings
) -> None:
    tuning = {"max_jobs": 2, "max_parallel_jobs": 2, "strategy": "Random", "ranges": {"eta": [0.1, 0.5]}}
    _row(document, training_script=SCRIPT, tuning=json.dumps(tuning))
    _refused(
        "dataset merchant_risk: ML_DATASETS.TUNING with ML_DATASETS.TRAINING_SCRIPT: a tuning job cannot"
        " tune a training script here",
        document,
        settings,
        store=_store(document, _archive("train.py")),
    )
    _row(document, training_script=SCRIPT)
    _refused(
        "dataset merchant_risk: execution input 'tuning' with ML_DATASETS.TRAINING_SCRIPT:",
        document,
        settings,
        store=_store(document, _archive("train.py")),
        tuning=tuning,
    )


def test_tuning_trials_get_the_training_jobs_hyperparameters_the_gpu_tree_method_included(
    document: dict[str, Any], settings: PrepareRunSettings
) -> None:
    tuning = {"max_jobs": 2, "max_parallel_jobs": 2, "strategy": "Random", "ranges": {"eta": [0.1, 0.5]}}
    _row(document, tuning=json.dumps(tuning))
    plan = _plan(document, settings, training_instance_type="ml.g5.xlarge")
    assert plan.training is not None and plan.tuning is not None
    static = plan.tuning.static_hyperparameters
    assert static["tree_method"] == "gpu_hist" and "eta" not in static
    assert static == {k: v for k, v in plan.training.hyperparameters.items() if k != "eta"}
