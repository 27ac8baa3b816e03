"""The operations dashboard and alarms: every widget's metric has an emitter, every alarm an SNS action."""

from __future__ import annotations

import json
import re
from typing import Any

from snowsage import run_metrics
from tests.template.template_model import ROOT, function_globals, resources, resources_of_type

# Metrics Step Functions and SQS publish themselves
# (docs: procedure-cw-metrics, sqs-available-cloudwatch-metrics).
SERVICE_METRICS = {
    ("AWS/States", "ExecutionsStarted"),
    ("AWS/States", "ExecutionsSucceeded"),
    ("AWS/States", "ExecutionsFailed"),
    ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
    # SageMaker's endpoint invocation metrics (monitoring-cloudwatch, serverless-endpoints-monitoring)
    ("AWS/SageMaker", "Invocations"),
    ("AWS/SageMaker", "Invocation4XXErrors"),
    ("AWS/SageMaker", "Invocation5XXErrors"),
    ("AWS/SageMaker", "ModelLatency"),
}
# Metrics Insights: a namespace with "/" is double-quoted (cloudwatch-metrics-insights-querylanguage).
INSIGHTS = re.compile(r'SELECT \w+\((\w+)\) FROM SCHEMA\((\w+|"[\w/]+"), ([\w, ]+)\)')


def body() -> dict[str, Any]:
    text = resources()["OperationsDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    return dict(json.loads(re.sub(r"\$\{[^}]+\}", "x", text)))


def widget_metrics() -> list[tuple[str, str, tuple[str, ...]]]:
    """(namespace, metric, dimension names) of every widget, '...' rows expanded from the row above."""
    found: list[tuple[str, str, tuple[str, ...]]] = []
    for widget in body()["widgets"]:
        previous: list[str] = []
        for given in widget["properties"]["metrics"]:
            if isinstance(given[0], dict):
                match = INSIGHTS.fullmatch(given[0]["expression"].split(" GROUP BY")[0])
                assert match, given[0]["expression"]
                metric, namespace, dimensions = match.groups()
                found.append(
                    (namespace.strip('"'), metric, tuple(name.strip() for name in dimensions.split(",")))
                )
                continue
            expanded = given
            if given[0] == "...":  # the previous row's leading values
                expanded = [*previous[: len(previous) - len(given) + 1], *given[1:]]
            row = [previous[index] if value == "." else value for index, value in enumerate(expanded)]
            previous = row
            found.append((row[0], row[1], tuple(row[2::2])))
    return found


def emitted_by_functions() -> set[str]:
    """EMF metric names the handlers add (metrics.add_metric(name=...)) or RecordRun's run_metrics."""
    names = set()
    for path in (ROOT / "functions").glob("*/app.py"):
        names |= set(re.findall(r'add_metric\(name=f?"([A-Za-z]+)', path.read_text()))
    names |= {run_metrics.MODEL_METRIC, run_metrics.STATE_SECONDS, run_metrics.RUN_COST}
    return names


def test_the_dashboard_shows_what_the_issue_asks() -> None:
    metrics = {metric for _, metric, _ in widget_metrics()}
    assert {
        "ExecutionsStarted",
        "ExecutionsSucceeded",
        "ExecutionsFailed",
        "StateSeconds",
        "PredictionsLoaded",
        "ModelMetric",
        "ApproximateNumberOfMessagesVisible",
        "Invocations",
        "Invocation5XXErrors",
        "ModelLatency",
    } <= metrics


def test_every_widget_metric_has_an_emitter() -> None:
    namespace = function_globals()["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"]
    service = function_globals()["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]
    emitted = emitted_by_functions()
    for widget_namespace, metric, dimensions in widget_metrics():
        if widget_namespace.startswith("AWS/"):
            assert (widget_namespace, metric) in SERVICE_METRICS, metric
            continue
        assert widget_namespace == namespace, metric
        assert metric in emitted, f"{metric}: no function emits it"
        # Powertools adds the service dimension to every EMF metric: a widget must name it
        assert "service" in dimensions, metric
    assert service == "snowsage"


def test_emf_dimensions_match_the_widgets() -> None:
    dims = {metric: dimensions for _, metric, dimensions in widget_metrics()}
    assert set(dims["ModelMetric"]) == {"Dataset", "Metric", "service"}
    assert set(dims["StateSeconds"]) == {"State", "service"}
    assert set(dims["RunCostUSD"]) == {"Dataset", "service"}


def test_the_dead_letter_widget_shows_both_queues() -> None:
    text = resources()["OperationsDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    queues = set(resources_of_type("AWS::SQS::Queue"))
    assert {queue for queue in queues if "${" + queue + ".QueueName}" in text} == queues


def test_every_alarm_notifies_the_topic() -> None:
    alarms = resources_of_type("AWS::CloudWatch::Alarm")
    assert {"PipelineFailedAlarm", "StartPipelineDeadLetterAlarm", "ExecutionOutcomeDeadLetterAlarm"} <= set(
        alarms
    )
    for name, alarm in alarms.items():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": "NotificationTopic"}], name


def test_the_failure_alarm_watches_the_pipeline() -> None:
    alarm = resources()["PipelineFailedAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/States", "ExecutionsFailed")
    assert alarm["Dimensions"] == [{"Name": "StateMachineArn", "Value": {"Ref": "PipelineStateMachine"}}]


def test_the_staleness_alarm_reads_what_the_check_emits_and_alarms_when_it_stops() -> None:
    alarm = resources()["DatasetStaleAlarm"]["Properties"]
    namespace = function_globals()["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"]
    assert (alarm["Namespace"], alarm["MetricName"]) == (namespace, "StaleDatasets")
    assert "StaleDatasets" in emitted_by_functions()
    assert alarm["Dimensions"] == [{"Name": "service", "Value": "snowsage"}]
    assert alarm["TreatMissingData"] == "breaching"
    schedule = resources()["StalenessCheckFunction"]["Properties"]["Events"]["Hourly"]
    assert schedule["Properties"]["Schedule"] == "rate(1 hour)"
    assert alarm["Period"] == 3600
