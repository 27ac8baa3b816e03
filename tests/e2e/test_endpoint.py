"""The dataset's real-time endpoint in the sandbox (docs/contracts.md, "Real-time endpoint"): a promoted
run creates or updates it blue/green, a rejected run leaves it alone, an alarm during the baking
period rolls it back, and a dataset without ENDPOINT runs no endpoint state."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from sandbox import pipeline_run
from sandbox.services import Sandbox, SandboxConfig
from snowsage_setup import endpoint as endpoint_admin
from tests.e2e.runs import run_export_by_hand
from tooling.dataset_sql import noisy_sum_sql

WEAK = {"num_round": "1", "max_depth": "1"}
ONE_TREE = {"num_round": "1", "max_depth": "3"}
STRONG = {"num_round": "60", "max_depth": "4", "eta": "0.2"}
ENDPOINT_STATES = {"DeployEndpoint", "RemoveEndpoint", "SettleEndpoint", "WaitForEndpoint"}
# Invocations the green fleet must answer while it bakes before the baking period may end.
DURING_BAKE = 5


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    """Short polls and a one-second baking period: the invoking thread, not the clock, decides when
    the bake may end (``Invoker.hold_bake``)."""
    config = SandboxConfig(template_parameters={"EndpointPollSeconds": "1", "EndpointBakingSeconds": "1"})
    with Sandbox(config) as running:
        yield running


def _sql(sandbox: Sandbox, statement: str) -> list[tuple[Any, ...]]:
    with sandbox.snowflake_connection() as connection:
        cursor = connection.cursor()
        cursor.execute(statement)
        return [tuple(row) for row in cursor.fetchall()] if cursor.description else []


def _dataset(sandbox: Sandbox, name: str, endpoint: str | None) -> None:
    with sandbox.snowflake_connection() as connection:
        cursor = connection.cursor()
        for statement in noisy_sum_sql(name, rows=1200).split(";\n"):
            if statement.strip():
                cursor.execute(statement)
        if endpoint is not None:
            cursor.execute(f"UPDATE ML_DATASETS SET ENDPOINT = '{endpoint}' WHERE NAME = '{name}'")


def _endpoint_name(dataset: str) -> str:
    return f"snowsage-{dataset.replace('_', '-')}"


def _run_row(sandbox: Sandbox, result: pipeline_run.RunResult) -> tuple[Any, ...]:
    run_id = result.execution.output["plan"]["run_id"]
    ((row),) = _sql(
        sandbox,
        "SELECT ENDPOINT_NAME, ENDPOINT_STATUS, ENDPOINT_MODEL_VERSION, ENDPOINT_REASON FROM ML_RUNS"
        f" WHERE RUN_ID = '{run_id}'",
    )
    return row


def _serving(sandbox: Sandbox, dataset: str) -> list[tuple[Any, ...]]:
    return _sql(
        sandbox,
        f"SELECT MODEL_VERSION, ENDPOINT_STATUS FROM ML_MODELS WHERE DATASET = '{dataset}'"
        " AND ENDPOINT_STATUS IS NOT NULL ORDER BY MODEL_VERSION",
    )


def _batch_score(sandbox: Sandbox, result: pipeline_run.RunResult, dataset: str) -> tuple[str, float]:
    """One row the batch transform scored: its features as a CSV line, and its score."""
    row_no, score = result.predictions[0][:2]
    ((features),) = _sql(
        sandbox, f"SELECT F1, F2, F3, F4 FROM {dataset.upper()}_ROWS WHERE ROW_NO = {int(row_no)}"
    )
    return ",".join(repr(float(value)) for value in features), float(score)


def _cli_invoke(sandbox: Sandbox, endpoint: str, row: str, home: Path) -> str:
    """``aws sagemaker-runtime invoke-endpoint``, as an application would call it."""
    cli = shutil.which("aws")
    assert cli, "the AWS CLI (awscli) is not on PATH"
    (home / "row.csv").write_text(row)
    environment = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "AWS_ENDPOINT_URL": sandbox.endpoint_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    subprocess.run(
        [cli, "sagemaker-runtime", "invoke-endpoint", "--endpoint-name", endpoint,
         "--content-type", "text/csv", "--body", f"fileb://{home / 'row.csv'}", str(home / "answer.txt")],
        env=environment, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return (home / "answer.txt").read_text()


class Invoker:
    """Invokes the endpoint from a thread until stopped, counting answers and failures; holds each
    baking period of the emulator until the green fleet has answered ``DURING_BAKE`` invocations."""

    def __init__(self, sandbox: Sandbox, endpoint: str, row: str) -> None:
        self.runtime = sandbox.client("sagemaker-runtime")
        self.endpoint, self.row = endpoint, row
        self.endpoints = sandbox.emulator.endpoints  # type: ignore[union-attr]
        self.answers: list[float] = []
        self.failures: list[str] = []
        self.baking = False
        self.during_bake = 0
        self.changed = threading.Condition()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="endpoint-invoker", daemon=True)
        self._sleep: Callable[[float], None] = self.endpoints.sleep

    def hold_bake(self, seconds: float) -> None:
        with self.changed:
            self.baking = True
            self.changed.notify_all()
            self.changed.wait_for(lambda: self.during_bake >= DURING_BAKE or self.stop.is_set(), timeout=120)
        self._sleep(seconds)

    def _loop(self) -> None:
        while not self.stop.is_set():
            try:
                answer = self.runtime.invoke_endpoint(
                    EndpointName=self.endpoint, ContentType="text/csv", Body=self.row
                )
                self.answers.append(float(answer["Body"].read().decode()))
            except Exception as error:
                self.failures.append(f"{type(error).__name__}: {error}")
            with self.changed:
                self.during_bake += self.baking
                self.changed.notify_all()

    def __enter__(self) -> Invoker:
        self.endpoints.sleep = self.hold_bake
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        with self.changed:
            self.changed.notify_all()
        self.thread.join()
        self.endpoints.sleep = self._sleep


def test_a_serverless_endpoint_follows_the_champion(sandbox: Sandbox, tmp_path: Path) -> None:
    dataset = "endpoint_life"
    endpoint = _endpoint_name(dataset)
    sagemaker = sandbox.client("sagemaker")
    _dataset(sandbox, dataset, "SERVERLESS")

    first = run_export_by_hand(sandbox, dataset, "20261201t000000z", WEAK)
    assert first.execution.output["endpoint"]["status"] == "CREATED"
    described = sagemaker.describe_endpoint(EndpointName=endpoint)
    assert described["EndpointStatus"] == "InService"
    assert described["ProductionVariants"][0]["CurrentServerlessConfig"] == {
        "MemorySizeInMB": 2048,
        "MaxConcurrency": 5,
    }
    row, batch_score = _batch_score(sandbox, first, dataset)
    assert float(_cli_invoke(sandbox, endpoint, row, tmp_path)) == pytest.approx(batch_score, rel=1e-6)
    assert _run_row(sandbox, first)[:3] == (endpoint, "CREATED", 1)
    assert _serving(sandbox, dataset) == [(1, "IN_SERVICE")]

    # A better model: promoted, the endpoint updated blue/green while an application invokes it.
    with Invoker(sandbox, endpoint, row) as invoker:
        second = run_export_by_hand(sandbox, dataset, "20261201t000001z", STRONG)
    assert second.gate["promoted"] is True
    assert second.execution.output["endpoint"]["status"] == "UPDATED"
    assert invoker.during_bake >= DURING_BAKE
    assert invoker.failures == []
    new_row, new_score = _batch_score(sandbox, second, dataset)
    runtime = sandbox.client("sagemaker-runtime")
    answer = runtime.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body=new_row)
    assert float(answer["Body"].read().decode()) == pytest.approx(new_score, rel=1e-6)
    assert _run_row(sandbox, second)[:3] == (endpoint, "UPDATED", 2)
    assert _serving(sandbox, dataset) == [(1, "RETIRED"), (2, "IN_SERVICE")]
    config = sagemaker.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"]
    # The first run's config and model are gone; the one in service stays.
    listed = sagemaker.list_endpoint_configs(NameContains=dataset.replace("_", "-"))["EndpointConfigs"]
    assert [summary["EndpointConfigName"] for summary in listed] == [config]

    # A worse candidate: rejected, the endpoint untouched (no endpoint state ran).
    third = run_export_by_hand(sandbox, dataset, "20261201t000002z", WEAK)
    assert third.gate["promoted"] is False
    assert sagemaker.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"] == config
    assert "endpoint" not in third.execution.output or third.execution.output["endpoint"] is None
    assert _run_row(sandbox, third) == (None, None, None, None)

    # ENDPOINT 'NONE': the next run deletes it, recorded.
    _sql(sandbox, f"UPDATE ML_DATASETS SET ENDPOINT = 'NONE' WHERE NAME = '{dataset}'")
    fourth = run_export_by_hand(sandbox, dataset, "20261201t000003z", WEAK)
    assert fourth.execution.output["endpoint"]["status"] == "DELETED"
    with pytest.raises(ClientError, match="Could not find endpoint"):
        sagemaker.describe_endpoint(EndpointName=endpoint)
    assert _run_row(sandbox, fourth)[:2] == (endpoint, "DELETED")
    assert _serving(sandbox, dataset) == [(1, "RETIRED"), (2, "DELETED")]


def test_a_model_that_trips_the_alarm_is_rolled_back(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    dataset = "endpoint_rollback"
    endpoint = _endpoint_name(dataset)
    sagemaker = sandbox.client("sagemaker")
    _dataset(sandbox, dataset, "SERVERLESS")
    first = run_export_by_hand(sandbox, dataset, "20261201t000000z", WEAK)
    config = sagemaker.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"]
    row, score = _batch_score(sandbox, first, dataset)

    # The next fleet's container answers 500 to everything: the server-errors alarm trips while it bakes.
    sandbox.emulator.endpoints.fail_next_fleet(500, "model server crashed")  # type: ignore[union-attr]
    with Invoker(sandbox, endpoint, row) as invoker:
        second = run_export_by_hand(sandbox, dataset, "20261201t000001z", STRONG)
    assert second.gate["promoted"] is True
    assert invoker.failures, "the failing fleet never answered during its bake"
    outcome = second.execution.output["endpoint"]
    assert outcome["status"] == "ROLLED_BACK"
    assert outcome["model_version"] == 1
    assert "server-errors" in outcome["reason"]
    described = sagemaker.describe_endpoint(EndpointName=endpoint)
    assert (described["EndpointStatus"], described["EndpointConfigName"]) == ("InService", config)
    alarm = sandbox.client("cloudwatch").describe_alarms(AlarmNames=[f"{endpoint}-server-errors"])[
        "MetricAlarms"
    ]
    assert alarm[0]["StateValue"] == "ALARM"
    name, status, version, reason = _run_row(sandbox, second)
    assert (name, status, version) == (endpoint, "ROLLED_BACK", 1)
    assert "server-errors" in reason
    assert _serving(sandbox, dataset) == [(1, "IN_SERVICE"), (2, "ROLLED_BACK")]
    # The champion still answers, with its own score.
    answer = sandbox.client("sagemaker-runtime").invoke_endpoint(
        EndpointName=endpoint, ContentType="text/csv", Body=row
    )
    assert float(answer["Body"].read().decode()) == pytest.approx(score, rel=1e-6)

    # Deleted by hand (the admin command, its boto3 pointed at the sandbox as an operator's shell
    # would be): the endpoint, its alarms, configs and models.
    for name, value in {
        "AWS_ENDPOINT_URL": sandbox.endpoint_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    assert endpoint_admin.main(["delete", "--dataset", dataset]) == 0
    with pytest.raises(ClientError, match="Could not find endpoint"):
        sagemaker.describe_endpoint(EndpointName=endpoint)
    assert sandbox.client("cloudwatch").describe_alarms(AlarmNamePrefix=endpoint)["MetricAlarms"] == []
    with pytest.raises(ClientError, match="Could not find endpoint configuration"):
        sagemaker.describe_endpoint_config(EndpointConfigName=config)


def test_a_dataset_without_endpoint_runs_no_endpoint_state(sandbox: Sandbox) -> None:
    dataset = "endpoint_none"
    _dataset(sandbox, dataset, None)
    result = run_export_by_hand(sandbox, dataset, "20261201t000000z", WEAK)
    entered = {span.name for span in result.execution.spans}
    assert "RecordRun" in entered and not entered & ENDPOINT_STATES
    assert result.execution.output["plan"].get("endpoint") is None
    assert sandbox.client("sagemaker").list_endpoints(NameContains="endpoint-none")["Endpoints"] == []
    assert _run_row(sandbox, result) == (None, None, None, None)


def test_a_model_scored_in_snowflake_is_deployed_behind_the_endpoint_too(sandbox: Sandbox) -> None:
    """SCORING_ENGINE 'SNOWFLAKE' runs no CreateModel: CreateEndpointModel makes the endpoint's model,
    and the endpoint answers a row as ML_PREDICT_<DATASET> scored it."""
    dataset = "endpoint_in_sql"
    endpoint = _endpoint_name(dataset)
    _dataset(sandbox, dataset, "SERVERLESS")
    _sql(sandbox, f"UPDATE ML_DATASETS SET SCORING_ENGINE = 'SNOWFLAKE' WHERE NAME = '{dataset}'")
    result = run_export_by_hand(sandbox, dataset, "20261201t000000z", WEAK)
    entered = {span.name for span in result.execution.spans}
    assert {"ScoreInSnowflake", "CreateEndpointModel", "DeployEndpoint", "SettleEndpoint"} <= entered
    assert not entered & {"CreateModel", "Score", "LoadPredictions"}
    assert _run_row(sandbox, result)[:3] == (endpoint, "CREATED", 1)
    row, in_sql = _batch_score(sandbox, result, dataset)
    answer = sandbox.client("sagemaker-runtime").invoke_endpoint(
        EndpointName=endpoint, ContentType="text/csv", Body=row
    )
    assert float(answer["Body"].read().decode()) == pytest.approx(in_sql, abs=1e-6)
    endpoint_admin.delete_with(sandbox.client("sagemaker"), sandbox.client("cloudwatch"), dataset, "snowsage")
