"""A fair gate: the challenger and the champion judged on the same rows, and one promotion at a time
per dataset (docs/contracts.md, "The gate")."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from sandbox import pipeline_run
from sandbox.aws import moto_patches
from sandbox.aws.executions import wait_for_execution
from sandbox.services import Sandbox
from tests.e2e.runs import run_export_by_hand
from tooling.dataset_sql import flip_labels_sql, noisy_sum_sql

# A stump (one split of one feature) and a model that learns the sum: the first is the weaker.
WEAK = {"num_round": "1", "max_depth": "1"}
# One deeper tree: better than the stump, and its one round is the model kept (no early stopping
# picks an earlier one), so its recorded AUC is the model's.
ONE_TREE = {"num_round": "1", "max_depth": "3"}
STRONG = {"num_round": "60", "max_depth": "4", "eta": "0.2"}
NOISE = 38  # percent of labels flipped in a hard export: every model's AUC moves towards 0.5
RETRY_SCALE = 0.02  # the lease's Retry waits 30 s .. 300 s in AWS; here 0.6 s .. 6 s


def _sql(sandbox: Sandbox, statement: str) -> list[tuple[Any, ...]]:
    with sandbox.snowflake_connection() as connection:
        cursor = connection.cursor()
        cursor.execute(statement)
        return [tuple(row) for row in cursor.fetchall()] if cursor.description else []


def _dataset(sandbox: Sandbox, name: str) -> None:
    with sandbox.snowflake_connection() as connection:
        cursor = connection.cursor()
        for statement in noisy_sum_sql(name).split(";\n"):
            if statement.strip():
                cursor.execute(statement)


def _champion(sandbox: Sandbox, dataset: str) -> str:
    packages = sandbox.client("sagemaker").list_model_packages(
        ModelPackageGroupName=f"snowsage-{dataset.replace('_', '-')}",
        ModelApprovalStatus="Approved",
        SortBy="CreationTime",
        SortOrder="Descending",
    )["ModelPackageSummaryList"]
    return str(packages[0]["ModelPackageArn"])


def test_a_harder_export_promotes_a_challenger_better_on_the_same_rows(sandbox: Sandbox) -> None:
    """The stump is champion on clean labels; then labels get noisy. The strong model scores below the
    stump's recorded AUC, but above the stump's AUC on the noisy rows: it is promoted."""
    _dataset(sandbox, "gate_harder")
    champion = run_export_by_hand(sandbox, "gate_harder", "20261201t000000z", WEAK)
    assert champion.gate["promoted"] is True
    recorded = champion.metric["value"]

    _sql(sandbox, flip_labels_sql("gate_harder", NOISE))
    challenger = run_export_by_hand(sandbox, "gate_harder", "20261201t000001z", STRONG)
    gate = challenger.gate
    assert challenger.metric["value"] < recorded  # today's comparison would reject it
    assert gate["champion_metric"] == pytest.approx(recorded)
    assert gate["champion_judged_on"] == "this_export"
    assert gate["champion_metric_on_export"] < challenger.metric["value"]
    assert gate["promoted"] is True, gate["reason"]
    assert "on this export's validation rows" in gate["reason"]
    assert gate["champion_rows"] == challenger.manifest["validation"]["rows"]
    assert _champion(sandbox, "gate_harder") == challenger.execution.output["registered"]["model_package_arn"]


def test_an_easier_export_does_not_promote_a_worse_challenger(sandbox: Sandbox) -> None:
    """The strong model is champion on noisy labels; then the labels are clean. The stump scores above
    the strong model's recorded AUC, but far below its AUC on the clean rows: it is not promoted."""
    _dataset(sandbox, "gate_easier")
    _sql(sandbox, flip_labels_sql("gate_easier", NOISE))
    champion = run_export_by_hand(sandbox, "gate_easier", "20261201t000000z", STRONG)
    recorded = champion.metric["value"]

    _sql(sandbox, flip_labels_sql("gate_easier", NOISE))  # flipped back: clean labels
    challenger = run_export_by_hand(sandbox, "gate_easier", "20261201t000001z", WEAK)
    gate = challenger.gate
    assert challenger.metric["value"] > recorded  # today's comparison would promote it
    assert gate["champion_metric_on_export"] > challenger.metric["value"]
    assert gate["promoted"] is False
    assert "is worse than champion v1 on this export's validation rows" in gate["reason"]
    assert _champion(sandbox, "gate_easier") == champion.execution.output["registered"]["model_package_arn"]
    # ML_RUNS keeps both of the champion's numbers and the reason.
    ((on_export, recorded_row, reason),) = _sql(
        sandbox,
        "SELECT CHAMPION_METRIC_ON_EXPORT, CHAMPION_METRIC, GATE_REASON FROM ML_RUNS"
        f" WHERE RUN_ID = '{challenger.execution.output['plan']['run_id']}'",
    )
    assert (on_export, recorded_row, reason) == (
        pytest.approx(gate["champion_metric_on_export"]),
        pytest.approx(recorded),
        gate["reason"],
    )


class RegistrationOrder:
    """Makes two runs overlap the way the race needs: A (the better) is held before its registration
    until B (the worse) has either been told to wait for the lease or reached its own registration;
    B registers only after A has. Bounded waits: a broken lease fails the assertions, never hangs."""

    def __init__(self, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, first: str, second: str) -> None:
        runtime = sandbox.runtime
        assert runtime is not None
        self.first, self.second = first, second
        self.second_waited = threading.Event()
        self.second_at_registration = threading.Event()
        self.first_registered = threading.Event()
        register = sandbox.deployed.functions["RegisterModelFunction"]
        evaluate = sandbox.deployed.functions["EvaluateModelFunction"]
        original = runtime.invoke

        def invoke(fn: Any, event: Any) -> tuple[str, bool, str]:
            payload = json.loads(event) if isinstance(event, str | bytes) else event
            name = payload.get("execution_name") if isinstance(payload, dict) else None
            if fn.function_name == register and name == self.first:
                for _ in range(300):
                    if self.second_waited.wait(0.5) or self.second_at_registration.is_set():
                        break
            if fn.function_name == register and name == self.second:
                self.second_at_registration.set()
                self.first_registered.wait(300)
            answer = original(fn, event)
            if fn.function_name == register and name == self.first:
                self.first_registered.set()
            if fn.function_name == evaluate and name == self.second and "PromotionInProgress" in answer[0]:
                self.second_waited.set()
            return answer

        monkeypatch.setattr(runtime, "invoke", invoke)


@pytest.fixture
def scaled_retries() -> Iterator[None]:
    with moto_patches.RetrySleepRecorder(scale=RETRY_SCALE):
        yield


def test_overlapping_runs_promote_one_at_a_time(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, scaled_retries: None
) -> None:
    """Two runs of one dataset overlap; the worse registers last. Under the lease it is judged against
    the better one, not the stale champion both started with: the better stays champion."""
    _dataset(sandbox, "gate_race")
    exports = {"20261201t000000z": ONE_TREE, "20261201t000001z": WEAK}
    names = [f"gate_race-{export_id}" for export_id in exports]
    order = RegistrationOrder(sandbox, monkeypatch, *names)
    sfn = sandbox.client("stepfunctions")
    arns, manifests = [], []
    for (export_id, hyperparameters), name in zip(exports.items(), names, strict=True):
        document = {"manifest": f"s3://{sandbox.bucket}/exports/gate_race/{export_id}/manifest.json"}
        manifests.append(pipeline_run.export_for_input(sandbox, document))
        started = sfn.start_execution(
            stateMachineArn=sandbox.state_machine_arn,
            name=name,
            input=json.dumps({**document, "hyperparameters": hyperparameters}),
        )
        arns.append(started["executionArn"])
    better, worse = (wait_for_execution(sfn, arn, timeout=900) for arn in arns)
    assert (better.status, worse.status) == ("SUCCEEDED", "SUCCEEDED"), (better.cause, worse.cause)
    assert order.second_waited.is_set(), "the worse run was never told to wait for the lease"

    better_package = better.output["registered"]["model_package_arn"]
    assert _champion(sandbox, "gate_race") == better_package
    verdict = worse.output["evaluation"]
    assert verdict["promote"] is False and verdict["champion_package_arn"] == better_package
    # Same data in both exports: the champion's AUC in SQL on these rows is the one xgboost recorded,
    # which the container reads from its log line, printed with 5 decimals.
    assert verdict["champion_metric_on_export"] == pytest.approx(verdict["champion_metric"], abs=5e-6)
    assert verdict["champion_rows"] == manifests[-1]["validation"]["rows"]
    ((promoted, reason),) = _sql(
        sandbox,
        f"SELECT PROMOTED, GATE_REASON FROM ML_RUNS WHERE RUN_ID = '{worse.output['plan']['run_id']}'",
    )
    assert promoted is False
    assert reason.startswith("validation:auc") and "is worse than champion v1" in reason
    # Both runs gave the lease back.
    table = sandbox.deployed.resources["PromotionLeaseTable"]
    assert sandbox.client("dynamodb").scan(TableName=table)["Items"] == []
