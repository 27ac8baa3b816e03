"""``python -m sandbox``: the whole Snowflake -> SageMaker -> Snowflake loop on this machine.

Details: sandbox/README.md, "cli.py".
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sandbox import cost, pipeline_run
from sandbox import serve as serving
from sandbox.aws.executions import StateSpan
from sandbox.html_report import write_report
from sandbox.services import Sandbox, SandboxConfig, quiet_services
from tooling.sample_data import SAMPLE_DATASET, SAMPLE_SEED, load_sample_data

DEFAULT_ROWS = 300_000


class Console:
    """Progress lines on stderr (so ``--json`` keeps stdout to one object)."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self.started = time.perf_counter()

    def say(self, message: str) -> None:
        if not self.quiet:
            print(f"[{time.perf_counter() - self.started:6.1f}s] {message}", file=sys.stderr, flush=True)

    def state(self, span: StateSpan) -> None:
        mark = "x" if span.failed else "+"
        seconds = f"{span.seconds:7.2f}s" if span.seconds is not None else "        "
        self.say(f"  {mark} {span.name:<24} {seconds}")


def _score_text(score: pipeline_run.Score) -> str:
    if isinstance(score, list):
        return "[" + ", ".join(f"{value:.6f}" for value in score) + "]"
    return f"{score:.6f}"


def _print_summary(result: pipeline_run.RunResult, report: Path | None) -> None:
    execution = result.execution
    lines = [
        "",
        f"Execution   {execution.name}  {execution.status}  ({execution.seconds or 0:.1f} s)",
        f"            {execution.arn}",
        "States:",
    ]
    lines += [f"  {span.outcome:<9} {span.name:<24} {span.seconds or 0:8.2f} s" for span in execution.spans]
    metric = result.metric
    if metric.get("name"):
        lines.append(f"Metric      {metric['name']} = {metric['value']:.4f}")
    tuning = result.tuning
    if tuning:
        lines.append(
            f"Tuning      {tuning['job']}: {tuning['trials']} trials, best {tuning['best_job']}"
            f" ({tuning['best_objective']:.4f})"
        )
        if tuning.get("warm_start"):
            lines.append(f"            {tuning['warm_start']}")
    lines.append(f"Rows        scored {result.rows_scored}, loaded {result.rows_loaded}")
    lines.append(f"Cost        {cost.cost_text(result.cost)}")
    if result.predictions:
        lines.append(f"Predictions (top {len(result.predictions)} of {result.predictions_table}):")
        lines += [
            f"  {row[0]!s:<16} {float(row[1]):.4f}  run {row[2]}  model v{row[3]}"
            for row in result.predictions
        ]
    scoring = result.sql_scoring
    if scoring:
        lines.append(
            f"Scored in SQL  {scoring.function}: {scoring.rows} rows,"
            f" max |SQL - transform| = {scoring.max_abs_diff:.1e}"
        )
        lines += [
            f"  {key!s:<16} transform {_score_text(transform)}  SQL {_score_text(sql)}"
            for key, transform, sql in scoring.sample
        ]
    if execution.status != "SUCCEEDED":
        lines += [
            f"FAILED in   {execution.failed_state}",
            f"Error       {execution.error}",
            f"Cause       {(execution.cause or '')[:2000]}",
        ]
    if report:
        lines.append(f"Report      {report}")
    print("\n".join(lines), flush=True)


def _emit(args: argparse.Namespace, result: pipeline_run.RunResult, report: Path | None = None) -> int:
    """One run's summary, or its JSON object on one line; the exit status it calls for."""
    if getattr(args, "json", False):
        print(json.dumps(result.as_json(), default=str), flush=True)
    else:
        _print_summary(result, report)
    return 0 if result.status == "SUCCEEDED" else 1


def _finish(args: argparse.Namespace, result: pipeline_run.RunResult, sandbox: Sandbox) -> int:
    report = write_report(result, sandbox, Path(args.report)) if getattr(args, "report", None) else None
    return _emit(args, result, report)


def cmd_demo(args: argparse.Namespace, console: Console) -> int:
    console.say("starting the sandbox: moto (AWS), fakesnow (Snowflake), template.yaml deployed")
    with Sandbox(SandboxConfig(quiet=not args.verbose)) as sandbox:
        console.say(f"sandbox up: AWS {sandbox.endpoint_url}, bucket {sandbox.bucket}")
        with sandbox.snowflake_connection() as connection:
            loaded = load_sample_data(
                connection, args.rows, args.seed, s3_client=sandbox.client("s3"), bucket=sandbox.bucket
            )
        console.say(
            f"loaded {loaded.transactions:,} transactions of {loaded.merchants:,} merchants into Snowflake"
        )
        console.say("EXPORT_DATASET('merchant_risk') -> S3; the manifest event starts the pipeline")
        result = pipeline_run.run_from_export(sandbox, SAMPLE_DATASET, on_state=console.state)
        return _finish(args, result, sandbox)


def cmd_run(args: argparse.Namespace, console: Console) -> int:
    parameters = {"EvaluationThreshold": str(args.threshold)} if args.threshold is not None else {}
    with Sandbox(SandboxConfig(quiet=not args.verbose, template_parameters=parameters)) as sandbox:
        if args.sample_rows:
            with sandbox.snowflake_connection() as connection:
                load_sample_data(
                    connection,
                    args.sample_rows,
                    args.seed,
                    s3_client=sandbox.client("s3"),
                    bucket=sandbox.bucket,
                )
            console.say(f"loaded {args.sample_rows:,} sample transactions (MERCHANT_TRANSACTIONS)")
        console.say(f"applying {len(args.setup_sql)} SQL file(s)")
        pipeline_run.apply_user_sql(sandbox, [Path(path) for path in args.setup_sql])
        codes: list[int] = []
        for number, export_id in enumerate(pipeline_run.export_ids(args.runs), start=1):
            if args.runs > 1:
                console.say(f"run {number} of {args.runs}: export {export_id}")
            result = pipeline_run.run_from_export(
                sandbox, args.dataset, export_id=export_id, on_state=console.state
            )
            if args.mode == "score_only" and result.status == "SUCCEEDED":
                console.say("score_only: a hand start on the same export, scoring with the registered model")
                result = pipeline_run.start_by_hand(
                    sandbox,
                    {
                        "manifest": result.execution.output["manifest"] if result.execution.output else "",
                        "mode": "score_only",
                    },
                    on_state=console.state,
                    manifest=result.manifest,
                )
            # Each run's output as it ends, in order; the report (if asked) shows the last run.
            last = number == args.runs
            codes.append(_finish(args, result, sandbox) if last else _emit(args, result))
        return max(codes)


def _sample_sandbox(console: Console, rows: int, seed: int, quiet: bool = True) -> Sandbox:
    sandbox = Sandbox(SandboxConfig(quiet=quiet)).start()
    with sandbox.snowflake_connection() as connection:
        load_sample_data(connection, rows, seed, s3_client=sandbox.client("s3"), bucket=sandbox.bucket)
    console.say(f"sandbox up with {rows:,} sample transactions")
    return sandbox


def cmd_start_execution(args: argparse.Namespace, console: Console) -> int:
    document = json.loads(Path(args.input).read_text())
    sandbox = _sample_sandbox(console, args.rows, args.seed)
    try:
        manifest = pipeline_run.export_for_input(sandbox, document)
        if document.get("mode") == "score_only":
            console.say("score_only needs an Approved model: training one first")
            pipeline_run.start_by_hand(sandbox, {"manifest": document["manifest"]}, name="sandbox-seed-model")
        console.say(f"StartExecution with {args.input}")
        result = pipeline_run.start_by_hand(
            sandbox, document, name=args.name, on_state=console.state, manifest=manifest
        )
        return _finish(args, result, sandbox)
    finally:
        sandbox.stop()


def cmd_replay_event(args: argparse.Namespace, console: Console) -> int:
    event = json.loads(Path(args.event).read_text())
    detail = event["detail"]
    sandbox = _sample_sandbox(console, args.rows, args.seed)
    try:
        if detail["bucket"]["name"] != sandbox.bucket:
            console.say(
                f"the event names bucket {detail['bucket']['name']}; the sandbox's is {sandbox.bucket}"
            )
        manifest = pipeline_run.export_for_input(
            sandbox, {"manifest": f"s3://{sandbox.bucket}/{detail['object']['key']}"}
        )
        deliveries = max(1, args.times)
        console.say(f"PutEvents x{deliveries}: {event['detail-type']} for {detail['object']['key']}")
        for _ in range(deliveries):
            pipeline_run.replay_event(sandbox, event)
        result = pipeline_run.follow_export(sandbox, manifest, on_state=console.state)
        executions = pipeline_run.executions_for(sandbox, result.execution.name)
        console.say(f"{deliveries} deliveries -> {executions} execution(s) named {result.execution.name}")
        return _finish(args, result, sandbox)
    finally:
        sandbox.stop()


def cmd_serve(args: argparse.Namespace, console: Console) -> int:
    options = serving.ServeOptions(
        host=args.host,
        aws_port=args.aws_port,
        snowflake_port=args.snowflake_port,
        with_sample_data=args.with_sample_data,
        env_json=Path(args.env_json) if args.env_json else None,
        quiet=not args.verbose,
    )
    try:
        return serving.serve(options)
    except serving.ServeError as error:
        console.say(f"cannot serve: {error}")
        return 2


def cmd_chaos(args: argparse.Namespace, console: Console) -> int:
    from sandbox.chaos.campaign import run_campaign  # noqa: PLC0415 (only this command needs it)

    def progress(outcome: Any) -> None:
        faults = ", ".join(f"{kind}@{state}x{times}" for kind, state, times in outcome.fired) or "no fault"
        mark = "!" if outcome.violations else " "
        console.say(
            f"{mark} run {outcome.plan.run:4d} {outcome.plan.dataset:<10} {outcome.outcome:<9} {faults}"
        )

    with Sandbox(SandboxConfig(quiet=not args.verbose)) as sandbox:
        report = run_campaign(
            sandbox,
            seed=args.seed,
            runs=args.runs,
            datasets=tuple(args.datasets),
            concurrency=args.concurrency,
            only_run=args.only_run,
            on_run=progress,
        )
    print(report.text(), flush=True)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report.as_json(), indent=2) + "\n")
    return 1 if report.violations else 0


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__.split("\n\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log the services' own output")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="the whole loop on sample merchant data")
    demo.add_argument(
        "--rows", type=int, default=DEFAULT_ROWS, help="sample transactions (default %(default)s)"
    )
    demo.add_argument("--seed", type=int, default=SAMPLE_SEED)
    demo.add_argument(
        "--report", default="reports/demo", help="folder for the visual report (default %(default)s)"
    )
    demo.add_argument("--json", action="store_true", help="print one JSON object last instead of the summary")
    demo.set_defaults(handler=cmd_demo)

    run = commands.add_parser("run", help="the loop for a dataset defined in SQL")
    run.add_argument("--setup-sql", nargs="+", required=True, metavar="FILE")
    run.add_argument("--dataset", required=True)
    run.add_argument("--mode", choices=["train_and_score", "score_only"], default="train_and_score")
    run.add_argument(
        "--sample-rows",
        type=int,
        default=0,
        help="load this many sample transactions first (for views on them)",
    )
    run.add_argument("--seed", type=int, default=SAMPLE_SEED)
    run.add_argument(
        "--threshold", type=float, default=None, help="the template's EvaluationThreshold for this sandbox"
    )
    run.add_argument(
        "--runs",
        type=_positive,
        default=1,
        help="exports of the dataset, one after the other, each judged against the champion"
        " the earlier ones left (default %(default)s)",
    )
    run.add_argument("--report", default=None, help="folder for the visual report (of the last run)")
    run.add_argument("--json", action="store_true", help="print one JSON object per run, one per line")
    run.set_defaults(handler=cmd_run)

    for name, helptext, handler in (
        ("start-execution", "a console-style start with an input file", cmd_start_execution),
        ("replay-event", "deliver an EventBridge event file as S3 would", cmd_replay_event),
    ):
        sub = commands.add_parser(name, help=helptext)
        if name == "start-execution":
            sub.add_argument("--input", required=True, metavar="FILE")
            sub.add_argument("--name", default=None, help="execution name (default: console-<time>)")
        else:
            sub.add_argument("--event", required=True, metavar="FILE")
            sub.add_argument(
                "--times", type=int, default=1, help="deliver it this many times (at-least-once)"
            )
        sub.add_argument("--rows", type=int, default=100_000)
        sub.add_argument("--seed", type=int, default=SAMPLE_SEED)
        sub.add_argument("--report", default=None)
        sub.add_argument("--json", action="store_true")
        sub.set_defaults(handler=handler)

    serve = commands.add_parser("serve", help="keep the sandbox running as servers (sam local)")
    serve.add_argument("--aws-port", type=int, default=serving.DEFAULT_AWS_PORT, help="default %(default)s")
    serve.add_argument(
        "--snowflake-port", type=int, default=serving.DEFAULT_SNOWFLAKE_PORT, help="default %(default)s"
    )
    serve.add_argument(
        "--host", default=serving.DEFAULT_HOST, help="bind address: loopback (default) or 0.0.0.0"
    )
    serve.add_argument(
        "--with-sample-data", action="store_true", help="load sample data and run the events/ reference runs"
    )
    serve.add_argument("--env-json", default=None, metavar="FILE", help="also write the env.json it prints")
    serve.set_defaults(handler=cmd_serve)

    from sandbox.chaos.plan import DATASETS, DEFAULT_DATASETS  # noqa: PLC0415 (keeps start-up lean)

    chaos = commands.add_parser("chaos", help="a seeded campaign of runs under random faults")
    chaos.add_argument("--runs", type=_positive, default=20, help="exports to run (default %(default)s)")
    chaos.add_argument("--seed", type=int, default=SAMPLE_SEED, help="the plan's seed (default %(default)s)")
    chaos.add_argument(
        "--datasets", nargs="+", choices=sorted(DATASETS), default=list(DEFAULT_DATASETS), metavar="KIND"
    )
    chaos.add_argument(
        "--concurrency", type=_positive, default=1, help="runs at a time (default %(default)s)"
    )
    chaos.add_argument(
        "--only-run", type=_positive, default=None, help="replay run R of the seed's plan alone"
    )
    chaos.add_argument("--json", default=None, metavar="PATH", help="also write the report as JSON")
    chaos.set_defaults(handler=cmd_chaos)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(name)s: %(message)s"
    )
    if not args.verbose:
        quiet_services(logging.ERROR)
    handler: Any = args.handler
    code: int = handler(args, Console(quiet=False))
    return code
