"""The setup SQL: renders, splits, parses with sqlglot's Snowflake dialect, is safe to re-apply."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

from snowflake.sqlscript import (
    DEFAULT_VARIABLES,
    EXAMPLES_DIR,
    SETUP_DIR,
    SNOWFLAKE_DIR,
    SqlScriptError,
    load_statements,
    render,
    setup_files,
    split_statements,
    statement_kind,
    variables_used,
    with_defaults,
)

from .conftest import BUCKET, ROLE_ARN

ALL_FILES = [*setup_files(), *setup_files(EXAMPLES_DIR)]
VARIABLES = with_defaults({"bucket": BUCKET, "aws_role_arn": ROLE_ARN})


def test_setup_files_are_ordered_as_designed() -> None:
    assert [path.name for path in setup_files()] == [
        "00_account.sql",
        "01_pipeline_role.sql",
        "02_integration_and_stage.sql",
        "10_merchant_features.sql",
        "20_registry_and_runs.sql",
        "30_export_procedure.sql",
        "40_tasks.sql",
    ]


def test_snowflake_dir_stays_a_namespace_portion() -> None:
    # an __init__.py here would hide snowflake-connector-python's `snowflake.connector`
    assert not (SNOWFLAKE_DIR / "__init__.py").exists()
    import snowflake.connector

    assert "site-packages" in Path(snowflake.connector.__file__).parts


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: p.name)
def test_every_statement_parses_with_sqlglot_snowflake(path: Path) -> None:
    statements = split_statements(render(path.read_text(), VARIABLES), source=path.name)
    assert statements
    for statement in statements:
        parsed = sqlglot.parse(statement.text, read="snowflake", error_level=sqlglot.ErrorLevel.RAISE)
        assert len(parsed) == 1, statement.where
        assert parsed[0] is not None, statement.where


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: p.name)
def test_every_file_is_safe_to_reapply(path: Path) -> None:
    for statement in split_statements(render(path.read_text(), VARIABLES), source=path.name):
        head = " ".join(statement.text.split()[:6]).upper()
        if head.startswith("CREATE"):
            assert "OR REPLACE" in head or "IF NOT EXISTS" in head, statement.where
        assert not head.startswith(("INSERT", "DROP", "DELETE", "TRUNCATE")), statement.where


def test_storage_integration_is_never_replaced() -> None:
    # CREATE OR REPLACE would mint a new external ID and break the IAM role's trust policy
    text = (SETUP_DIR / "02_integration_and_stage.sql").read_text()
    assert "CREATE STORAGE INTEGRATION IF NOT EXISTS" in text
    assert "OR REPLACE STORAGE INTEGRATION" not in text


def test_tasks_are_created_suspended_and_resume_is_only_documented() -> None:
    for path in (SETUP_DIR / "40_tasks.sql", EXAMPLES_DIR / "txn_refund.sql"):
        statements = split_statements(render(path.read_text(), VARIABLES), source=path.name)
        kinds = [statement.kind for statement in statements]
        assert kinds.count("CREATE TASK") == 1
        assert "ALTER TASK" not in kinds  # RESUME is a comment: an operator step
        assert re.search(r"^--\s+ALTER TASK \w+ RESUME;", path.read_text(), re.MULTILINE)
        task = next(s for s in statements if s.kind == "CREATE TASK")
        assert "SCHEDULE = 'USING CRON " in task.text
        assert "CALL EXPORT_DATASET(" in task.text


def test_every_variable_has_a_value_or_is_required() -> None:
    used = set().union(*(variables_used(path.read_text()) for path in ALL_FILES))
    assert used <= set(DEFAULT_VARIABLES) | {"bucket", "aws_role_arn"}
    assert {"bucket", "aws_role_arn", "database", "schema", "warehouse"} <= used


def test_render_reports_every_missing_variable() -> None:
    with pytest.raises(SqlScriptError, match="aws_role_arn, bucket"):
        load_statements(setup_files(), dict(DEFAULT_VARIABLES))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("bucket", "b'; DROP TABLE ML_RUNS; --"),
        ("database", "SNOWSAGE; DROP DATABASE X"),
        ("aws_role_arn", "arn:aws:iam::1:role/x"),
        ("merchant_risk_schedule", "USING CRON 0 2 * * * UTC'; CALL X()"),
    ],
)
def test_render_rejects_values_that_are_not_what_they_claim(name: str, value: str) -> None:
    with pytest.raises(SqlScriptError, match=name):
        render(f"SELECT '&{{{name}}}'", {**VARIABLES, name: value})


def test_splitter_keeps_dollar_bodies_quotes_and_comments_whole() -> None:
    script = """
    -- header; with a semicolon
    CREATE OR REPLACE PROCEDURE P() RETURNS VARCHAR LANGUAGE SQL AS
    $$
    DECLARE x VARCHAR DEFAULT 'a;b''c';
    BEGIN
      RETURN x; -- done;
    END;
    $$;
    SELECT 'it''s; fine', "odd;name" /* a; b */ FROM T;
    SELECT 'back\\'slash;';
    -- trailing comment only; ALTER TASK T RESUME;
    """
    statements = split_statements(script, source="s.sql")
    assert [s.kind for s in statements] == ["CREATE PROCEDURE", "SELECT", "SELECT"]
    assert statements[0].text.endswith("END;\n    $$")
    assert statements[0].line == 3
    assert statements[1].text == "SELECT 'it''s; fine', \"odd;name\" /* a; b */ FROM T"
    assert statements[2].text == "SELECT 'back\\'slash;'"


@pytest.mark.parametrize("broken", ["SELECT 'open", "CREATE PROCEDURE P() AS $$ BEGIN", "SELECT /* open"])
def test_splitter_rejects_unterminated_text(broken: str) -> None:
    with pytest.raises(SqlScriptError, match="unterminated"):
        split_statements(broken)


@pytest.mark.parametrize(
    ("sql", "kind"),
    [
        ("create or replace storage integration X", "CREATE STORAGE INTEGRATION"),
        ("CREATE OR REPLACE SECURE VIEW V AS SELECT 1", "CREATE VIEW"),
        ("CREATE TEMPORARY TABLE T (A INT)", "CREATE TABLE"),
        ("CREATE FILE FORMAT IF NOT EXISTS F", "CREATE FILE FORMAT"),
        ("desc integration X", "DESCRIBE INTEGRATION"),
        ("-- note\nGRANT USAGE ON STAGE S TO ROLE R", "GRANT"),
        ("ALTER TASK T RESUME", "ALTER TASK"),
        ("COPY INTO T FROM @S", "COPY INTO"),
        ("MERGE INTO T USING S ON TRUE", "MERGE"),
    ],
)
def test_statement_kind(sql: str, kind: str) -> None:
    assert statement_kind(sql) == kind


def test_procedure_body_is_one_statement_with_the_unload_shape() -> None:
    statements = load_statements([SETUP_DIR / "30_export_procedure.sql"], VARIABLES)
    procedure = next(s for s in statements if s.kind == "CREATE PROCEDURE")
    parsed = sqlglot.parse_one(procedure.text, read="snowflake")
    assert isinstance(parsed, exp.Create)
    body = procedure.text
    for required in (
        "HEADER = FALSE",
        "MAX_FILE_SIZE = ",
        "DETAILED_OUTPUT = TRUE",
        "FORMAT_NAME = ''' || db || '.' || sch || '.ML_EXPORT_CSV''",
        "RESULT_SCAN(LAST_QUERY_ID())",
        "SINGLE = TRUE OVERWRITE = TRUE",
        "TYPE = JSON COMPRESSION = NONE",
        '\'YYYYMMDD"T"HH24MISS"Z"\'',
    ):
        assert required in body, required
    # the manifest is the last thing unloaded
    assert body.rindex("manifest.json") > body.rindex("DETAILED_OUTPUT = TRUE")
    # rendered with the deployment's names
    assert "db VARCHAR DEFAULT 'SNOWSAGE';" in body
    assert "FROM SNOWSAGE.ML.ML_DATASETS" in body
