"""LoadPredictions' transaction against a scripted driver: which error wins, what is retried."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from snowflake.connector.errors import OperationalError, ProgrammingError

from snowsage.errors import PredictionsMalformed, RowCountMismatch, RunEnded, SnowflakeUnavailable
from snowsage.models import LoadPredictionsRequest
from snowsage.snowflake.connection import LOCK_TIMEOUT_SECONDS
from snowsage.snowflake.loading import load_predictions
from tests.snowflake.fake_driver import FakeClock, FakeConnection, FakeCursor, factory_for

ROOT = Path(__file__).resolve().parents[2]
REQUEST = LoadPredictionsRequest.model_validate(
    json.loads((ROOT / "events" / "load_predictions" / "load.json").read_text())
)
ROWS = REQUEST.plan.scoring.rows
GONE = OperationalError(msg="Failed to execute request: Connection aborted.", errno=250003)


def _cursor(**kwargs: object) -> FakeCursor:
    defaults: dict[str, object] = {
        "copy_rows": [("s3://b/predictions/x/data_0_0_0.csv.out", "LOADED", ROWS, ROWS)],
        "insert_rowcount": ROWS,
    }
    return FakeCursor(**{**defaults, **kwargs})  # type: ignore[arg-type]


def test_the_load_is_tagged_with_the_run_and_commits() -> None:
    cursor = _cursor()
    connection = FakeConnection(cursor)
    result = load_predictions(REQUEST, factory_for(connection), "ML_STAGE")
    assert result.rows_loaded == ROWS
    assert connection.query_tags == [REQUEST.plan.run_id]
    assert cursor.verbs() == ["CREATE", "COPY", "BEGIN", "DELETE", "INSERT", "SELECT", "COMMIT"]
    assert all(timeout is not None for _, timeout in cursor.executed)
    assert connection.closed


@pytest.mark.parametrize("status", ["ABORTED", "TIMED_OUT", "FAILED"])
def test_a_load_whose_run_ended_meanwhile_rolls_back(status: str) -> None:
    """StopExecution does not stop this invocation: the run's ML_RUNS row, read just before COMMIT,
    says the execution ended, so nothing is committed and the error is one the ASL does not retry."""
    cursor = _cursor(run_status=status)
    with pytest.raises(RunEnded, match=f"ended {status}"):
        load_predictions(REQUEST, factory_for(FakeConnection(cursor)), "ML_STAGE")
    assert cursor.verbs()[-3:] == ["INSERT", "SELECT", "ROLLBACK"]
    assert "COMMIT" not in cursor.verbs()


def test_a_replay_of_a_run_that_succeeded_reloads_its_rows() -> None:
    """A hand invoke of a finished run's event (sam local invoke) writes the same rows again."""
    cursor = _cursor(run_status="SUCCEEDED")
    result = load_predictions(REQUEST, factory_for(FakeConnection(cursor)), "ML_STAGE")
    assert result.rows_loaded == ROWS
    assert cursor.verbs()[-2:] == ["SELECT", "COMMIT"]


def test_the_load_reports_its_statements_time_for_the_runs_warehouse_cost() -> None:
    clock = FakeClock()
    cursor = _cursor(seconds={"COPY": 1.5, "INSERT": 0.25, "COMMIT": 0.125}, clock=clock)
    result = load_predictions(REQUEST, factory_for(FakeConnection(cursor), clock=clock), "ML_STAGE")
    assert result.warehouse_seconds == 1.875


def test_a_copy_of_many_files_is_counted_in_batches() -> None:
    """COPY INTO answers one row per file: 100,000 files must not be fetched into memory at once."""
    files = 2_500  # one row each
    plan = REQUEST.plan
    scoring = plan.scoring.model_copy(update={"rows": files, "files": files})
    request = REQUEST.model_copy(update={"plan": plan.model_copy(update={"scoring": scoring})})
    per_file = [(f"s3://b/predictions/x/data_0_0_{i}.csv.out", "LOADED", 1, 1) for i in range(files)]
    cursor = _cursor(copy_rows=per_file, insert_rowcount=files)
    result = load_predictions(request, factory_for(FakeConnection(cursor)), "ML_STAGE")
    assert (result.files, result.rows_loaded) == (files, files)
    assert cursor.fetched and all(0 < size <= 1_000 for size in cursor.fetched)


def test_a_failing_rollback_does_not_hide_a_permanent_error() -> None:
    cursor = _cursor(insert_rowcount=ROWS - 1, failures={"ROLLBACK": GONE})
    with pytest.raises(RowCountMismatch, match=f"inserted {ROWS - 1} rows"):
        load_predictions(REQUEST, factory_for(FakeConnection(cursor)), "ML_STAGE")
    assert cursor.verbs()[-1] == "ROLLBACK"


def test_a_failing_rollback_does_not_hide_a_transient_error() -> None:
    cursor = _cursor(failures={"INSERT": GONE, "ROLLBACK": ProgrammingError(msg="no session", errno=390111)})
    with pytest.raises(SnowflakeUnavailable, match="Connection aborted"):
        load_predictions(REQUEST, factory_for(FakeConnection(cursor)), "ML_STAGE")


def test_a_copy_stopped_by_the_statement_timeout_is_retried() -> None:
    timed_out = ProgrammingError(
        msg="Statement reached its statement or warehouse timeout of 600 second(s) and was canceled.",
        errno=630,
    )
    cursor = _cursor(failures={"COPY": timed_out})
    with pytest.raises(SnowflakeUnavailable, match="statement or warehouse timeout"):
        load_predictions(REQUEST, factory_for(FakeConnection(cursor)), "ML_STAGE")


MULTICLASS = REQUEST.model_copy(
    update={
        "plan": REQUEST.plan.model_copy(
            update={"model": REQUEST.plan.model.model_copy(update={"problem": "multiclass", "num_class": 3})}
        )
    }
)


def test_a_multiclass_load_counts_the_classes_before_its_transaction() -> None:
    cursor = _cursor(select_rows=[(3, 3)])
    result = load_predictions(MULTICLASS, factory_for(FakeConnection(cursor)), "ML_STAGE")
    assert result.rows_loaded == ROWS
    assert cursor.verbs() == ["CREATE", "COPY", "SELECT", "BEGIN", "DELETE", "INSERT", "SELECT", "COMMIT"]


@pytest.mark.parametrize(
    ("counts", "message"),
    [
        ((2, 3), "has 2 to 3 probabilities per line"),
        ((1, 1), "has 1 to 1 probabilities per line"),
        ((4, 4), "has 4 probabilities per line; the dataset has 3 classes"),
    ],
)
def test_a_multiclass_output_of_the_wrong_shape_loads_nothing(counts: tuple[int, int], message: str) -> None:
    cursor = _cursor(select_rows=[counts])
    with pytest.raises(PredictionsMalformed, match=message):
        load_predictions(MULTICLASS, factory_for(FakeConnection(cursor)), "ML_STAGE")
    assert "BEGIN" not in cursor.verbs()


def test_a_delete_that_waited_out_the_lock_timeout_says_so_and_is_retried() -> None:
    """A retry after a vanished session can wait behind the detached transaction's lock: the wait is
    bounded by LOCK_TIMEOUT, and the error (whatever its number) names the lock and the way out."""
    clock = FakeClock()
    lock_timeout = ProgrammingError(
        msg="Statement 'x' has locked table 'MERCHANT_RISK_PREDICTIONS' in transaction 1 and this lock"
        " has not yet been released.",
        errno=625,
    )
    cursor = _cursor(failures={"DELETE": lock_timeout}, seconds={"DELETE": LOCK_TIMEOUT_SECONDS}, clock=clock)
    with pytest.raises(SnowflakeUnavailable) as raised:
        load_predictions(REQUEST, factory_for(FakeConnection(cursor), clock=clock), "ML_STAGE")
    message = str(raised.value)
    assert message.startswith(f"waited 90 s for a lock on {REQUEST.plan.predictions_table}")
    assert "Aborting transactions" in message and "SYSTEM$ABORT_TRANSACTION" in message
    assert cursor.verbs()[-1] == "ROLLBACK"


def test_a_delete_refused_at_once_is_not_taken_for_a_lock_wait() -> None:
    clock = FakeClock()
    refused = ProgrammingError(msg="Insufficient privileges to operate on table", errno=3001)
    cursor = _cursor(failures={"DELETE": refused}, seconds={"DELETE": 0.2}, clock=clock)
    with pytest.raises(ProgrammingError, match="Insufficient privileges"):
        load_predictions(REQUEST, factory_for(FakeConnection(cursor), clock=clock), "ML_STAGE")
