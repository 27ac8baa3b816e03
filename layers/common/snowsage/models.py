"""Typed contracts: one pydantic model per state input and output (docs/contracts.md).

Models that arrive from people or other systems (execution input) forbid unknown keys; models
that arrive from the state machine ignore keys they do not use, so the ASL can pass whole
sections of the state without every handler knowing every field. Both are strict: a value must
already have its JSON type ("5" is not an int, 1 is not a bool), since Step Functions and the
manifest carry JSON numbers and booleans as such. Datetimes are the exception: JSON has none, so
they arrive as ISO 8601 strings and are parsed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, Strict, StringConstraints, ValidationError

from snowsage.instance_types import TRAINING_INSTANCE_TYPES, TRANSFORM_INSTANCE_TYPES

Mode = Literal["train_and_score", "score_only"]
# ML_RUNS.STATUS: what the pipeline's own RecordRun states write (SUCCEEDED, FAILED), and the
# execution statuses the safety net records for runs that ended without them (TIMED_OUT, ABORTED).
RunStatus = Literal["SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"]
ApprovalStatus = Literal["Approved", "Rejected", "PendingManualApproval"]


def _one_of(kind: str, allowed: tuple[str, ...]) -> Any:
    choices = frozenset(allowed)

    def check(value: str) -> str:
        if value not in choices:
            raise ValueError(
                f"{value!r} is not an instance type AWS documents for built-in XGBoost {kind} jobs"
                f" (snowsage/instance_types.py lists the {len(choices)} accepted, e.g. ml.m5.large)"
            )
        return value

    return AfterValidator(check)


TrainingInstanceType = Annotated[str, _one_of("training", TRAINING_INSTANCE_TYPES)]
TransformInstanceType = Annotated[str, _one_of("transform", TRANSFORM_INSTANCE_TYPES)]
ModelPackageArn = Annotated[
    str, StringConstraints(pattern=r"^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:\d{12}:model-package/.+/\d+$")
]
HyperparameterValue = str | int | float | bool
# JSON has no datetime: an ISO 8601 string is parsed, the one conversion the contracts allow.
JsonDatetime = Annotated[datetime, Strict(False)]


def validation_problems(error: ValidationError, root: str = "input") -> str:
    """``field.path: message; …``: a pydantic error as one line a person can act on."""
    return "; ".join(
        f"{'.'.join(str(part) for part in item['loc']) or root}: {item['msg']}" for item in error.errors()
    )


class Contract(BaseModel):
    """A state-machine payload: unknown keys are ignored, values are not coerced."""

    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)


class StrictContract(BaseModel):
    """A payload typed by people: unknown keys are errors, values are not coerced."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


# --- Execution input -------------------------------------------------------------------------


class ExecutionInput(StrictContract):
    manifest: Annotated[str, StringConstraints(pattern=r"^s3://")]
    mode: Mode = "train_and_score"
    hyperparameters: dict[str, HyperparameterValue] | None = None
    model_package_arn: ModelPackageArn | None = None
    training_instance_type: TrainingInstanceType | None = None
    transform_instance_type: TransformInstanceType | None = None
    evaluation_threshold: float | None = None


# --- Manifest (written by Snowflake's EXPORT_DATASET) ----------------------------------------


class ExportFile(Contract):
    key: str
    rows: int = Field(ge=0)
    size: int = Field(ge=0)


class ManifestSection(Contract):
    prefix: str
    columns: list[str] = Field(min_length=1)
    files: list[ExportFile]
    rows: int = Field(ge=0)


class Manifest(Contract):
    version: Literal[1]
    dataset: str
    export_id: str
    created_at: JsonDatetime
    id_column: str
    label_column: str
    predictions_table: str
    train: ManifestSection | None = None
    validation: ManifestSection | None = None
    score: ManifestSection


# --- PrepareRun ------------------------------------------------------------------------------


class PrepareRunRequest(Contract):
    execution_name: str
    input: dict[str, Any]


class ResourceConfig(Contract):
    InstanceType: TrainingInstanceType
    InstanceCount: int = Field(ge=1)
    VolumeSizeInGB: int = Field(ge=1)


class TransformResources(Contract):
    InstanceType: TransformInstanceType
    InstanceCount: int = Field(ge=1)


class TrainingPlan(Contract):
    train_uri: str
    validation_uri: str
    output_uri: str
    checkpoint_uri: str
    hyperparameters: dict[str, str]
    resource_config: ResourceConfig
    stopping_condition: dict[str, int]
    enable_spot: bool
    rows: int


class ScoringPlan(Contract):
    input_uri: str
    output_uri: str
    stage_path: str
    transform_resources: TransformResources
    # The Score state's TimeoutSecondsPath: a batch transform has no runtime limit of its own.
    timeout_seconds: int = Field(ge=1, le=31_536_000)
    rows: int
    files: int
    # The model's features in order: the scoring view's columns after the id (the manifest's).
    features: list[str] = Field(default_factory=list)


class EvaluationPlan(Contract):
    metric_name: str
    threshold: float


class Selection(Contract):
    model_package_group: str
    model_package_arn: str | None = None


class RunPlan(Contract):
    run_id: str
    execution_name: str
    name_base: str
    dataset: str
    export_id: str
    mode: Mode
    manifest_uri: str
    id_column: str
    predictions_table: str
    model_package_group: str
    started_at: JsonDatetime
    training: TrainingPlan | None
    evaluation: EvaluationPlan
    scoring: ScoringPlan
    selection: Selection


# --- Train result (the Train state's ResultSelector) and EvaluateModel -----------------------


class FinalMetric(Contract):
    MetricName: str
    Value: float


class TrainingResult(Contract):
    job_name: str
    model_data_url: str
    final_metrics: list[FinalMetric] = Field(default_factory=list)
    training_seconds: float | None = None
    billable_seconds: float | None = None


class EvaluateModelRequest(Contract):
    execution_name: str
    evaluation: EvaluationPlan
    model_package_group: str
    run_id: str
    export_id: str
    training: TrainingResult


class Verdict(Contract):
    promote: bool
    approval_status: ApprovalStatus
    metric_name: str
    metric_value: float
    threshold: float
    champion_metric: float | None
    champion_package_arn: str | None
    reason: str
    package_metadata: dict[str, str]


# --- RegisterModel ---------------------------------------------------------------------------


class RegisterModelRequest(Contract):
    execution_name: str
    dataset: str
    run_id: str
    model_package_group: str
    image_uri: str
    training: TrainingResult
    evaluation: Verdict


# --- SelectModel -----------------------------------------------------------------------------


class SelectModelRequest(Contract):
    execution_name: str
    selection: Selection


class ModelSelection(Contract):
    model_package_arn: str
    model_package_group: str
    model_version: int
    approval_status: str
    image_uri: str
    model_data_url: str
    metric_name: str | None = None
    metric_value: float | None = None


# --- Score result, LoadPredictions -----------------------------------------------------------


class TransformResult(Contract):
    job_name: str
    output_uri: str
    # DescribeTransformJob TransformStartTime / TransformEndTime: the instance time billed (cost)
    started_at: JsonDatetime | None = None
    ended_at: JsonDatetime | None = None


class LoadPredictionsRequest(Contract):
    execution_name: str
    plan: RunPlan
    model: ModelSelection
    transform: TransformResult


class LoadResult(Contract):
    predictions_table: str
    rows_scored: int
    rows_loaded: int
    files: int


# --- PublishModel ----------------------------------------------------------------------------


class PublishModelRequest(Contract):
    execution_name: str
    plan: RunPlan
    model: ModelSelection


class PublishedModel(Contract):
    """The Python function a promoted model was published as (one ML_MODELS row)."""

    function_name: str
    model_version: int
    model_package_arn: str
    artifact_uri: str
    imports: str
    published_at: JsonDatetime


# --- RecordRun -------------------------------------------------------------------------------


class RegisteredModel(Contract):
    model_package_arn: str


class CaughtError(Contract):
    Error: str
    Cause: str | None = None


class RunState(Contract):
    """Whatever the state held when RecordRun was reached: every section optional."""

    manifest: str | None = None
    mode: str | None = None
    plan: RunPlan | None = None
    training: TrainingResult | None = None
    evaluation: Verdict | None = None
    registered: RegisteredModel | None = None
    model: ModelSelection | None = None
    transform: TransformResult | None = None
    load: LoadResult | None = None
    published: PublishedModel | None = None
    error: CaughtError | None = None


class RecordRunRequest(Contract):
    status: RunStatus  # the ASL sends SUCCEEDED or FAILED; the safety net the execution's status
    execution_name: str
    execution_arn: str
    state: RunState


class RunRecord(Contract):
    """One ML_RUNS row; also the run notice published to SNS."""

    run_id: str
    status: RunStatus
    execution_name: str
    execution_arn: str
    dataset: str | None = None
    export_id: str | None = None
    mode: str | None = None
    failed_state: str | None = None
    error: str | None = None
    cause: str | None = None
    training_job: str | None = None
    transform_job: str | None = None
    model_package_arn: str | None = None
    model_version: int | None = None
    metric_name: str | None = None
    metric_value: float | None = None
    champion_metric: float | None = None
    promoted: bool | None = None
    rows_scored: int | None = None
    rows_loaded: int | None = None
    published_function: str | None = None
    started_at: JsonDatetime | None = None
    finished_at: JsonDatetime
    # USD from what AWS billed (snowsage.cost); None where the run used nothing of the kind or
    # its price is not recorded (then cost_usd is None too: never a partial total)
    cost_usd: float | None = None
    cost_training_usd: float | None = None
    cost_transform_usd: float | None = None
    cost_step_functions_usd: float | None = None
    cost_lambda_usd: float | None = None


# --- StartPipeline ---------------------------------------------------------------------------


class S3Bucket(Contract):
    name: str


class S3Object(Contract):
    key: str
    size: int | None = None
    etag: str | None = None


class ObjectCreatedDetail(Contract):
    bucket: S3Bucket
    object: S3Object


class ObjectCreatedEvent(Contract):
    """The EventBridge event S3 sends for "Object Created" (only the fields we use)."""

    detail_type: Literal["Object Created"] = Field(alias="detail-type")
    source: Literal["aws.s3"]
    detail: ObjectCreatedDetail


class StartResult(Contract):
    status: Literal["started", "duplicate", "ignored"]
    reason: str
    execution_name: str | None = None
    execution_arn: str | None = None
    manifest: str | None = None


# --- RecordExecutionOutcome (the safety net) ---------------------------------------------------


class ExecutionStatusDetail(Contract):
    """``detail`` of "Step Functions Execution Status Change": what DescribeExecution returns
    (step-functions/latest/dg/cw-events). Dates are epoch milliseconds; ``input`` is left out
    above 248 KB; ``error``/``cause`` may be absent, the execution history has them too."""

    executionArn: str
    stateMachineArn: str
    name: str
    status: str  # RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED (more may come: compared, not typed)
    startDate: JsonDatetime | None = None  # epoch milliseconds in the event
    stopDate: JsonDatetime | None = None
    error: str | None = None
    cause: str | None = None


class ExecutionStatusChange(Contract):
    """The EventBridge event Step Functions sends when a Standard execution changes status."""

    detail_type: Literal["Step Functions Execution Status Change"] = Field(alias="detail-type")
    source: Literal["aws.states"]
    detail: ExecutionStatusDetail


OutcomeAction = Literal["none", "recorded", "announced", "recorded_and_announced"]


class OutcomeResult(Contract):
    """What the safety net found and did for one execution."""

    execution_name: str
    status: str
    action: OutcomeAction
    reason: str
    record: RunRecord | None = None


# --- StalenessCheck ----------------------------------------------------------------------------


class ScheduledEvent(Contract):
    """EventBridge's scheduled event (events/latest/userguide/eb-run-lambda-schedule): only its id is used."""

    id: str


class StaleDataset(Contract):
    dataset: str
    staleness_hours: int
    last_success_at: JsonDatetime | None = None


class StalenessReport(Contract):
    stale: list[StaleDataset]
