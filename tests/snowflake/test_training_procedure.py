"""TRAIN_MODEL, the SNOWFLAKE training engine, in the sandbox's Snowflake.

``CALL TRAIN_MODEL(…)`` runs the body of 35_training_procedure.sql's CREATE PROCEDURE, in the
Snowflake-runtime venv, with a real Snowpark Session (local testing mode) fed with the training
view's rows from fakesnow. Its model.tar.gz goes to ML_MODELS_STAGE, and COPY FILES takes it to
the bucket's models/ prefix, where the 1.7-1 image's own xgboost reads it.
"""

from __future__ import annotations

import ast
import hashlib
import io
import json
import subprocess
import tarfile
from typing import Any

import pytest
import snowflake.connector

from sandbox.sagemaker import training
from sandbox.sagemaker.runner import environment_python
from sandbox.snowflake import functions, procedures
from snowsage.names import run_id_for
from snowsage.snowflake import publishing
from snowsage_setup.sqlscript import load_statements, with_defaults
from tooling.sample_data import load_sample_data

from .conftest import BUCKET, query

HYPERPARAMETERS = {"objective": "binary:logistic", "eval_metric": "auc", "num_round": "40", "max_depth": "4"}
pytestmark = pytest.mark.skipif(
    subprocess.run(
        [str(functions.runtime_python()), "-c", "import snowflake.snowpark"],
        capture_output=True,
        check=False,
    ).returncode
    != 0,
    reason="the Snowflake-runtime venv lacks snowflake-snowpark-python: rebuild it (make venv)",
)


@pytest.fixture
def loaded_conn(setup_conn: Any, s3: Any) -> Any:
    load_sample_data(setup_conn, 20_000, seed=5, s3_client=s3, bucket=BUCKET)
    return setup_conn


def call(conn: Any, dataset: str, run_id: str, metric: str = "validation:auc") -> dict[str, Any]:
    rows = query(
        conn, "CALL TRAIN_MODEL(%s, %s, %s, %s)", (dataset, run_id, json.dumps(HYPERPARAMETERS), metric)
    )
    result: dict[str, Any] = json.loads(rows[0][0])
    return result


def test_the_sandbox_runs_the_body_of_the_setup_files_create_procedure() -> None:
    """The contract: the text the sandbox runs is the one the setup file creates in Snowflake."""
    [statement] = [
        s
        for s in load_statements([procedures.TRAINING_PROCEDURE_FILE], with_defaults({}))
        if s.kind == "CREATE PROCEDURE"
    ]
    definition = procedures.training_procedure()
    assert definition.body in statement.text
    assert statement.text.split("$$")[1] == definition.body
    assert definition.name == "TRAIN_MODEL" and definition.handler == "train_model"
    assert definition.arguments == ["DATASET_NAME", "RUN_ID", "HYPERPARAMETERS", "METRIC_NAME"]
    # The same xgboost as the published function: the model file must read the same everywhere.
    assert publishing.XGBOOST_FOR_IMAGE["1.7-1"] in definition.packages
    assert definition.runtime_version == publishing.RUNTIME_VERSION


def test_the_procedure_keeps_the_containers_own_keys_out_of_xgboosts_params() -> None:
    """The body runs in Snowflake and cannot import the emulator: its copy of the keys must agree."""
    tree = ast.parse(procedures.training_procedure().body)
    [keys] = [
        ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign) and [getattr(t, "id", "") for t in node.targets] == ["CONTAINER_KEYS"]
    ]
    assert keys == training.CONTAINER_KEYS


def test_train_model_trains_in_the_warehouse_and_copy_files_takes_the_artifact_to_the_bucket(
    loaded_conn: Any, s3: Any
) -> None:
    run_id = run_id_for("merchant_risk-20261126t100000z")  # what the pipeline passes: its plan's run id
    result = call(loaded_conn, "merchant_risk", run_id)
    assert result["artifact"] == f"@ML_MODELS_STAGE/training/merchant_risk/{run_id}/model.tar.gz"
    assert result["metric_name"] == "validation:auc" and 0.5 < result["metric_value"] <= 1
    assert result["rounds"] == 40
    # The split is EXPORT_DATASET's: MD5 of the id, first two hex digits below '33'.
    ids = [row[0] for row in query(loaded_conn, "SELECT MERCHANT_ID FROM MERCHANT_RISK_TRAINING")]
    held_out = sum(hashlib.md5(i.encode()).hexdigest()[:2] < "33" for i in ids)  # a split, not security
    assert (result["validation_rows"], result["train_rows"]) == (held_out, len(ids) - held_out)

    query(
        loaded_conn,
        "COPY FILES INTO @ML_STAGE/models/merchant_risk/r1/ FROM"
        f" @ML_MODELS_STAGE/training/merchant_risk/{run_id}/ FILES = ('model.tar.gz')",
    )
    body = s3.get_object(Bucket=BUCKET, Key="models/merchant_risk/r1/model.tar.gz")["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as archive:
        assert archive.getnames() == ["xgboost-model"]
        model = archive.extractfile("xgboost-model")
        assert model is not None
        data = model.read()
    # The 1.7-1 image's own xgboost (1.7.4) reads it: legacy binary, 40 trees, no feature names.
    read = subprocess.run(
        [
            str(environment_python("1.7.4")),
            "-c",
            "import sys, xgboost as x; b = x.Booster(model_file=sys.argv[1]);"
            " print(b.num_boosted_rounds(), b.feature_names)",
            "/dev/stdin",
        ],
        input=data,
        capture_output=True,
        check=True,
    )
    assert read.stdout.decode().split() == ["40", "None"]
    assert not data.startswith(b"{")  # not JSON: the legacy binary the image writes


def test_a_failure_inside_the_procedure_fails_the_call_with_its_cause(loaded_conn: Any) -> None:
    with pytest.raises(
        snowflake.connector.errors.ProgrammingError, match="no enabled ML_DATASETS row named 'nope'"
    ):
        call(loaded_conn, "nope", "run-1")
    with pytest.raises(snowflake.connector.errors.ProgrammingError, match="is not a validation metric"):
        call(loaded_conn, "merchant_risk", "run-1", metric="train:auc")


def test_with_early_stopping_the_reported_metric_is_the_saved_models(loaded_conn: Any, s3: Any) -> None:
    """save_best=True keeps the best round's model: the metric reported is that model's validation
    metric (recomputed here on the same split by the 1.7-1 image's xgboost), not the last round's."""
    settings = {
        **HYPERPARAMETERS,
        "num_round": "300",
        "eta": "0.5",
        "max_depth": "6",
        "early_stopping_rounds": "3",
    }
    rows = query(
        loaded_conn,
        "CALL TRAIN_MODEL(%s, %s, %s, %s)",
        ("merchant_risk", "early-1", json.dumps(settings), "validation:auc"),
    )
    result = json.loads(rows[0][0])
    assert result["rounds"] < result["rounds_run"], result  # it stopped early and kept an earlier round
    query(
        loaded_conn,
        "COPY FILES INTO @ML_STAGE/models/merchant_risk/early-1/ FROM"
        " @ML_MODELS_STAGE/training/merchant_risk/early-1/ FILES = ('model.tar.gz')",
    )
    body = s3.get_object(Bucket=BUCKET, Key="models/merchant_risk/early-1/model.tar.gz")["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as archive:
        member = archive.extractfile("xgboost-model")
        assert member is not None
        model = member.read()
    training = query(loaded_conn, "SELECT * FROM MERCHANT_RISK_TRAINING")
    held_out = [
        [float(value) for value in row[1:]]
        for row in training
        if hashlib.md5(str(row[0]).encode()).hexdigest()[:2] < "33"  # EXPORT_DATASET's split
    ]
    script = (
        "import json, sys, tempfile, xgboost as x\n"
        "rows = json.loads(sys.argv[1])\n"
        "with tempfile.NamedTemporaryFile() as f:\n"
        "    f.write(sys.stdin.buffer.read()); f.flush(); b = x.Booster(model_file=f.name)\n"
        "b.set_param({'eval_metric': 'auc'})\n"
        "d = x.DMatrix([r[1:] for r in rows], label=[r[0] for r in rows])\n"
        "print(b.num_boosted_rounds(), b.eval(d).split(':')[-1])\n"
    )
    done = subprocess.run(
        [str(environment_python("1.7.4")), "-c", script, json.dumps(held_out)],
        input=model,
        capture_output=True,
        check=True,
    )
    trees, auc = done.stdout.decode().split()
    assert int(trees) == result["rounds"]
    assert result["metric_value"] == pytest.approx(float(auc), abs=1e-5)
