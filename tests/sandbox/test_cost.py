"""sandbox.cost: the per-run cost formula at list prices, on hand-made execution summaries."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sandbox import cost
from sandbox.aws.executions import ExecutionSummary, StateSpan
from sandbox.aws.template import Template

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
MEMORY = {"PrepareRunFunction": 256, "LoadPredictionsFunction": 512, "StartPipelineFunction": 256}
STATES = {"PrepareRun": "PrepareRunFunction", "LoadPredictions": "LoadPredictionsFunction"}


def span(name: str, start: float, seconds: float, kind: str = "Task") -> StateSpan:
    return StateSpan(
        name=name,
        kind=kind,
        entered=T0 + timedelta(seconds=start),
        exited=T0 + timedelta(seconds=start + seconds),
    )


def summary(output: dict[str, Any] | None = None, transitions: int = 10) -> ExecutionSummary:
    spans = [
        span("PrepareRun", 0, 2.0),
        span("ChooseMode", 2, 0.0, "Choice"),
        span("Train", 2, 100.0),
        span("Score", 102, 36.0),
        span("LoadPredictions", 138, 4.0),
    ]
    return ExecutionSummary(
        arn="arn:aws:states:us-east-1:123456789012:execution:p:e",
        name="e",
        status="SUCCEEDED",
        started=T0,
        stopped=T0 + timedelta(seconds=142),
        spans=spans,
        output=output,
        transitions=transitions,
    )


def output(*, spot: bool = False, billable: float = 90.0, instance: str = "ml.m5.large") -> dict[str, Any]:
    return {
        "plan": {
            "training": {
                "resource_config": {"InstanceType": instance, "InstanceCount": 2, "VolumeSizeInGB": 30},
                "enable_spot": spot,
            },
            "scoring": {"transform_resources": {"InstanceType": "ml.m5.large", "InstanceCount": 1}},
        },
        "training": {"training_seconds": 100, "billable_seconds": billable},
    }


def line(estimate: cost.CostEstimate, prefix: str) -> cost.CostLine:
    return next(item for item in estimate.items if item.component.startswith(prefix))


def test_step_functions_is_transitions_times_the_price() -> None:
    estimate = cost.estimate_cost(summary(transitions=16), MEMORY, STATES)
    assert line(estimate, "Step Functions").usd == pytest.approx(16 * 0.000025)


def test_lambda_is_gb_seconds_of_the_lambda_states_plus_requests() -> None:
    estimate = cost.estimate_cost(
        summary(), MEMORY, STATES, extra_lambda_seconds={"StartPipelineFunction": 1.0}
    )
    gb_seconds = 2.0 * 256 / 1024 + 4.0 * 512 / 1024 + 1.0 * 256 / 1024
    assert line(estimate, "Lambda compute").quantity == pytest.approx(gb_seconds)
    assert line(estimate, "Lambda compute").usd == pytest.approx(gb_seconds * 0.0000133334)
    assert line(estimate, "Lambda requests").usd == pytest.approx(3 * 0.20 / 1_000_000)


def test_an_unknown_function_falls_back_to_lambda_default_memory() -> None:
    estimate = cost.estimate_cost(summary(), {}, STATES)
    assert line(estimate, "Lambda compute").quantity == pytest.approx((2.0 + 4.0) * 128 / 1024)


def test_training_bills_billable_seconds_per_instance() -> None:
    estimate = cost.estimate_cost(summary(output(billable=90)), MEMORY, STATES)
    training = line(estimate, "SageMaker training")
    assert training.quantity == 180
    assert training.usd == pytest.approx(180 * 0.115 / 3600)
    assert estimate.spot_training_usd == pytest.approx(100 * 2 * 0.3 * 0.115 / 3600)


def test_spot_runs_have_no_what_if_figure() -> None:
    estimate = cost.estimate_cost(summary(output(spot=True, billable=30)), MEMORY, STATES)
    assert line(estimate, "SageMaker training").usd == pytest.approx(60 * 0.115 / 3600)
    assert estimate.spot_training_usd is None


def test_transform_bills_the_score_span() -> None:
    estimate = cost.estimate_cost(summary(output()), MEMORY, STATES)
    assert line(estimate, "SageMaker transform").usd == pytest.approx(36 * 0.115 / 3600)


def test_total_is_the_sum_and_lines_end_with_notes() -> None:
    estimate = cost.estimate_cost(summary(output()), MEMORY, STATES)
    assert estimate.total == pytest.approx(sum(item.usd for item in estimate.items))
    text = estimate.lines()
    assert any(row.strip().startswith("total") for row in text)
    assert "local seconds" in text[-1]
    assert estimate.summary_line().startswith(f"${estimate.total:.5f}")


def test_no_output_means_no_sagemaker_lines() -> None:
    estimate = cost.estimate_cost(summary(None), MEMORY, STATES)
    assert not any(item.component.startswith("SageMaker training") for item in estimate.items)
    # the Score span is still billed, at the default instance type
    assert line(estimate, "SageMaker transform").quantity == 36


def test_an_unpriced_instance_type_is_an_error() -> None:
    with pytest.raises(cost.UnknownInstancePrice, match=r"ml\.p5\.48xlarge"):
        cost.estimate_cost(summary(output(instance="ml.p5.48xlarge")), MEMORY, STATES)


def test_lambda_states_reads_resources_and_invoke_integrations() -> None:
    definition = {
        "States": {
            "A": {"Type": "Task", "Resource": "${PrepareRunFunctionArn}"},
            "B": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": "${RecordRunFunctionArn}"},
            },
            "C": {"Type": "Task", "Resource": "arn:aws:states:::sns:publish"},
            "D": {
                "Type": "Parallel",
                "Branches": [{"States": {"E": {"Type": "Task", "Resource": "${XFunctionArn}"}}}],
            },
        }
    }
    assert cost.lambda_states(definition) == {
        "A": "PrepareRunFunction",
        "B": "RecordRunFunction",
        "E": "XFunction",
    }


def test_memory_comes_from_the_function_then_globals_then_lambdas_default(tmp_path: Path) -> None:
    (tmp_path / "code").mkdir()
    (tmp_path / "asl.json").write_text(json.dumps({"States": {"S": {"Type": "Task", "Resource": "${AArn}"}}}))
    function = {"Type": "AWS::Serverless::Function", "Properties": {"CodeUri": "code/", "Handler": "app.h"}}
    machine = {"Type": "AWS::Serverless::StateMachine", "Properties": {"DefinitionUri": "asl.json"}}
    resources = {
        "A": {**function, "Properties": {**function["Properties"], "MemorySize": 512}},
        "B": function,
        "M": machine,
    }
    with_globals = Template({"Globals": {"Function": {"MemorySize": 256}}, "Resources": resources}, tmp_path)
    assert cost.load_project_inputs(with_globals) == ({"A": 512, "B": 256}, {"S": "A"})
    without = Template({"Resources": {"C": function, "M": machine}}, tmp_path)
    assert cost.load_project_inputs(without)[0] == {"C": 128}


def test_the_project_files_name_every_lambda_state() -> None:
    memory, states = cost.load_project_inputs()
    assert states["PrepareRun"] == "PrepareRunFunction"
    assert states["RecordFailure"] == "RecordRunFunction"
    assert set(states.values()) <= set(memory)
    assert memory["LoadPredictionsFunction"] == 512


def test_the_safety_net_is_billed_outside_the_states() -> None:
    """RecordExecutionOutcomeFunction runs on EventBridge's event, not in a state: an extra invocation."""
    memory, states = cost.load_project_inputs()
    assert memory["RecordExecutionOutcomeFunction"] == 512
    assert "RecordExecutionOutcomeFunction" not in states.values()
    estimate = cost.estimate_cost(
        summary(), memory, states, extra_lambda_seconds={"RecordExecutionOutcomeFunction": 2.0}
    )
    gb_seconds = 2.0 * memory["PrepareRunFunction"] / 1024 + 4.0 * 512 / 1024 + 2.0 * 512 / 1024
    assert line(estimate, "Lambda compute").quantity == pytest.approx(gb_seconds)


def test_the_demo_line_shows_the_total_and_its_parts_as_sandbox_figures() -> None:
    figures = {
        "cost_usd": 0.0042,
        "cost_training_usd": 0.003,
        "cost_transform_usd": 0.001,
        "cost_step_functions_usd": 0.0002,
        "cost_lambda_usd": 0.0,
    }
    text = cost.cost_text(figures)
    assert text.startswith("$0.004200 (training $0.003000, transform $0.001000, Step Functions $0.000200,")
    assert "Lambda $0.000000" in text
    assert text.endswith(cost.SANDBOX_LABEL) and "not an AWS estimate" in text
    assert "if AWS took as long" not in text


def test_a_score_only_run_shows_no_training_part_and_an_unpriced_run_says_so() -> None:
    text = cost.cost_text({"cost_usd": 0.001, "cost_training_usd": None, "cost_transform_usd": 0.001})
    assert "training" not in text
    assert cost.cost_text(None).startswith("not recorded")
    assert cost.cost_text({"cost_usd": None}).startswith("not recorded")
