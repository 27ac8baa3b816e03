import pytest
import sqlglot

from snowsage.errors import InvalidIdentifier
from snowsage.snowflake.sql import RUN_COLUMNS, load_statements, run_write_statements, stage_location


def test_load_statements_parse_as_snowflake_sql() -> None:
    statements = load_statements("merchant_risk_predictions", "ML_STAGE", "predictions/merchant_risk/run-1/")
    assert "@ML_STAGE/predictions/merchant_risk/run-1/" in statements.copy_into_staging
    assert "MERCHANT_RISK_PREDICTIONS" in statements.insert_predictions()
    for text in (statements.create_staging, statements.delete_export, statements.insert_predictions()):
        sqlglot.parse_one(text.replace("%(", "(").replace(")s", ")"), read="snowflake")


def test_values_are_bound_not_inlined() -> None:
    statements = load_statements("P", "ML_STAGE", "predictions/d/r/")
    assert "%(export_id)s" in statements.delete_export
    assert "%(run_id)s" in statements.insert_predictions()


@pytest.mark.parametrize("table", ['P"; DROP TABLE ML_RUNS; --', "db.schema.t", "t;"])
def test_unsafe_tables_are_refused(table: str) -> None:
    with pytest.raises(InvalidIdentifier):
        load_statements(table, "ML_STAGE", "predictions/d/r/")


@pytest.mark.parametrize("path", ["../secrets/", "predictions/d/r", "/abs/", "predictions/d/r/'x/"])
def test_unsafe_stage_paths_are_refused(path: str) -> None:
    with pytest.raises(ValueError, match="stage path"):
        stage_location("ML_STAGE", path)


def test_the_run_write_binds_every_run_column() -> None:
    statements = run_write_statements()
    for column in RUN_COLUMNS:
        assert f"%({column.lower()})s" in statements.insert
        assert column in {"RUN_ID", "STARTED_AT"} or f"{column} = " in statements.update
    assert statements.update.startswith("UPDATE ML_RUNS SET")
    assert statements.update.endswith("WHERE RUN_ID = %(run_id)s")
    assert statements.insert.startswith("INSERT INTO ML_RUNS") and "WHERE NOT EXISTS" in statements.insert
