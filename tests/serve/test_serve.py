"""``python -m sandbox serve`` as a user runs it for ``sam local``: a subprocess on free ports.

Each function is then invoked the way ``sam local invoke -e events/... --env-vars env.json``
invokes it, minus the container: a separate ``python`` process whose environment is what SAM
CLI's own code resolves from env.json (tests/serve/sam_local.py), with PYTHONPATH standing in
for /var/task and /opt/python. The effects are read back from the served moto and fakesnow.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import snowflake.connector

from sandbox.serve import (
    CONTAINER_HOST,
    ENDPOINT_VARIABLE,
    READY_PREFIX,
    ServeError,
    check_host,
    check_port_free,
    render_env_json,
)
from snowsage.names import run_id_for
from tests.serve.sam_local import (
    ROOT,
    adapt,
    load_env_json,
    merged,
    sam_local_environment,
)
from tooling.template import project

pytestmark = pytest.mark.e2e

EVENTS = ROOT / "events"
LOCAL = "127.0.0.1"
READY_TIMEOUT = 120.0
STOP_TIMEOUT = 30.0  # seconds; stopping takes 2-3 s, generous for a loaded shared machine
BUCKET = "snowsage-data-123456789012-us-east-1"
# The runs the events/ files are of: PrepareRun's reference export and RecordRun's failed run.
REFERENCE_RUN_ID = run_id_for(
    json.loads((EVENTS / "prepare_run" / "train_and_score.json").read_text())["execution_name"]
)
FAILED_RUN_ID = run_id_for(json.loads((EVENTS / "record_run" / "failed.json").read_text())["execution_name"])
NEW_EXPORT_ID = "20261127t000000z"


def free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((LOCAL, 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def listening(port: int) -> bool:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((LOCAL, port)) == 0


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    stdout_path: Path
    stderr_path: Path
    ports: tuple[int, int]

    @classmethod
    def start(cls, folder: Path, *arguments: str) -> Served:
        aws_port, snowflake_port = free_ports(2)
        stdout_path, stderr_path = folder / "serve.out", folder / "serve.err"
        with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "sandbox",
                    "serve",
                    "--aws-port",
                    str(aws_port),
                    "--snowflake-port",
                    str(snowflake_port),
                    *arguments,
                ],
                cwd=ROOT,
                stdout=stdout,
                stderr=stderr,
                start_new_session=True,  # its own process group: the test can tell nothing is left
            )
        return cls(process, stdout_path, stderr_path, (aws_port, snowflake_port))

    def stdout(self) -> str:
        return self.stdout_path.read_text()

    def stderr_tail(self) -> str:
        return self.stderr_path.read_text()[-3000:]

    def wait_ready(self) -> str:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            lines = self.stdout().splitlines()
            if lines and lines[-1].startswith(READY_PREFIX):
                return lines[-1]
            if self.process.poll() is not None:
                pytest.fail(f"serve exited with {self.process.returncode}:\n{self.stderr_tail()}")
            time.sleep(0.2)
        pytest.fail(f"serve not ready after {READY_TIMEOUT} s:\n{self.stderr_tail()}")

    def stop(self, sig: signal.Signals) -> tuple[int, float]:
        started = time.monotonic()
        self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail(f"serve ignored {sig.name} for {STOP_TIMEOUT} s:\n{self.stderr_tail()}")
        return code, time.monotonic() - started

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def assert_stopped_cleanly(served: Served, code: int, seconds: float) -> None:
    assert code == 0, served.stderr_tail()
    assert seconds < STOP_TIMEOUT
    assert not [port for port in served.ports if listening(port)]
    with pytest.raises(ProcessLookupError):  # no process left in serve's process group
        os.killpg(served.process.pid, 0)


@contextlib.contextmanager
def serving(folder: Path, *arguments: str) -> Iterator[Served]:
    served = Served.start(folder, *arguments)
    try:
        yield served
    finally:
        served.kill()


@contextlib.contextmanager
def serving_sample_data(folder: Path) -> Iterator[Served]:
    """`sandbox serve --with-sample-data`, ready, stopped with SIGTERM as a user's Ctrl-C would."""
    with serving(folder, "--with-sample-data") as running:
        running.wait_ready()
        yield running
        running.stop(signal.SIGTERM)


# --- invoking a function as `sam local invoke` would --------------------------------------------


def function_environment(
    env_document: dict[str, dict[str, str]], logical_id: str, home: Path
) -> dict[str, str]:
    environment = dict(sam_local_environment(env_document)[logical_id])
    code_dir = project().functions[logical_id].code_dir
    # The function's code and layer first, as SAM mounts /var/task and /opt/python; then whatever
    # made the project importable for this run (the runner, sandbox.aws.local_invoke, is ours).
    inherited = [os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else []
    environment["PYTHONPATH"] = os.pathsep.join([str(code_dir), str(ROOT / "layers" / "common"), *inherited])
    environment["HOME"] = str(home)  # no ~/.aws of the machine running the tests
    return environment


def invoke(
    env_document: dict[str, dict[str, str]], logical_id: str, events: list[Path], folder: Path
) -> list[dict[str, Any]]:
    """Run ``logical_id`` on each event in one process (cold start, then warm); their results."""
    result_paths = [folder / f"{logical_id}-{event.stem}.result.json" for event in events]
    arguments = [str(path) for pair in zip(events, result_paths, strict=True) for path in pair]
    completed = subprocess.run(  # noqa: PLW1510 - the result files say what happened
        [sys.executable, "-P", "-m", "sandbox.aws.local_invoke", *arguments],
        cwd=folder,
        env=function_environment(env_document, logical_id, folder),
        capture_output=True,
        text=True,
        timeout=120,
    )
    results = []
    for event, result_path in zip(events, result_paths, strict=True):
        if not result_path.exists():
            output = f"{completed.stdout[-2000:]}\n{completed.stderr[-3000:]}"
            pytest.fail(f"{logical_id} {event.name}: no result\n{output}")
        outcome: dict[str, Any] = json.loads(result_path.read_text())
        assert "result" in outcome, f"{logical_id} {event.name}: {outcome}\n{completed.stdout[-2000:]}"
        results.append(outcome["result"])
    return results


def start_event(folder: Path, key: str) -> Path:
    event = json.loads((EVENTS / "start_pipeline" / "manifest_created.json").read_text())
    event["detail"]["object"]["key"] = key
    path = folder / f"start-{len(list(folder.glob('start-*')))}.json"
    path.write_text(json.dumps(event))
    return path


def snowflake_connection(port: int) -> Any:
    return snowflake.connector.connect(
        user="fake",
        password="snow",
        account="fakesnow",
        host=LOCAL,
        port=port,
        protocol="http",
        database="SNOWSAGE",
        schema="ML",
        network_timeout=30,
        session_parameters={"CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False},
    )


def query(port: int, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with contextlib.closing(snowflake_connection(port)) as connection:
        rows: list[tuple[Any, ...]] = connection.cursor().execute(sql, params).fetchall()
        return rows


def aws(service: str, port: int) -> Any:
    client: Any = boto3.client
    return client(
        service,
        endpoint_url=f"http://{LOCAL}:{port}",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


# --- tests ----------------------------------------------------------------------------------------


SCORE_IN_SNOWFLAKE = "ScoreInSnowflakeFunction"


def test_serve_with_sample_data_runs_every_function_as_sam_local_would_then_stops_on_sigint(
    tmp_path: Path,
) -> None:
    served_env = tmp_path / "served-env.json"
    with serving(tmp_path, "--with-sample-data", "--env-json", str(served_env)) as served:
        served.wait_ready()
        aws_port, snowflake_port = served.ports

        # env.json is what serve deploys and prints (ports aside): it cannot drift.
        container_env = adapt(load_env_json(), aws_port, snowflake_port)
        assert json.loads(served_env.read_text()) == container_env
        assert render_env_json(container_env) in served.stdout()
        local_env = adapt(load_env_json(), aws_port, snowflake_port, host=LOCAL)
        resources = aws("cloudformation", aws_port).describe_stack_resources(StackName="snowsage")
        physical = {
            r["LogicalResourceId"]: r["PhysicalResourceId"]
            for r in resources["StackResources"]
            if "LogicalResourceId" in r and "PhysicalResourceId" in r  # moto lists unsupported types bare
        }
        lambda_client = aws("lambda", aws_port)
        for logical_id in project().functions:
            deployed = lambda_client.get_function_configuration(FunctionName=physical[logical_id])
            given = merged(local_env, logical_id)
            assert given.pop(ENDPOINT_VARIABLE) == f"http://{LOCAL}:{aws_port}"
            # str(): moto keeps Number parameters as ints where Lambda holds strings.
            variables = {name: str(value) for name, value in deployed["Environment"]["Variables"].items()}
            assert given == variables, logical_id
        stdout = served.stdout()
        for name in (
            BUCKET,
            "arn:aws:states:us-east-1:123456789012:stateMachine:snowsage-pipeline",
            "snowsage/snowflake",
            physical["NotificationTopic"],
            *(physical[logical_id] for logical_id in project().functions),
        ):
            assert name in stdout

        # Remove what the reference runs wrote to Snowflake: the invocations below must write it again.
        query(snowflake_port, "DELETE FROM MERCHANT_RISK_PREDICTIONS WHERE RUN_ID = %s", REFERENCE_RUN_ID)
        query(snowflake_port, "DELETE FROM ML_RUNS WHERE RUN_ID IN (%s, %s)", REFERENCE_RUN_ID, FAILED_RUN_ID)

        # label -> (function, event); one process per function, its events in this order.
        calls = {
            "duplicate": ("StartPipelineFunction", EVENTS / "start_pipeline" / "manifest_created.json"),
            "ignored": (
                "StartPipelineFunction",
                start_event(tmp_path, "exports/merchant_risk/20261126t020000z/train/data_0_0_0.csv"),
            ),
            "started": (
                "StartPipelineFunction",
                start_event(tmp_path, f"exports/merchant_risk/{NEW_EXPORT_ID}/manifest.json"),
            ),
            "prepare": ("PrepareRunFunction", EVENTS / "prepare_run" / "train_and_score.json"),
            "evaluate": ("EvaluateModelFunction", EVENTS / "evaluate_model" / "candidate.json"),
            "register": ("RegisterModelFunction", EVENTS / "register_model" / "candidate.json"),
            "select": ("SelectModelFunction", EVENTS / "select_model" / "promoted_model.json"),
            "load": ("LoadPredictionsFunction", EVENTS / "load_predictions" / "load.json"),
            "publish": ("PublishModelFunction", EVENTS / "publish_model" / "promoted.json"),
            "train": ("TrainInSnowflakeFunction", EVENTS / "train_in_snowflake" / "snowflake_engine.json"),
            "succeeded": ("RecordRunFunction", EVENTS / "record_run" / "succeeded.json"),
            "failed": ("RecordRunFunction", EVENTS / "record_run" / "failed.json"),
            "outcome": (
                "RecordExecutionOutcomeFunction",
                EVENTS / "record_execution_outcome" / "failed_handled.json",
            ),
            "staleness": ("StalenessCheckFunction", EVENTS / "check_staleness" / "scheduled.json"),
            "no_endpoint": ("DeployEndpointFunction", EVENTS / "deploy_endpoint" / "remove.json"),
            "endpoint_deleted": ("SettleEndpointFunction", EVENTS / "settle_endpoint" / "deleted.json"),
        }
        by_function: dict[str, list[str]] = {}
        for label, (logical_id, _) in calls.items():
            by_function.setdefault(logical_id, []).append(label)
        # Every function is invoked: these side by side; ScoreInSnowflake after them, as it replaces
        # the rows LoadPredictions writes (the same export) with the function PublishModel swaps.
        assert set(by_function) | {SCORE_IN_SNOWFLAKE} == set(project().functions)
        sam_local_environment(local_env)  # resolve once (cached) before the threads use it
        with ThreadPoolExecutor(max_workers=len(by_function)) as pool:
            futures = {
                logical_id: pool.submit(
                    invoke, local_env, logical_id, [calls[label][1] for label in labels], tmp_path
                )
                for logical_id, labels in by_function.items()
            }
            results = {
                label: result
                for logical_id, labels in by_function.items()
                for label, result in zip(labels, futures[logical_id].result(), strict=True)
            }

        # RecordRun's "succeeded" call runs alongside: merchant_risk is stale or not, nothing else is
        assert {item["dataset"] for item in results["staleness"]["stale"]} <= {"merchant_risk"}
        assert results["duplicate"]["status"] == "duplicate"
        assert results["duplicate"]["execution_name"] == "merchant_risk-20261126t020000z"
        assert results["ignored"]["status"] == "ignored"

        plan = results["prepare"]
        assert plan["run_id"] == REFERENCE_RUN_ID
        assert plan["manifest_uri"] == f"s3://{BUCKET}/exports/merchant_risk/20261126t020000z/manifest.json"
        assert plan["training"] is not None
        assert plan["scoring"]["input_uri"].startswith(f"s3://{BUCKET}/exports/merchant_risk/")

        # The candidate goes into the dataset's model package group (ensured, not assumed).
        assert results["register"]["model_package_arn"].split("/")[-2] == "snowsage-merchant-risk"

        verdict = results["evaluate"]
        candidate = json.loads((EVENTS / "evaluate_model" / "candidate.json").read_text())
        reported = {m["MetricName"]: m["Value"] for m in candidate["training"]["final_metrics"]}
        assert verdict["metric_value"] == pytest.approx(reported["validation:auc"])
        # The champion is the package the reference run registered in the served moto.
        assert verdict["champion_package_arn"] == (
            "arn:aws:sagemaker:us-east-1:123456789012:model-package/snowsage-merchant-risk/1"
        )
        assert isinstance(verdict["promote"], bool)

        # TRAINING_ENGINE = SNOWFLAKE: TRAIN_MODEL in the served Snowflake, its model copied to the bucket.
        trained = results["train"]
        assert trained["model_data_url"].endswith("/snowflake/model.tar.gz")
        assert trained["final_metrics"][0]["MetricName"] == "validation:auc"

        # merchant_risk has no endpoint: removing it is a no-op; a deletion's outcome is recorded.
        assert (results["no_endpoint"]["endpoint_name"], results["no_endpoint"]["action"]) == (
            "snowsage-merchant-risk",
            "none",
        )
        assert results["endpoint_deleted"]["status"] == "DELETED"

        selection = results["select"]
        assert selection["model_package_arn"].endswith("model-package/snowsage-merchant-risk/1")
        assert selection["model_data_url"].startswith(f"s3://{BUCKET}/models/merchant_risk/")

        load = results["load"]
        assert load["rows_loaded"] == load["rows_scored"] > 0
        assert query(
            snowflake_port,
            "SELECT COUNT(*) FROM MERCHANT_RISK_PREDICTIONS WHERE RUN_ID = %s",
            REFERENCE_RUN_ID,
        ) == [(load["rows_loaded"],)]

        # Published again (idempotent): the served Snowflake holds one version, and its function scores.
        assert (results["publish"]["function_name"], results["publish"]["model_version"]) == (
            "ML_PREDICT_MERCHANT_RISK",
            1,
        )
        assert query(snowflake_port, "SELECT MODEL_VERSION FROM ML_MODELS") == [(1,)]
        features = plan["scoring"]["features"]
        scored = query(
            snowflake_port,
            f"SELECT ML_PREDICT_MERCHANT_RISK({', '.join(features)}) FROM MERCHANT_RISK_SCORING",
        )
        assert scored and all(0.0 <= row[0] <= 1.0 for row in scored)

        # SCORING_ENGINE = SNOWFLAKE: the reference export scored in place by that function.
        [in_sql] = invoke(
            local_env, SCORE_IN_SNOWFLAKE, [EVENTS / "score_in_snowflake" / "scoring.json"], tmp_path
        )
        assert in_sql["rows_loaded"] == in_sql["rows_scored"] == len(scored)
        assert in_sql["scored_by"] == "snowflake:ML_PREDICT_MERCHANT_RISK:v1"

        assert results["succeeded"]["status"] == "SUCCEEDED"
        assert results["failed"]["status"] == "FAILED"
        assert results["failed"]["failed_state"]  # read from the served execution history
        assert results["outcome"]["action"] == "none"  # the served history shows the failure branch ran
        assert sorted(
            query(
                snowflake_port,
                "SELECT RUN_ID, STATUS FROM ML_RUNS WHERE RUN_ID IN (%s, %s)",
                REFERENCE_RUN_ID,
                FAILED_RUN_ID,
            )
        ) == sorted([(FAILED_RUN_ID, "FAILED"), (REFERENCE_RUN_ID, "SUCCEEDED")])

        # A new export's manifest started an execution in the served state machine (it fails in
        # PrepareRun: that export was never written). Wait for it to end before stopping.
        started = results["started"]
        assert started["status"] == "started"
        sfn = aws("stepfunctions", aws_port)
        deadline = time.monotonic() + 30
        while (
            status := sfn.describe_execution(executionArn=started["execution_arn"])["status"]
        ) == "RUNNING":
            assert time.monotonic() < deadline, "the started execution did not end"
            time.sleep(0.2)
        assert status == "FAILED"

        code, seconds = served.stop(signal.SIGINT)
    assert_stopped_cleanly(served, code, seconds)


def test_serve_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    with serving(tmp_path) as served:
        ready = served.wait_ready()
        assert f"{LOCAL}:{served.ports[0]}" in ready
        assert CONTAINER_HOST in served.stdout()
        assert listening(served.ports[0])
        assert listening(served.ports[1])
        code, seconds = served.stop(signal.SIGTERM)
    assert_stopped_cleanly(served, code, seconds)
    assert "stopped" in served.stderr_path.read_text()


def test_serve_refuses_a_port_in_use_and_a_non_loopback_interface() -> None:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as taken:
        taken.bind((LOCAL, 0))
        taken.listen()
        with pytest.raises(ServeError, match="not free"):
            check_port_free(LOCAL, taken.getsockname()[1])
    check_host(LOCAL)
    check_host("0.0.0.0")
    with pytest.raises(ServeError):
        check_host("192.0.2.10")
