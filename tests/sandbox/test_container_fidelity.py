"""The emulator behaves like the built-in XGBoost container (aws/sagemaker-xgboost-container).

Each test names the container file and line it follows: branch 1.7-1 (the template's image) unless
another ref is named; ``toolkit`` is ``src/sagemaker_algorithm_toolkit``, ``xgb`` is
``src/sagemaker_xgboost_container``. docs/contracts.md lists them as the container-fidelity table.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from sandbox.sagemaker import SageMakerEmulator, hyperparameters, runner, worker
from tests.sandbox.emulator_helpers import (
    BUCKET,
    N_FEATURES,
    ROLE,
    USER_ERROR,
    ReferenceModel,
    artifact_bytes,
    channel,
    csv_text,
    failure_of,
    get,
    hyper,
    make_rows,
    put,
    put_training_data,
    training_request,
    transform_request,
)

IMAGES = {
    "1.7.4": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
    "3.0.5": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:3.0-5",
    "3.2.0": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:3.2-0",
}


def train_and_model(
    emulator: SageMakerEmulator,
    s3: Any,
    image: str,
    *,
    name: str = "fidelity",
    hp: dict[str, str] | None = None,
) -> str:
    """Train with ``image``, create a model of the artifact; return the artifact's URI."""
    algorithm = {"TrainingImage": image, "TrainingInputMode": "File"}
    emulator.create_training_job(
        training_request(name, AlgorithmSpecification=algorithm, HyperParameters=hp or hyper())
    )
    described = emulator.describe_training_job(name)
    assert described["TrainingJobStatus"] == "Completed", described.get("FailureReason")
    uri: str = described["ModelArtifacts"]["S3ModelArtifacts"]
    emulator.create_model(
        {
            "ModelName": "snowsage-run-model-0",
            "ExecutionRoleArn": ROLE,
            "PrimaryContainer": {"Image": image, "ModelDataUrl": uri},
        }
    )
    return uri


# ---- the xgboost each image pins, and its artifact -----------------------------------------------


@pytest.mark.parametrize(
    ("version", "header"),
    [
        # 1.7-1 docker/1.7-1/base/Dockerfile.cpu:35 (xgboost 1.7.4); xgb/algorithm_mode/train.py:423
        # bst.save_model(<model_dir>/xgboost-model): no extension = the legacy binary format
        ("1.7.4", b"binf"),
        # v3.0-5 docker/3.0-5/base/Dockerfile.cpu:35 (xgboost 3.0.5): save_model writes UBJSON
        ("3.0.5", b"{"),
        # master after 7eefe63: XGBoost 3.2.0 (test/unit/algorithm_mode/test_serve_utils.py:80)
        ("3.2.0", b"{"),
    ],
)
def test_artifact_is_the_images_format_and_its_xgboost_scores_it_exactly(
    emulator: SageMakerEmulator, s3: Any, version: str, header: bytes
) -> None:
    put_training_data(s3)
    raw = artifact_bytes(s3, train_and_model(emulator, s3, IMAGES[version]))
    assert raw.startswith(header)
    reference = ReferenceModel(raw, version)  # that xgboost, in its own environment and process
    assert reference.xgboost_version() == version
    x, _ = make_rows(300, 11)
    put(s3, "score/part-0.csv", csv_text(x))
    emulator.create_transform_job(transform_request())
    assert emulator.describe_transform_job("snowsage-run-score-0")["TransformJobStatus"] == "Completed"
    scores = [float(line) for line in get(s3, "pred/part-0.csv.out").splitlines()]
    expected = reference.inplace_predict(x).astype(np.float64)
    assert scores == expected.tolist()  # exactly: the transform ran the same xgboost on the same model


def test_images_differ_in_numbers_as_their_xgboost_defaults_do(emulator: SageMakerEmulator, s3: Any) -> None:
    # xgboost 1.7.4 defaults to tree_method auto (exact here) and base_score 0.5; 3.x to hist and an
    # estimated intercept: the same data and hyperparameters give other scores.
    put_training_data(s3)
    x, _ = make_rows(20, 12)
    old = ReferenceModel(
        artifact_bytes(s3, train_and_model(emulator, s3, IMAGES["1.7.4"], name="old")), "1.7.4"
    )
    emulator.delete_model("snowsage-run-model-0")
    new = ReferenceModel(
        artifact_bytes(s3, train_and_model(emulator, s3, IMAGES["3.0.5"], name="new")), "3.0.5"
    )
    assert not np.allclose(old.inplace_predict(x), new.inplace_predict(x), atol=1e-4)


def test_a_missing_environment_fails_the_job_and_says_run_make_venv(
    emulator: SageMakerEmulator, s3: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.setenv(runner.ENVS_VARIABLE, str(tmp_path))
    put_training_data(s3)
    emulator.create_training_job(training_request())
    described = emulator.describe_training_job("snowsage-run-train-0")
    assert described["TrainingJobStatus"] == "Failed"
    assert "xgboost 1.7.4 environment is missing" in described["FailureReason"]
    assert "run `make venv`" in described["FailureReason"]


# ---- hyperparameters: validated inside the job, with the container's messages ----------------------


@pytest.mark.parametrize(
    ("given", "message"),
    [
        # toolkit/hyperparameter_validation.py:278
        ({"foo": "1"}, "Extraneous hyperparameter found: foo"),
        ({"sagemaker_program": "train.py"}, "Extraneous hyperparameter found: sagemaker_program"),
        # toolkit/hyperparameter_validation.py:282, exceptions.py:68-69 (strings: int("10.0") fails)
        ({"num_round": "10.0"}, "Hyperparameter num_round: could not parse value (caused by ValueError)"),
        # toolkit/hyperparameter_validation.py:52 with xgb/algorithm_mode/hyperparameter_validation.py:154-160
        ({"eta": "1.5"}, "Hyperparameter eta: 1.5 is not in [0, 1]"),
        ({"subsample": "0"}, "Hyperparameter subsample: 0.0 is not in (0, 1]"),
        (
            {"booster": "gbforest"},
            "Hyperparameter booster: gbforest is not in ['gbtree', 'gblinear', 'dart']",
        ),
        # toolkit/hyperparameter_validation.py:178 with xgb/algorithm_mode/hyperparameter_validation.py:92-111
        ({"eval_metric": "auc,foo"}, "Hyperparameter eval_metric: value ['auc', 'foo'] not in range ["),
        (
            {"eval_metric": "auc@0.5"},
            "Metric 'auc@0.5' is not supported. Parameter 'eval_metric' with customized",
        ),
        # xgb/algorithm_mode/hyperparameter_validation.py:85-86
        ({"objective": "multi:softprob"}, "Require input for parameter 'num_class' for multi-classification"),
        # xgb/algorithm_mode/hyperparameter_validation.py:116-118
        (
            {"objective": "reg:squarederror"},
            "Metric 'auc' can only be applied for classification and ranking problems.",
        ),
        # xgb/algorithm_mode/hyperparameter_validation.py:123-130
        (
            {"monotone_constraints": "(1,0,0,0,0)"},
            "monotone_constraints can be used only when the tree_method",
        ),
    ],
)
def test_hyperparameter_rules_and_messages(given: dict[str, str], message: str) -> None:
    with pytest.raises(hyperparameters.UserError) as caught:
        hyperparameters.validate(hyper(**given))
    assert str(caught.value).startswith(message)


def test_aliases_and_the_container_keys_pass() -> None:
    # xgb/algorithm_mode/hyperparameter_validation.py:341-344 (aliases), lines 149-338 (the keys)
    validated = hyperparameters.validate(
        hyper(learning_rate="0.2", reg_lambda="2", csv_weights="0", save_model_on_termination="false")
    )
    assert (validated["eta"], validated["lambda"], validated["num_round"]) == (0.2, 2.0, 20)


def test_eval_metric_without_objective_is_the_containers_own_failure(emulator: SageMakerEmulator) -> None:
    # xgb/algorithm_mode/hyperparameter_validation.py:115 reads dependencies["objective"] unguarded
    reason = failure_of(emulator, training_request(HyperParameters={"num_round": "5", "eval_metric": "auc"}))
    assert reason.endswith("\nKeyError: 'objective'\n\n'objective'")


def test_a_bad_hyperparameter_is_accepted_by_the_api_and_fails_the_job(emulator: SageMakerEmulator) -> None:
    # sagemaker-containers _trainer.py:113-116 writes "framework error: \n<traceback>\n<message>" to the
    # failure file; DescribeTrainingJob shows "AlgorithmError: " + its first 1024 characters.
    reason = failure_of(emulator, training_request(HyperParameters=hyper(foo="1")))
    assert reason == (
        USER_ERROR + "sagemaker_algorithm_toolkit.exceptions.UserError: Extraneous hyperparameter found: foo"
        "\n\nExtraneous hyperparameter found: foo"
    )
    described = emulator.describe_training_job("snowsage-run-train-0")
    assert "ModelArtifacts" not in described
    assert [t["Status"] for t in described["SecondaryStatusTransitions"]][-1] == "Failed"


# ---- channels and data -----------------------------------------------------------------------------


def test_a_hidden_file_in_a_channel_fails_the_job(emulator: SageMakerEmulator, s3: Any) -> None:
    # the container fails on files starting with '.' (xgb/data_utils.py:672-675, get_size)
    put_training_data(s3)
    put(s3, "data/train/.part-0.csv.crc", "junk\n")
    reason = failure_of(emulator, training_request())
    assert "UserError: Hidden file found in the data path! Remove that before training." in reason


def test_a_trailing_comma_adds_no_feature(emulator: SageMakerEmulator, s3: Any) -> None:
    # xgb/data_utils.py:314-318: xgboost's own CSV parser reads "1,2,3," as three fields
    x, y = make_rows(200, 1)
    put(s3, "data/train/part-0.csv", csv_text(y, x).replace("\n", ",\n"))
    put(s3, "data/validation/part-0.csv", csv_text(y[:50], x[:50]).replace("\n", ",\n"))
    train_and_model(emulator, s3, IMAGES["1.7.4"], hp=hyper(eval_metric="logloss"))
    raw = artifact_bytes(s3, f"s3://{BUCKET}/models/fidelity/output/model.tar.gz")
    assert ReferenceModel(raw).num_features() == N_FEATURES


def test_a_header_row_fails_the_job_deliberately(emulator: SageMakerEmulator, s3: Any) -> None:
    # Stricter than the container (docs/contracts.md): xgboost would read the header as a data row.
    x, y = make_rows(50, 1)
    put(s3, "data/train/part-0.csv", "label,a,b,c,d,e\n" + csv_text(y, x))
    reason = failure_of(emulator, training_request(InputDataConfig=[channel("train", "data/train/")]))
    assert (
        "UserError: Failed to load csv data with exception:\ns3://snowsage-test/data/train/part-0.csv"
        in reason
    )


# ---- training -------------------------------------------------------------------------------------


def test_early_stopping_needs_an_eval_metric(emulator: SageMakerEmulator, s3: Any) -> None:
    # xgb/callback.py:94: EarlyStopping only with a validation set, a metric and early_stopping_rounds;
    # xgb/algorithm_mode/train.py:289-293 takes the metric from eval_metric only.
    put_training_data(s3, validation_noise=2.0)
    hp = {"num_round": "60", "objective": "binary:logistic", "early_stopping_rounds": "3", "max_depth": "6"}
    emulator.create_training_job(training_request(HyperParameters=hp))
    assert len(emulator.training_log("snowsage-run-train-0")) == 60


def test_f1_is_macro_and_f1_binary_refuses_multiclass() -> None:
    # xgb/metrics/custom_metrics.py:67-74 (f1: average="macro"), 77-88 (f1_binary: average="binary")
    truth, predicted = np.array([0, 0, 1, 1, 2]), np.array([0, 1, 1, 1, 0])
    assert worker.CLASSIFICATION_METRICS["f1"](truth, predicted) == pytest.approx((0.5 + 0.8 + 0.0) / 3)
    with pytest.raises(ValueError, match="Target is multiclass but average='binary'"):
        worker.CLASSIFICATION_METRICS["f1_binary"](truth, predicted)
    assert len(worker.CUSTOM_METRICS) == 15  # xgb/metrics/custom_metrics.py:232-248


def test_container_metrics_are_reported(emulator: SageMakerEmulator, s3: Any) -> None:
    # xgb/algorithm_mode/train_utils.py:68-74: container metrics go to xgb.train as feval
    put_training_data(s3)
    emulator.create_training_job(
        training_request(HyperParameters=hyper(eval_metric="logloss,f1,balanced_accuracy"))
    )
    described = emulator.describe_training_job("snowsage-run-train-0")
    assert described["TrainingJobStatus"] == "Completed", described.get("FailureReason")
    names = {m["MetricName"] for m in described["FinalMetricDataList"]}
    assert {"validation:f1", "validation:balanced_accuracy", "validation:logloss"} <= names


# ---- transform ------------------------------------------------------------------------------------


def test_multi_softprob_writes_one_list_per_line(emulator: SageMakerEmulator, s3: Any) -> None:
    # xgb/algorithm_mode/serve.py:242: "\n".join(map(str, preds.tolist())) + "\n"
    rng = np.random.default_rng(3)
    x = rng.normal(size=(300, N_FEATURES)).astype(np.float32)
    y = np.digitize(x[:, 0], [-0.5, 0.5]).astype(np.float32)
    put(s3, "data/train/part-0.csv", csv_text(y, x))
    put(s3, "data/validation/part-0.csv", csv_text(y[:50], x[:50]))
    hp = {"num_round": "5", "objective": "multi:softprob", "num_class": "3", "eval_metric": "mlogloss"}
    raw = artifact_bytes(s3, train_and_model(emulator, s3, IMAGES["1.7.4"], hp=hp))
    put(s3, "score/part-0.csv", csv_text(x[:4]))
    emulator.create_transform_job(transform_request())
    assert emulator.describe_transform_job("snowsage-run-score-0")["TransformJobStatus"] == "Completed"
    expected = ReferenceModel(raw).inplace_predict(x[:4])
    assert get(s3, "pred/part-0.csv.out") == "".join(f"{row}\n" for row in expected.tolist())


def test_a_request_over_max_content_length_gets_413_unless_raised(
    emulator: SageMakerEmulator, s3: Any
) -> None:
    # xgb/algorithm_mode/serve.py:35 and 114: MAX_CONTENT_LENGTH, 6 MiB unless the environment raises it
    put_training_data(s3)
    train_and_model(emulator, s3, IMAGES["1.7.4"])
    row = ",".join(["0.123456789"] * N_FEATURES) + "\n"
    body = row * (7 * 1024 * 1024 // len(row))
    assert 6 * 1024 * 1024 < len(body) < 10 * 1024 * 1024
    put(s3, "score/big.csv", body)
    whole = {"SplitType": "None"}
    request = transform_request(MaxPayloadInMB=10)
    request["TransformInput"] = {**request["TransformInput"], **whole}
    emulator.create_transform_job(request)
    described = emulator.describe_transform_job("snowsage-run-score-0")
    assert described["TransformJobStatus"] == "Failed"
    assert "413 Request Entity Too Large" in described["FailureReason"]
    raised = {
        **request,
        "TransformJobName": "raised",
        "Environment": {"MAX_CONTENT_LENGTH": str(20 * 1024 * 1024)},
    }
    emulator.create_transform_job(raised)
    assert emulator.describe_transform_job("raised")["TransformJobStatus"] == "Completed"
