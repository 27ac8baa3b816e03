"""``python -m smoke``: the smoke test on a real AWS and Snowflake account (docs/smoke.md).

Details: docs/smoke.md, "smoke/cli.py".
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TextIO

import boto3

from smoke.credentials import NEEDS, check_requirements, sam_command
from smoke.errors import probe_errors, provocations
from smoke.ledger import Ledger
from smoke.names import SmokeNames
from smoke.plan import Platform, SmokeReport, deploy_stack, run_smoke

DEFAULT_SAMPLE_ROWS = 50_000  # 200 merchants: a model in minutes on ml.m5.large
PlatformFactory = Callable[[Mapping[str, str], str, TextIO], Platform]


def _real_platform(env: Mapping[str, str], sam: str, out: TextIO) -> Platform:
    from smoke.real import RealPlatform  # noqa: PLC0415 (the connector and SAM paths only when real)

    return RealPlatform(env, sam, out)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m smoke", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command")
    run = commands.add_parser("run", help="the whole smoke (make smoke)")
    run.add_argument("--sample-rows", type=int, default=DEFAULT_SAMPLE_ROWS)
    run.add_argument("--json", action="store_true", help="also print the report as one JSON object last")
    errors = commands.add_parser("errors", help="the error names AWS gives (make smoke-errors)")
    errors.add_argument(
        "--stack-name", default=None, help="probe this deployed stack instead of a throwaway one"
    )
    errors.add_argument("--json", action="store_true")
    allowed = commands.add_parser(
        "permissions", help="the AWS actions a smoke needs, from the template and the plan (docs/smoke.md)"
    )
    allowed.add_argument("--write", action="store_true", help="write them into docs/smoke.md")
    return parser


def main(
    argv: Sequence[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    session_factory: Callable[[], Any] = boto3.Session,
    which: Callable[[str], str | None] = shutil.which,
    platform_factory: PlatformFactory = _real_platform,
    out: TextIO = sys.stdout,
) -> int:
    args = build_parser().parse_args(argv)
    command = args.command or "run"
    if command == "permissions":  # reads the repository only: no account needed
        return _permissions(args.write, out)
    env = dict(os.environ if env is None else env)
    requirements = check_requirements(env, session_factory, which)
    needed = requirements.missing
    if command == "errors" and args.stack_name:
        needed = [item for item in needed if item.startswith(("AWS", "an AWS"))]
    elif command == "errors":
        needed = [item for item in needed if not item.startswith("Snowflake")]
    if needed:
        out.write(f"{NEEDS}\n\nMissing:\n" + "".join(f"  - {item}\n" for item in needed))
        out.write("Nothing was created. Exiting 0: a smoke without an account is not a failure.\n")
        return 0

    def say(message: str) -> None:
        out.write(message + "\n")
        out.flush()

    platform = platform_factory(env, sam_command(which) or "sam", out)
    if command == "errors":
        return _errors(platform, args, say, out)
    report = run_smoke(platform, SmokeNames.unique(), sample_rows=args.sample_rows, say=say)
    _print_report(report, say)
    if args.json:
        out.write(json.dumps(report.as_json()) + "\n")
    return 0 if report.ok else 1


def _print_report(report: SmokeReport, say: Callable[[str], None]) -> None:
    say("")
    say("Checks:")
    for check in report.checks:
        say(f"  {check}")
    if report.measured:
        say("Measured (seconds):")
        for name, seconds in report.measured.items():
            say(f"  {name}: {seconds:.1f}")
    say("Created:")
    for name in report.created:
        say(f"  {name}")
    say("Deleted:")
    for name in report.deleted:
        say(f"  {name}")
    if report.not_deleted:
        say("NOT deleted (delete these by hand):")
        for name, error in report.not_deleted:
            say(f"  {name}: {error}")
    if report.kept:
        say("Left for later (not a failure):")
        for name, note in report.kept:
            say(f"  {name}: {note}")
    if report.error:
        say(f"Error: {report.error}")
    say(f"Smoke {'PASSED' if report.ok else 'FAILED'} on stack {report.names.stack}")


def _errors(platform: Platform, args: argparse.Namespace, say: Callable[[str], None], out: TextIO) -> int:
    """Probe a given stack, or deploy a throwaway one (no Snowflake needed) and delete it after."""
    ledger = Ledger(say)
    names = SmokeNames.unique()
    try:
        if args.stack_name:
            cloudformation = platform.client("cloudformation")
            stack = cloudformation.describe_stacks(StackName=args.stack_name)["Stacks"][0]
            outputs = {item["OutputKey"]: item["OutputValue"] for item in stack.get("Outputs", [])}
            prefix = next(
                item["ParameterValue"]
                for item in stack.get("Parameters", [])
                if item["ParameterKey"] == "ResourcePrefix"
            )
        else:
            outputs = deploy_stack(platform, names, ledger, say)
            prefix = names.resource_prefix
        result = probe_errors(
            platform.client("stepfunctions"),
            outputs["PipelineStateMachineArn"],
            provocations(prefix, outputs["DataBucketName"]),
            say,
        )
    except Exception as error:  # reported after the teardown
        say(f"FAILED: {type(error).__name__}: {error}")
        return 1
    finally:
        ledger.teardown()
    for line in result.lines():
        say(line)
    if args.json:
        out.write(json.dumps(result.as_json()) + "\n")
    return 0 if not ledger.failed else 1


def _permissions(write: bool, out: TextIO) -> int:
    from smoke import permissions  # noqa: PLC0415  # SAM's translator, only for this command

    block = permissions.current_document()
    if write:
        permissions.SMOKE_DOC.write_text(
            permissions.replace_block(permissions.SMOKE_DOC.read_text(encoding="utf-8"), block),
            encoding="utf-8",
        )
    out.write(block + "\n")
    return 0
