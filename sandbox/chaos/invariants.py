"""The campaign's invariants, each read from the real state: S3, the SageMaker registry and jobs,
Snowflake's tables and functions, Step Functions' executions and histories, the notices an SQS
subscription of the run topic received. Never from what the pipeline reported about itself.

1. an export's predictions exist exactly once (one row per id, of one run), or not at all if no
   run of it loaded them (its history shows no LoadPredictions/ScoreInSnowflake that succeeded);
2. no half-load: the rows of an export come from one run, as many as its manifest scored, and
   ML_RUNS says that run loaded that many;
3. an execution that did not succeed has exactly one ML_RUNS row, with its status, and exactly
   one notice; a success has one SUCCEEDED row and one notice. One ending is documented to
   differ: NotificationFailed (only the notice failed, after the run was complete and recorded)
   keeps its SUCCEEDED row, and the safety net sends the one notice;
4. the champion per dataset is its latest Approved package, and ML_PREDICT_<DATASET> serves it;
5. no SageMaker job left running once its run ended, no tuning job or endpoint in flight at the
   end, and every SageMaker model names (in its name, as its tag does) a run that ML_RUNS holds;
6. a run's cost is a number or NULL with COST_NOTE saying why.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any

from sandbox.chaos.injection import FAILURE_SUBJECT
from sandbox.services import Sandbox
from sandbox.snowflake import functions
from snowsage.names import validate_snowflake_identifier

LOAD_STATES = ("LoadPredictions", "ScoreInSnowflake")
SUCCESS_EVENTS = ("TaskSucceeded", "LambdaFunctionSucceeded")
FAILURE_EVENTS = frozenset({"TaskFailed", "LambdaFunctionFailed", "TaskSubmitFailed", "TaskTimedOut"})
RUN_STATUSES = ("FAILED", "ABORTED", "TIMED_OUT")
NOTICE_ONLY_FAILED = "NotificationFailed"  # the ASL's Fail state after Notify's retries


@dataclass(frozen=True)
class Violation:
    invariant: int
    run: int | None
    message: str


def _query(sb: Sandbox, sql: str, binds: Any = None) -> list[tuple[Any, ...]]:
    with sb.snowflake_connection() as connection:
        cursor = connection.cursor()
        cursor.execute(sql, binds)
        return [tuple(row) for row in cursor.fetchall()]


def history(sb: Sandbox, arn: str, *, data: bool = False) -> list[dict[str, Any]]:
    """The execution's history, in event id order (``data``: with each state's input and output)."""
    sfn = sb.client("stepfunctions")
    events: list[dict[str, Any]] = []
    for page in sfn.get_paginator("get_execution_history").paginate(
        executionArn=arn, includeExecutionData=data
    ):
        events.extend(page["events"])
    return sorted(events, key=lambda event: int(event["id"]))


def succeeded_states(events: list[dict[str, Any]]) -> list[str]:
    """The states whose task (an attempt of it) succeeded, in order."""
    done: list[str] = []
    state = ""
    for event in events:
        if event["type"].endswith("StateEntered"):
            state = event["stateEnteredEventDetails"]["name"]
        elif event["type"] in SUCCESS_EVENTS:
            done.append(state)
    return done


class Notices:
    """The run topic's notices, from an SQS subscription made before the first run, by execution."""

    def __init__(self, sb: Sandbox) -> None:
        self.sb = sb
        self.url = sb.subscribe_queue("chaos-notices")
        self.by_execution: Counter[str] = Counter()
        self.unattributed: list[str] = []
        self._lock = threading.Lock()

    def drain(self) -> None:
        sqs = self.sb.client("sqs")
        with self._lock:
            while messages := sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10).get(
                "Messages", []
            ):
                for message in messages:
                    sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])
                    envelope = json.loads(message["Body"])
                    name = _notice_execution(str(envelope.get("Subject") or ""), envelope["Message"])
                    if name is None:
                        self.unattributed.append(envelope.get("Subject") or "")
                    else:
                        self.by_execution[name] += 1

    def count(self, execution: str) -> int:
        self.drain()
        with self._lock:
            return self.by_execution[execution]


def _notice_execution(subject: str, message: str) -> str | None:
    if subject.startswith(FAILURE_SUBJECT):
        return subject.removeprefix(FAILURE_SUBJECT)
    try:
        document = json.loads(message)
    except ValueError:
        return None
    name = document.get("execution_name") if isinstance(document, dict) else None
    return name if isinstance(name, str) else None


@dataclass
class Execution:
    """One execution of a run, as Step Functions describes it now."""

    name: str
    arn: str
    status: str
    error: str | None
    loaded: bool  # a LoadPredictions or ScoreInSnowflake attempt succeeded


def describe(sb: Sandbox, arn: str) -> Execution:
    sfn = sb.client("stepfunctions")
    described = sfn.describe_execution(executionArn=arn)
    loaded = any(state in LOAD_STATES for state in succeeded_states(history(sb, arn)))
    return Execution(described["name"], arn, described["status"], described.get("error"), loaded)


def predictions_table(sb: Sandbox, dataset: str) -> str:
    rows = _query(sb, "SELECT PREDICTIONS_TABLE FROM ML_DATASETS WHERE NAME = %s", (dataset,))
    return validate_snowflake_identifier(str(rows[0][0]), "predictions table")


def manifest_rows(sb: Sandbox, dataset: str, export_id: str) -> int | None:
    """The rows the export's manifest (in S3, as it is now) says were exported for scoring."""
    key = f"exports/{dataset}/{export_id}/manifest.json"
    try:
        manifest = json.loads(sb.client("s3").get_object(Bucket=sb.bucket, Key=key)["Body"].read())
    except sb.client("s3").exceptions.NoSuchKey:
        return None
    section = manifest.get("score") or {}
    rows = section.get("rows") or (manifest.get("scoring") or {}).get("rows")
    return int(rows) if rows is not None else None


def ml_runs(sb: Sandbox, execution: str) -> list[dict[str, Any]]:
    fields = ("RUN_ID", "STATUS", "ROWS_LOADED", "COST_USD", "COST_NOTE", "EXPORT_ID")
    query = f"SELECT {', '.join(fields)} FROM ML_RUNS WHERE EXECUTION_NAME = %s"  # noqa: S608  # nosec B608: constant names
    rows = _query(sb, query, (execution,))
    return [dict(zip(fields, row, strict=True)) for row in rows]


def check_export(
    sb: Sandbox, run: int, dataset: str, export_id: str, executions: list[Execution]
) -> list[Violation]:
    """Invariants 1 and 2 for one export, given every execution of it."""
    table = predictions_table(sb, dataset)
    found = _query(
        sb,
        f"SELECT RUN_ID, COUNT(*), COUNT(DISTINCT ID) FROM {table} WHERE EXPORT_ID = %s GROUP BY RUN_ID",  # noqa: S608  # nosec B608: validated
        (export_id,),
    )
    violations: list[Violation] = []
    loaders = {e.name for e in executions if e.loaded}
    if not found:
        if any(e.status == "SUCCEEDED" for e in executions):
            violations.append(
                Violation(1, run, f"{export_id}: an execution SUCCEEDED, {table} has no rows of it")
            )
        return violations
    total, distinct = (int(sum(r[1] for r in found)), int(sum(r[2] for r in found)))
    if len(found) > 1 or total != distinct:
        ids = _query(sb, f"SELECT COUNT(DISTINCT ID) FROM {table} WHERE EXPORT_ID = %s", (export_id,))  # noqa: S608  # nosec B608: validated
        if int(ids[0][0]) != total:
            violations.append(Violation(1, run, f"{export_id}: {total} prediction rows for {ids[0][0]} ids"))
    if len(found) > 1:
        violations.append(
            Violation(
                2, run, f"{export_id}: {table} holds rows of {len(found)} runs: {sorted(r[0] for r in found)}"
            )
        )
    scored = manifest_rows(sb, dataset, export_id)
    for run_id, count, distinct in found:
        if count != distinct:
            violations.append(
                Violation(1, run, f"{export_id}: {count} rows for {distinct} ids (run {run_id})")
            )
        if scored is not None and count != scored:
            violations.append(
                Violation(2, run, f"{export_id}: {count} rows of run {run_id}; the export scored {scored}")
            )
        records = _query(sb, "SELECT EXECUTION_NAME, ROWS_LOADED FROM ML_RUNS WHERE RUN_ID = %s", (run_id,))
        if not any(name in loaders for name, _ in records):
            violations.append(
                Violation(
                    1,
                    run,
                    f"{export_id}: {count} rows of run {run_id}, whose history shows no load that succeeded",
                )
            )
        if not any(loaded == count for _, loaded in records):
            violations.append(
                Violation(
                    2,
                    run,
                    f"{export_id}: {count} rows of run {run_id}; ML_RUNS says {[r[1] for r in records]}",
                )
            )
    return violations


def check_records(sb: Sandbox, run: int, execution: Execution, notices: Notices) -> list[Violation]:
    """Invariants 3 and 6 for one ended execution."""
    rows = ml_runs(sb, execution.name)
    violations: list[Violation] = []
    if len(rows) != 1:
        violations.append(
            Violation(3, run, f"{execution.name} ({execution.status}): {len(rows)} ML_RUNS rows")
        )
    recorded_success = execution.status == "SUCCEEDED" or execution.error == NOTICE_ONLY_FAILED
    expected = ("SUCCEEDED",) if recorded_success else RUN_STATUSES
    for row in rows:
        if row["STATUS"] not in expected:
            violations.append(
                Violation(3, run, f"{execution.name} ended {execution.status}; ML_RUNS says {row['STATUS']}")
            )
        if row["COST_USD"] is None and not row["COST_NOTE"]:
            violations.append(
                Violation(6, run, f"{execution.name}: COST_USD is NULL and COST_NOTE says nothing")
            )
        if row["COST_USD"] is not None and not isinstance(row["COST_USD"], int | float):
            violations.append(Violation(6, run, f"{execution.name}: COST_USD is {row['COST_USD']!r}"))
    sent = notices.count(execution.name)
    if sent != 1:
        violations.append(Violation(3, run, f"{execution.name} ({execution.status}): {sent} notices"))
    return violations


def check_jobs(sb: Sandbox, run: int | None, run_ids: list[str], *, final: bool = False) -> list[Violation]:
    """Invariant 5: the run's SageMaker jobs ended; at the end nothing at all in flight, and every
    model names a run ML_RUNS holds."""
    sagemaker = sb.client("sagemaker")
    violations: list[Violation] = []
    listed = {
        "training job": [
            (j["TrainingJobName"], j["TrainingJobStatus"])
            for j in sagemaker.list_training_jobs(MaxResults=100, StatusEquals="InProgress")[
                "TrainingJobSummaries"
            ]
        ],
        "transform job": [
            (j["TransformJobName"], j["TransformJobStatus"])
            for j in sagemaker.list_transform_jobs(MaxResults=100, StatusEquals="InProgress")[
                "TransformJobSummaries"
            ]
        ],
    }
    if final:
        listed["tuning job"] = [
            (j["HyperParameterTuningJobName"], j["HyperParameterTuningJobStatus"])
            for j in sagemaker.list_hyper_parameter_tuning_jobs(MaxResults=100, StatusEquals="InProgress")[
                "HyperParameterTuningJobSummaries"
            ]
        ]
        listed["endpoint"] = [
            (e["EndpointName"], e["EndpointStatus"])
            for e in sagemaker.list_endpoints(MaxResults=100)["Endpoints"]
            if e["EndpointStatus"] not in ("InService", "Failed")
        ]
    for what, jobs in listed.items():
        for name, status in jobs:
            if final or any(run_id.lower() in name.lower() for run_id in run_ids):
                violations.append(Violation(5, run, f"{what} {name} is {status} after its run ended"))
    if final:
        known = {str(row[0]) for row in _query(sb, "SELECT RUN_ID FROM ML_RUNS")}
        for page in sagemaker.get_paginator("list_models").paginate():
            for model in page["Models"]:
                # <prefix>-<run id>-model-<retry> (the ASL's CreateModel and CreateEndpointModel)
                name = str(model["ModelName"]).lower()
                if not any(f"-{run_id.lower()}-model-" in name for run_id in known):
                    violations.append(
                        Violation(5, None, f"model {model['ModelName']} names no run ML_RUNS holds")
                    )
    return violations


def check_champion(sb: Sandbox, dataset: str, run: int | None = None) -> list[Violation]:
    """Invariant 4: the latest Approved package of the dataset's group is what its function serves."""
    sagemaker = sb.client("sagemaker")
    group = next(
        (
            g["ModelPackageGroupName"]
            for g in sagemaker.list_model_package_groups(MaxResults=100)["ModelPackageGroupSummaryList"]
            if g["ModelPackageGroupName"].endswith("-" + dataset.replace("_", "-"))
        ),
        None,
    )
    if group is None:
        return []
    approved = sagemaker.list_model_packages(
        ModelPackageGroupName=group,
        ModelApprovalStatus="Approved",
        SortBy="CreationTime",
        SortOrder="Descending",
    )["ModelPackageSummaryList"]
    function = f"ML_PREDICT_{dataset.upper()}"
    running = functions.installed()
    served = running.functions.get(function) if running is not None else None
    if not approved:
        return [Violation(4, run, f"{dataset}: no Approved package, yet {function} exists")] if served else []
    version = int(approved[0]["ModelPackageVersion"])
    if not served or running is None:
        return [Violation(4, run, f"{dataset}: champion v{version}, but no {function}")]
    imports = running.newest(function).definition.imports
    expected = f"@ML_MODELS_STAGE/{dataset}/v{version}/model.tar.gz"
    if imports != [expected]:
        return [Violation(4, run, f"{dataset}: champion v{version}; {function} imports {imports}")]
    return []
