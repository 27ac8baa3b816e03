"""The built-in XGBoost container's training rules where the emulator used to disagree with it.

Each test is one of aws/sagemaker-xgboost-container's own unit tests (branch 1.7-1; ``test/unit/...``
named in the test), adapted to a whole emulated job; the rule's source line is in
docs/contracts.md's fidelity table and beside the rule in sandbox/sagemaker/.
"""

from __future__ import annotations

import io
import itertools
import struct
import tarfile
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sandbox.sagemaker import SageMakerEmulator, hyperparameters, training
from tests.sandbox.emulator_helpers import (
    BUCKET,
    N_FEATURES,
    USER_ERROR,
    ReferenceModel,
    artifact_bytes,
    channel,
    csv_text,
    failure_of,
    make_rows,
    model_archive_files,
    put,
    put_training_data,
    training_request,
)

JOB = "snowsage-run-train-0"


def completed(emulator: SageMakerEmulator, request: dict[str, Any]) -> dict[str, Any]:
    emulator.create_training_job(request)
    described = emulator.describe_training_job(request["TrainingJobName"])
    assert described["TrainingJobStatus"] == "Completed", described.get("FailureReason")
    return described


def train_only(prefix: str = "data/train/", **extra: Any) -> list[dict[str, Any]]:
    return [channel("train", prefix, **extra)]


# ---- hyperparameters ---------------------------------------------------------------------------------


def test_monotone_constraints_reach_xgboost_as_the_tuple_the_container_parses(
    emulator: SageMakerEmulator, s3: Any
) -> None:
    # test/unit/algorithm_mode/test_algorithm_mode.py test_hyperparameters5: tree_method exact,
    # multi:softmax, monotone_constraints "(1,0)"; toolkit hyperparameter_validation.py:208-212 parses
    # a tuple, which xgboost 1.7.4 takes (a list fails). (Its interaction_constraints, a list of index
    # lists, xgboost 1.7.4 reads as feature names and refuses, in the container as here.)
    rng = np.random.default_rng(5)
    x = rng.normal(size=(300, 6)).astype(np.float32)
    y = np.digitize(x[:, 0] + x[:, 1], np.linspace(-2, 2, 9)).astype(np.float32)
    put(s3, "data/train/part-0.csv", csv_text(y, x))
    hp = {
        "max_depth": "5",
        "eta": "0.2",
        "gamma": "4",
        "min_child_weight": "6",
        "tree_method": "exact",
        "objective": "multi:softmax",
        "num_class": "10",
        "num_round": "10",
        "monotone_constraints": "(1,0)",
    }
    completed(emulator, training_request(HyperParameters=hp, InputDataConfig=train_only()))


def test_the_tuning_objective_must_be_a_validation_metric() -> None:
    # algorithm_mode/metrics.py:21-42 (validation:<metric> only) is _tuning_objective_metric's range
    # (hyperparameter_validation.py:316); test/unit/algorithm_mode/test_hyperparameter_validation.py style
    assert hyperparameters.validate({"num_round": "1", "_tuning_objective_metric": "validation:auc"})
    with pytest.raises(hyperparameters.UserError, match="_tuning_objective_metric: train:auc is not in"):
        hyperparameters.validate({"num_round": "1", "_tuning_objective_metric": "train:auc"})


def test_a_tree_booster_takes_the_containers_tree_updaters() -> None:
    # hyperparameter_validation.py lines 26-76: gbtree's updaters, one grow plugin at most
    assert hyperparameters.validate({"num_round": "1", "updater": "grow_histmaker,prune"})["updater"]
    assert hyperparameters.validate({"num_round": "1", "updater": "sync"})["updater"] == ["sync"]
    with pytest.raises(hyperparameters.UserError, match="Tree updater should be selected from"):
        hyperparameters.validate({"num_round": "1", "updater": "shotgun"})
    with pytest.raises(hyperparameters.UserError, match="Only one tree grow plugin"):
        hyperparameters.validate({"num_round": "1", "updater": "grow_colmaker,grow_histmaker"})


def test_the_tuning_objective_joins_eval_metric_and_custom_metrics_go_to_feval() -> None:
    # test/unit/algorithm_mode/test_train_utils.py test_get_eval_metrics_and_feval: objective
    # validation:logloss with eval metrics [accuracy, rmse] -> xgboost evaluates logloss, the container
    # accuracy and rmse
    cleaned, custom, tuning = training.evaluation_metrics("validation:logloss", ["accuracy", "rmse"])
    assert (cleaned, sorted(custom), tuning) == (["logloss"], ["accuracy", "rmse"], ["logloss"])
    # test_get_union_metrics: the union without repeats
    assert training.evaluation_metrics("validation:auc", ["auc", "logloss"])[0] == ["auc", "logloss"]


def test_a_tuning_objective_is_evaluated_logged_and_early_stopped_on(
    emulator: SageMakerEmulator, s3: Any
) -> None:
    # train.py:276-293: _tuning_objective_metric is evaluated, and early stopping uses it, without any
    # eval_metric (test_train_utils.py test_get_eval_metrics_and_feval's objective)
    put_training_data(s3, validation_noise=2.0)
    hp = {
        "num_round": "200",
        "objective": "binary:logistic",
        "max_depth": "6",
        "eta": "0.5",
        "early_stopping_rounds": "3",
        "_tuning_objective_metric": "validation:auc",
    }
    completed(emulator, training_request(HyperParameters=hp))
    log = emulator.training_log(JOB)
    assert len(log) < 200  # stopped early on validation-auc
    assert [field.split(":")[0] for field in log[0].split("\t")[1:]] == ["train-auc", "validation-auc"]


def test_a_metric_xgboost_and_the_container_both_compute_is_one_column(
    emulator: SageMakerEmulator, s3: Any
) -> None:
    # test_train_utils.py test_get_eval_metrics_and_feval: rmse goes to feval; with reg:squarederror
    # xgboost logs its default rmse as well, and EvaluationMonitor prints the last (xgboost callback.py).
    x, _ = make_rows(400, 1)
    y = x[:, 0] * 2 + x[:, 1]
    put(s3, "data/train/part-0.csv", csv_text(y, x))
    put(s3, "data/validation/part-0.csv", csv_text(y[:100], x[:100]))
    hp = {"num_round": "10", "objective": "reg:squarederror", "eval_metric": "rmse,mae"}
    described = completed(emulator, training_request(HyperParameters=hp))
    log = emulator.training_log(JOB)
    assert len(log) == 10
    assert [f.split(":")[0] for f in log[-1].split("\t")[1:]] == [
        "train-rmse",
        "train-mae",
        "validation-rmse",
        "validation-mae",
    ]
    names = {m["MetricName"] for m in described["FinalMetricDataList"]}
    assert {"validation:rmse", "validation:mae", "train:rmse", "train:mae"} == names
    train_rmse = [float(line.split("\t")[1].split(":")[1]) for line in log]
    assert all(later < earlier for earlier, later in itertools.pairwise(train_rmse))


# ---- metrics ------------------------------------------------------------------------------------------


def test_final_metrics_are_the_last_logged_values_with_its_5_decimals(
    emulator: SageMakerEmulator, s3: Any
) -> None:
    # algorithm_mode/metrics.py:27: the metric definitions read the log line, ".*validation-auc:(\S+)"
    put_training_data(s3)
    described = completed(emulator, training_request())
    last = dict(field.split(":") for field in emulator.training_log(JOB)[-1].split("\t")[1:])
    for metric in described["FinalMetricDataList"]:
        text = last[metric["MetricName"].replace(":", "-")]
        assert metric["Value"] == float(text)
        assert len(text.split(".")[1]) == 5


# ---- channels and data --------------------------------------------------------------------------------


def test_pipe_mode_does_not_stream_libsvm(emulator: SageMakerEmulator, s3: Any) -> None:
    # algorithm_mode/channel_validation.py:26-28 with data_utils.py:55-62 (VALID_PIPED_CONTENT_TYPES)
    put(s3, "data/train/part-0.libsvm", "1 1:0.5 2:0.1\n0 1:0.1\n")
    request = training_request(
        InputDataConfig=train_only(ContentType="text/libsvm", InputMode="Pipe"),
    )
    reason = failure_of(emulator, request)
    assert (
        "Channel configuration for 'train' channel is not supported: {'ContentType': 'text/libsvm'" in reason
    )


def test_csv_delimiter_is_sniffed_from_the_first_line(emulator: SageMakerEmulator, s3: Any) -> None:
    # test/unit/test_data_utils.py test_parse_csv_dmatrix (train.csv and train.csv.weights: 5 rows, 5
    # features), the rows tab-separated: data_utils.py:147-153 and 303-318 sniff the delimiter
    rows = [
        "0\t1\t0\t0\t0\t0",
        "0\t1\t0\t0\t0\t0",
        "0\t1\t0\t0\t0\t0",
        "0\t1\t0\t0\t0\t0",
        "1\t0\t1\t0\t0\t0",
    ]
    put(s3, "data/train/train.csv", "\r\n".join(rows))
    hp = {"num_round": "2", "objective": "binary:logistic"}
    described = completed(emulator, training_request(HyperParameters=hp, InputDataConfig=train_only()))
    raw = artifact_bytes(s3, described["ModelArtifacts"]["S3ModelArtifacts"])
    assert ReferenceModel(raw).num_features() == 5
    weighted = [f"{r.split(chr(9), 1)[0]}\t0.2\t{r.split(chr(9), 1)[1]}" for r in rows]
    put(s3, "data/train/train.csv", "\r\n".join(weighted))
    request = training_request(
        "weighted", HyperParameters={**hp, "csv_weights": "1"}, InputDataConfig=train_only()
    )
    raw = artifact_bytes(s3, completed(emulator, request)["ModelArtifacts"]["S3ModelArtifacts"])
    assert ReferenceModel(raw).num_features() == 5


def test_an_empty_csv_file_beside_the_data_fails_the_format_check(
    emulator: SageMakerEmulator, s3: Any
) -> None:
    # test/unit/test_data_utils.py test_validate_csv_files on a folder holding an empty file (the
    # container's test/resources/boston/data/empty): data_utils.py:219-221 sniffs "" and fails
    put_training_data(s3)
    put(s3, "data/train/part-1-empty", b"")  # after part-0.csv: not the file the delimiter comes from
    reason = failure_of(emulator, training_request())
    assert reason.endswith(
        "UserError: Could not determine delimiter on line :\nCould not determine delimiter"
        "\n\nCould not determine delimiter on line :\nCould not determine delimiter"
    )


def test_files_more_than_three_folders_deep_are_not_read(emulator: SageMakerEmulator, s3: Any) -> None:
    # test/unit/test_data_utils.py test_get_dmatrix_from_subdirs(_negative): files in train/input_1/ are
    # read, dir1/dir2/dir3/dir4/ is past MAX_FOLDER_DEPTH (data_utils.py:41, 533-574)
    x, y = make_rows(200, 1)
    put(s3, "data/train/input_1/part-0.csv", csv_text(y, x))
    wide = np.column_stack([x, x])  # a deeper file with more columns would widen the model
    put(s3, "data/train/dir2/dir3/dir4/part-1.csv", csv_text(y, wide))
    hp = {"num_round": "3", "objective": "binary:logistic"}
    described = completed(emulator, training_request(HyperParameters=hp, InputDataConfig=train_only()))
    raw = artifact_bytes(s3, described["ModelArtifacts"]["S3ModelArtifacts"])
    assert ReferenceModel(raw).num_features() == N_FEATURES
    put(s3, "data/edge/dir2/dir3/part-0.csv", csv_text(y, x))  # the third folder is still read
    completed(
        emulator, training_request("edge", HyperParameters=hp, InputDataConfig=train_only("data/edge/"))
    )
    put(s3, "data/deep/dir2/dir3/dir4/part-1.csv", csv_text(y, x))  # nothing within three folders
    only_deep = training_request("deep", HyperParameters=hp, InputDataConfig=train_only("data/deep/"))
    assert failure_of(emulator, only_deep).endswith(
        "IndexError: list index out of range\n\nlist index out of range"
    )


@pytest.mark.parametrize(
    ("files", "message"),
    [
        # data_utils.py:672-675 (get_size)
        (
            {"data/train/.part-0.csv.crc": "junk\n"},
            "Hidden file found in the data path! Remove that before training.",
        ),
        # train.py:245-252 after get_size found 0 bytes
        ({"data/train/part-0.csv": ""}, "No data in training channel path /opt/ml/input/data/train"),
        (
            {"data/validation/part-0.csv": ""},
            "No data in validation channel path /opt/ml/input/data/validation",
        ),
    ],
)
def test_the_containers_failure_messages(
    emulator: SageMakerEmulator, s3: Any, files: dict[str, str], message: str
) -> None:
    put_training_data(s3)
    for key, body in files.items():
        put(s3, key, body)
    reason = failure_of(emulator, training_request())
    assert reason == f"{USER_ERROR}sagemaker_algorithm_toolkit.exceptions.UserError: {message}\n\n{message}"


def test_a_validation_set_wider_than_the_training_set_fails_in_xgboost(
    emulator: SageMakerEmulator, s3: Any
) -> None:
    # train.py:409-415: xgb.train's own failure, an AlgorithmError ("XGB train call failed")
    x, y = make_rows(200, 1)
    put(s3, "data/train/part-0.csv", csv_text(y, x))
    put(s3, "data/validation/part-0.csv", csv_text(y, x, x[:, :1]))
    reason = failure_of(emulator, training_request())
    assert (
        "sagemaker_algorithm_toolkit.exceptions.AlgorithmError: XGB train call failed with exception:\n"
        in reason
    )
    assert "Number of columns does not match number of features in booster" in reason


def test_files_and_rows_of_different_widths_are_read_as_missing_values(
    emulator: SageMakerEmulator, s3: Any
) -> None:
    # data_utils.py:314-318 hands the folder to xgboost's CSV parser, which reads a short row's missing
    # fields as missing (test_data_utils.py test_parse_csv_dmatrix's csv_files folder, widened)
    x, y = make_rows(200, 1)
    put(s3, "data/train/part-0.csv", csv_text(y, x))
    put(s3, "data/train/part-1.csv", csv_text(y[:50], x[:50, :3]) + "1,0.5\n")
    hp = {"num_round": "3", "objective": "binary:logistic"}
    described = completed(emulator, training_request(HyperParameters=hp, InputDataConfig=train_only()))
    raw = artifact_bytes(s3, described["ModelArtifacts"]["S3ModelArtifacts"])
    assert ReferenceModel(raw).num_features() == N_FEATURES


# ---- formats --------------------------------------------------------------------------------------------


def parquet_bytes(columns: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(pa.table(columns), buffer)
    return buffer.getvalue()


def test_parquet_channels_train(emulator: SageMakerEmulator, s3: Any) -> None:
    # test/unit/test_data_utils.py test_parse_parquet_dmatrix (train.parquet and pq_files: 5 rows,
    # 5 features, label first): data_utils.py:404-427
    x, y = make_rows(300, 3)
    columns = {"label": y, **{f"f{i}": x[:, i].astype(np.float64) for i in range(N_FEATURES)}}
    put(s3, "data/train/part-0.parquet", parquet_bytes({k: v[:200] for k, v in columns.items()}))
    put(s3, "data/train/part-1.parquet", parquet_bytes({k: v[200:] for k, v in columns.items()}))
    put(s3, "data/train/_SUCCESS", b"")  # pq.read_table leaves out names starting with "_"
    put(s3, "data/validation/part-0.parquet", parquet_bytes({k: v[:50] for k, v in columns.items()}))
    hp = {"num_round": "5", "objective": "binary:logistic", "eval_metric": "auc"}
    channels = [
        channel("train", "data/train/", ContentType="application/x-parquet"),
        channel("validation", "data/validation/", ContentType="application/x-parquet"),
    ]
    described = completed(emulator, training_request(HyperParameters=hp, InputDataConfig=channels))
    raw = artifact_bytes(s3, described["ModelArtifacts"]["S3ModelArtifacts"])
    assert ReferenceModel(raw).num_features() == N_FEATURES
    assert (
        next(m for m in described["FinalMetricDataList"] if m["MetricName"] == "validation:auc")["Value"]
        > 0.8
    )


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _tensor_value(
    values: list[float], keys: list[int] | None = None, shape: list[int] | None = None
) -> bytes:
    """A Value holding a Float32Tensor, encoded by hand from the documented proto (cdf-training.html)."""
    tensor = _field(1, struct.pack(f"<{len(values)}f", *values))
    if keys is not None:
        tensor += _field(2, b"".join(_varint(k) for k in keys))
    if shape is not None:
        tensor += _field(3, b"".join(_varint(s) for s in shape))
    return _field(2, tensor)  # Value.float32_tensor = 2


def record_bytes(features: bytes, label: float) -> bytes:
    """One RecordIO record: magic, length, a Record {features: {values}, label: {values}}, padding."""
    entry = _field(1, b"values")
    record = _field(1, entry + _field(2, features)) + _field(2, entry + _field(2, _tensor_value([label])))
    padding = b"\0" * (-len(record) % 4)
    return struct.pack("<II", 0xCED7230A, len(record)) + record + padding


def test_recordio_protobuf_channels_train_dense_and_sparse(emulator: SageMakerEmulator, s3: Any) -> None:
    # test/unit/test_data_utils.py test_parse_protobuf_dmatrix (5 x 5 dense) and
    # test_parse_sparse_protobuf_dmatrix (keys and shape): data_utils.py:478-516
    x, y = make_rows(200, 4)
    dense = b"".join(
        record_bytes(_tensor_value(row.tolist()), float(label)) for row, label in zip(x, y, strict=True)
    )
    put(s3, "data/train/part-0.pbr", dense)
    hp = {"num_round": "3", "objective": "binary:logistic"}
    channels = train_only(ContentType="application/x-recordio-protobuf")
    described = completed(emulator, training_request(HyperParameters=hp, InputDataConfig=channels))
    raw = artifact_bytes(s3, described["ModelArtifacts"]["S3ModelArtifacts"])
    assert ReferenceModel(raw).num_features() == N_FEATURES
    sparse = b"".join(
        record_bytes(_tensor_value([float(row[0]), float(row[1])], [0, 24], [25]), float(label))
        for row, label in zip(x, y, strict=True)
    )
    put(s3, "data/train/part-0.pbr", sparse)
    described = completed(emulator, training_request("sparse", HyperParameters=hp, InputDataConfig=channels))
    raw = artifact_bytes(s3, described["ModelArtifacts"]["S3ModelArtifacts"])
    assert ReferenceModel(raw).num_features() == 25


def test_kfold_trains_one_model_a_fold_and_writes_the_validation_predictions(
    emulator: SageMakerEmulator, s3: Any
) -> None:
    # test/integration/local/test_kfold.py test_xgboost_abalone_kfold (_kfold 5, _num_cv_round 2 ->
    # xgboost-model-0..9 and output/data/predictions.csv): train.py:330-407, prediction_utils.py
    put_training_data(s3)
    hp = {
        "num_round": "5",
        "objective": "binary:logistic",
        "eval_metric": "auc",
        "_kfold": "5",
        "_num_cv_round": "2",
    }
    described = completed(emulator, training_request(HyperParameters=hp))
    files = model_archive_files(s3, described["ModelArtifacts"]["S3ModelArtifacts"])
    assert sorted(files) == sorted(f"xgboost-model-{i}" for i in range(10))
    output = s3.get_object(Bucket=BUCKET, Key=f"models/{JOB}/output/output.tar.gz")["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(output), mode="r:gz") as archive:
        member = archive.extractfile("predictions.csv")
        assert member is not None
        predictions = np.loadtxt(member, delimiter=",")
    assert predictions.shape == (600, 3)  # label, mean probability, most frequent label; 400 + 200 rows
    log = emulator.training_log(JOB)
    assert len(log) == 10 * 5 + 2 + 1  # every fold's rounds, each repeat's means, the overall means
    summary = dict(field.split(":") for field in log[-1].split("\t")[1:])
    assert log[-1].startswith("[5]\t")
    final = {m["MetricName"]: m["Value"] for m in described["FinalMetricDataList"]}
    assert final["validation:auc"] == float(summary["validation-auc"])


def test_kfold_needs_an_objective_to_choose_its_folds(emulator: SageMakerEmulator, s3: Any) -> None:
    # train.py:345: objective.startswith("binary:") on no objective fails inside train_job's try (409-415)
    put_training_data(s3)
    reason = failure_of(emulator, training_request(HyperParameters={"num_round": "2", "_kfold": "2"}))
    assert "XGB train call failed with exception:\n 'NoneType' object has no attribute 'startswith'" in reason


def test_the_validation_channel_is_read_with_the_train_channels_content_type(
    emulator: SageMakerEmulator, s3: Any
) -> None:
    # train.py:135: get_content_type(train's ContentType) reads both channels
    put_training_data(s3)
    channels = [
        channel("train", "data/train/"),
        channel("validation", "data/validation/", ContentType="text/libsvm"),
    ]
    described = completed(emulator, training_request(InputDataConfig=channels))
    final = {m["MetricName"]: m["Value"] for m in described["FinalMetricDataList"]}
    assert final["validation:auc"] > 0.8  # the CSV rows and labels, not CSV text read as libsvm
