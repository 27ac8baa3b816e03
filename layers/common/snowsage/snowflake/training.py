"""TrainInSnowflake: the SNOWFLAKE training engine's two statements.

1. ``CALL TRAIN_MODEL(dataset, run_id, hyperparameters, metric)`` trains in the warehouse
   (snowflake/setup/35_training_procedure.sql): the rows stay in Snowflake, and the procedure
   PUTs ``model.tar.gz`` into ``@ML_MODELS_STAGE/training/<dataset>/<run_id>/``.
2. ``COPY FILES`` copies it to ``@<bucket stage>/models/<dataset>/<run_id>/snowflake/``, the run's
   output prefix, where the gate, the registry and the batch transform take it as they take a
   SageMaker job's (docs: sql-reference/sql/copy-files: internal named stage -> external stage).

The result has the Train state's shape (``TrainingResult``): the rest of the pipeline is the same.
Both statements are idempotent for a run: a retry trains again and overwrites the same files.
"""

from __future__ import annotations

import json
from typing import Any

from snowsage.errors import TrainingFailed
from snowsage.models import FinalMetric, RunPlan, TrainingResult
from snowsage.names import S3Uri, validate_snowflake_identifier
from snowsage.snowflake.connection import ConnectionFactory, is_transient, session

PROCEDURE = "TRAIN_MODEL"
ARTIFACT_STAGE = "ML_MODELS_STAGE"
MODEL_ARCHIVE = "model.tar.gz"
OUTPUT_FOLDER = "snowflake/"  # under the run's output prefix, as a SageMaker job's <job>/output/


def call_statement() -> str:
    return f"CALL {PROCEDURE}(%(dataset)s, %(run_id)s, %(hyperparameters)s, %(metric_name)s)"


def artifact_uri(plan: RunPlan) -> str:
    if plan.training is None:
        raise TrainingFailed(f"run {plan.run_id} has no training plan (mode {plan.mode})")
    return f"{plan.training.output_uri}{OUTPUT_FOLDER}{MODEL_ARCHIVE}"


def copy_statement(plan: RunPlan, bucket_stage: str) -> str:
    """COPY FILES from the procedure's internal path to the run's output prefix in the bucket."""
    target = S3Uri.parse(artifact_uri(plan)).key.rpartition("/")[0]
    stage = validate_snowflake_identifier(bucket_stage, "stage")
    # The dataset and run id are validated names (snowsage.names): no quote, space or `..`.
    return (
        f"COPY FILES INTO @{stage}/{target}/ FROM @{ARTIFACT_STAGE}/training/{plan.dataset}/{plan.run_id}/"
        f" FILES = ('{MODEL_ARCHIVE}')"
    )


def _result(row: Any) -> dict[str, Any]:
    value = row[0] if row else None
    document = json.loads(value) if isinstance(value, str) else value
    if not isinstance(document, dict) or "metric_value" not in document:
        raise TrainingFailed(f"{PROCEDURE} returned no metric: {str(value)[:500]!r}")
    return document


def train_in_snowflake(plan: RunPlan, factory: ConnectionFactory, bucket_stage: str) -> TrainingResult:
    if plan.training is None:
        raise TrainingFailed(f"run {plan.run_id} has no training plan (mode {plan.mode})")
    binds = {
        "dataset": plan.dataset,
        "run_id": plan.run_id,
        "hyperparameters": json.dumps(plan.training.hyperparameters, sort_keys=True),
        "metric_name": plan.evaluation.metric_name,
    }
    with session(factory, query_tag=plan.run_id) as snowflake:
        try:
            result = _result(snowflake.execute(call_statement(), binds).fetchone())
        except TrainingFailed:
            raise
        except Exception as error:
            # A statement timeout (000630) or a cancel (000604) is transient, as for every Snowflake
            # call (connection.is_transient): session() makes it SnowflakeUnavailable, retried.
            if error.__class__.__name__ != "ProgrammingError" or is_transient(error):
                raise
            # The procedure's own error ("Python Interpreter Error: …"): permanent, with its cause.
            raise TrainingFailed(f"{PROCEDURE} failed in Snowflake: {error}") from None
        snowflake.execute(copy_statement(plan, bucket_stage))
    return TrainingResult(
        job_name=f"snowflake:{PROCEDURE}:{plan.run_id}",
        model_data_url=artifact_uri(plan),
        final_metrics=[
            FinalMetric(MetricName=plan.evaluation.metric_name, Value=float(result["metric_value"]))
        ],
        training_seconds=float(result.get("seconds", 0.0)),
        warehouse_seconds=snowflake.warehouse_seconds(),
    )
