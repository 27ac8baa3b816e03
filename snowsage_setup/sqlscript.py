"""Read, render and split the setup SQL under snowflake/setup/: one module for apply.py and the sandbox.

* Variables: `&{name}` (the SnowSQL / Snowflake CLI `-D name=value` syntax). Every value is
  checked against a pattern, so a variable cannot smuggle SQL into a script.
* Splitting: the connector's `split_statements`, as `execute_string` runs a script.
* Export queries: the SELECT templates EXPORT_DATASET runs live once, in
  setup/30_export_procedure.sql, marked `-- snowsage:export-query <section>`; the sandbox reads
  them from there (`export_queries`) and substitutes the same placeholders the procedure does.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path

from snowflake.connector import util_text

from snowsage.names import SNOWFLAKE_IDENTIFIER

SNOWFLAKE_DIR = Path(__file__).resolve().parent.parent / "snowflake"  # the SQL, beside this package
SETUP_DIR = SNOWFLAKE_DIR / "setup"
EXAMPLES_DIR = SNOWFLAKE_DIR / "examples"
EXPORT_PROCEDURE_FILE = SETUP_DIR / "30_export_procedure.sql"
OPERATIONS_VIEWS_FILE = SETUP_DIR / "50_operations_views.sql"

IDENTIFIER = SNOWFLAKE_IDENTIFIER.pattern  # the core's grammar: what the pipeline accepts, setup renders

# Defaults for everything but the two values only a deployment knows (bucket, aws_role_arn).
DEFAULT_VARIABLES: dict[str, str] = {
    "database": "SNOWSAGE",
    "schema": "ML",
    "warehouse": "SNOWSAGE_WH",
    "admin_role": "SNOWSAGE_ADMIN",
    "pipeline_role": "SNOWSAGE_PIPELINE",
    "pipeline_user": "SNOWSAGE_PIPELINE_USER",
    "analyst_role": "SNOWSAGE_ANALYST",
    "integration": "SNOWSAGE_S3",
    "merchant_risk_schedule": "USING CRON 0 2 * * * UTC",
    "txn_refund_schedule": "USING CRON 30 2 * * * UTC",
    "merchant_spend_schedule": "USING CRON 0 3 * * * UTC",
}
REQUIRED_VARIABLES = ("bucket", "aws_role_arn")

_SCHEDULE = (
    r"(USING CRON [0-9*/,LW#?A-Z-]+( [0-9*/,LW#?A-Z-]+){4} [A-Za-z_/+-]+"  # USING CRON <5 fields> <tz>
    r"|[1-9][0-9]{0,5} (MINUTES?|M|HOURS?|H|SECONDS?|S))"  # or an interval: 60 MINUTE
)
_VALUE_PATTERNS: dict[str, str] = {
    "bucket": r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]",
    "aws_role_arn": r"arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}",
    "merchant_risk_schedule": _SCHEDULE,
    "txn_refund_schedule": _SCHEDULE,
    "merchant_spend_schedule": _SCHEDULE,
}
_SCHEDULE_SUFFIX = "_schedule"

VARIABLE_RE = re.compile(r"&\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}")


class SqlScriptError(ValueError):
    """A script cannot be rendered or split: missing/invalid variables, unterminated quotes."""


@dataclass(frozen=True)
class Statement:
    """One statement of a script: its text without the closing `;`, where it starts, its kind."""

    text: str
    source: str
    line: int

    @property
    def kind(self) -> str:
        return statement_kind(self.text)

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}"


# --- variables --------------------------------------------------------------------------------


def variables_used(text: str) -> set[str]:
    return set(VARIABLE_RE.findall(text))


def check_variables(variables: dict[str, str]) -> None:
    """Every value matches its pattern: identifiers for names, an S3 bucket, an IAM role ARN, a schedule."""
    for name, value in variables.items():
        pattern = _VALUE_PATTERNS.get(name)
        if pattern is None and name.endswith(_SCHEDULE_SUFFIX):
            pattern = _SCHEDULE
        if pattern is None:
            pattern = IDENTIFIER
        if not re.fullmatch(pattern, value):
            raise SqlScriptError(f"variable {name}={value!r} does not match {pattern}")


def with_defaults(variables: dict[str, str]) -> dict[str, str]:
    return {**DEFAULT_VARIABLES, **variables}


def render(text: str, variables: dict[str, str]) -> str:
    """Replace every `&{name}`; a name without a value is an error listing all missing names."""
    missing = sorted(variables_used(text) - variables.keys())
    if missing:
        raise SqlScriptError(f"missing variables: {', '.join(missing)} (pass -D name=value)")
    check_variables({name: variables[name] for name in variables_used(text)})
    return VARIABLE_RE.sub(lambda match: variables[match.group(1)], text)


# --- splitting --------------------------------------------------------------------------------


def split_statements(text: str, source: str = "<sql>") -> list[Statement]:
    """The connector's own splitter (what `execute_string` runs): `;` outside quotes, `$$` bodies and
    comments. Comments outside a body are not sent; a chunk of nothing but comments is no statement."""
    verbatim = util_text.split_statements(io.StringIO(text), remove_comments=False)
    cleaned = util_text.split_statements(io.StringIO(text), remove_comments=True)
    statements: list[Statement] = []
    offset = 0
    for (chunk, _), (sql, _) in zip(verbatim, cleaned, strict=True):
        start = text.find(chunk, offset)
        offset = start + len(chunk)
        body = sql.strip().removesuffix(";").rstrip()
        if body:
            statements.append(Statement(text=body, source=source, line=_first_line(text, start, chunk)))
    return statements


def _first_line(text: str, start: int, chunk: str) -> int:
    """The line of the chunk's first line that is not blank or a `--` comment (where the SQL starts)."""
    lines = chunk.split("\n")
    leading = next(
        (i for i, line in enumerate(lines) if line.strip() and not line.lstrip().startswith("--")), 0
    )
    return text.count("\n", 0, start) + leading + 1


_COMMENT_RE = re.compile(r"--[^\n]*|//[^\n]*|/\*.*?\*/", re.DOTALL)


def strip_comments(text: str) -> str:
    """Comments removed from the statement's head; used to classify it, never to run it."""
    return _COMMENT_RE.sub(" ", text)


_CREATE_MODIFIERS = {
    "OR",
    "REPLACE",
    "ALTER",
    "TEMPORARY",
    "TEMP",
    "TRANSIENT",
    "VOLATILE",
    "LOCAL",
    "GLOBAL",
    "SECURE",
    "RECURSIVE",
}
_TWO_WORD_KINDS = {
    "STORAGE INTEGRATION",
    "FILE FORMAT",
    "MATERIALIZED VIEW",
    "NETWORK POLICY",
    "NOTIFICATION INTEGRATION",
    "API INTEGRATION",
    "RESOURCE MONITOR",
    "DYNAMIC TABLE",
    "EXTERNAL TABLE",
    "EXTERNAL FUNCTION",
}
_TWO_WORD_VERBS = {"ALTER", "DROP", "USE", "DESC", "DESCRIBE", "SHOW", "UNDROP", "EXECUTE"}


def statement_kind(text: str) -> str:
    """`CREATE TABLE`, `CREATE STORAGE INTEGRATION`, `ALTER TASK`, `GRANT`, `MERGE`, …

    Drops comments, OR REPLACE, TEMPORARY-like modifiers; DESC is spelled DESCRIBE.
    """
    words = re.findall(r"[A-Za-z_]+", strip_comments(text).upper()[:400])
    if not words:
        return ""
    verb = "DESCRIBE" if words[0] == "DESC" else words[0]
    rest = words[1:]
    if verb == "CREATE":
        while rest and rest[0] in _CREATE_MODIFIERS:
            rest = rest[1:]
        return _with_object(verb, rest)
    if verb in _TWO_WORD_VERBS:
        return _with_object(verb, rest)
    if verb == "COPY":
        return "COPY INTO"
    return verb


def _with_object(verb: str, rest: list[str]) -> str:
    if not rest:
        return verb
    if len(rest) > 1 and f"{rest[0]} {rest[1]}" in _TWO_WORD_KINDS:
        return f"{verb} {rest[0]} {rest[1]}"
    return f"{verb} {rest[0]}"


# --- files ------------------------------------------------------------------------------------


def setup_files(directory: Path = SETUP_DIR) -> list[Path]:
    """The ordered scripts of a directory (by file name: 00_…, 01_…, 10_…)."""
    return sorted(directory.glob("*.sql"))


def load_statements(paths: list[Path], variables: dict[str, str]) -> list[Statement]:
    statements: list[Statement] = []
    for path in paths:
        statements.extend(split_statements(render(path.read_text(), variables), source=path.name))
    return statements


# --- export queries (one source with EXPORT_DATASET) -----------------------------------------

EXPORT_SECTIONS = ("train", "validation", "score")
EXPORT_QUERIES = (*EXPORT_SECTIONS, "labels")  # labels: the training view's label summary
_EXPORT_QUERY_RE = re.compile(
    r"--\s*snowsage:export-query\s+(?P<section>[a-z]+)[^\n]*\n"
    r"\s*(?P<variable>[a-z_]+)\s+VARCHAR\s+DEFAULT\s+'(?P<literal>(?:[^'\\]|'')*)';"
)


def export_queries(procedure_sql: str | None = None) -> dict[str, str]:
    """The SELECT templates EXPORT_DATASET runs, by section, read from the procedure's marked lines.

    Each template is a single-quoted literal inside the procedure body: `''` is a quote there.
    """
    text = EXPORT_PROCEDURE_FILE.read_text() if procedure_sql is None else procedure_sql
    queries: dict[str, str] = {}
    for match in _EXPORT_QUERY_RE.finditer(text):
        section = match.group("section")
        if match.group("variable") != f"{section}_query":
            raise SqlScriptError(f"export query {section!r} must be declared as {section}_query")
        queries[section] = match.group("literal").replace("''", "'")
    if tuple(sorted(queries)) != tuple(sorted(EXPORT_QUERIES)):
        raise SqlScriptError(f"export queries found: {sorted(queries)}; expected {list(EXPORT_QUERIES)}")
    return queries


def render_export_query(
    template: str, *, id_column: str, training_view: str, scoring_view: str, label_column: str = "LABEL"
) -> str:
    """Substitute the placeholders exactly as EXPORT_DATASET's REPLACE(...) calls do."""
    for name, value in (
        ("id_column", id_column),
        ("training_view", training_view),
        ("scoring_view", scoring_view),
        ("label_column", label_column),
    ):
        if not re.fullmatch(rf"{IDENTIFIER}(\.{IDENTIFIER}){{0,2}}", value):
            raise SqlScriptError(f"{name}={value!r} is not a Snowflake identifier")
        template = template.replace("{" + name + "}", value)
    return template


def is_identifier(value: str) -> bool:
    return SNOWFLAKE_IDENTIFIER.fullmatch(value) is not None


# --- ML_PREDICTIONS (one source with REFRESH_ML_PREDICTIONS) -----------------------------------

_PREDICTIONS_SELECT_RE = re.compile(
    r"--\s*snowsage:predictions-select[^\n]*\n\s*part\s+VARCHAR\s+DEFAULT\s+'(?P<literal>(?:[^'\\]|'')*)';"
)


def predictions_select(views_sql: str | None = None) -> str:
    """REFRESH_ML_PREDICTIONS' SELECT for one dataset ({dataset}, {table}), read from its marked line."""
    text = OPERATIONS_VIEWS_FILE.read_text() if views_sql is None else views_sql
    match = _PREDICTIONS_SELECT_RE.search(text)
    if match is None:
        raise SqlScriptError("no '-- snowsage:predictions-select' line in the operations views")
    return match.group("literal").replace("''", "'")
