"""The setup SQL: renders, splits, parses with sqlglot's Snowflake dialect, is safe to re-apply."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

from snowsage_setup.sqlscript import (
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
        "25_scoring_functions.sql",
        "30_export_procedure.sql",
        "35_training_procedure.sql",
        "40_tasks.sql",
        "50_operations_views.sql",
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
            assert any(form in head for form in ("OR REPLACE", "OR ALTER", "IF NOT EXISTS")), statement.where
        assert not head.startswith(("INSERT", "DROP", "DELETE", "TRUNCATE")), statement.where


GRANT_ON = re.compile(
    r"GRANT\s+[A-Z, ]+?\s+ON\s+(?P<kind>FILE FORMAT|STAGE|TABLE|VIEW|PROCEDURE|FUNCTION)\s+(?P<name>\w+)",
    re.I,
)


def test_nothing_the_pipeline_role_uses_is_replaced_without_its_grants() -> None:
    """A CREATE OR REPLACE drops the object's grants until the GRANT after it runs again: a load, a
    record or a training during an apply fails. So every object the pipeline role is granted is
    created IF NOT EXISTS (then ALTERed), with CREATE OR ALTER, or replaced WITH COPY GRANTS
    (sql-reference/sql/create-or-alter; create-view, create-procedure: COPY GRANTS)."""
    granted: set[tuple[str, str, str]] = set()
    creates: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for path in ALL_FILES:
        for statement in split_statements(render(path.read_text(), VARIABLES), source=path.name):
            text = " ".join(statement.text.split())
            match = GRANT_ON.match(text)
            if match and text.endswith(f"TO ROLE {VARIABLES.get('pipeline_role', 'SNOWSAGE_PIPELINE')}"):
                granted.add((match.group("kind").upper(), match.group("name").upper(), statement.where))
            created = re.match(
                r"CREATE (?:OR (?:REPLACE|ALTER) )?(FILE FORMAT|STAGE|TABLE|VIEW|PROCEDURE|FUNCTION)"
                r"(?: IF NOT EXISTS)? (\w+)",
                text,
                re.I,
            )
            if created:
                creates.setdefault((created.group(1).upper(), created.group(2).upper()), []).append(
                    (text.split(" AS ", 1)[0], statement.where)
                )
    assert len(granted) >= 8
    for kind, name, where in granted:
        assert (kind, name) in creates, f"{where}: {kind} {name} is granted but created nowhere"
        for head, created_at in creates[(kind, name)]:
            keeps_grants = (
                "IF NOT EXISTS" in head or head.startswith("CREATE OR ALTER") or " COPY GRANTS" in head
            )
            assert keeps_grants, f"{created_at}: {head[:80]} drops the grant of {where}"


def test_each_created_object_is_altered_to_its_definition() -> None:
    """A stage or file format is created IF NOT EXISTS with what its kind needs, then ALTERed to this
    file's definition, so a new object and one an older apply left converge on it."""
    statements = load_statements([SETUP_DIR / "02_integration_and_stage.sql"], VARIABLES)
    altered = set()
    for create, after in itertools.pairwise(statements):
        if create.kind not in {"CREATE FILE FORMAT", "CREATE STAGE"}:
            continue
        found = re.match(r"CREATE (FILE FORMAT|STAGE) IF NOT EXISTS (\w+)", create.text)
        assert found, create.text
        kind, name = found.groups()
        assert re.match(rf"ALTER {kind} {name} SET\n", after.text), f"{name}: no ALTER right after its CREATE"
        assert "COMMENT = 'Snowsage: " in after.text, f"{name}: the ALTER sets less than the definition"
        altered.add(name)
    assert altered == {"ML_EXPORT_CSV", "ML_PREDICTIONS_CSV", "ML_PREDICTIONS_LINES", "ML_STAGE"}


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


def test_splitter_keeps_dollar_bodies_and_quotes_whole_and_sends_no_comment() -> None:
    """The connector's splitter, as apply.py and the sandbox use it; a body keeps its comments."""
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
    assert statements[0].text.endswith("RETURN x; -- done;\n    END;\n    $$")
    assert [s.line for s in statements] == [3, 10, 11]
    assert " ".join(statements[1].text.split()) == "SELECT 'it''s; fine', \"odd;name\" FROM T"
    assert statements[2].text == "SELECT 'back\\'slash;'"


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
        "INCLUDE_QUERY_ID = TRUE DETAILED_OUTPUT = TRUE",
        "FORMAT_NAME = ''' || db || '.' || sch || '.ML_EXPORT_CSV''",
        "unloaded := (EXECUTE IMMEDIATE :copy_sql);",
        "FROM TABLE(unloaded)",
        "SINGLE = TRUE OVERWRITE = TRUE",
        "TYPE = JSON COMPRESSION = NONE",
        '\'YYYYMMDD"T"HH24MISS"Z"\'',
    ):
        assert required in body, required
    # DETAILED_OUTPUT's columns are read by position ($1 path, $2 size, $3 rows): the COPY INTO
    # <location> page prints no names, so no name is relied on
    for name in ("FILE_NAME", "ROW_COUNT", "FILE_SIZE"):
        assert not re.search(rf"(?<![A-Z_]){name}(?![A-Z_])", body.upper()), name
    # each section's summary (manifest v2): files, rows ($3) and bytes ($2), summed in SQL
    assert "SELECT COUNT(*), COALESCE(SUM($3::INTEGER), 0), COALESCE(SUM($2::INTEGER), 0)" in body
    assert "'files', section_files,\n        'rows', section_rows,\n        'bytes', section_bytes" in body
    assert "ARRAY_AGG(OBJECT_CONSTRUCT(" not in body  # no per-file list: the manifest does not grow per file
    # the manifest is the last thing unloaded
    assert body.rindex("manifest.json") > body.rindex("DETAILED_OUTPUT = TRUE")
    # rendered with the deployment's names
    assert "db VARCHAR DEFAULT 'SNOWSAGE';" in body
    assert "FROM SNOWSAGE.ML.ML_DATASETS" in body


def test_the_procedure_reads_a_dynamic_statements_rows_only_through_a_resultset() -> None:
    """snowflake-scripting/resultsets documents `rs := (EXECUTE IMMEDIATE :sql)` and TABLE(rs); what
    SQLID holds after EXECUTE IMMEDIATE is not documented, so neither SQLID nor RESULT_SCAN is used."""
    procedure = next(
        s
        for s in load_statements([SETUP_DIR / "30_export_procedure.sql"], VARIABLES)
        if s.kind == "CREATE PROCEDURE"
    )
    code = "\n".join(line.split("--", 1)[0] for line in procedure.text.splitlines())  # comments out
    assert "SQLID" not in code and "RESULT_SCAN" not in code
    declared = set(re.findall(r"^\s*(\w+) RESULTSET;", code, re.MULTILINE))
    assigned = re.findall(r"(\w+) := \(EXECUTE IMMEDIATE :\w+\);", code)
    read = re.findall(r"FROM TABLE\((\w+)\)", code)
    assert declared == set(assigned) == set(read) == {"unloaded", "labels"}
    # The only EXECUTE IMMEDIATE whose rows are not read is the manifest's COPY.
    plain = re.findall(r"^\s*EXECUTE IMMEDIATE :(\w+);", code, re.MULTILINE)
    assert plain == ["copy_sql"] and code.rindex("EXECUTE IMMEDIATE :copy_sql;") > code.rindex(
        "manifest.json"
    )


def _file_format_options(name: str) -> dict[str, str]:
    statements = load_statements([SETUP_DIR / "02_integration_and_stage.sql"], VARIABLES)
    text = next(s.text for s in statements if s.kind == "ALTER FILE FORMAT" and f" {name} SET\n" in s.text)
    return {key.upper(): value for key, value in re.findall(r"^\s+([A-Z_]+) = (.+)$", text, re.MULTILINE)}


def test_the_export_format_is_one_the_unload_docs_allow() -> None:
    # Without an enclosing character EMPTY_FIELD_AS_NULL = TRUE is prohibited for unloading
    # (docs: user-guide/data-unload-considerations); NULL_IF's first value is what NULL becomes.
    options = _file_format_options("ML_EXPORT_CSV")
    assert options["FIELD_OPTIONALLY_ENCLOSED_BY"] == "NONE"
    assert options["EMPTY_FIELD_AS_NULL"] == "FALSE"
    assert options["NULL_IF"] == "('')"


def _grants(path: Path) -> list[tuple[str, str]]:
    """(role in use, grant text) for every GRANT of a file."""
    role = ""
    found = []
    for statement in load_statements([path], VARIABLES):
        if statement.kind == "USE ROLE":
            role = statement.text.split()[-1]
        elif statement.kind == "GRANT":
            found.append((role, " ".join(statement.text.split())))
    return found


def test_the_pipeline_role_gets_only_what_the_lambdas_use() -> None:
    pipeline_role = VARIABLES["pipeline_role"]
    granted = [
        text for path in ALL_FILES for _, text in _grants(path) if text.endswith(f"TO ROLE {pipeline_role}")
    ]
    assert not [text for text in granted if "CREATE TABLE" in text]  # temporary tables need none
    # EXPORT_DATASET reads the views; StalenessCheckFunction reads ML_STALE_DATASETS (owner's rights
    # reach ML_DATASETS through it: sql-reference/sql/create-view, "Access control requirements");
    # ScoreInSnowflake reads the sample's scoring view (SCORING_ENGINE = 'SNOWFLAKE'), never a training view
    views = [text for text in granted if " ON VIEW " in text]
    assert sorted(views) == [
        f"GRANT SELECT ON VIEW MERCHANT_RISK_SCORING TO ROLE {pipeline_role}",
        f"GRANT SELECT ON VIEW ML_STALE_DATASETS TO ROLE {pipeline_role}",
    ]
    assert not [text for text in granted if "ML_DATASETS" in text]  # ... and the registry, as owner
    assert f"GRANT USAGE ON SCHEMA SNOWSAGE.ML TO ROLE {pipeline_role}" in granted


def _creators() -> dict[str, str]:
    """'<KIND> <name>' -> the role in use when the setup creates it (its owner)."""
    creators: dict[str, str] = {}
    role = ""
    for statement in load_statements(setup_files(), VARIABLES):
        words = statement.text.split()
        kind = statement.kind.removeprefix("CREATE ").removeprefix("STORAGE ")
        if statement.kind == "USE ROLE":
            role = words[-1]
        elif statement.kind.startswith("CREATE ") and kind in {
            "DATABASE",
            "WAREHOUSE",
            "SCHEMA",
            "INTEGRATION",
            "ROLE",
        }:
            name = words[words.index("EXISTS") + 1] if "EXISTS" in words else words[-1]
            creators[f"{kind} {name}"] = role
    return creators


def test_every_grant_is_issued_by_the_owner() -> None:
    creators = _creators()
    assert creators["DATABASE SNOWSAGE"] == creators["WAREHOUSE SNOWSAGE_WH"] == "SYSADMIN"
    assert creators["SCHEMA SNOWSAGE.ML"] == VARIABLES["admin_role"]
    checked = 0
    for path in setup_files():
        for role_in_use, text in _grants(path):
            if " ON FUTURE " in text:
                # A future grant needs MANAGE GRANTS (docs: sql-reference/sql/grant-privilege).
                assert role_in_use == "SECURITYADMIN", (path.name, text, role_in_use)
                continue
            target = re.search(r" ON (DATABASE|WAREHOUSE|SCHEMA|INTEGRATION) (\S+) TO ", text)
            role_grant = re.fullmatch(r"GRANT ROLE (\S+) TO (ROLE|USER) \S+", text)
            owned = f"{target.group(1)} {target.group(2)}" if target else None
            owned = f"ROLE {role_grant.group(1)}" if role_grant else owned
            if owned:
                assert creators[owned] == role_in_use, (path.name, text, role_in_use)
                checked += 1
    assert checked >= 8
