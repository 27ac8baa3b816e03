"""The run's cost as the demo and the report show it; and bench's older local-seconds estimate.

``read_run_cost`` / ``cost_text``: the ML_RUNS row's COST_* columns, which RecordRun computed with
snowsage.cost (what AWS bills: BillableTimeInSeconds, TransformStartTime..TransformEndTime, state
transitions, Lambda GB-seconds) on the figures this sandbox produced: the SageMaker emulator's
billed seconds and moto's execution history. They are shown as SANDBOX FIGURES: the computation
AWS's figures go through, not an estimate of an AWS bill (real jobs add instance start-up).

``estimate_cost`` (bench/ reads it until it reads the ML_RUNS figures too) multiplies local
seconds by list prices. Its formula (every price a named constant below, us-east-1 public list prices)::

    step_functions = transitions x STEP_FUNCTIONS_PER_TRANSITION
    lambda         = sum over Lambda task states of
                       seconds x MemorySize/1024 x LAMBDA_ARM64_PER_GB_SECOND + LAMBDA_PER_REQUEST
    training       = billable_seconds x instance_count x price_per_hour(training instance) / 3600
    transform      = Score state seconds x instance_count x price_per_hour(transform instance) / 3600
    total          = the sum (S3, SNS, CloudWatch, the registry and Snowflake credits are left out)

``transitions`` is the execution history's state transitions (ExecutionSummary.transitions),
the Lambda seconds are the spans of the states that invoke a function (state entered to state
exited: an upper bound of the billed duration), ``MemorySize`` comes from template.yaml,
``billable_seconds`` is the Train state's result (DescribeTrainingJob BillableTimeInSeconds;
with managed spot training it already holds the spot saving) and the transform is billed for
the Score state's span. Without spot training, a second figure shows the training cost with
managed spot at an ASSUMED saving (SPOT_SAVING_ASSUMED: spot savings vary by instance type,
region and time).

In the sandbox every second is a local second (moto, fakesnow, the SageMaker emulator on this
machine): the estimate is what that run would cost at AWS list prices IF AWS took as long. Real
SageMaker jobs add instance start-up (minutes) that the emulator does not have.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sandbox.aws.executions import ExecutionSummary
from sandbox.aws.template import DEFAULT_MEMORY_MB, Template, project
from sandbox.sagemaker.emulator import SPOT_SAVING_ASSUMED

COST_COLUMNS = (
    "COST_USD",
    "COST_TRAINING_USD",
    "COST_TRANSFORM_USD",
    "COST_STEP_FUNCTIONS_USD",
    "COST_LAMBDA_USD",
)
SANDBOX_LABEL = "sandbox figures (snowsage.cost on the emulator's billed seconds; not an AWS estimate)"


def read_run_cost(connection: Any, run_id: str) -> dict[str, float | None] | None:
    """The run's COST_* columns from ML_RUNS (lower-case names), or None without a row."""
    cursor = connection.cursor()
    try:
        # B608: only module constants are inlined; the run id is a bind
        cursor.execute(f"SELECT {', '.join(COST_COLUMNS)} FROM ML_RUNS WHERE RUN_ID = %(r)s", {"r": run_id})  # noqa: S608  # nosec B608
        row = cursor.fetchone()
    finally:
        cursor.close()
    if row is None:
        return None
    return {
        name.lower(): (float(value) if value is not None else None)
        for name, value in zip(COST_COLUMNS, row, strict=True)
    }


def cost_text(cost: dict[str, float | None] | None) -> str:
    """The demo's cost line: the total and its parts, labelled as sandbox figures."""
    if not cost or cost.get("cost_usd") is None:
        return "not recorded (ML_RUNS.COST_USD is NULL: see RecordRun's log for the missing price)"
    parts = {
        "training": cost.get("cost_training_usd"),
        "transform": cost.get("cost_transform_usd"),
        "Step Functions": cost.get("cost_step_functions_usd"),
        "Lambda": cost.get("cost_lambda_usd"),
    }
    shown = ", ".join(f"{name} ${usd:.6f}" for name, usd in parts.items() if usd is not None)
    return f"${cost['cost_usd']:.6f} ({shown}): {SANDBOX_LABEL}"


# --- public list prices (USD, us-east-1) ---------------------------------------------------------
# AWS Step Functions Standard workflows: $0.025 per 1,000 state transitions.
STEP_FUNCTIONS_PER_TRANSITION = 0.000025
# AWS Lambda, Arm (Graviton2) price: $0.0000133334 per GB-second, $0.20 per 1M requests.
LAMBDA_ARM64_PER_GB_SECOND = 0.0000133334
LAMBDA_PER_REQUEST = 0.20 / 1_000_000
# Amazon SageMaker AI on-demand instance prices per hour, us-east-1 (aws.amazon.com/sagemaker/pricing,
# list prices as of 2025; check the page before relying on them: they change).
SAGEMAKER_TRAINING_PER_HOUR = {"ml.m5.large": 0.115, "ml.m5.xlarge": 0.23, "ml.m5.2xlarge": 0.461}
SAGEMAKER_TRANSFORM_PER_HOUR = {"ml.m5.large": 0.115, "ml.m5.xlarge": 0.23, "ml.m5.2xlarge": 0.461}
PRICES_AS_OF = "2025"

_LAMBDA_PLACEHOLDER = re.compile(r"^\$\{(\w+)Arn\}$")
_LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"


class UnknownInstancePrice(KeyError):
    """No list price is recorded here for an instance type: add it to the price tables."""


@dataclass(frozen=True)
class CostLine:
    component: str
    quantity: float
    unit: str
    unit_price: float
    usd: float


@dataclass
class CostEstimate:
    items: list[CostLine] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    spot_training_usd: float | None = None

    @property
    def total(self) -> float:
        return sum(line.usd for line in self.items)

    def by_component(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for line in self.items:
            totals[line.component] = totals.get(line.component, 0.0) + line.usd
        return totals

    def lines(self) -> list[str]:
        """Human-readable lines: one per cost item, the total, then the notes."""
        out = [
            f"  {line.component:<32} {line.quantity:>10,.3f} {line.unit:<16} x ${line.unit_price:.4g}"
            f"  = ${line.usd:.6f}"
            for line in self.items
        ]
        out.append(f"  {'total':<32} {'':>10} {'':<16}   {'':10}  = ${self.total:.6f}")
        if self.spot_training_usd is not None:
            out.append(
                f"  (training with managed spot, {SPOT_SAVING_ASSUMED:.0%} saving assumed:"
                f" ${self.spot_training_usd:.6f})"
            )
        out += [f"  note: {note}" for note in self.notes]
        return out

    def summary_line(self) -> str:
        parts = ", ".join(f"{name} ${usd:.5f}" for name, usd in self.by_component().items())
        return f"${self.total:.5f} at AWS list prices ({parts})"


# --- inputs read from the project's files ------------------------------------------------------


def lambda_states(definition: Mapping[str, Any]) -> dict[str, str]:
    """Task state name -> the template's logical id of the function it invokes.

    The ASL names functions by DefinitionSubstitutions placeholders (``${PrepareRunFunctionArn}``),
    either as the Task's Resource or as the lambda:invoke integration's FunctionName.
    """
    found: dict[str, str] = {}

    def walk(states: Mapping[str, Any]) -> None:
        for name, state in states.items():
            for branch in state.get("Branches", []):
                walk(branch.get("States", {}))
            processor = state.get("ItemProcessor") or state.get("Iterator")
            if processor:
                walk(processor.get("States", {}))
            if state.get("Type") != "Task":
                continue
            resource = str(state.get("Resource", ""))
            if resource.startswith(_LAMBDA_INVOKE):
                arguments = state.get("Parameters") or state.get("Arguments") or {}
                resource = str(arguments.get("FunctionName", ""))
            match = _LAMBDA_PLACEHOLDER.match(resource)
            if match:
                found[name] = match.group(1)

    walk(definition.get("States", {}))
    return found


def load_project_inputs(template: Template | None = None) -> tuple[dict[str, int], dict[str, str]]:
    """(function logical id -> MemorySize, lambda_states) of the template (the project's by default)."""
    template = template or project()
    memory = {logical_id: function.memory_mb for logical_id, function in template.functions.items()}
    return memory, lambda_states(template.state_machine.definition())


# --- the estimate --------------------------------------------------------------------------------


def _price(table: Mapping[str, float], instance_type: str, what: str) -> float:
    try:
        return table[instance_type]
    except KeyError:
        raise UnknownInstancePrice(f"no {what} list price recorded for {instance_type}") from None


def _section(output: Mapping[str, Any] | None, *path: str) -> dict[str, Any]:
    value: Any = output or {}
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    return dict(value) if isinstance(value, Mapping) else {}


def estimate_cost(
    summary: ExecutionSummary,
    template_memory: Mapping[str, int],
    lambda_states: Mapping[str, str],
    *,
    extra_lambda_seconds: Mapping[str, float] | None = None,
) -> CostEstimate:
    """The run's cost at list prices (module docstring: the formula).

    ``extra_lambda_seconds``: invocations outside the state machine (function logical id ->
    seconds), e.g. StartPipelineFunction, which EventBridge invokes before the execution exists.
    """
    estimate = CostEstimate()
    estimate.items.append(
        CostLine(
            "Step Functions",
            float(summary.transitions),
            "transitions",
            STEP_FUNCTIONS_PER_TRANSITION,
            summary.transitions * STEP_FUNCTIONS_PER_TRANSITION,
        )
    )

    gb_seconds = 0.0
    requests = 0
    invocations: list[tuple[str, float]] = [
        (lambda_states[span.name], span.seconds or 0.0)
        for span in summary.spans
        if span.name in lambda_states
    ]
    invocations += list((extra_lambda_seconds or {}).items())
    for function, seconds in invocations:
        memory = template_memory.get(function, DEFAULT_MEMORY_MB)
        gb_seconds += seconds * memory / 1024
        requests += 1
    estimate.items.append(
        CostLine(
            "Lambda compute",
            gb_seconds,
            "GB-seconds",
            LAMBDA_ARM64_PER_GB_SECOND,
            gb_seconds * LAMBDA_ARM64_PER_GB_SECOND,
        )
    )
    estimate.items.append(
        CostLine(
            "Lambda requests", float(requests), "requests", LAMBDA_PER_REQUEST, requests * LAMBDA_PER_REQUEST
        )
    )

    output = summary.output
    training = _section(output, "training")
    training_plan = _section(output, "plan", "training")
    if training.get("billable_seconds") is not None:
        resources = training_plan.get("resource_config") or {}
        instance = str(resources.get("InstanceType", "ml.m5.large"))
        count = int(resources.get("InstanceCount", 1))
        per_hour = _price(SAGEMAKER_TRAINING_PER_HOUR, instance, "training")
        billable = float(training["billable_seconds"])
        estimate.items.append(
            CostLine(
                f"SageMaker training {instance}",
                billable * count,
                "instance-seconds",
                per_hour / 3600,
                billable * count * per_hour / 3600,
            )
        )
        if not training_plan.get("enable_spot") and training.get("training_seconds") is not None:
            seconds = float(training["training_seconds"])
            estimate.spot_training_usd = seconds * count * (1 - SPOT_SAVING_ASSUMED) * per_hour / 3600

    score = summary.span("Score")
    if score is not None and score.seconds is not None:
        resources = _section(output, "plan", "scoring", "transform_resources")
        instance = str(resources.get("InstanceType", "ml.m5.large"))
        count = int(resources.get("InstanceCount", 1))
        per_hour = _price(SAGEMAKER_TRANSFORM_PER_HOUR, instance, "batch transform")
        estimate.items.append(
            CostLine(
                f"SageMaker transform {instance}",
                score.seconds * count,
                "instance-seconds",
                per_hour / 3600,
                score.seconds * count * per_hour / 3600,
            )
        )
    estimate.notes.append(
        f"us-east-1 list prices as of {PRICES_AS_OF}; seconds as measured in this run (in the sandbox:"
        " local seconds, i.e. the cost if AWS took as long; real jobs add instance start-up)"
    )
    return estimate


def estimate_for_project(
    summary: ExecutionSummary,
    template: Template | None = None,
    extra_lambda_seconds: Mapping[str, float] | None = None,
) -> CostEstimate:
    """``estimate_cost`` with the template's (the project's by default) functions and state machine."""
    memory, states = load_project_inputs(template)
    return estimate_cost(summary, memory, states, extra_lambda_seconds=extra_lambda_seconds)
