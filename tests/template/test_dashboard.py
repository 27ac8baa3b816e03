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
    ("AWS/States", "ExecutionsTimedOut"),
    ("AWS/States", "ExecutionsAborted"),
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


# Every way a Standard execution ends other than success (Step Functions, "Execution metrics").
ENDINGS_WITHOUT_SUCCESS = ("ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted")
FILL = re.compile(r"FILL\((\w+), 0\)")


def alarm_value(alarm: dict[str, Any], datapoints: dict[str, float]) -> float:
    """The alarm's value for one period with ``datapoints`` by metric name (absent: no datapoint):
    its metric alone, or its metric math expression (only sums of FILL(id, 0) are used here)."""
    if "MetricName" in alarm:
        return datapoints.get(alarm["MetricName"], float("nan"))
    by_id = {query["Id"]: query for query in alarm["Metrics"]}
    (returned,) = [query for query in alarm["Metrics"] if query.get("ReturnData")]
    terms = [term.strip() for term in returned["Expression"].split("+")]
    total = 0.0
    for term in terms:
        match = FILL.fullmatch(term)
        assert match, f"only FILL(id, 0) terms are evaluated here, not {term!r}"
        metric = by_id[match.group(1)]["MetricStat"]["Metric"]
        assert metric["Dimensions"] == [{"Name": "StateMachineArn", "Value": {"Ref": "PipelineStateMachine"}}]
        total += datapoints.get(metric["MetricName"], 0.0) if metric["Namespace"] == "AWS/States" else 0.0
    return total


def breaches(alarm: dict[str, Any], datapoints: dict[str, float]) -> bool:
    value = alarm_value(alarm, datapoints)
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    return value > alarm["Threshold"]


def test_an_execution_that_fails_times_out_or_is_aborted_sets_off_the_failure_alarm() -> None:
    alarm = resources()["PipelineFailedAlarm"]["Properties"]
    for ending in ENDINGS_WITHOUT_SUCCESS:
        assert breaches(alarm, {ending: 1.0}), f"{ending}: no alarm sees it"
    assert not breaches(alarm, {"ExecutionsSucceeded": 3.0})
    assert not breaches(alarm, {})


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
