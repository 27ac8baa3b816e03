"""ML_PREDICT_<DATASET> in the sandbox's Snowflake: the body the statement carries is what runs.

PublishModel's own statements (snowsage.snowflake.publishing) go through the sandbox's fakesnow;
the function then scores rows in plain SQL. The model file is what SageMaker's 1.7-1 image writes
(legacy binary from xgboost 1.7.4, in the emulator's own environment for that image).
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest
import snowflake.connector

from sandbox.sagemaker.runner import environment_python
from sandbox.snowflake import functions
from snowsage.models import PublishModelRequest
from snowsage.snowflake import publishing
from snowsage.snowflake.connection import ConnectionFactory

from .conftest import BUCKET, query

EVENT = Path(__file__).resolve().parents[2] / "events" / "publish_model" / "promoted.json"
FEATURES = ["A", "B", "C"]
ROWS = [(0.5, -1.0, 2.0), (-1.5, 0.25, None), (3.0, 3.0, -3.0), (None, None, None)]
FUNCTION = "ML_PREDICT_PUMPS"
# Trains a small binary (or 3-class multi:softprob) model on fixed data and writes model.tar.gz as
# the 1.7-1 image does (bst.save_model(<model_dir>/xgboost-model), then tar.gz); prints the model's
# scores of ROWS (a multi-class model's: its class probabilities per row).
TRAIN = """
import io, json, sys, tarfile, tempfile, os, numpy as np, xgboost as xgb
seed, rows, objective = int(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[4]
rng = np.random.default_rng(seed)
x = rng.normal(size=(300, 3)); margin = x[:, 0] + 2 * x[:, 1] - x[:, 2]
params = {"objective": objective, "max_depth": 3}
if objective == "multi:softprob":
    params["num_class"] = 3; y = np.digitize(margin, [-1.0, 1.0]).astype(float)
else:
    y = (margin > 0).astype(float)
booster = xgb.train(params, xgb.DMatrix(x, label=y), 20)
folder = tempfile.mkdtemp(); booster.save_model(os.path.join(folder, "xgboost-model"))
with tarfile.open(sys.argv[3], "w:gz") as archive:
    archive.add(os.path.join(folder, "xgboost-model"), arcname="xgboost-model")
matrix = np.array([[np.nan if v is None else v for v in row] for row in rows], dtype=np.float32)
print(json.dumps(booster.predict(xgb.DMatrix(matrix, missing=np.nan)).astype(float).tolist()))
"""


def train_model(
    tmp_path: Path, seed: int, objective: str = "binary:logistic", xgboost: str = "1.7.4"
) -> tuple[bytes, list[Any]]:
    """An image's artifact (1.7-1's, or the one whose xgboost is ``xgboost``) and that xgboost's
    own scores of ROWS."""
    archive = tmp_path / f"model-{seed}.tar.gz"
    python = environment_python(xgboost)
    done = subprocess.run(
        [str(python), "-c", TRAIN, str(seed), json.dumps(ROWS), str(archive), objective],
        capture_output=True,
        text=True,
        check=True,
    )
    return archive.read_bytes(), json.loads(done.stdout)


def publish_request(
    version: int, run: str, problem: str = "binary", image: str = "1.7-1"
) -> PublishModelRequest:
    document = json.loads(EVENT.read_text())
    document["plan"]["dataset"] = "pumps"
    registry = document["model"]["image_uri"].rsplit(":", 1)[0]
    document["model"]["image_uri"] = f"{registry}:{image}"
    if problem == "multiclass":
        document["plan"]["model"] = {"objective": "multi:softprob", "problem": problem, "num_class": 3}
    document["plan"]["scoring"]["features"] = FEATURES
    document["model"]["model_version"] = version
    document["model"]["model_data_url"] = f"s3://{BUCKET}/models/pumps/{run}/job/output/model.tar.gz"
    return PublishModelRequest.model_validate(document)


def scores_in_sql(conn: Any) -> list[Any]:
    values = " UNION ALL ".join(
        f"SELECT {index} AS N, "
        + ", ".join(
            f"{'NULL' if v is None else v}::FLOAT AS {name}" for v, name in zip(row, FEATURES, strict=True)
        )
        for index, row in enumerate(ROWS)
    )
    rows = query(conn, f"SELECT {FUNCTION}(A, B, C) FROM ({values}) ORDER BY N")
    # A FLOAT, or an ARRAY (which the connector returns as JSON text).
    return [json.loads(row[0]) if isinstance(row[0], str) else float(row[0]) for row in rows]


def publish(
    s3: Any,
    factory: ConnectionFactory,
    version: int,
    artifact: bytes | None,
    *,
    problem: str = "binary",
    image: str = "1.7-1",
) -> None:
    run = f"run-{version}"
    if artifact is not None:
        s3.put_object(Bucket=BUCKET, Key=f"models/pumps/{run}/job/output/model.tar.gz", Body=artifact)
    publishing.publish_model(publish_request(version, run, problem, image), factory, "ML_STAGE")


def test_the_sandbox_runs_exactly_the_body_the_create_statement_carries(
    s3: Any, factory: ConnectionFactory, setup_conn: Any, tmp_path: Path
) -> None:
    artifact, _ = train_model(tmp_path, seed=1)
    publish(s3, factory, 1, artifact)
    running = functions.installed()
    assert running is not None
    function = running.functions[FUNCTION]
    statement = publishing.publish_statements(publish_request(1, "run-1"), "ML_STAGE").create_function
    # The statement the pipeline sent, the body the sandbox parsed out of it, the text the worker ran.
    assert function.definition.statement == statement
    assert function.definition.body == publishing.handler_source()
    assert function.process.body_sha256 == hashlib.sha256(publishing.handler_source().encode()).hexdigest()
    assert function.process.vectorized
    assert function.definition.packages == list(publishing.PACKAGES)


def test_scores_in_sql_are_the_images_xgboost_scores_of_the_model_file(
    s3: Any, factory: ConnectionFactory, setup_conn: Any, tmp_path: Path
) -> None:
    artifact, expected = train_model(tmp_path, seed=2)
    publish(s3, factory, 1, artifact)
    in_sql = scores_in_sql(setup_conn)
    assert max(abs(a - b) for a, b in zip(in_sql, expected, strict=True)) <= 1e-6
    assert query(setup_conn, "SELECT DATASET, MODEL_VERSION, FUNCTION_NAME FROM ML_MODELS") == [
        ("pumps", 1, FUNCTION)
    ]


def test_a_multiclass_function_returns_each_rows_class_probabilities_in_class_order(
    s3: Any, factory: ConnectionFactory, setup_conn: Any, tmp_path: Path
) -> None:
    artifact, expected = train_model(tmp_path, seed=5, objective="multi:softprob")
    publish(s3, factory, 1, artifact, problem="multiclass")
    running = functions.installed()
    assert running is not None
    assert running.functions[FUNCTION].definition.returns == "ARRAY"
    in_sql = scores_in_sql(setup_conn)
    assert [len(row) for row in in_sql] == [3] * len(ROWS)
    assert (
        max(
            abs(a - b)
            for got, want in zip(in_sql, expected, strict=True)
            for a, b in zip(got, want, strict=True)
        )
        <= 1e-6
    )
    # The same body declared RETURNS FLOAT fails when called, as the lists are not numbers.
    statement = publishing.publish_statements(
        publish_request(1, "run-1", "multiclass"), "ML_STAGE"
    ).create_function
    query(setup_conn, statement.replace("RETURNS ARRAY", "RETURNS FLOAT"))
    with pytest.raises(snowflake.connector.errors.ProgrammingError, match="RETURNS FLOAT"):
        scores_in_sql(setup_conn)


@pytest.mark.parametrize("objective", ["binary:logistic", "multi:softprob"])
def test_the_3_0_5_images_ubjson_scores_identically_under_the_pinned_xgboost(
    s3: Any, factory: ConnectionFactory, setup_conn: Any, tmp_path: Path, objective: str
) -> None:
    """XGBOOST_FOR_IMAGE pins 1.7.3 for the 3.0-5 image: its xgboost 3.0.5 writes UBJSON, which
    1.7.3 reads to the same scores (the 3.2-0 image's would not be: its intercept is a vector)."""
    artifact, expected = train_model(tmp_path, seed=6, objective=objective, xgboost="3.0.5")
    with tarfile.open(fileobj=io.BytesIO(artifact), mode="r:gz") as archive:
        member = archive.extractfile("xgboost-model")
        assert member is not None
        assert member.read(2) == b"{L"  # UBJSON, not the legacy `binf`
    problem = "multiclass" if objective == "multi:softprob" else "binary"
    publish(s3, factory, 1, artifact, problem=problem, image="3.0-5")
    in_sql = [value if isinstance(value, list) else [value] for value in scores_in_sql(setup_conn)]
    wanted = [value if isinstance(value, list) else [value] for value in expected]
    assert (
        max(
            abs(a - b)
            for got, want in zip(in_sql, wanted, strict=True)
            for a, b in zip(got, want, strict=True)
        )
        <= 1e-6
    )


READ_WITH_RUNTIME = """
import io, json, sys, tarfile, tempfile, os, numpy as np, xgboost as xgb
with tarfile.open(sys.argv[1], "r:gz") as archive:
    data = archive.extractfile("xgboost-model").read()
path = os.path.join(tempfile.mkdtemp(), "xgboost-model"); open(path, "wb").write(data)
booster = xgb.Booster(); booster.load_model(path)
rows = json.loads(sys.argv[2])
matrix = np.array([[np.nan if v is None else v for v in row] for row in rows], dtype=np.float32)
print(json.dumps(booster.predict(xgb.DMatrix(matrix, missing=np.nan)).astype(float).tolist()))
"""


def test_the_runtimes_xgboost_misreads_the_3_2_0_images_model_so_it_has_no_pin(tmp_path: Path) -> None:
    """Why XGBOOST_FOR_IMAGE leaves 3.2-0 out: xgboost 3.2.0 writes the intercept as a vector, which
    the pinned 1.7.3 loads without an error and replaces by its default. Should this test fail, the
    runtime reads it: 3.2-0 may get a pin."""
    artifact, expected = train_model(tmp_path, seed=7, xgboost="3.2.0")
    archive = tmp_path / "model-3.2.0.tar.gz"
    archive.write_bytes(artifact)
    read = subprocess.run(
        [str(functions.runtime_python()), "-c", READ_WITH_RUNTIME, str(archive), json.dumps(ROWS)],
        capture_output=True,
        text=True,
        check=True,
    )
    scores = json.loads(read.stdout)
    assert max(abs(a - b) for a, b in zip(scores, expected, strict=True)) > 1e-3
    assert "3.2-0" not in publishing.XGBOOST_FOR_IMAGE


def test_a_publication_that_fails_leaves_the_earlier_function_in_place(
    s3: Any, factory: ConnectionFactory, setup_conn: Any, tmp_path: Path
) -> None:
    first, expected = train_model(tmp_path, seed=3)
    publish(s3, factory, 1, first)
    # Version 2's artifact is missing: COPY FILES fails, nothing after it runs.
    with pytest.raises(snowflake.connector.errors.ProgrammingError, match="not found"):
        publish(s3, factory, 2, None)
    # A CREATE OR REPLACE that Snowflake would refuse (a package pin the runtime lacks).
    statement = publishing.publish_statements(publish_request(1, "run-1"), "ML_STAGE").create_function
    with pytest.raises(snowflake.connector.errors.ProgrammingError, match=r"xgboost==0\.90"):
        query(setup_conn, statement.replace("'xgboost==1.7.3'", "'xgboost==0.90'"))
    assert max(abs(a - b) for a, b in zip(scores_in_sql(setup_conn), expected, strict=True)) <= 1e-6
    assert query(setup_conn, "SELECT MODEL_VERSION FROM ML_MODELS") == [(1,)]


def test_what_snowflake_refuses_the_sandbox_refuses(
    s3: Any, factory: ConnectionFactory, setup_conn: Any, tmp_path: Path
) -> None:
    artifact, _ = train_model(tmp_path, seed=4)
    publish(s3, factory, 1, artifact)
    statement = publishing.publish_statements(publish_request(1, "run-1"), "ML_STAGE").create_function
    refused = {
        "already exists": statement.replace("CREATE OR REPLACE FUNCTION", "CREATE FUNCTION"),
        "was not found": statement.replace("/v1/model.tar.gz", "/v9/model.tar.gz"),
        "HANDLER 'score'": statement.replace("HANDLER = 'predict'", "HANDLER = 'score'"),
        "RUNTIME_VERSION": statement.replace("RUNTIME_VERSION = '3.11'", "RUNTIME_VERSION = '3.8'"),
    }
    for message, text in refused.items():
        with pytest.raises(snowflake.connector.errors.ProgrammingError, match=message):
            query(setup_conn, text)


def test_the_runtime_is_not_the_projects_python() -> None:
    """The function runs under the stand-in for Snowflake's runtime, with the pinned xgboost."""
    python = functions.runtime_python()
    version = subprocess.run(
        [str(python), "-c", "import sys, xgboost; print(sys.version_info[:2], xgboost.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert version == "(3, 11) 1.7.3"
    assert Path(sys.executable).resolve() != python.resolve()
