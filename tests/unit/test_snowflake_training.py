"""TrainInSnowflake's statements: CALL TRAIN_MODEL with the plan's settings, then COPY FILES of its
model to the run's output prefix; the procedure's own error is a permanent TrainingFailed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import snowflake.connector

from snowsage.errors import SnowflakeUnavailable, TrainingFailed
from snowsage.models import RunPlan
from snowsage.snowflake import training
from snowsage.snowflake.connection import ConnectionFactory, is_transient

EVENT = Path(__file__).resolve().parents[2] / "events" / "publish_model" / "promoted.json"
PLAN = RunPlan.model_validate(json.loads(EVENT.read_text())["plan"])
CLOCK = [0.0]  # the statements move it: 42 s for the CALL, 0.5 s for the COPY FILES
RESULT = {"artifact": "@ML_MODELS_STAGE/training/x/model.tar.gz", "metric_value": 0.91, "seconds": 3.5}


class Cursor:
    def __init__(self, error: Exception | None) -> None:
        self.error = error
        self.calls: list[tuple[str, Any]] = []

    def execute(self, statement: str, params: Any = None, timeout: int | None = None) -> Cursor:
        self.calls.append((statement, params))
        CLOCK[0] += 42.0 if statement.startswith("CALL") else 0.5
        if self.error is not None and statement.startswith("CALL"):
            raise self.error
        return self

    def fetchone(self) -> tuple[str]:
        return (json.dumps(RESULT),)


class Connection:
    def __init__(self, error: Exception | None = None) -> None:
        self.recorded = Cursor(error)

    def cursor(self) -> Cursor:
        return self.recorded

    def close(self) -> None:
        pass


def _train(connection: Connection) -> Any:
    factory = ConnectionFactory(
        open=lambda tag: connection, statement_budget_seconds=600, clock=lambda: CLOCK[0]
    )
    return training.train_in_snowflake(PLAN, factory, "ML_STAGE")


def test_the_call_carries_the_plans_settings_and_copy_files_takes_the_model_to_the_bucket() -> None:
    connection = Connection()
    result = _train(connection)
    [(call, binds), (copy, _)] = connection.recorded.calls
    assert call == "CALL TRAIN_MODEL(%(dataset)s, %(run_id)s, %(hyperparameters)s, %(metric_name)s)"
    assert binds["dataset"] == PLAN.dataset and binds["run_id"] == PLAN.run_id
    assert json.loads(binds["hyperparameters"]) == PLAN.training.hyperparameters  # type: ignore[union-attr]
    assert binds["metric_name"] == PLAN.evaluation.metric_name
    run = f"models/{PLAN.dataset}/{PLAN.run_id}/"
    assert copy == (
        f"COPY FILES INTO @ML_STAGE/{run}snowflake/"
        f" FROM @ML_MODELS_STAGE/training/{PLAN.dataset}/{PLAN.run_id}/ FILES = ('model.tar.gz')"
    )
    assert result.model_data_url.endswith(f"/{run}snowflake/model.tar.gz")
    assert [(m.MetricName, m.Value) for m in result.final_metrics] == [(PLAN.evaluation.metric_name, 0.91)]
    assert result.warehouse_seconds == 42.5  # the run's warehouse time (snowsage.cost)


def test_an_error_inside_the_procedure_is_a_training_failure_with_its_cause_and_nothing_is_copied() -> None:
    error = snowflake.connector.errors.ProgrammingError(msg="Python Interpreter Error: bad tree_method")
    connection = Connection(error)
    with pytest.raises(TrainingFailed, match=r"TRAIN_MODEL failed in Snowflake: .*bad tree_method"):
        _train(connection)
    assert [call.split()[0] for call, _ in connection.recorded.calls] == ["CALL"]


@pytest.mark.parametrize(
    ("errno", "message"),
    [
        (630, "Statement reached its statement or warehouse timeout of 600 second(s) and was canceled."),
        (604, "SQL execution was cancelled by the client due to a timeout."),
    ],
)
def test_a_call_stopped_for_time_is_transient_as_every_other_snowflake_call(errno: int, message: str) -> None:
    """One rule (connection.is_transient): 000630 and 000604 are SnowflakeUnavailable, retried by
    TrainInSnowflake's Retry, not a permanent TrainingFailed."""
    error = snowflake.connector.errors.ProgrammingError(msg=message, errno=errno, sqlstate="57014")
    assert is_transient(error)
    with pytest.raises(SnowflakeUnavailable, match="timeout"):
        _train(Connection(error))
