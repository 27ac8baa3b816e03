"""The built-in XGBoost container's serving rules (batch transform) where the emulator used to disagree.

Each test is one of aws/sagemaker-xgboost-container's own unit tests (branch 1.7-1; ``test/unit/...``
named in the test), adapted to the emulator: a whole transform job, or the emulator's port of the
function the container's test calls. docs/contracts.md's fidelity table lists them.
"""

from __future__ import annotations

import csv
import json
import subprocess  # nosec B404: the image's own python pickles a booster
from typing import Any

import numpy as np
import pytest

from sandbox.sagemaker import (
    SageMakerEmulator,
    channel_data,
    content_types,
    recordio,
    runner,
    serving,
    worker,
)
from tests.sandbox.emulator_helpers import (
    BUCKET,
    N_FEATURES,
    ROLE,
    ReferenceModel,
    artifact_bytes,
    csv_text,
    get,
    hyper,
    keys,
    make_rows,
    model_archive,
    put,
    put_training_data,
    training_request,
    transform_request,
)

IMAGES = {
    "1.7.4": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
    "3.0.5": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:3.0-5",
}
MODEL = "snowsage-run-model-0"
JOB = "snowsage-run-score-0"


def trained(
    emulator: SageMakerEmulator, s3: Any, name: str = "train", image: str = IMAGES["1.7.4"], **hp: str
) -> bytes:
    """Train a job on the helpers' data; its booster's bytes."""
    put_training_data(s3)
    algorithm = {"TrainingImage": image, "TrainingInputMode": "File"}
    emulator.create_training_job(
        training_request(name, AlgorithmSpecification=algorithm, HyperParameters=hyper(**hp))
    )
    described = emulator.describe_training_job(name)
    assert described["TrainingJobStatus"] == "Completed", described.get("FailureReason")
    return artifact_bytes(s3, described["ModelArtifacts"]["S3ModelArtifacts"])


def model_of(
    emulator: SageMakerEmulator, s3: Any, files: dict[str, bytes], image: str = IMAGES["1.7.4"], **env: str
) -> None:
    put(s3, "models/custom/model.tar.gz", model_archive(files))
    container: dict[str, Any] = {"Image": image, "ModelDataUrl": f"s3://{BUCKET}/models/custom/model.tar.gz"}
    if env:
        container["Environment"] = env
    emulator.create_model({"ModelName": MODEL, "ExecutionRoleArn": ROLE, "PrimaryContainer": container})


def run_transform(emulator: SageMakerEmulator, name: str = JOB, **overrides: Any) -> dict[str, Any]:
    request = transform_request(name)
    for section in ("TransformInput", "TransformOutput"):
        request[section] = {**request[section], **overrides.pop(section, {})}
    request.update(overrides)
    emulator.create_transform_job(request)
    return emulator.describe_transform_job(name)


def done(described: dict[str, Any]) -> None:
    assert described["TransformJobStatus"] == "Completed", described.get("FailureReason")


def failed(described: dict[str, Any]) -> str:
    assert described["TransformJobStatus"] == "Failed"
    reason: str = described["FailureReason"]
    return reason


def scores(text: str) -> list[float]:
    return [float(line) for line in text.splitlines()]


# ---- content types ---------------------------------------------------------------------------------------


def test_content_types_as_the_container_parses_them() -> None:
    # test/unit/test_data_utils.py test_get_content_type
    for given, kind in [
        ("libsvm", "libsvm"),
        ("text/x-libsvm", "libsvm"),
        ("text/csv; label_size=1", "csv"),
        ("text/csv;label_size = 1", "csv"),
        ("text/csv; label_size=1; charset=utf-8", "csv"),
        ("application/x-parquet", "parquet"),
        ("application/x-recordio-protobuf", "recordio-protobuf"),
    ]:
        assert content_types.kind(given) == kind
    for wrong in (
        "incorrect_format",
        "text/csv; label_size=5",
        "text/csv; label_size=1=1",
        "label_size=1; text/csv",
    ):
        with pytest.raises(content_types.ContentTypeError):
            content_types.kind(wrong)


@pytest.mark.parametrize(
    "content_type", ["text/csv; label_size=5", "text/csv; label_size=1; label_size=2", "incorrect_format"]
)
def test_a_content_type_the_container_does_not_read_gets_415(
    emulator: SageMakerEmulator, s3: Any, content_type: str
) -> None:
    # test/unit/algorithm_mode/test_serve_utils.py test_incorrect_content_type; serve.py:213-217 answers 415
    model_of(emulator, s3, {"xgboost-model": trained(emulator, s3)})
    put(s3, "score/part-0.csv", csv_text(make_rows(5, 9)[0]))
    reason = failed(run_transform(emulator, TransformInput={"ContentType": content_type}))
    assert "the model container answered 415 Unsupported Media Type" in reason
    assert keys(s3, "pred/") == []


@pytest.mark.parametrize("content_type", ["csv", "text/csv;label_size = 1", "text/csv; charset=utf-8"])
def test_csv_content_types_with_parameters_are_read(
    emulator: SageMakerEmulator, s3: Any, content_type: str
) -> None:
    # test/unit/algorithm_mode/test_serve_utils.py test_parse_csv_data
    model_of(emulator, s3, {"xgboost-model": trained(emulator, s3)})
    put(s3, "score/part-0.csv", csv_text(make_rows(5, 9)[0]))
    done(run_transform(emulator, TransformInput={"ContentType": content_type}))


def test_tab_separated_records_are_scored(emulator: SageMakerEmulator, s3: Any) -> None:
    # test/unit/test_encoder.py test_csv_to_dmatrix: encoder.py:50-56 sniffs the delimiter
    raw = trained(emulator, s3)
    model_of(emulator, s3, {"xgboost-model": raw})
    x, _ = make_rows(20, 9)
    put(s3, "score/part-0.csv", csv_text(x).replace(",", "\t"))
    done(run_transform(emulator))
    assert (
        scores(get(s3, "pred/part-0.csv.out"))
        == ReferenceModel(raw).inplace_predict(x).astype(float).tolist()
    )


@pytest.mark.parametrize("content_type", ["libsvm", "text/libsvm", "text/x-libsvm"])
def test_libsvm_records_are_scored(emulator: SageMakerEmulator, s3: Any, content_type: str) -> None:
    # test/unit/algorithm_mode/test_serve_utils.py test_parse_libsvm_data (b"0:1"): serve_utils.py:94-115
    raw = trained(emulator, s3)
    model_of(emulator, s3, {"xgboost-model": raw})
    put(s3, "score/part-0.libsvm", "0:1\n1 0:0.5 2:-1.5 4:2\n0 1:0.25 3:1\n")
    done(run_transform(emulator, TransformInput={"ContentType": content_type}))
    nan = np.nan
    dense = np.array([[1, nan, nan, nan, nan], [0.5, nan, -1.5, nan, 2], [nan, 0.25, nan, 1, nan]])
    expected = ReferenceModel(raw).inplace_predict(dense).astype(float).tolist()
    assert scores(get(s3, "pred/part-0.libsvm.out")) == expected


# test/unit/test_encoder.py test_recordio_protobuf_to_dmatrix: 42,6,9 (int32), 42.0,6.0,9.0 (float64),
# and the sparse 0:1 5:1 of shape 6
ENCODER_RECORDS = (
    b"\n#\xd7\xce\x13\x00\x00\x00\n\x11\n\x06values\x12\x07:\x05\n\x03*\x06\t\x00",
    b"\n#\xd7\xce(\x00\x00\x00\n&\n\x06values\x12\x1c\x1a\x1a\n\x18\x00\x00\x00"
    b'\x00\x00\x00E@\x00\x00\x00\x00\x00\x00\x18@\x00\x00\x00\x00\x00\x00"@',
    b"\n#\xd7\xce\x19\x00\x00\x00\n\x17\n\x06values\x12\r:\x0b\n\x02\x01\x01\x12\x02\x00\x05\x1a\x01\x06\x00\x00\x00",
)


def test_the_encoders_recordio_protobuf_records_read_as_the_container_reads_them() -> None:
    dense = recordio.read(ENCODER_RECORDS[0] + ENCODER_RECORDS[1], with_labels=False).matrix
    assert isinstance(dense, np.ndarray)
    assert dense.tolist() == [[42, 6, 9], [42, 6, 9]]
    sparse = recordio.read(ENCODER_RECORDS[2], with_labels=False).matrix
    assert isinstance(sparse, recordio.SparseRows)
    assert (sparse.shape, sparse.columns.tolist(), sparse.values.tolist()) == ((1, 6), [0, 5], [1, 1])


def test_recordio_protobuf_records_are_scored(emulator: SageMakerEmulator, s3: Any) -> None:
    # encoder.py recordio_protobuf_to_dmatrix (lines 80-102): dense records, then sparse ones
    rng = np.random.default_rng(3)
    x = rng.normal(size=(300, 6)).astype(np.float32)
    y = (x[:, 0] - x[:, 5] > 0).astype(np.float32)
    put(s3, "data/train/part-0.csv", csv_text(y, x))
    hp = {"num_round": "5", "objective": "binary:logistic"}
    emulator.create_training_job(
        training_request(HyperParameters=hp, InputDataConfig=[training_request()["InputDataConfig"][0]])
    )
    described = emulator.describe_training_job("snowsage-run-train-0")
    raw = artifact_bytes(s3, described["ModelArtifacts"]["S3ModelArtifacts"])
    model_of(emulator, s3, {"xgboost-model": raw})
    put(s3, "score/dense.pbr", ENCODER_RECORDS[0] + ENCODER_RECORDS[1])
    put(s3, "score/sparse.pbr", ENCODER_RECORDS[2])
    overrides = {"ContentType": "application/x-recordio-protobuf", "SplitType": "RecordIO"}
    done(run_transform(emulator, TransformInput=overrides))
    nan = np.nan
    reference = ReferenceModel(raw)
    dense_rows = np.array([[42, 6, 9, nan, nan, nan]] * 2)
    assert (
        scores(get(s3, "pred/dense.pbr.out")) == reference.inplace_predict(dense_rows).astype(float).tolist()
    )
    sparse_row = np.array([[1, nan, nan, nan, nan, 1]])
    assert (
        scores(get(s3, "pred/sparse.pbr.out")) == reference.inplace_predict(sparse_row).astype(float).tolist()
    )


# ---- Accept ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "accept", ["application/json;verbose=True", "application/jsonlines", "application/x-recordio-protobuf"]
)
def test_every_supported_accept_gets_the_batch_lines(
    emulator: SageMakerEmulator, s3: Any, accept: str
) -> None:
    # test/unit/algorithm_mode/test_serve.py test_parse_accept; serve.py:240-242 writes the same lines in
    # a batch transform whatever the Accept
    raw = trained(emulator, s3)
    model_of(emulator, s3, {"xgboost-model": raw})
    x, _ = make_rows(10, 9)
    put(s3, "score/part-0.csv", csv_text(x))
    done(run_transform(emulator, TransformOutput={"Accept": accept}))
    assert (
        scores(get(s3, "pred/part-0.csv.out"))
        == ReferenceModel(raw).inplace_predict(x).astype(float).tolist()
    )


def test_an_accept_the_container_does_not_encode_gets_406(emulator: SageMakerEmulator, s3: Any) -> None:
    # test/unit/algorithm_mode/test_serve.py test_parse_accept_incompatible (text/libsvm)
    model_of(emulator, s3, {"xgboost-model": trained(emulator, s3)})
    put(s3, "score/part-0.csv", csv_text(make_rows(5, 9)[0]))
    reason = failed(run_transform(emulator, TransformOutput={"Accept": "text/libsvm"}))
    assert (
        "the model container answered 406 Not Acceptable: Accept type text/libsvm is not supported" in reason
    )


# ---- the model -------------------------------------------------------------------------------------------


def pickled(raw: bytes, tmp_path: Any) -> bytes:
    """The booster pickled by the image's own xgboost (1.7.4), as a customer's script might save it."""
    source = tmp_path / "xgboost-model"
    source.write_bytes(raw)
    code = (
        "import pickle, sys, xgboost as x; b = x.Booster(); b.load_model(sys.argv[1]);"
        " sys.stdout.buffer.write(pickle.dumps(b))"
    )
    python = str(runner.environment_python("1.7.4"))
    return subprocess.run([python, "-c", code, str(source)], check=True, capture_output=True).stdout  # nosec B603


def test_a_pickled_booster_is_loaded(emulator: SageMakerEmulator, s3: Any, tmp_path: Any) -> None:
    # test/unit/algorithm_mode/test_serve_utils.py test_get_loaded_booster (pickled_model -> pkl_format)
    # and test_predict_valid_content_type: serve_utils.py:176-190, 200-222
    raw = trained(emulator, s3)
    model_of(emulator, s3, {"xgboost-model": pickled(raw, tmp_path)})
    x, _ = make_rows(10, 9)
    put(s3, "score/part-0.csv", csv_text(x[:, :-1]))  # one feature fewer: a pickled model accepts it
    done(run_transform(emulator))
    narrow = np.column_stack([x[:, :-1], np.full(len(x), np.nan)])
    assert (
        scores(get(s3, "pred/part-0.csv.out"))
        == ReferenceModel(raw).inplace_predict(narrow).astype(float).tolist()
    )
    put(s3, "score/part-0.csv", csv_text(x[:, :-2]))
    reason = failed(run_transform(emulator, "narrower"))
    assert (
        f"Feature size of csv inference data {N_FEATURES - 2} is not consistent with feature size of"
        in reason
    )


def test_dotfiles_in_the_model_archive_are_left_out() -> None:
    # test/unit/algorithm_mode/test_serve_utils.py test_get_full_model_paths
    files = {"xgboost-model": b"a", ".DS_STORE": b"b", ".xgboost-model": b"c", "model2": b"d"}
    assert serving.model_files(model_archive(files), ensemble=True) == [
        ("model2", b"d"),
        ("xgboost-model", b"a"),
    ]


def test_a_dotfile_beside_the_booster_does_not_stop_the_transform(
    emulator: SageMakerEmulator, s3: Any
) -> None:
    raw = trained(emulator, s3)
    model_of(emulator, s3, {"xgboost-model": raw, ".DS_Store": b"\x00\x01junk"})
    x, _ = make_rows(10, 9)
    put(s3, "score/part-0.csv", csv_text(x))
    done(run_transform(emulator))
    assert (
        scores(get(s3, "pred/part-0.csv.out"))
        == ReferenceModel(raw).inplace_predict(x).astype(float).tolist()
    )


@pytest.mark.parametrize("version", sorted(IMAGES))
def test_several_boosters_are_averaged_as_an_ensemble(
    emulator: SageMakerEmulator, s3: Any, version: str
) -> None:
    # test/unit/algorithm_mode/test_serve_utils.py test_is_ensemble_enabled_var_not_set (on by default
    # in 1.7-1 and v3.0-5) with serve_utils.py:224-235 (the mean, in float32)
    first = trained(emulator, s3, image=IMAGES[version])
    second = trained(emulator, s3, "other", image=IMAGES[version], max_depth="2")
    model_of(emulator, s3, {"xgboost-model": first, "model2": second}, IMAGES[version])
    x, _ = make_rows(50, 9)
    put(s3, "score/part-0.csv", csv_text(x))
    done(run_transform(emulator))
    expected = np.mean(
        [
            ReferenceModel(first, version).inplace_predict(x),
            ReferenceModel(second, version).inplace_predict(x),
        ],
        axis=0,
    )
    assert scores(get(s3, "pred/part-0.csv.out")) == expected.astype(float).tolist()


def test_without_the_ensemble_several_model_files_are_refused(emulator: SageMakerEmulator, s3: Any) -> None:
    # test_serve_utils.py test_is_ensemble_enabled_var_set_to_false: the container then loads the first
    # file os.listdir gives, which the emulator does not guess
    raw = trained(emulator, s3)
    model_of(emulator, s3, {"xgboost-model": raw, "model2": raw}, SAGEMAKER_INFERENCE_ENSEMBLE="false")
    put(s3, "score/part-0.csv", csv_text(make_rows(5, 9)[0]))
    reason = failed(run_transform(emulator))
    assert "holds 2 files (model2, xgboost-model)" in reason


def test_an_ensemble_of_label_predictions_votes_the_smallest_most_frequent() -> None:
    # serve_utils.py:230-232 stats.mode (ties: the smallest value)
    votes = np.array([[1.0, 2.0, 2.0], [3.0, 1.0, 3.0], [0.0, 1.0, 2.0]])
    assert worker._row_mode(votes).tolist() == [2.0, 3.0, 0.0]


# ---- SAGEMAKER_INFERENCE_OUTPUT -------------------------------------------------------------------------

# test/unit/algorithm_mode/test_serve_utils.py's vectors
TEST_KEYS = ["predicted_label", "probabilities"]
TEST_PREDICTIONS = [
    {"predicted_label": 1, "probabilities": [0.4, 0.6]},
    {"predicted_label": 0, "probabilities": [0.9, 0.1]},
]


def test_selected_predictions_of_every_key() -> None:
    # test_get_selected_predictions_all_keys (binary:logistic) and test_get_selected_predictions_nan
    found = serving.selected_predictions(
        np.array([0.6, 0.1]), serving.VALID_OBJECTIVES["binary:logistic"], "binary:logistic", ""
    )
    assert [
        {k: v for k, v in row.items() if k in ("predicted_label", "labels", "probability", "raw_score")}
        for row in found
    ] == [
        {"predicted_label": 1, "labels": [0, 1], "probability": 0.6, "raw_score": 0.6},
        {"predicted_label": 0, "labels": [0, 1], "probability": 0.1, "raw_score": 0.1},
    ]
    assert found[0]["probabilities"] == pytest.approx([0.4, 0.6])
    mixed = serving.selected_predictions(
        np.array([0.6, 32]), ["predicted_score", "predicted_label", "foo"], "reg:logistic", ""
    )
    assert mixed[0]["predicted_score"] == 0.6
    assert np.isnan(mixed[0]["predicted_label"]) and np.isnan(mixed[1]["foo"])
    with pytest.raises(serving.ServingError, match="unsupported for selectable inference"):
        serving.selected_predictions(np.array([0.6]), TEST_KEYS, "rank:pairwise", "")


def test_selected_predictions_are_encoded_in_each_accept() -> None:
    # test_encode_selected_predictions_csv / _json / _jsonlines / _protobuf (the batch CSV ends in "\n")
    assert (
        serving.encode_selected(TEST_PREDICTIONS, TEST_KEYS, "text/csv")
        == b'1,"[0.4, 0.6]"\n0,"[0.9, 0.1]"\n'
    )
    assert (
        serving.encode_selected(TEST_PREDICTIONS, TEST_KEYS, "application/json")
        == json.dumps({"predictions": TEST_PREDICTIONS}).encode()
    )
    assert serving.encode_selected(TEST_PREDICTIONS, TEST_KEYS, "application/jsonlines") == (
        b'{"predicted_label": 1, "probabilities": [0.4, 0.6]}\n'
        b'{"predicted_label": 0, "probabilities": [0.9, 0.1]}\n'
    )
    encoded = serving.encode_selected(TEST_PREDICTIONS, TEST_KEYS, "application/x-recordio-protobuf")
    for payload, (label, probabilities) in zip(
        recordio.split_records(encoded), [([1], [0.4, 0.6]), ([0], [0.9, 0.1])], strict=True
    ):
        record = recordio.Record()
        record.ParseFromString(payload)
        assert list(record.label["predicted_label"].float32_tensor.values) == label
        assert np.allclose(record.label["probabilities"].float32_tensor.values, probabilities)


def test_sagemaker_inference_output_selects_what_the_transform_writes(
    emulator: SageMakerEmulator, s3: Any
) -> None:
    # serve.py:237-238 with serve_utils.py:244-254 (the keys from the model's Environment)
    raw = trained(emulator, s3)
    model_of(emulator, s3, {"xgboost-model": raw}, SAGEMAKER_INFERENCE_OUTPUT="predicted_label, Probability")
    x, _ = make_rows(10, 9)
    put(s3, "score/part-0.csv", csv_text(x))
    done(run_transform(emulator))
    expected = ReferenceModel(raw).inplace_predict(x).astype(float).tolist()
    assert get(s3, "pred/part-0.csv.out") == "".join(f"{int(p > 0.5)},{p}\n" for p in expected)
    done(run_transform(emulator, "as-json", TransformOutput={"Accept": "application/json"}))
    rows = json.loads(get(s3, "pred/part-0.csv.out"))["predictions"]
    assert rows == [{"predicted_label": int(p > 0.5), "probability": p} for p in expected]


# ---- delimiter sniffing ---------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_the_sniffers_shortcut_gives_the_sniffers_answer(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(200):
        values = [f"{v:.{rng.integers(0, 6)}g}" for v in rng.normal(size=rng.integers(1, 8)) * 10]
        delimiter = str(rng.choice([",", "\t", ";", " ", ":"]))
        line = delimiter.join(values) + str(rng.choice(["", "\n"]))
        try:
            expected = csv.Sniffer().sniff(line).delimiter
        except csv.Error:
            with pytest.raises(csv.Error):
                channel_data.sniff_delimiter(line)
            continue
        assert channel_data.sniff_delimiter(line) == expected, line
