-- Snowsage 35: TRAIN_MODEL, the SNOWFLAKE training engine (docs/snowflake.md,
-- "Choosing an engine"). A Snowpark Python procedure trains XGBoost on the dataset's training
-- view inside the warehouse: the same hyperparameters, the same train/validation split (MD5 of
-- the id, first two hex digits below '33', as EXPORT_DATASET) and the same validation metric as
-- the SageMaker engine. It writes model.tar.gz holding `xgboost-model` in the built-in 1.7-1
-- image's format (xgboost 1.7's Booster.save_model without an extension: the legacy binary) to
-- @ML_MODELS_STAGE/training/<dataset>/<run_id>/ with PUT (docs: developer-guide/snowpark/
-- reference/python/latest/snowpark/api/snowflake.snowpark.FileOperation.put_stream); the
-- TrainInSnowflake Lambda then copies it to the bucket's models/ prefix with COPY FILES, inside
-- Snowflake (docs: sql-reference/sql/copy-files). The training rows never leave Snowflake.
-- Returns {artifact, metric_name, metric_value (the saved model's: its best round's with early
-- stopping), train_rows, validation_rows, rounds (the model's), rounds_run, seconds}.
-- Variables: admin_role, pipeline_role, warehouse, database, schema.
--
-- ONE SOURCE: the sandbox runs this very body (sandbox/snowflake/procedures.py reads it from
-- here) with Snowpark's local testing mode; tests/snowflake/test_training_procedure.py ties them.

USE ROLE &{admin_role};
USE WAREHOUSE &{warehouse};
USE SCHEMA &{database}.&{schema};

-- PACKAGES from Snowflake's Anaconda channel: xgboost 1.7.3, as ML_PREDICT_<DATASET> pins it
-- (docs/snowflake.md, "The pin"); snowflake-snowpark-python is required by every Python
-- procedure (docs: developer-guide/stored-procedure/python/procedure-python-overview).
-- COPY GRANTS keeps the pipeline role's USAGE through a re-apply (sql-reference/sql/create-procedure).
CREATE OR REPLACE PROCEDURE TRAIN_MODEL(
  DATASET_NAME VARCHAR, RUN_ID VARCHAR, HYPERPARAMETERS VARCHAR, METRIC_NAME VARCHAR
)
  COPY GRANTS
  RETURNS VARIANT
  LANGUAGE PYTHON
  RUNTIME_VERSION = '3.11'
  PACKAGES = ('snowflake-snowpark-python', 'xgboost==1.7.3', 'pandas')
  HANDLER = 'train_model'
  COMMENT = 'Snowsage: train a dataset''s XGBoost model in the warehouse (TRAINING_ENGINE = SNOWFLAKE)'
  EXECUTE AS OWNER
AS
$$
import hashlib
import io
import json
import re
import tarfile
import time

import xgboost
from snowflake.snowpark.functions import col

ARTIFACT_STAGE = "@ML_MODELS_STAGE/training"
MODEL_FILE = "xgboost-model"  # the built-in algorithm's file name inside model.tar.gz
VALIDATION_BELOW = "33"  # EXPORT_DATASET's split: the first two hex digits of MD5(id) below '33'
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
# snowsage.names' grammars (one source: tests/unit/test_names.py compares them): a dataset is
# snake_case of at most 50 (DATASET_PATTERN), a run id lower-case words joined by "-", at most 40.
DATASET = re.compile(r"(?=.{1,50}$)[a-z0-9]+(?:_[a-z0-9]+)*")
RUN = re.compile(r"(?=.{1,40}$)[a-z0-9]+(?:-[a-z0-9]+)*")
# Keys the built-in algorithm reads itself and does not pass to xgboost.train's params (its
# train.py pops them). A copy of sandbox/sagemaker/training.py's: this body runs inside Snowflake,
# which cannot import our packages (tests/snowflake/test_training_procedure.py compares them).
CONTAINER_KEYS = {
    "num_round",
    "save_model_on_termination",
    "_tuning_objective_metric",
    "eval_metric",
    "early_stopping_rounds",
    "_kfold",
    "_num_cv_round",
    "use_dask_gpu_training",
}
# Metrics larger-is-better, as the container's MAXIMIZE_METRICS (snowsage.model_settings).
MAXIMISED = {"accuracy", "auc", "aucpr", "balanced_accuracy", "f1", "map", "ndcg", "pre", "r2"}


class TrainingRefused(ValueError):
    """A request or a registry row this procedure cannot train from."""


def registry_row(session, dataset):
    rows = (
        session.table("ML_DATASETS")
        .filter((col("NAME") == dataset) & col("ENABLED"))
        .select("TRAINING_VIEW", "ID_COLUMN", "LABEL_COLUMN")
        .collect()
    )
    if len(rows) != 1:
        raise TrainingRefused(f"TRAIN_MODEL: no enabled ML_DATASETS row named {dataset!r}")
    names = [str(value).upper() for value in rows[0]]
    if not all(NAME.fullmatch(name) for name in names):
        raise TrainingRefused(f"TRAIN_MODEL: ML_DATASETS row {dataset!r} holds invalid identifiers")
    return names


def is_validation(identifier):
    """MD5 of the id's text, as EXPORT_DATASET's SUBSTR(MD5(TO_VARCHAR(id)), 1, 2) < '33'."""
    return hashlib.md5(str(identifier).encode()).hexdigest()[:2] < VALIDATION_BELOW  # a split, not security


def matrices(frame, id_column, label_column):
    columns = list(frame.columns)
    if columns[:2] != [id_column, label_column] or len(columns) < 3:
        raise TrainingRefused(
            f"TRAIN_MODEL: the training view must be id, label, features; it has {columns[:3]}"
        )
    held_out = frame[id_column].map(is_validation)
    features = columns[2:]
    parts = {}
    for name, rows in (("train", frame[~held_out]), ("validation", frame[held_out])):
        if rows.empty:
            raise TrainingRefused(f"TRAIN_MODEL: the {name} split has no rows")
        # No feature names: the model reads headerless CSV rows, as the SageMaker engine's does.
        parts[name] = xgboost.DMatrix(
            rows[features].to_numpy(dtype="float64"), label=rows[label_column].to_numpy(dtype="float64")
        )
    return parts


def fit(parts, hyperparameters, metric):
    params = {key: value for key, value in hyperparameters.items() if key not in CONTAINER_KEYS}
    params["eval_metric"] = [metric]
    callbacks = []
    if hyperparameters.get("early_stopping_rounds"):
        callbacks.append(
            xgboost.callback.EarlyStopping(
                rounds=int(hyperparameters["early_stopping_rounds"]),
                data_name="validation",
                metric_name=metric,
                maximize=metric.split("@", 1)[0] in MAXIMISED,
                save_best=True,
            )
        )
    history = {}
    booster = xgboost.train(
        params,
        parts["train"],
        num_boost_round=int(hyperparameters["num_round"]),
        evals=[(parts["train"], "train"), (parts["validation"], "validation")],
        evals_result=history,
        callbacks=callbacks,
        verbose_eval=False,
    )
    values = history["validation"][metric]
    # With early stopping the saved model is the best round's (save_best=True keeps rounds up to
    # best_iteration): its metric is that round's, not the last round logged.
    kept = booster.best_iteration if callbacks else len(values) - 1
    return booster, values, kept


def artifact(booster):
    booster.save_model(f"/tmp/{MODEL_FILE}")  # no extension: xgboost 1.7's binary, as the image writes
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        tar.add(f"/tmp/{MODEL_FILE}", arcname=MODEL_FILE)
    archive.seek(0)
    return archive


def train_model(session, dataset_name, run_id, hyperparameters, metric_name):
    started = time.monotonic()
    if not DATASET.fullmatch(dataset_name) or not RUN.fullmatch(run_id):
        raise TrainingRefused(f"TRAIN_MODEL: invalid dataset {dataset_name!r} or run id {run_id!r}")
    settings = json.loads(hyperparameters)
    if not metric_name.startswith("validation:"):
        raise TrainingRefused(f"TRAIN_MODEL: {metric_name!r} is not a validation metric")
    metric = metric_name.split(":", 1)[1]
    training_view, id_column, label_column = registry_row(session, dataset_name)
    frame = session.table(training_view).to_pandas()
    parts = matrices(frame, id_column, label_column)
    booster, values, kept = fit(parts, settings, metric)
    target = f"{ARTIFACT_STAGE}/{dataset_name}/{run_id}/model.tar.gz"
    session.file.put_stream(artifact(booster), target, auto_compress=False, overwrite=True)
    return {
        "artifact": target,
        "metric_name": metric_name,
        "metric_value": float(values[kept]),
        "train_rows": parts["train"].num_row(),
        "validation_rows": parts["validation"].num_row(),
        "rounds": kept + 1,  # the rounds the saved model holds
        "rounds_run": len(values),
        "seconds": round(time.monotonic() - started, 3),
    }
$$;

GRANT USAGE ON PROCEDURE TRAIN_MODEL(VARCHAR, VARCHAR, VARCHAR, VARCHAR) TO ROLE &{pipeline_role};
