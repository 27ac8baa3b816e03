"""The whole loop on a running sandbox: export -> S3 event -> execution -> result.

The CLI commands, the end-to-end tests and the benchmarks all go through these functions, so
they exercise the same path a user sees.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from snowflake.connector.constants import FIELD_ID_TO_NAME

from sandbox.aws import moto_patches
from sandbox.aws.executions import ExecutionSummary, StateSpan, wait_for_execution, wait_for_execution_named
from sandbox.cost import read_run_cost
from sandbox.services import Sandbox
from sandbox.snowflake.export import DEFAULT_ROWS_PER_FILE, export_dataset, export_id_for
from sandbox.snowflake.setup import apply_setup
from snowsage.names import ManifestLocation, execution_name, validate_snowflake_identifier
from snowsage.snowflake.publishing import function_name

MANIFEST_RULE_SUFFIX = "ManifestCreated"
MANIFEST_EVENT_FILE = (
    Path(__file__).resolve().parents[1] / "events" / "start_pipeline" / "manifest_created.json"
)


@dataclass
class RunResult:
    """What a run did, read back from the execution and from Snowflake."""

    execution: ExecutionSummary
    manifest: dict[str, Any]
    predictions: list[tuple[Any, ...]] = field(default_factory=list)
    # Up to 5 rows of this run read back from the predictions table, each column -> value.
    predictions_sample: list[dict[str, Any]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    sql_scoring: SqlScoring | None = None
    cost: dict[str, float | None] | None = None  # ML_RUNS COST_* (sandbox figures: sandbox.cost)

    @property
    def status(self) -> str:
        return self.execution.status

    def _section(self, name: str) -> dict[str, Any]:
        output = self.execution.output or {}
        value = output.get(name)
        return value if isinstance(value, dict) else {}

    @property
    def rows_scored(self) -> int | None:
        value = self._section("load").get("rows_scored") or self.manifest.get("score", {}).get("rows")
        return int(value) if value is not None else None

    @property
    def rows_loaded(self) -> int | None:
        value = self._section("load").get("rows_loaded")
        return int(value) if value is not None else None

    @property
    def metric(self) -> dict[str, Any]:
        evaluation = self._section("evaluation")
        if evaluation:
            return {"name": evaluation.get("metric_name"), "value": evaluation.get("metric_value")}
        model = self._section("model")
        return {"name": model.get("metric_name"), "value": model.get("metric_value")}

    @property
    def tuning(self) -> dict[str, Any] | None:
        """The Tune state's result: its job, trials run, best trial and that trial's objective, and with
        ``warm_start`` the plan's note (the parent it started from, or why it tuned cold), and
        ``warm_start_refused`` SageMaker's refusal of it (then it tuned cold)."""
        training = self._section("training")
        if not training.get("tuning_job"):
            return None
        metrics = training.get("final_metrics") or [{}]
        plan_tuning = self._section("plan").get("tuning") or {}
        return {
            "job": training["tuning_job"],
            "trials": sum((training.get("trials") or {}).values()),
            "best_job": training.get("job_name"),
            "best_objective": metrics[0].get("Value"),
            "warm_start": plan_tuning.get("warm_start_note"),
            # SageMaker refused the planned warm start (TuneWarm's Catch): the run tuned cold.
            "warm_start_refused": (plan_tuning.get("warm_start_refused") or {}).get("Cause"),
        }

    @property
    def engine(self) -> str | None:
        """Where the run trained (the plan's model.training_engine); None for a run without a plan."""
        model = self._section("plan").get("model")
        return model.get("training_engine") if isinstance(model, dict) else None

    @property
    def scoring_engine(self) -> str | None:
        """Where the run scored (the plan's model.scoring_engine); None for a run without a plan."""
        model = self._section("plan").get("model")
        return model.get("scoring_engine") if isinstance(model, dict) else None

    @property
    def predictions_table(self) -> str | None:
        return self._section("plan").get("predictions_table") or self.manifest.get("predictions_table")

    @property
    def gate(self) -> dict[str, Any]:
        """The promotion verdict: promoted or not, why, and the champion it was judged against: its
        metric as recorded and on this export's validation rows, and which of the two decided."""
        evaluation = self._section("evaluation")
        return {
            "promoted": evaluation.get("promote"),
            "reason": evaluation.get("reason"),
            "champion_metric": evaluation.get("champion_metric"),
            "champion_metric_on_export": evaluation.get("champion_metric_on_export"),
            "champion_rows": evaluation.get("champion_rows"),
            "champion_judged_on": evaluation.get("champion_judged_on"),
            "champion_package_arn": evaluation.get("champion_package_arn"),
        }

    def as_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "export_id": self.manifest.get("export_id"),
            "execution_arn": self.execution.arn,
            "execution_name": self.execution.name,
            "rows_scored": self.rows_scored,
            "rows_loaded": self.rows_loaded,
            "metric": self.metric,
            "engine": self.engine,
            "scoring_engine": self.scoring_engine,
            "predictions_table": self.predictions_table,
            "failed_state": self.execution.failed_state,
            "error": self.execution.error,
            "cause": self.execution.cause,
            "seconds": self.execution.seconds,
            "model": self._section("model").get("model_package_arn"),
            "gate": self.gate,
            "tuning": self.tuning,
            "sql_scoring": self.sql_scoring.as_json() if self.sql_scoring else None,
            "predictions_sample": self.predictions_sample,
            "cost": self.cost,
        }


Score = float | list[float]


@dataclass
class SqlScoring:
    """The run's rows scored again in SQL by ML_PREDICT_<DATASET>, next to the transform's scores."""

    function: str
    rows: int
    max_abs_diff: float
    # (id, transform's, SQL's), a few rows: a score, or a multi-class model's class probabilities
    sample: list[tuple[str, Score, Score]]

    def as_json(self) -> dict[str, Any]:
        return {"function": self.function, "rows": self.rows, "max_abs_diff": self.max_abs_diff}


def _score(value: Any) -> Score:
    """A SCORE (FLOAT) or an ARRAY of probabilities, which the connector returns as JSON text."""
    if isinstance(value, str):
        return [float(item) for item in json.loads(value)]
    if isinstance(value, list):
        return [float(item) for item in value]
    return float(value)


def score_difference(transform: Score, sql: Score) -> float:
    """|SQL - transform|: of the score, or the largest over a multi-class model's probabilities
    (an array of another length differs by infinity)."""
    if isinstance(transform, float) and isinstance(sql, float):
        return abs(transform - sql)
    if isinstance(transform, list) and isinstance(sql, list) and len(transform) == len(sql):
        return max((abs(a - b) for a, b in zip(transform, sql, strict=True)), default=0.0)
    return math.inf


def score_in_sql(sandbox: Sandbox, plan: dict[str, Any], sample: int = 5) -> SqlScoring | None:
    """Call ML_PREDICT_<DATASET> on every row of the dataset's scoring view and compare each score
    with the one the run's batch transform loaded (a multi-class model's: PROBABILITIES, element
    by element); None when the dataset has no function yet."""
    function = function_name(plan["dataset"])
    multiclass = plan.get("model", {}).get("problem") == "multiclass"
    transform_column = "PROBABILITIES" if multiclass else "SCORE"
    with sandbox.snowflake_connection() as connection:
        cursor = connection.cursor()
        # ML_MODELS holds a row once a function serves it (snowsage/snowflake/publishing.py).
        cursor.execute("SELECT COUNT(*) FROM ML_MODELS WHERE DATASET = %(name)s", {"name": plan["dataset"]})
        if not cursor.fetchone()[0]:
            return None
        cursor.execute(
            "SELECT SCORING_VIEW, ID_COLUMN FROM ML_DATASETS WHERE NAME = %(name)s", {"name": plan["dataset"]}
        )
        view, id_column = (validate_snowflake_identifier(value) for value in cursor.fetchone())
        table = validate_snowflake_identifier(plan["predictions_table"], "predictions table")
        features = ", ".join(f"s.{validate_snowflake_identifier(f)}" for f in plan["scoring"]["features"])
        cursor.execute(
            f"SELECT p.ID, p.{transform_column}, {function}({features}) FROM {view} s"  # noqa: S608  # nosec B608
            f" JOIN {table} p ON TO_VARCHAR(s.{id_column}) = p.ID WHERE p.RUN_ID = %(run_id)s ORDER BY p.ID",
            {"run_id": plan["run_id"]},
        )
        rows = [(str(row[0]), _score(row[1]), _score(row[2])) for row in cursor.fetchall()]
    return SqlScoring(
        function=function,
        rows=len(rows),
        max_abs_diff=max((score_difference(transform, sql) for _, transform, sql in rows), default=0.0),
        sample=rows[:sample],
    )


def manifest_rule_name(sandbox: Sandbox) -> str:
    return sandbox.deployed.resources[f"StartPipelineFunction{MANIFEST_RULE_SUFFIX}"]


def set_auto_start(sandbox: Sandbox, enabled: bool) -> None:
    """Turn the S3 -> EventBridge -> StartPipeline rule on or off (hand starts need it off)."""
    events = sandbox.client("events")
    name = manifest_rule_name(sandbox)
    if enabled:
        events.enable_rule(Name=name)
    else:
        events.disable_rule(Name=name)


def apply_user_sql(sandbox: Sandbox, files: list[Path]) -> None:
    with sandbox.snowflake_connection() as connection:
        apply_setup(connection, files, sandbox.sql_variables())


def export(
    sandbox: Sandbox,
    dataset: str,
    export_id: str | None = None,
    *,
    rows_per_file: int = DEFAULT_ROWS_PER_FILE,
) -> dict[str, Any]:
    """CALL EXPORT_DATASET as the sandbox emulates it: files, then the manifest (which fires the event)."""
    with sandbox.snowflake_connection() as connection:
        return export_dataset(
            connection, sandbox.stage_s3(), sandbox.bucket, dataset, export_id, rows_per_file=rows_per_file
        )


def read_predictions(
    sandbox: Sandbox, table: str, run_id: str | None = None, limit: int = 5
) -> list[tuple[Any, ...]]:
    table = validate_snowflake_identifier(table, "predictions table")
    where = "WHERE RUN_ID = %(run_id)s" if run_id else ""
    query = f"SELECT ID, SCORE, RUN_ID, MODEL_VERSION, SCORED_AT FROM {table} {where}"  # noqa: S608
    with sandbox.snowflake_connection() as connection:
        cursor = connection.cursor()
        cursor.execute(
            f"{query} ORDER BY SCORE DESC LIMIT {int(limit)}", {"run_id": run_id} if run_id else None
        )
        return [tuple(row) for row in cursor.fetchall()]


# The connector returns semi-structured values (VARIANT, OBJECT, ARRAY) as JSON text.
_SEMI_STRUCTURED = frozenset({"VARIANT", "OBJECT", "ARRAY"})


def read_predictions_sample(
    sandbox: Sandbox, table: str, run_id: str | None = None, limit: int = 5
) -> list[dict[str, Any]]:
    """Up to ``limit`` rows of the predictions table (this run's), every column, highest SCORE first."""
    table = validate_snowflake_identifier(table, "predictions table")
    where = "WHERE RUN_ID = %(run_id)s" if run_id else ""
    query = f"SELECT * FROM {table} {where} ORDER BY SCORE DESC, ID LIMIT {int(limit)}"  # noqa: S608
    with sandbox.snowflake_connection() as connection:
        cursor = connection.cursor()
        cursor.execute(query, {"run_id": run_id} if run_id else None)
        names = [column.name for column in cursor.description]
        kinds = [FIELD_ID_TO_NAME[column.type_code] for column in cursor.description]
        return [
            {
                name: json.loads(value) if kind in _SEMI_STRUCTURED and isinstance(value, str) else value
                for name, kind, value in zip(names, kinds, row, strict=True)
            }
            for row in cursor.fetchall()
        ]


def _finish(
    sandbox: Sandbox,
    arn: str,
    manifest: dict[str, Any],
    on_state: Callable[[StateSpan], None] | None,
    timings: dict[str, float],
    *,
    timeout: float = 600,
) -> RunResult:
    started = time.perf_counter()
    summary = wait_for_execution(sandbox.client("stepfunctions"), arn, on_state=on_state, timeout=timeout)
    timings["execution"] = time.perf_counter() - started
    result = RunResult(execution=summary, manifest=manifest, timings=timings)
    plan = (summary.output or {}).get("plan") or {}
    if plan.get("run_id"):
        with sandbox.snowflake_connection() as connection:
            result.cost = read_run_cost(connection, plan["run_id"])
    if summary.status == "SUCCEEDED" and result.predictions_table:
        result.predictions = read_predictions(sandbox, result.predictions_table, plan.get("run_id"))
        result.sql_scoring = score_in_sql(sandbox, plan)
        result.predictions_sample = read_predictions_sample(
            sandbox, result.predictions_table, plan.get("run_id")
        )
    return result


def follow_export(
    sandbox: Sandbox,
    manifest: dict[str, Any],
    *,
    on_state: Callable[[StateSpan], None] | None = None,
    timings: dict[str, float] | None = None,
    timeout: float = 600,
) -> RunResult:
    """Wait for the execution an export's manifest event starts, and follow it to the end."""
    name = execution_name(manifest["dataset"], manifest["export_id"])
    moto_patches.wait_for_event_deliveries()
    arn = wait_for_execution_named(sandbox.client("stepfunctions"), sandbox.state_machine_arn, name)
    return _finish(sandbox, arn, manifest, on_state, timings or {}, timeout=timeout)


def run_from_export(
    sandbox: Sandbox,
    dataset: str,
    *,
    export_id: str | None = None,
    on_state: Callable[[StateSpan], None] | None = None,
    rows_per_file: int = DEFAULT_ROWS_PER_FILE,
) -> RunResult:
    """Export, and follow the execution the S3 event starts (the production path)."""
    started = time.perf_counter()
    manifest = export(sandbox, dataset, export_id, rows_per_file=rows_per_file)
    return follow_export(
        sandbox, manifest, on_state=on_state, timings={"export": time.perf_counter() - started}
    )


def export_ids(runs: int, now: datetime | None = None) -> list[str | None]:
    """Export ids for ``runs`` exports in one sandbox: one run keeps the default (the time); more
    get the time plus ``-1``, ``-2``, … so that exports made within the same second stay distinct."""
    if runs < 1:
        raise ValueError(f"runs must be at least 1, not {runs}")
    if runs == 1:
        return [None]
    base = export_id_for(now or datetime.now(UTC))
    return [f"{base}-{number}" for number in range(1, runs + 1)]


def manifest_event(sandbox: Sandbox, dataset: str, export_id: str) -> dict[str, Any]:
    """The S3 "Object Created" event of an export's manifest (events/ sample, this sandbox's bucket)."""
    event: dict[str, Any] = json.loads(MANIFEST_EVENT_FILE.read_text())
    event["detail"]["bucket"]["name"] = sandbox.bucket
    event["detail"]["object"]["key"] = f"exports/{dataset}/{export_id}/manifest.json"
    event["resources"] = [f"arn:aws:s3:::{sandbox.bucket}"]
    return event


def replay_event(sandbox: Sandbox, event: dict[str, Any]) -> None:
    """PutEvents with an S3 "Object Created" event file, as S3 delivers it to EventBridge."""
    response = sandbox.client("events").put_events(
        Entries=[
            {
                "Source": event["source"],
                "DetailType": event["detail-type"],
                "Detail": json.dumps(event["detail"]),
                "Resources": list(event.get("resources", [])),
            }
        ]
    )
    if response.get("FailedEntryCount"):
        raise RuntimeError(f"PutEvents refused the event: {response['Entries']}")


def executions_for(sandbox: Sandbox, name: str) -> int:
    """How many executions carry ``name`` (exactly-once checks)."""
    sfn = sandbox.client("stepfunctions")
    return sum(
        execution["name"] == name
        for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=sandbox.state_machine_arn)
        for execution in page["executions"]
    )


def start_by_hand(
    sandbox: Sandbox,
    document: dict[str, Any],
    *,
    name: str | None = None,
    on_state: Callable[[StateSpan], None] | None = None,
    manifest: dict[str, Any] | None = None,
) -> RunResult:
    """StartExecution with a console-style input, as a person does from the Step Functions console."""
    sfn = sandbox.client("stepfunctions")
    response = sfn.start_execution(
        stateMachineArn=sandbox.state_machine_arn,
        name=name or f"console-{int(time.time() * 1000)}",
        input=json.dumps(document),
    )
    return _finish(sandbox, response["executionArn"], manifest or {}, on_state, {})


def export_for_input(sandbox: Sandbox, document: dict[str, Any]) -> dict[str, Any]:
    """Make the export an execution input (or event) names, without letting its event start a run."""
    location = ManifestLocation.from_uri(str(document["manifest"]))
    set_auto_start(sandbox, enabled=False)
    try:
        return export(sandbox, location.dataset, location.export_id)
    finally:
        set_auto_start(sandbox, enabled=True)
