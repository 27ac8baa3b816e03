"""Apply the Snowsage setup SQL to a Snowflake account, in file order.

    python -m snowsage_setup.apply [--dry-run] [--only PATTERN]
        -D bucket=… -D aws_role_arn=… [-D name=value …] [PATH …]

PATH: .sql files or directories (default: snowflake/setup/). Files run in name order; `--only`
keeps files whose name matches the glob PATTERN (e.g. `--only '3*'`, `--only 40_tasks.sql`).
`&{name}` variables are rendered from `-D name=value` and defaults (snowsage_setup/sqlscript.py:
database SNOWSAGE, schema ML, warehouse SNOWSAGE_WH, roles, integration, schedules); `bucket` and
`aws_role_arn` have no default. `--dry-run` prints the rendered statements and connects to nothing.

Connection (key-pair only, no passwords): SNOWFLAKE_ACCOUNT, SNOWFLAKE_USER,
SNOWFLAKE_PRIVATE_KEY_PATH (PEM, PKCS#8), optional SNOWFLAKE_PRIVATE_KEY_PASSPHRASE, and optional
SNOWFLAKE_ROLE, SNOWFLAKE_WAREHOUSE, SNOWFLAKE_DATABASE, SNOWFLAKE_SCHEMA (the scripts set their
own role and schema with USE statements); SNOWFLAKE_HOST, SNOWFLAKE_PORT and SNOWFLAKE_PROTOCOL for
an endpoint other than the account's (`python -m sandbox serve`'s Snowflake: docs/sam-local.md).
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import snowflake.connector
from cryptography.hazmat.primitives import serialization

from snowsage_setup.packages import (
    AnacondaTermsNotAccepted,
    PackagePinMissing,
    PinCheck,
    statement_pins,
    terms_refusal,
)
from snowsage_setup.sqlscript import (
    SETUP_DIR,
    SqlScriptError,
    Statement,
    load_statements,
    setup_files,
    with_defaults,
)

REQUIRED_ENV = ("SNOWFLAKE_ACCOUNT", "SNOWFLAKE_USER", "SNOWFLAKE_PRIVATE_KEY_PATH")
OPTIONAL_ENV = {
    "SNOWFLAKE_ROLE": "role",
    "SNOWFLAKE_WAREHOUSE": "warehouse",
    "SNOWFLAKE_DATABASE": "database",
    "SNOWFLAKE_SCHEMA": "schema",
    "SNOWFLAKE_HOST": "host",
    "SNOWFLAKE_PORT": "port",
    "SNOWFLAKE_PROTOCOL": "protocol",
}
# Statement kinds whose result rows are worth printing (DESC INTEGRATION gives the IAM trust values).
SHOW_RESULTS = ("DESCRIBE", "SHOW", "CALL", "SELECT")
# A GRANT or REVOKE issued by a role without the authority to grant can succeed as a statement
# yet answer with a status row "Grant not executed: Insufficient privileges." (docs:
# sql-reference/sql/grant-privilege): such a row fails the apply.
STATUS_CHECKED = ("GRANT", "REVOKE")
NOT_EXECUTED = re.compile(r"\bnot executed\b", re.IGNORECASE)


class StatementNotExecuted(RuntimeError):
    """Snowflake accepted a statement but reported that it did not carry it out."""


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "paths", nargs="*", type=Path, help="SQL files or directories (default: snowflake/setup)"
    )
    parser.add_argument("--dry-run", action="store_true", help="print the rendered SQL, connect to nothing")
    parser.add_argument("--only", metavar="PATTERN", help="apply only files whose name matches this glob")
    parser.add_argument(
        "-D",
        dest="defines",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a &{NAME} variable (repeatable)",
    )
    return parser.parse_args(argv)


def parse_defines(defines: Sequence[str]) -> dict[str, str]:
    variables: dict[str, str] = {}
    for define in defines:
        name, sep, value = define.partition("=")
        if not sep or not name.strip():
            raise SqlScriptError(f"-D {define!r}: expected NAME=VALUE")
        variables[name.strip()] = value.strip()
    return variables


def select_files(paths: Sequence[Path], only: str | None) -> list[Path]:
    files: list[Path] = []
    for path in paths or [SETUP_DIR]:
        if path.is_dir():
            files.extend(setup_files(path))
        elif path.is_file():
            files.append(path)
        else:
            raise SqlScriptError(f"{path}: no such file or directory")
    if only:
        files = [path for path in files if fnmatch.fnmatch(path.name, only)]
    if not files:
        raise SqlScriptError("no SQL files selected")
    return files


def connection_kwargs(env: dict[str, str]) -> dict[str, Any]:
    """snowflake.connector.connect kwargs from the environment: key-pair authentication only."""
    missing = [name for name in REQUIRED_ENV if not env.get(name)]
    if missing:
        raise SqlScriptError(f"missing environment variables: {', '.join(missing)}")
    if env.get("SNOWFLAKE_PASSWORD"):
        raise SqlScriptError(
            "SNOWFLAKE_PASSWORD is set: Snowsage uses key-pair authentication only; unset it"
        )
    kwargs: dict[str, Any] = {
        "account": env["SNOWFLAKE_ACCOUNT"],
        "user": env["SNOWFLAKE_USER"],
        "private_key": _private_key_der(
            Path(env["SNOWFLAKE_PRIVATE_KEY_PATH"]), env.get("SNOWFLAKE_PRIVATE_KEY_PASSPHRASE")
        ),
        "application": "snowsage-apply",
        "session_parameters": {"QUERY_TAG": "snowsage-apply"},
    }
    for name, key in OPTIONAL_ENV.items():
        if env.get(name):
            kwargs[key] = int(env[name]) if key == "port" else env[name]
    return kwargs


def _private_key_der(path: Path, passphrase: str | None) -> bytes:
    key = serialization.load_pem_private_key(
        path.read_bytes(), password=passphrase.encode() if passphrase else None
    )
    return key.private_bytes(
        encoding=serialization.Encoding.DER,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )


def print_dry_run(statements: Sequence[Statement], out: TextIO) -> None:
    for statement in statements:
        out.write(f"-- {statement.where} ({statement.kind})\n{statement.text};\n\n")


def run(statements: Sequence[Statement], conn: Any, out: TextIO) -> None:
    pins = PinCheck.of(statements)
    cur = conn.cursor()
    try:
        for statement in statements:
            pins.before(statement, cur)  # the Anaconda pins, once, before the first Python object
            out.write(f"{statement.where}: {statement.kind} … ")
            out.flush()
            try:
                cur.execute(statement.text)
            except snowflake.connector.errors.ProgrammingError as error:
                refusal = (
                    terms_refusal(error, statement.where) if statement_pins(statement.text, "") else None
                )
                if refusal is not None:
                    raise refusal from None
                raise
            verb = statement.kind.split(" ")[0]
            if verb in STATUS_CHECKED:
                _fail_on_refusal(statement, cur.fetchall())
            out.write("ok\n")
            if verb in SHOW_RESULTS:
                names = [column[0] for column in cur.description or []]
                for row in cur.fetchall():
                    out.write("    " + ", ".join(f"{n}={v}" for n, v in zip(names, row, strict=False)) + "\n")
    finally:
        cur.close()


def _fail_on_refusal(statement: Statement, rows: Sequence[Sequence[Any]]) -> None:
    refusals = [str(value) for row in rows for value in row if NOT_EXECUTED.search(str(value))]
    if refusals:
        raise StatementNotExecuted(
            f"{statement.where}: {statement.kind} was not carried out: {'; '.join(refusals)}"
            " (issue it as the object's owner)"
        )


def main(argv: Sequence[str] | None = None, out: TextIO = sys.stdout) -> int:
    args = parse_args(argv)
    try:
        files = select_files(args.paths, args.only)
        variables = with_defaults(parse_defines(args.defines))
        statements = load_statements(files, variables)
        if args.dry_run:
            print_dry_run(statements, out)
            return 0
        kwargs = connection_kwargs(dict(os.environ))
    except SqlScriptError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    with snowflake.connector.connect(**kwargs) as conn:
        try:
            run(statements, conn, out)
        except StatementNotExecuted as error:
            out.write("NOT EXECUTED\n")
            print(f"error: {error}", file=sys.stderr)
            return 1
        except (PackagePinMissing, AnacondaTermsNotAccepted) as error:
            out.write("STOPPED\n")
            print(f"error: {error}", file=sys.stderr)
            return 1
    out.write(f"applied {len(statements)} statements from {len(files)} files\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
