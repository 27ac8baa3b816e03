"""Apply the project's snowflake/ SQL to fakesnow: everything it can run, nothing silently dropped.

The statements come from the same files, rendering and splitter as snowsage_setup/apply.py
(`snowsage_setup.sqlscript`). fakesnow cannot run some statement kinds (``UNSUPPORTED_KINDS``,
each with why): those are skipped, each with a logged note, and listed in the report. Any other
failure is raised: a kind missing from `UNSUPPORTED_KINDS` is a bug in the SQL or in fakesnow,
not something to hide. The files are written to be re-applied, so applying twice works.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sandbox.snowflake.functions import handled_here
from snowsage_setup.packages import PinCheck
from snowsage_setup.sqlscript import Statement, load_statements, with_defaults

logger = logging.getLogger(__name__)

# Statement kinds fakesnow 0.12.1 cannot run, with why skipping them is harmless in the sandbox.
UNSUPPORTED_KINDS: dict[str, str] = {
    "USE ROLE": "fakesnow has no roles",
    "GRANT": "fakesnow has no privileges",
    "REVOKE": "fakesnow has no privileges",
    "CREATE USER": "fakesnow has no users (the sandbox connects as any user)",
    "ALTER USER": "fakesnow has no users",
    "CREATE WAREHOUSE": "fakesnow has no warehouses",
    "USE WAREHOUSE": "fakesnow has no warehouses",
    "CREATE STORAGE INTEGRATION": "fakesnow has no integrations; the stage reads moto S3 through s3fs",
    "ALTER STORAGE INTEGRATION": "fakesnow has no integrations",
    "DESCRIBE INTEGRATION": "fakesnow has no integrations",
    "CREATE PROCEDURE": (
        "fakesnow runs no procedures; sandbox.snowflake.export emulates EXPORT_DATASET and"
        " sandbox.snowflake.procedures runs TRAIN_MODEL's own body on CALL"
    ),
    "CALL": "fakesnow cannot run procedures; sandbox.snowflake.export emulates EXPORT_DATASET",
    "EXECUTE TASK": "the sandbox's tasks run nothing: it calls sandbox.snowflake.export.export_dataset",
}
# Tasks (their state), roles (CREATE ROLE, GRANT … TO ROLE) and CALL REFRESH_ML_PREDICTIONS() are
# answered by the sandbox's Snowflake itself (sandbox/snowflake/setup_objects.py): run, never skipped.


class Connection(Protocol):
    """What the setup needs of a connection: snowflake.connector's or fakesnow's."""

    def cursor(self) -> Any: ...


@dataclass(frozen=True)
class SkippedStatement:
    statement: Statement
    reason: str


@dataclass
class SetupReport:
    executed: list[Statement] = field(default_factory=list)
    skipped: list[SkippedStatement] = field(default_factory=list)

    @property
    def skipped_kinds(self) -> set[str]:
        return {item.statement.kind for item in self.skipped}


def apply_setup(conn: Connection, files: Sequence[Path], variables: Mapping[str, str]) -> SetupReport:
    """Run the files' statements in order on `conn`, skipping only `UNSUPPORTED_KINDS`.

    `variables` are the `-D` values of apply.py; defaults fill the rest (snowsage_setup.sqlscript).
    """
    report = SetupReport()
    statements = load_statements(list(files), with_defaults(dict(variables)))
    pins = PinCheck.of(statements)
    cur = conn.cursor()
    try:
        for statement in statements:
            # As snowsage_setup/apply.py: the Anaconda pins against INFORMATION_SCHEMA.PACKAGES,
            # which the sandbox's Snowflake answers with its Python runtime's packages.
            pins.before(statement, cur)
            reason = UNSUPPORTED_KINDS.get(statement.kind)
            if reason is not None and not handled_here(statement.text):
                logger.info("skipped %s at %s: %s", statement.kind, statement.where, reason)
                report.skipped.append(SkippedStatement(statement, reason))
                continue
            try:
                cur.execute(statement.text)
            except Exception as error:
                raise RuntimeError(
                    f"{statement.where}: {statement.kind} failed in fakesnow: {error}"
                ) from error
            report.executed.append(statement)
    finally:
        cur.close()
    return report
