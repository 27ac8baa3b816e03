"""Every time the pipeline writes is UTC: SYSDATE(), never CURRENT_TIMESTAMP() and its aliases
(TIMESTAMP_LTZ: into a TIMESTAMP_NTZ column they store the session's local time;
docs: sql-reference/functions/sysdate)."""

from __future__ import annotations

import sqlglot
from sqlglot import exp

from snowsage.snowflake.sql import load_statements as load_sql
from snowsage.snowflake.sql import run_write_statements
from snowsage_setup.sqlscript import EXAMPLES_DIR, load_statements, setup_files, with_defaults

from .conftest import BUCKET, ROLE_ARN


def _zoned_clock_reads(sql: str) -> list[str]:
    """CURRENT_TIMESTAMP, LOCALTIMESTAMP, GETDATE… (sqlglot reads all as CurrentTimestamp, SYSDATE too)."""
    parsed = sqlglot.parse_one(sql.replace("%(", "(").replace(")s", ")"), read="snowflake")
    return [
        node.sql("snowflake")
        for node in parsed.find_all(exp.CurrentTimestamp)
        if not node.args.get("sysdate")
    ]


def test_the_run_record_is_stamped_in_utc() -> None:
    statements = run_write_statements()
    for statement in (statements.update, statements.insert):
        assert _zoned_clock_reads(statement) == []
        assert statement.count("SYSDATE()") == 1  # UPDATED_AT on update and on insert


def test_no_statement_of_the_load_or_the_setup_reads_a_zoned_clock() -> None:
    load = load_sql("P", "ML_STAGE", "predictions/d/r/")
    texts = [load.create_staging, load.delete_export, load.insert_predictions()]
    variables = with_defaults({"bucket": BUCKET, "aws_role_arn": ROLE_ARN})
    texts += [s.text for s in load_statements([*setup_files(), *setup_files(EXAMPLES_DIR)], variables)]
    found = {text[:60]: reads for text in texts if (reads := _zoned_clock_reads(text))}
    assert found == {}
