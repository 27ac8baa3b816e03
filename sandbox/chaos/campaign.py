"""Run a seeded plan against one sandbox, K runs at a time, checking the invariants after each
run and again at the end."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sandbox import pipeline_run
from sandbox.aws import moto_patches
from sandbox.aws.executions import wait_for_execution, wait_for_execution_named
from sandbox.chaos import faults as kinds
from sandbox.chaos import invariants
from sandbox.chaos.injection import Fault, RunScopedFaults
from sandbox.chaos.plan import DATASETS, LAMBDA_STATES, FaultSpec, RunPlan, plan_campaign
from sandbox.chaos.report import Report, current_commit
from sandbox.services import Sandbox
from sandbox.snowflake.export import ExportError
from snowsage.names import execution_name

SCHEDULED_EVENTS = frozenset({"TaskScheduled", "LambdaFunctionScheduled"})


@dataclass
class RunOutcome:
    plan: RunPlan
    outcome: str  # the first execution's status, or REFUSED (the export was refused: no run)
    executions: list[str] = field(default_factory=list)
    failed_state: str | None = None
    error: str | None = None
    fired: list[tuple[str, str, int]] = field(default_factory=list)  # (kind, state, times it acted)
    failed_attempts: int = 0
    retries: int = 0
    seconds: float = 0.0
    violations: list[invariants.Violation] = field(default_factory=list)


class AtEnd(Fault):
    """An action once the run's first execution ended (a late event, the export written again)."""

    def __init__(self, kind: str, action: Callable[[], None]) -> None:
        super().__init__("End", 1)
        self.kind = kind
        self.action = action


def later_export(plan: RunPlan) -> str:
    """The export that overtakes the run's own (event_out_of_order)."""
    return f"{plan.export_id}-later"


def build_faults(sb: Sandbox, plan: RunPlan) -> list[Fault]:
    dataset = DATASETS[plan.dataset]
    built: list[Fault] = []
    for spec in plan.faults:
        built.append(_build(sb, plan, dataset.name, spec))
    return built


def _build(sb: Sandbox, plan: RunPlan, dataset: str, spec: FaultSpec) -> Fault:  # noqa: PLR0911, PLR0912 (a branch a kind)
    function = LAMBDA_STATES.get(spec.state, "")
    if spec.kind == "lambda_service_error":
        return kinds.LambdaServiceError(spec.state, function, spec.detail, spec.times)
    if spec.kind == "lambda_timeout":
        return kinds.LambdaTimeout(spec.state, function, after=spec.detail == "after")
    if spec.kind == "stop_execution":
        return kinds.StopExecution(spec.state, function)
    if spec.kind in ("sagemaker_create_error", "job_failed", "job_stopped"):
        return kinds.SageMakerFault(spec.state, spec.kind, spec.times, spec.detail)
    if spec.kind == "sns_publish_failure":
        return kinds.SnsPublishFailure(spec.state, spec.times)
    if spec.kind == "snowflake_refused":
        return kinds.SnowflakeRefused(spec.state, function, spec.times)
    if spec.kind in kinds.SnowflakeStatementError.ERRORS:
        return kinds.SnowflakeStatementError(spec.state, function, spec.kind, spec.detail, spec.times)
    if spec.kind == "fewer_files_than_manifest":
        return kinds.ExportFileLost(spec.state)
    if spec.kind == "copy_of_vanished_file":
        return kinds.PredictionFileVanished(spec.state)
    if spec.kind == "event_out_of_order":
        return kinds.EventOutOfOrder(spec.state, dataset, later_export(plan))
    if spec.kind == "duplicate_event":
        event = pipeline_run.manifest_event(sb, dataset, plan.export_id)

        def deliver() -> None:
            pipeline_run.replay_event(sb, event)

        action = deliver
    else:  # manifest_rewritten: EXPORT_DATASET again, files then the manifest (its event too)

        def rewrite() -> None:
            pipeline_run.export(sb, dataset, plan.export_id)

        action = rewrite
    if spec.detail == "after":
        return AtEnd(spec.kind, action)
    return kinds.AtState(spec.state, function, spec.kind, action)


def failure_counts(events: list[dict[str, Any]]) -> tuple[int, int]:
    """(failed task attempts, retries): a retry is a task scheduled again in the same state entry."""
    failed = retried = scheduled = 0
    for event in events:
        kind = event["type"]
        if kind.endswith("StateEntered"):
            scheduled = 0
        elif kind in SCHEDULED_EVENTS:
            retried += 1 if scheduled else 0
            scheduled += 1
        elif kind in invariants.FAILURE_EVENTS:
            failed += 1
    return failed, retried


class Campaign:
    """The campaign's state on one running sandbox: its faults hub and its notice subscription."""

    def __init__(self, sb: Sandbox, *, seed: int, on_run: Callable[[RunOutcome], None] | None = None) -> None:
        self.sb = sb
        self.seed = seed
        self.on_run = on_run
        self.hub = RunScopedFaults(sb)
        self.notices = invariants.Notices(sb)
        self._in_flight: dict[str, int] = {}
        self._lock = threading.Lock()

    @staticmethod
    def prepare(sb: Sandbox, datasets: tuple[str, ...]) -> None:
        """Each dataset's tables, views and ML_DATASETS row (tooling/dataset_sql.py)."""
        with sb.snowflake_connection() as connection:
            cursor = connection.cursor()
            for key in datasets:
                for statement in DATASETS[key].sql.split(";\n"):
                    if statement.strip():
                        cursor.execute(statement)

    def run_all(self, plans: list[RunPlan], concurrency: int) -> list[RunOutcome]:
        with self.hub.installed(), moto_patches.RetrySleepRecorder():
            with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="chaos-run") as pool:
                outcomes = list(pool.map(self.run_one, plans))
            moto_patches.wait_for_event_deliveries()
        return outcomes

    def run_one(self, plan: RunPlan) -> RunOutcome:
        started = time.perf_counter()
        dataset = DATASETS[plan.dataset]
        name = execution_name(dataset.name, plan.export_id)
        armed = build_faults(self.sb, plan)
        self.hub.arm(name, armed)
        with self._lock:
            self._in_flight[dataset.name] = self._in_flight.get(dataset.name, 0) + 1
        try:
            outcome = self._run(plan, dataset.name, name, armed)
        finally:
            with self._lock:
                self._in_flight[dataset.name] -= 1
                quiet = self._in_flight[dataset.name] == 0
        if quiet and outcome.outcome != "REFUSED":
            outcome.violations += invariants.check_champion(self.sb, dataset.name, plan.run)
        outcome.seconds = time.perf_counter() - started
        if self.on_run:
            self.on_run(outcome)
        return outcome

    def _run(self, plan: RunPlan, dataset: str, name: str, armed: list[Fault]) -> RunOutcome:
        sb = self.sb
        sfn = sb.client("stepfunctions")
        try:
            pipeline_run.export(sb, dataset, plan.export_id)  # the manifest's event starts the run
        except ExportError as error:
            self.hub.disarm(name)
            outcome = RunOutcome(plan, "REFUSED", error=str(error))
            moto_patches.wait_for_event_deliveries()
            if pipeline_run.executions_for(sb, name):
                outcome.violations.append(invariants.Violation(1, plan.run, f"{name}: refused export ran"))
            return outcome
        arn = wait_for_execution_named(sfn, sb.state_machine_arn, name)
        first = wait_for_execution(sfn, arn, timeout=900)
        for fault in armed:
            if isinstance(fault, AtEnd) and fault._take():
                fault.action()
        arns = [arn]
        if plan.rerun:
            rerun = f"{name}-rerun"
            document = {"manifest": f"s3://{sb.bucket}/exports/{dataset}/{plan.export_id}/manifest.json"}
            started = sfn.start_execution(
                stateMachineArn=sb.state_machine_arn, name=rerun, input=json.dumps(document)
            )
            wait_for_execution(sfn, started["executionArn"], timeout=900)
            arns.append(started["executionArn"])
        fired = self.hub.disarm(name)
        moto_patches.wait_for_event_deliveries()  # the status change events and the safety net
        outcome = RunOutcome(
            plan,
            first.status,
            executions=[a.rsplit(":", 1)[1] for a in arns],
            failed_state=first.failed_state,
            error=first.error,
            fired=[(f.kind, f.state, f.fired) for f in fired],
        )
        executions = [invariants.describe(sb, a) for a in arns]
        for a in arns:
            failed, retried = failure_counts(invariants.history(sb, a))
            outcome.failed_attempts += failed
            outcome.retries += retried
        if pipeline_run.executions_for(sb, name) != 1:
            outcome.violations.append(invariants.Violation(1, plan.run, f"{name}: more than one execution"))
        outcome.violations += invariants.check_export(sb, plan.run, dataset, plan.export_id, executions)
        if any(isinstance(fault, kinds.EventOutOfOrder) and fault.fired for fault in fired):
            later = execution_name(dataset, later_export(plan))
            arn = wait_for_execution_named(sfn, sb.state_machine_arn, later)
            wait_for_execution(sfn, arn, timeout=900)
            moto_patches.wait_for_event_deliveries()
            overtaker = invariants.describe(sb, arn)
            outcome.executions.append(later)
            outcome.violations += invariants.check_export(
                sb, plan.run, dataset, later_export(plan), [overtaker]
            )
            executions.append(overtaker)
        run_ids: list[str] = []
        for execution in executions:
            outcome.violations += invariants.check_records(sb, plan.run, execution, self.notices)
            run_ids += [str(row["RUN_ID"]) for row in invariants.ml_runs(sb, execution.name)]
        outcome.violations += invariants.check_jobs(sb, plan.run, run_ids)
        return outcome

    def final_checks(self, datasets: list[str]) -> list[invariants.Violation]:
        moto_patches.wait_for_event_deliveries()
        found = invariants.check_jobs(self.sb, None, [], final=True)
        for dataset in datasets:
            found += invariants.check_champion(self.sb, dataset)
        self.notices.drain()
        found += [
            invariants.Violation(3, None, f"a notice names no execution: {subject!r}")
            for subject in self.notices.unattributed
        ]
        return found


def run_campaign(
    sb: Sandbox,
    *,
    seed: int,
    runs: int,
    datasets: tuple[str, ...],
    concurrency: int = 1,
    only_run: int | None = None,
    on_run: Callable[[RunOutcome], None] | None = None,
) -> Report:
    """The seed's plan (or its run ``only_run`` alone) on a running sandbox; the report."""
    started = time.perf_counter()
    commit = current_commit()
    Campaign.prepare(sb, datasets)
    campaign = Campaign(sb, seed=seed, on_run=on_run)
    plans = plan_campaign(seed, runs, datasets, only_run)
    outcomes = campaign.run_all(plans, concurrency)
    used = sorted({DATASETS[plan.dataset].name for plan in plans if DATASETS[plan.dataset].enabled})
    final = campaign.final_checks(used)
    return Report(
        seed=seed,
        runs=outcomes,
        final=final,
        seconds=time.perf_counter() - started,
        concurrency=concurrency,
        datasets=list(datasets),
        planned=runs,
        commit=commit,
        replayed=only_run is not None,
    )
