"""``python -m sandbox serve``: the sandbox as long-running servers, for ``sam local``.

Details: sandbox/README.md, "serve.py".
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import signal
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TextIO

from sandbox.reference_runs import run_reference
from sandbox.services import REGION, Sandbox, SandboxConfig

DEFAULT_AWS_PORT = 5105
DEFAULT_SNOWFLAKE_PORT = 5106
DEFAULT_HOST = "127.0.0.1"
# How a Lambda container reaches the host: Docker Desktop resolves it; on Linux pass
# `--add-host host.docker.internal:host-gateway` to sam local.
CONTAINER_HOST = "host.docker.internal"
ACCOUNT_ID = "123456789012"  # moto's default account
STACK_NAME = "snowsage"
READY_PREFIX = "ready:"
# Variables whose value names this machine: rewritten for the container.
HOST_VARIABLES = ("SNOWFLAKE_HOST",)
ENDPOINT_VARIABLE = "AWS_ENDPOINT_URL"
WILDCARD_HOSTS = ("0.0.0.0",)  # noqa: S104 - the explicit opt-in bind address, checked below


class ServeError(RuntimeError):
    """The servers cannot start as asked (a port in use, an unsupported bind address)."""


@dataclass(frozen=True)
class ServeOptions:
    host: str = DEFAULT_HOST
    aws_port: int = DEFAULT_AWS_PORT
    snowflake_port: int = DEFAULT_SNOWFLAKE_PORT
    with_sample_data: bool = False
    env_json: Path | None = None
    quiet: bool = True


def secret_name(stack_name: str = STACK_NAME) -> str:
    """The Secrets Manager name ``Sandbox`` gives the Snowflake secret."""
    return f"{stack_name}/snowflake"


def secret_partial_arn(stack_name: str = STACK_NAME) -> str:
    """The secret's ARN without the random suffix: deterministic, and accepted by GetSecretValue."""
    return f"arn:aws:secretsmanager:{REGION}:{ACCOUNT_ID}:secret:{secret_name(stack_name)}"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_host(host: str) -> None:
    """Loopback, or 0.0.0.0 for containers.

    moto's state machine interpreter calls the server through ``localhost`` and fakesnow's
    connect arguments name 127.0.0.1, so a bind to one other interface would break the sandbox.
    """
    if not is_loopback(host) and host not in WILDCARD_HOSTS:
        raise ServeError(f"--host {host}: use a loopback address (default {DEFAULT_HOST}) or 0.0.0.0")


def check_port_free(host: str, port: int) -> None:
    """Fail early and clearly: moto's threaded server would hang on a port in use."""
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as werkzeug and uvicorn do
        try:
            probe.bind((host, port))
        except OSError as error:
            raise ServeError(f"port {port} on {host} is not free ({error.strerror})") from None


def container_environment(
    deployed: dict[str, dict[str, str]], aws_port: int, container_host: str = CONTAINER_HOST
) -> dict[str, dict[str, str]]:
    """env.json for ``sam local --env-vars``: the deployed variables, as a container must see them.

    ``deployed`` maps logical IDs to the variables moto's Lambda holds for the function.
    Variables equal in every function (and AWS_ENDPOINT_URL) go under "Parameters".
    """
    functions = {
        logical_id: {
            name: (container_host if name in HOST_VARIABLES else value) for name, value in variables.items()
        }
        for logical_id, variables in sorted(deployed.items())
    }
    shared: dict[str, str] = {ENDPOINT_VARIABLE: f"http://{container_host}:{aws_port}"}
    if functions:
        first, *rest = functions.values()
        shared |= {
            name: value
            for name, value in sorted(first.items())
            if all(other.get(name) == value for other in rest)
        }
    document: dict[str, dict[str, str]] = {"Parameters": shared}
    for logical_id, variables in functions.items():
        document[logical_id] = {name: value for name, value in variables.items() if name not in shared}
    return document


def deployed_variables(sandbox: Sandbox) -> dict[str, dict[str, str]]:
    """Each function's environment as moto's Lambda holds it, by logical ID."""
    client = sandbox.client("lambda")
    variables: dict[str, dict[str, str]] = {}
    for logical_id, physical in sorted(sandbox.deployed.functions.items()):
        configuration = client.get_function_configuration(FunctionName=physical)
        values = configuration.get("Environment", {}).get("Variables", {})
        variables[logical_id] = {str(name): str(value) for name, value in values.items()}
    return variables


def render_env_json(document: dict[str, dict[str, str]]) -> str:
    return json.dumps(document, indent=2) + "\n"


def describe(sandbox: Sandbox, options: ServeOptions, env_document: dict[str, dict[str, str]]) -> str:
    stack = sandbox.deployed
    lines = [
        "Snowsage sandbox: serving until Ctrl-C or SIGTERM",
        "",
        "Endpoints",
        f"  AWS (moto)            {sandbox.endpoint_url}   -> AWS_ENDPOINT_URL",
        f"  Snowflake (fakesnow)  http://{options.host}:{sandbox.snowflake.port}"
        "   -> SNOWFLAKE_HOST / SNOWFLAKE_PORT / SNOWFLAKE_PROTOCOL",
        f"  region {REGION}, account {ACCOUNT_ID}, any access key (e.g. testing/testing)",
        "",
        f"Resources (stack {stack.stack_name})",
        f"  bucket         {sandbox.bucket}",
        f"  state machine  {sandbox.state_machine_arn}",
        f"  topic          {sandbox.topic_arn}",
        f"  secret         {secret_name(stack.stack_name)}  ({sandbox.secret_arn})",
        "  functions (logical ID -> physical name)",
    ]
    lines += [f"    {logical:<24} {physical}" for logical, physical in sorted(stack.functions.items())]
    lines += [
        "",
        f"Environment per function (env.json for `sam local --env-vars`; {CONTAINER_HOST} is this",
        "machine as a container sees it; inside this process the functions get 127.0.0.1):",
        render_env_json(env_document).rstrip("\n"),
    ]
    if options.env_json is not None:
        lines.append(f"(written to {options.env_json})")
    return "\n".join(lines)


@contextlib.contextmanager
def _signals_raise_interrupt() -> Iterator[None]:
    """SIGTERM behaves like Ctrl-C (KeyboardInterrupt) until the block ends; then both are ignored
    while the caller shuts down, and the previous handlers come back."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig in previous:
            signal.signal(sig, signal.SIG_IGN)


def serve(options: ServeOptions, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Start, describe, wait for SIGINT/SIGTERM, stop. Returns the exit status."""
    out = out or sys.stdout
    err = err or sys.stderr
    check_host(options.host)
    if not is_loopback(options.host):
        print(
            f"WARNING: binding {options.host}: moto and fakesnow accept anyone who can reach this "
            "machine on these ports, without authentication. Use it only on a trusted network.",
            file=err,
            flush=True,
        )
    for port in (options.aws_port, options.snowflake_port):
        check_port_free(options.host, port)

    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    sandbox = Sandbox(
        SandboxConfig(
            host=options.host,
            aws_port=options.aws_port,
            snowflake_port=options.snowflake_port,
            stack_name=STACK_NAME,
            template_parameters={"SnowflakeSecretArn": secret_partial_arn(STACK_NAME)},
            quiet=options.quiet,
        )
    )
    started = time.perf_counter()
    try:
        with _signals_raise_interrupt():
            print(
                f"starting moto on {options.host}:{options.aws_port}, fakesnow on "
                f"{options.host}:{options.snowflake_port}, deploying template.yaml",
                file=err,
                flush=True,
            )
            sandbox.start()
            if options.with_sample_data:
                print("loading sample data and running the reference runs (events/)", file=err, flush=True)
                runs = run_reference(sandbox)
                print(
                    f"reference runs: {runs.succeeded.execution.name} {runs.succeeded.status}, "
                    f"{runs.failed.execution.name} {runs.failed.status} (expected)",
                    file=err,
                    flush=True,
                )
            document = container_environment(deployed_variables(sandbox), options.aws_port)
            if options.env_json is not None:
                options.env_json.write_text(render_env_json(document))
            print(describe(sandbox, options, document), file=out, flush=True)
            print(
                f"{READY_PREFIX} AWS {sandbox.endpoint_url} "
                f"Snowflake {options.host}:{sandbox.snowflake.port} "
                f"(up in {time.perf_counter() - started:.1f} s)",
                file=out,
                flush=True,
            )
            # Short sleeps: a signal the kernel hands to another thread only runs its Python handler
            # when the main thread next wakes, so the main thread must wake often.
            while True:
                time.sleep(0.2)
    except KeyboardInterrupt:
        print("stopping the sandbox", file=err, flush=True)
    finally:
        sandbox.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("stopped", file=err, flush=True)
    return 0
