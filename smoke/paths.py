"""Every path of the pipeline, walked by the smoke once the stack and the database exist.

Details: docs/smoke.md, "smoke/paths.py".
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from snowsage.names import execution_name
from tooling.sample_data import SAMPLE_DATASET as DATASET

if TYPE_CHECKING:
    from smoke.plan import _Smoke

# Two trials, searched over eta: enough for a tuning job and its warm start, cheap (docs/smoke.md).
TUNING = {
    "max_jobs": 2,
    "max_parallel_jobs": 2,
    "strategy": "Random",
    "ranges": {"eta": [0.1, 0.5]},
    "warm_start": True,
}
ALARM_REASON = "Snowsage smoke: proving this alarm's action (set back to OK right after)"
SCHEDULED_EVENT = Path(__file__).resolve().parents[1] / "events" / "check_staleness" / "scheduled.json"


@dataclass
class Paths:
    smoke: _Smoke
    connection: Any
    bucket: str
    manifests: dict[str, dict[str, Any]] = field(default_factory=dict)

    # -- the walk --------------------------------------------------------------------------------

    def walk(self) -> None:
        # The first promoted model goes behind a serverless endpoint (billed per use).
        self.set_row(TUNING=json.dumps(TUNING), ENDPOINT="SERVERLESS")
        tuned = self.export("tuned")
        self.check_run(
            "tuned run",
            execution_name(DATASET, tuned["export_id"]),
            entered={"Tune", "DeployEndpoint"},
            endpoint_status="CREATED",
        )
        self.check_run("warm-started run", self.start(tuned, "warm"), entered={"TuneWarm"})
        self.set_row(TUNING=None, ENDPOINT=None)
        plain = self.export("plain")
        self.check_run("one training job", execution_name(DATASET, plain["export_id"]), entered={"Train"})
        self.set_row(TRAINING_ENGINE="SNOWFLAKE")
        in_snowflake = self.export("snowflake")
        self.check_run(
            "trained in Snowflake",
            execution_name(DATASET, in_snowflake["export_id"]),
            entered={"TrainInSnowflake"},
            training_job_prefix="snowflake:",
        )
        self.set_row(TRAINING_ENGINE=None)
        self.check_run(
            "score only", self.start(in_snowflake, "score-only", mode="score_only"), entered={"SelectModel"}
        )
        self.smoke.check_bad_manifest(self.connection, plain, self.bucket)
        self.check_stopped_run(plain)
        self.check_staleness()
        self.check_alarms()

    # -- steps -----------------------------------------------------------------------------------

    def set_row(self, **columns: str | None) -> None:
        """The dataset's ML_DATASETS row, as a person changes it (docs/snowflake.md)."""
        cursor = self.connection.cursor()
        try:
            for column, value in columns.items():
                cursor.execute(
                    f"UPDATE ML_DATASETS SET {column} = %s WHERE NAME = %s",  # noqa: S608  # a literal column
                    (value, DATASET),
                )
        finally:
            cursor.close()

    def export(self, label: str) -> dict[str, Any]:
        manifest = self.smoke.platform.export(self.connection, self.bucket, DATASET)
        self.manifests[label] = manifest
        self.smoke.say(f"EXPORT_DATASET('{DATASET}') wrote export {manifest['export_id']} ({label})")
        return manifest

    def manifest_uri(self, manifest: dict[str, Any]) -> str:
        return f"s3://{self.bucket}/exports/{DATASET}/{manifest['export_id']}/manifest.json"

    def start(self, manifest: dict[str, Any], suffix: str, **overrides: Any) -> str:
        """A hand start of ``manifest`` (README, "Re-running an export"); its execution name."""
        name = f"{execution_name(DATASET, manifest['export_id'])}-{suffix}"
        document = {"manifest": self.manifest_uri(manifest), **overrides}
        self.smoke.platform.client("stepfunctions").start_execution(
            stateMachineArn=self.smoke.outputs["PipelineStateMachineArn"],
            name=name,
            input=json.dumps(document),
        )
        return name

    def check_run(
        self,
        label: str,
        name: str,
        *,
        entered: set[str],
        training_job_prefix: str | None = None,
        endpoint_status: str | None = None,
    ) -> None:
        self.smoke.say(f"waiting for execution {name} ({label})")
        execution = self.smoke.wait_for_execution(name)
        states = states_entered(self.smoke.platform.client("stepfunctions"), execution["executionArn"])
        self.smoke.check(
            f"{label}: execution succeeded through {', '.join(sorted(entered))}",
            execution["status"] == "SUCCEEDED" and entered <= states,
            f"{outcome(execution)}; states entered: {', '.join(sorted(states))}",
        )
        self.smoke.check_recorded_run(
            self.connection,
            name,
            label,
            training_job_prefix=training_job_prefix,
            endpoint_status=endpoint_status,
        )

    def check_stopped_run(self, manifest: dict[str, Any]) -> None:
        """StopExecution: no Catch runs, the safety net records the run ABORTED (docs/reliability.md)."""
        name = f"{execution_name(DATASET, manifest['export_id'])}-stopped"
        document = json.dumps({"manifest": self.manifest_uri(manifest)})
        self.smoke.platform.start_and_stop(self.smoke.outputs["PipelineStateMachineArn"], name, document)
        execution = self.smoke.wait_for_execution(name)
        self.smoke.check(
            "stopped run: execution ABORTED", execution["status"] == "ABORTED", outcome(execution)
        )
        row = self.smoke.wait_for_row(self.connection, name, "ABORTED")
        self.smoke.check(
            "stopped run: the safety net recorded it ABORTED",
            row is not None and row["STATUS"] == "ABORTED",
            f"{row}" if row else "no ML_RUNS row",
        )

    def check_staleness(self) -> None:
        """The hourly check, invoked with its schedule's event: the dataset that just ran is not stale."""
        function = self.smoke.stack_resource("StalenessCheckFunction")
        answer = self.smoke.platform.client("lambda").invoke(
            FunctionName=function, Payload=SCHEDULED_EVENT.read_bytes()
        )
        payload = json.loads(answer["Payload"].read() or b"{}")
        stale = payload.get("stale") if isinstance(payload, dict) else None
        self.smoke.check(
            f"StalenessCheck ran: {DATASET} is not stale",
            "FunctionError" not in answer
            and isinstance(stale, list)
            and DATASET not in {item.get("dataset") for item in stale},
            json.dumps(payload)[:300],
        )

    def check_alarms(self) -> None:
        """Every alarm template.yaml declares: in the stack, and its notice in the queue."""
        in_stack = self.smoke.stack_resources_of_type("AWS::CloudWatch::Alarm")
        queue_url = self.smoke.subscribe_queue(self.smoke.outputs["NotificationTopicArn"])
        cloudwatch = self.smoke.platform.client("cloudwatch")
        for name in in_stack.values():
            cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason=ALARM_REASON)
        seen = self.smoke.alarm_notices(queue_url, set(in_stack.values()))
        for name in in_stack.values():
            cloudwatch.set_alarm_state(AlarmName=name, StateValue="OK", StateReason=ALARM_REASON)
        for logical in template_alarms():
            physical = in_stack.get(logical)
            detail = (
                f"{logical} is not in the stack"
                if physical is None
                else f"notice for {physical}"
                if physical in seen
                else f"no notice for {physical} in the queue"
            )
            self.smoke.check(
                f"alarm {logical}: its action reached the subscribed queue", physical in seen, detail
            )


def template_alarms() -> list[str]:
    """The logical ids of the alarms template.yaml declares, sorted."""
    from tooling.template import project  # noqa: PLC0415  # the template reader, only here

    resources = project().document["Resources"]
    return sorted(
        name for name, resource in resources.items() if resource["Type"] == "AWS::CloudWatch::Alarm"
    )


def states_entered(sfn: Any, arn: str) -> set[str]:
    names: set[str] = set()
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=arn):
        for event in page["events"]:
            details = event.get("stateEnteredEventDetails")
            if details:
                names.add(str(details["name"]))
    return names


def alarm_name(body: str) -> str | None:
    """The alarm a notice is about: SNS's envelope (Message) around CloudWatch's JSON (AlarmName)."""
    try:
        envelope = json.loads(body)
        message = json.loads(envelope.get("Message", "{}")) if isinstance(envelope, dict) else {}
    except (json.JSONDecodeError, TypeError):
        return None
    name = message.get("AlarmName") if isinstance(message, dict) else None
    return str(name) if name else None


def outcome(execution: dict[str, Any]) -> str:
    text = f"{execution['name']} {execution['status']}"
    if execution.get("error"):
        text += f" ({execution['error']}: {str(execution.get('cause') or '')[:300]})"
    return text
