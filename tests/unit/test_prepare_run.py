import json
from datetime import UTC, datetime
from typing import Any

import pytest

from snowsage.errors import InvalidExecutionInput, ManifestNotFound
from snowsage.models import PrepareRunRequest
from snowsage.names import run_id_for
from snowsage.prepare import prepare_run
from snowsage.settings import PrepareRunSettings
from tests.unit.builders import BUCKET, PREFIX, XGBOOST_IMAGE, MemoryStore, store_for

MANIFEST_URI = f"s3://{BUCKET}/{PREFIX}manifest.json"
NOW = datetime(2026, 11, 26, 10, 5, tzinfo=UTC)


def _request(**overrides: Any) -> PrepareRunRequest:
    return PrepareRunRequest(
        execution_name="merchant_risk-20261126t100000z",
        input={"manifest": MANIFEST_URI, **overrides},
        xgboost_image_uri=XGBOOST_IMAGE,
    )


def test_plan_for_train_and_score(document: dict[str, Any], settings: PrepareRunSettings) -> None:
    plan = prepare_run(_request(), settings, store_for(document), now=NOW)
    assert plan.run_id == run_id_for("merchant_risk-20261126t100000z")
    assert plan.name_base == f"snowsage-{plan.run_id}"
    assert plan.scoring.timeout_seconds == 3600
    assert plan.training is not None
    assert plan.training.train_uri == f"s3://{BUCKET}/{PREFIX}train/"
    assert plan.training.output_uri == f"s3://{BUCKET}/models/merchant_risk/{plan.run_id}/"
    assert plan.training.hyperparameters == {
        "objective": "binary:logistic",
        "num_round": "50",
        "eval_metric": "auc",
    }
    assert plan.training.stopping_condition == {"MaxRuntimeInSeconds": 3600}
    assert plan.scoring.rows == 100 and plan.scoring.files == 2
    assert plan.scoring.stage_path == f"predictions/merchant_risk/{plan.run_id}/"
    assert plan.selection.model_package_group == "snowsage-merchant-risk"
    assert plan.predictions_table == "MERCHANT_RISK_PREDICTIONS"


def test_overrides_from_the_console(document: dict[str, Any], settings: PrepareRunSettings) -> None:
    plan = prepare_run(
        _request(
            hyperparameters={"max_depth": 7, "num_round": "80"},
            training_instance_type="ml.m5.xlarge",
            evaluation_threshold=0.9,
        ),
        settings,
        store_for(document),
        now=NOW,
    )
    assert plan.training is not None
    assert plan.training.hyperparameters["max_depth"] == "7"
    assert plan.training.hyperparameters["num_round"] == "80"
    assert plan.training.resource_config.InstanceType == "ml.m5.xlarge"
    assert plan.evaluation.threshold == 0.9


def test_score_only_has_no_training_and_keeps_a_named_package(
    document: dict[str, Any], settings: PrepareRunSettings
) -> None:
    arn = "arn:aws:sagemaker:us-east-1:123456789012:model-package/snowsage-merchant-risk/3"
    plan = prepare_run(
        _request(mode="score_only", model_package_arn=arn), settings, store_for(document), now=NOW
    )
    assert plan.training is None
    assert plan.selection.model_package_arn == arn


def test_spot_training_sets_max_wait(document: dict[str, Any], settings: PrepareRunSettings) -> None:
    spot = settings.model_copy(update={"use_spot_training": True, "max_wait_seconds": 100})
    plan = prepare_run(_request(), spot, store_for(document), now=NOW)
    assert plan.training is not None
    assert plan.training.enable_spot
    assert plan.training.stopping_condition == {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 3600}


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"modes": "score_only"}, "modes: Extra inputs are not permitted"),
        ({"mode": "train"}, "mode: Input should be"),
        ({"training_instance_type": "m5.large"}, "training_instance_type"),
        ({"hyperparameters": ["max_depth"]}, "hyperparameters"),
        ({"model_package_arn": "arn:aws:s3:::bucket"}, "model_package_arn"),
    ],
)
def test_console_input_is_typed(
    document: dict[str, Any], settings: PrepareRunSettings, overrides: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(InvalidExecutionInput, match=fragment):
        prepare_run(_request(**overrides), settings, store_for(document), now=NOW)


def test_a_manifest_from_another_bucket_is_refused(
    document: dict[str, Any], settings: PrepareRunSettings
) -> None:
    request = PrepareRunRequest(
        execution_name="x",
        input={"manifest": f"s3://other-bucket/{PREFIX}manifest.json"},
        xgboost_image_uri=XGBOOST_IMAGE,
    )
    with pytest.raises(InvalidExecutionInput, match="not this pipeline's bucket"):
        prepare_run(request, settings, store_for(document), now=NOW)


def test_a_missing_manifest_is_named(settings: PrepareRunSettings) -> None:
    with pytest.raises(ManifestNotFound, match=r"manifest\.json does not exist"):
        prepare_run(_request(), settings, MemoryStore({}), now=NOW)


def test_the_plan_is_small_and_json_ready(document: dict[str, Any], settings: PrepareRunSettings) -> None:
    plan = prepare_run(_request(), settings, store_for(document), now=NOW)
    assert len(json.dumps(plan.model_dump(mode="json"))) < 4096


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("training_instance_type", "ml.t3.medium"),  # in botocore's enum, not documented for XGBoost
        ("training_instance_type", "ml.trn1.2xlarge"),  # Trainium: no XGBoost image
        ("training_instance_type", "ml.p4d.24xlarge"),  # a GPU family AWS does not list for XGBoost
        ("training_instance_type", "ml.m5.huge"),  # not an instance type at all
        ("transform_instance_type", "ml.g4dn.xlarge"),  # GPU families are listed for training only
        ("transform_instance_type", "ml.inf2.xlarge"),
    ],
)
def test_instance_types_aws_does_not_document_for_xgboost_are_refused(
    document: dict[str, Any], settings: PrepareRunSettings, field: str, value: str
) -> None:
    with pytest.raises(InvalidExecutionInput, match=f"{field}.*not an instance type AWS documents"):
        prepare_run(_request(**{field: value}), settings, store_for(document), now=NOW)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("training_instance_type", "ml.g4dn.xlarge"),
        ("training_instance_type", "ml.p3.2xlarge"),
        ("training_instance_type", "ml.c5.xlarge"),
        ("transform_instance_type", "ml.c5.xlarge"),
        ("transform_instance_type", "ml.r7i.large"),
    ],
)
def test_documented_instance_types_are_accepted(
    document: dict[str, Any], settings: PrepareRunSettings, field: str, value: str
) -> None:
    plan = prepare_run(_request(**{field: value}), settings, store_for(document), now=NOW)
    assert value in plan.model_dump_json()
