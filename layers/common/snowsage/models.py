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

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    Strict,
    StringConstraints,
    ValidationError,
    model_serializer,
)

from snowsage.instance_types import ENDPOINT_INSTANCE_TYPES, TRAINING_INSTANCE_TYPES, TRANSFORM_INSTANCE_TYPES

Mode = Literal["train_and_score", "score_only"]
# What a dataset's objective predicts, and so how it is scored, gated and loaded (model_settings.py).
Problem = Literal["binary", "regression", "multiclass"]
# Where a run trains: SageMaker's built-in XGBoost, or TRAIN_MODEL inside Snowflake.
TrainingEngine = Literal["SAGEMAKER", "SNOWFLAKE"]
TRAINING_ENGINES: tuple[TrainingEngine, ...] = ("SAGEMAKER", "SNOWFLAKE")
# Where a run scores: a SageMaker batch transform, or ML_PREDICT_<DATASET> inside Snowflake.
ScoringEngine = Literal["SAGEMAKER", "SNOWFLAKE"]
SectionName = Literal["train", "validation", "score"]
# ML_RUNS.STATUS: what the pipeline's own RecordRun states write (SUCCEEDED, FAILED), and the
# execution statuses the safety net records for runs that ended without them (TIMED_OUT, ABORTED).
RunStatus = Literal["SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"]
ApprovalStatus = Literal["Approved", "Rejected", "PendingManualApproval"]
# A dataset's real-time endpoint (snowsage/endpoints.py): none, serverless, or on instances.
EndpointKind = Literal["NONE", "SERVERLESS", "INSTANCE"]
ENDPOINT_KINDS: tuple[EndpointKind, ...] = ("NONE", "SERVERLESS", "INSTANCE")


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
EndpointInstanceType = Annotated[str, _one_of("endpoint", ENDPOINT_INSTANCE_TYPES)]
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


# defer_build: a model's validator and serializer are built on its first use, not at import. Every
# handler imports this module, and each uses a few of its models: the others cost its cold start
# nothing (tests/unit/test_handler_imports.py).
class Contract(BaseModel):
    """A state-machine payload: unknown keys are ignored, values are not coerced."""

    model_config = ConfigDict(extra="ignore", frozen=True, strict=True, defer_build=True)


class StrictContract(BaseModel):
    """A payload typed by people: unknown keys are errors, values are not coerced."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, defer_build=True)


# --- Execution input -------------------------------------------------------------------------


class ExecutionInput(StrictContract):
    manifest: Annotated[str, StringConstraints(pattern=r"^s3://")]
    mode: Mode = "train_and_score"
    hyperparameters: dict[str, HyperparameterValue] | None = None
    model_package_arn: ModelPackageArn | None = None
    training_instance_type: TrainingInstanceType | None = None
    transform_instance_type: TransformInstanceType | None = None
    # The dataset's model settings, over its ML_DATASETS row and the template (model_settings.py).
    objective: str | None = None
    evaluation_metric: str | None = None
    evaluation_threshold: float | None = None
    # Script mode and scale-out (docs/contracts.md, "Your own training script"; "Scale-out").
    training_script: str | None = None
    training_instance_count: int | None = Field(default=None, ge=1)
    transform_instance_count: int | None = Field(default=None, ge=1)
    # Hyperparameter tuning for this run (snowsage/tuning.py), replacing the row's TUNING whole.
    tuning: dict[str, Any] | None = None
    training_engine: TrainingEngine | None = None
    scoring_engine: ScoringEngine | None = None
    # The real-time endpoint after this run (docs/contracts.md, "Real-time endpoint").
    endpoint: EndpointKind | None = None
    endpoint_memory_mb: int | None = None
    endpoint_max_concurrency: int | None = None
    endpoint_instance_type: EndpointInstanceType | None = None
    endpoint_instance_count: int | None = Field(default=None, ge=1)


# --- Manifest (written by Snowflake's EXPORT_DATASET) ----------------------------------------


class ExportFile(Contract):
    key: str
    rows: int = Field(ge=0)
    size: int = Field(ge=0)


class ManifestSection(Contract):
    """One section of the export: its prefix, columns, and what its files add up to.

    ``files`` is the number of data files (version 2's summary: with ``bytes``, their total size),
    or, as version 1 wrote it, the list of files with their rows and sizes. The summary does not
    grow with the export: 100,000 files make the same manifest as one.
    """

    prefix: str
    columns: list[str] = Field(min_length=1)
    files: Annotated[int, Field(ge=0)] | list[ExportFile]
    rows: int = Field(ge=0)
    total_bytes: int | None = Field(default=None, ge=0, alias="bytes")

    @property
    def file_list(self) -> list[ExportFile] | None:
        """The per-file list, when the manifest carries one (version 1)."""
        return self.files if isinstance(self.files, list) else None

    @property
    def file_count(self) -> int:
        return len(self.files) if isinstance(self.files, list) else self.files


class DatasetModel(Contract):
    """The model settings of the dataset's ML_DATASETS row, as EXPORT_DATASET copies them (version 2).

    Each is null when the row leaves it to the template. ``hyperparameters`` is the row's JSON
    text as written: PrepareRun parses it, so a bad one is refused naming the dataset and column.
    """

    objective: str | None = None
    evaluation_metric: str | None = None
    evaluation_threshold: float | None = None
    hyperparameters: str | None = None
    training_script: str | None = None
    training_instance_count: int | None = None
    tuning: str | None = None
    training_engine: str | None = None
    scoring_engine: str | None = None
    endpoint: str | None = None
    endpoint_memory_mb: int | None = None
    endpoint_max_concurrency: int | None = None
    endpoint_instance_type: str | None = None
    endpoint_instance_count: int | None = None


class ScoringView(Contract):
    """The scoring view as EXPORT_DATASET found it: its name, columns (the id, then the features) and
    rows. The SNOWFLAKE scoring engine scores it in place; the rows are the count it must load."""

    name: str
    columns: list[str] = Field(min_length=1)
    rows: int = Field(ge=0)


class LabelSummary(Contract):
    """The training view's labels (train and validation together), in one aggregate query."""

    distinct: int = Field(ge=0)
    min: float | None = None
    max: float | None = None
    non_integers: int = Field(ge=0)


class Manifest(Contract):
    version: Literal[1, 2]
    dataset: str
    export_id: str
    created_at: JsonDatetime
    id_column: str
    label_column: str
    predictions_table: str
    train: ManifestSection | None = None
    validation: ManifestSection | None = None
    # None: the export was written for the SNOWFLAKE scoring engine (no scoring row left Snowflake).
    score: ManifestSection | None = None
    # Version 2: the row's model settings, the labels' summary, the predictions table's columns.
    model: DatasetModel | None = None
    label_summary: LabelSummary | None = None
    predictions_columns: list[str] | None = None
    # Version 2: the engine the export was written for (the row's TRAINING_ENGINE, NULL: SAGEMAKER)
    # and the sections it wrote: a SNOWFLAKE export writes no train/validation (the rows stay in
    # Snowflake). An older manifest has neither and holds every section.
    engine: TrainingEngine | None = None
    sections: list[SectionName] | None = None
    # The row's SCORING_ENGINE as the export resolved it (NULL: SAGEMAKER), and the scoring view it
    # counted: a SNOWFLAKE export writes no score section. Older manifests have neither.
    scoring_engine: ScoringEngine | None = None
    scoring_view: ScoringView | None = None


# --- PrepareRun ------------------------------------------------------------------------------


class PrepareRunRequest(Contract):
    execution_name: str
    input: dict[str, Any]
    # The built-in XGBoost image (the ASL's XGBoostImageUri), also the framework container of script mode.
    xgboost_image_uri: str


class ResourceConfig(Contract):
    InstanceType: TrainingInstanceType
    InstanceCount: int = Field(ge=1)
    VolumeSizeInGB: int = Field(ge=1)


class TransformResources(Contract):
    InstanceType: TransformInstanceType
    InstanceCount: int = Field(ge=1)


class MetricDefinition(Contract):
    """API_MetricDefinition: the metric's name and the regex whose first group is its value in the log."""

    Name: str
    Regex: str


class AlgorithmSpecification(Contract):
    """API_AlgorithmSpecification. MetricDefinitions only in script mode: the built-in algorithm
    defines its own metrics (docs: sagemaker/latest/dg/xgboost-tuning, "Metrics computed by the
    XGBoost algorithm")."""

    TrainingImage: str
    TrainingInputMode: Literal["File"] = "File"
    MetricDefinitions: list[MetricDefinition] | None = None

    @model_serializer(mode="wrap")
    def _leave_out_unset(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        if data.get("MetricDefinitions") is None:
            data.pop("MetricDefinitions", None)
        return data


class ScriptPlan(Contract):
    """Script mode: the entry point and the source archive the framework container runs it from."""

    path: str  # training/<dataset>/train.py, in the repository
    program: str  # train.py (the sagemaker_program hyperparameter)
    source_uri: str  # s3://<bucket>/code/<dataset>/sourcedir.tar.gz (sagemaker_submit_directory)


class TrainingPlan(Contract):
    # None when the export wrote no train/validation: the SNOWFLAKE engine trains on the view.
    train_uri: str | None
    validation_uri: str | None
    output_uri: str
    checkpoint_uri: str
    hyperparameters: dict[str, str]
    resource_config: ResourceConfig
    stopping_condition: dict[str, int]
    enable_spot: bool
    rows: int  # the train section's (0: the export wrote none, the SNOWFLAKE engine)
    # The train channel's S3DataDistributionType: ShardedByS3Key when several instances train.
    train_distribution: Literal["FullyReplicated", "ShardedByS3Key"] = "FullyReplicated"
    train_files: int = Field(default=1, ge=0)
    algorithm_specification: AlgorithmSpecification | None = None
    script: ScriptPlan | None = None


class TuningPlan(Contract):
    """A hyperparameter tuning job instead of one training job (snowsage/tuning.py)."""

    # At most 25 characters: the Tune state appends "-t<retry>" within the API's 32.
    job_name_base: str
    # HyperParameterTuningJobConfig, as the API takes it (API_HyperParameterTuningJobConfig).
    config: dict[str, Any]
    # The training plan's hyperparameters less the searched ones.
    static_hyperparameters: dict[str, str]
    warm_start: bool = False
    max_jobs: int = Field(ge=1)
    max_parallel_jobs: int = Field(ge=1)
    # The CreateHyperParameterTuningJob WarmStartConfig (API_HyperParameterTuningJobWarmStartConfig) from
    # the champion's tuning job, or None: ChooseTraining sends a run that has one to TuneWarm.
    warm_start_config: dict[str, Any] | None = None
    # With warm_start: the parent it starts from, or why it tunes cold (snowsage/warm_start.py).
    warm_start_note: str | None = None
    # Set by TuneWarm's Catch when SageMaker refused the warm start anyway: the run tuned cold.
    warm_start_refused: CaughtError | None = None


class ScoringPlan(Contract):
    # The export's score/ prefix (None: the export wrote none, the SNOWFLAKE scoring engine).
    input_uri: str | None
    output_uri: str
    stage_path: str
    transform_resources: TransformResources
    # The Score state's TimeoutSecondsPath: a batch transform has no runtime limit of its own.
    timeout_seconds: int = Field(ge=1, le=31_536_000)
    rows: int
    files: int
    # The model's features in order: the scoring view's columns after the id (the manifest's).
    features: list[str] = Field(default_factory=list)
    # The Score state's OutputFilter: the id and every field the model wrote after the input.
    output_filter: str = "$[0,-1]"
    # The SNOWFLAKE scoring engine's source: the scoring view, scored in place (None: SAGEMAKER).
    view: str | None = None


class ModelPlan(Contract):
    """The resolved model: what it predicts, and where each setting came from."""

    objective: str = "binary:logistic"
    problem: Problem = "binary"
    num_class: int | None = None
    training_script: str | None = None
    training_instance_count: int = 1
    transform_instance_count: int = 1
    training_engine: TrainingEngine = "SAGEMAKER"
    scoring_engine: ScoringEngine = "SAGEMAKER"
    # setting -> "template", "ML_DATASETS", "execution input", "labels" or "default for <objective>"
    sources: dict[str, str] = Field(default_factory=dict)


class EvaluationPlan(Contract):
    metric_name: str
    threshold: float


class Selection(Contract):
    model_package_group: str
    model_package_arn: str | None = None
    # Set by PreferNewModel: the package this run registered, pending until its function is published.
    promoted: bool = False


class EndpointPlan(Contract):
    """The dataset's real-time endpoint as this run leaves it: ``NONE`` deletes one that exists;
    otherwise a promoted model is deployed with these resources (snowsage/endpoints.py)."""

    kind: EndpointKind = "NONE"
    name: str  # <prefix>-<dataset>, one per dataset
    config_name: str  # this run's endpoint config
    memory_mb: int | None = None  # SERVERLESS
    max_concurrency: int | None = None  # SERVERLESS
    instance_type: str | None = None  # INSTANCE
    instance_count: int | None = None  # INSTANCE


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
    model: ModelPlan = Field(default_factory=ModelPlan)
    # Set when the run tunes: the Tune state runs instead of Train (ChooseTraining).
    tuning: TuningPlan | None = None
    endpoint: EndpointPlan | None = None


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
    # Set by the Tune state: the tuning job, its best trial's searched values, the trials' counters.
    tuning_job: str | None = None
    tuned_hyperparameters: dict[str, str] | None = None
    trials: dict[str, int] | None = None
    # TrainInSnowflake: its statements' elapsed seconds in the warehouse (snowsage.cost)
    warehouse_seconds: float | None = None


class TrainInSnowflakeRequest(Contract):
    """The TrainInSnowflake state's input: the plan (TRAINING_ENGINE = SNOWFLAKE)."""

    execution_name: str
    plan: RunPlan


class EvaluateModelRequest(Contract):
    execution_name: str
    evaluation: EvaluationPlan
    model_package_group: str
    run_id: str
    export_id: str
    training: TrainingResult
    # The promotion lease's holder and key, and what the champion is scored with on this export's
    # rows (docs/contracts.md, "The gate").
    execution_arn: str
    dataset: str
    model: ModelPlan
    features: list[str]
    image_uri: str
    transform_timeout_seconds: int = Field(ge=1)


ChampionJudgedOn = Literal["this_export", "recorded"]


class Verdict(Contract):
    promote: bool
    approval_status: ApprovalStatus
    metric_name: str
    metric_value: float
    threshold: float
    champion_metric: float | None  # as recorded when the champion was trained, on its own export
    champion_package_arn: str | None
    reason: str
    package_metadata: dict[str, str]
    # The champion's metric on this export's validation rows, and which of the two the verdict used.
    champion_metric_on_export: float | None = None
    champion_rows: int | None = None
    champion_judged_on: ChampionJudgedOn | None = None
    warehouse_seconds: float | None = None  # the champion's SELECT, elapsed (snowsage.cost)


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
    warehouse_seconds: float | None = None  # the load's statements, elapsed (snowsage.cost)
    # ScoreInSnowflake: the function version that scored, ``snowflake:ML_PREDICT_<DATASET>:v<n>``
    # (ML_RUNS.TRANSFORM_JOB, as TRAINING_JOB names TRAIN_MODEL).
    scored_by: str | None = None


class ScoreInSnowflakeRequest(Contract):
    """The ScoreInSnowflake state's input: the plan and the model the function must serve."""

    execution_name: str
    plan: RunPlan
    model: ModelSelection


# --- PublishModel ----------------------------------------------------------------------------


class PublishModelRequest(Contract):
    execution_name: str
    plan: RunPlan
    model: ModelSelection
    # PublishForScoring: publish only when ML_MODELS says the function serves another version.
    if_not_served: bool = False


class PublishedModel(Contract):
    """The Python function a promoted model was published as (one ML_MODELS row)."""

    function_name: str
    model_version: int
    model_package_arn: str
    artifact_uri: str
    imports: str
    published_at: JsonDatetime
    warehouse_seconds: float | None = None  # the publication's statements, elapsed (snowsage.cost)
    # True: the function already served this version (if_not_served): nothing was published.
    already_served: bool = False


# --- DeployEndpoint, SettleEndpoint ----------------------------------------------------------

EndpointAction = Literal["create", "update", "delete", "none"]
# ML_RUNS.ENDPOINT_STATUS: what the run did to the endpoint (docs/contracts.md, "Real-time endpoint").
EndpointOutcomeStatus = Literal["CREATED", "UPDATED", "ROLLED_BACK", "DELETED"]
# ML_MODELS.ENDPOINT_STATUS of a model version: serving, replaced by a later one, rolled back, ...
ModelEndpointStatus = Literal["IN_SERVICE", "RETIRED", "ROLLED_BACK", "FAILED", "DELETED"]


class DeployEndpointRequest(Contract):
    """DeployEndpoint (``deploy``: the promoted model behind the endpoint) or RemoveEndpoint (``remove``)."""

    execution_name: str
    action: Literal["deploy", "remove"]
    dataset: str
    run_id: str
    endpoint: EndpointPlan
    model: ModelSelection | None = None  # deploy: the promoted model
    model_name: str | None = None  # deploy: the SageMaker model this run created for it


class EndpointDeployment(Contract):
    """What DeployEndpoint asked of SageMaker, and how the state machine waits for it."""

    endpoint_name: str
    action: EndpointAction
    config_name: str | None = None
    model_name: str | None = None
    model_version: int | None = None
    poll_seconds: int = Field(ge=1)
    max_polls: int = Field(ge=1)


class SettleEndpointRequest(Contract):
    execution_name: str
    dataset: str
    run_id: str
    deployment: EndpointDeployment
    polls_left: int  # how many more times the state machine asks before the run stops waiting


class EndpointOutcome(Contract):
    """How the run left the endpoint: the model version it serves (None: deleted) and why; or, not
    ``settled``, that it is still being created or updated (the state machine asks again)."""

    endpoint_name: str
    settled: bool = True
    status: EndpointOutcomeStatus | None = None
    model_version: int | None = None
    reason: str | None = None


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
    endpoint: EndpointOutcome | None = None
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
    champion_metric_on_export: float | None = None
    gate_reason: str | None = None
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
    cost_warehouse_usd: float | None = None
    warehouse_seconds: float | None = None  # the statements' elapsed seconds the warehouse part prices
    tuning_trials: int | None = None  # the tuning job's trials the training part sums
    cost_note: str | None = None  # why COST_USD is NULL, or what it rests on beyond the bills read
    # The real-time endpoint: its name, what the run did to it, the model version behind it after the run.
    endpoint_name: str | None = None
    endpoint_status: EndpointOutcomeStatus | None = None
    endpoint_model_version: int | None = None
    endpoint_reason: str | None = None


# --- StartPipeline ---------------------------------------------------------------------------


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
