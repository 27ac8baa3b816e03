"""Errors the handlers raise on purpose.

The Lambda runtime reports an unhandled exception's class name as ``errorType`` and Step
Functions uses it as the error name, so these class names are part of the state machine's
contract: the ASL retries ``TransientError`` subclasses by name and fails fast on the rest.
"""


class PipelineError(Exception):
    """Base class: a failure the pipeline understands and explains."""


class PermanentError(PipelineError):
    """Retrying cannot help: bad input, missing data, a rule that says no."""


class TransientError(PipelineError):
    """A dependency was briefly unavailable: retrying may succeed."""


class InvalidExecutionInput(PermanentError):
    """The execution input (console start or event) does not match the contract."""


class InvalidIdentifier(PermanentError):
    """A dataset, table or column name that is not a safe identifier."""


class ManifestError(PermanentError):
    """The export manifest is unreadable or breaks the contract."""


class ManifestNotFound(ManifestError):
    """The manifest object does not exist."""


class ManifestVersionError(ManifestError):
    """The manifest declares a version this code does not read."""


class ManifestSchemaError(ManifestError):
    """The manifest is not valid JSON or misses or mistypes fields."""


class ExportFileMissing(ManifestError):
    """A file the manifest lists is not in S3."""


class ExportFileEmpty(ManifestError):
    """A file the manifest lists is empty, or a section has no rows."""


class ExportFileUnlisted(ManifestError):
    """A section's prefix holds more files than its manifest counts."""


class ExportSizeMismatch(ManifestError):
    """A section's files in S3 add up to another size than its manifest's ``bytes``."""


class ColumnMismatch(ManifestError):
    """Columns disagree between sections or with the id/label columns."""


class NoApprovedModel(PermanentError):
    """Scoring needs an Approved model package and there is none."""


class ModelPackageNotFound(PermanentError):
    """The model package named in the input does not exist or is not usable."""


class RowCountMismatch(PermanentError):
    """Rows loaded into Snowflake differ from rows scored."""


class PredictionsMissing(PermanentError):
    """The transform output has no files to load."""


class RunEnded(PermanentError):
    """The execution ended (stopped, timed out, failed) while the load ran: its rows were rolled back."""


class PredictionsMalformed(PermanentError):
    """The transform output does not have the shape the dataset's model writes."""


class SnowflakeUnavailable(TransientError):
    """Snowflake could not be reached or timed out."""


class MetricMissing(PermanentError):
    """The training job did not report the metric the gate judges."""


class RegistryUnavailable(TransientError):
    """The SageMaker Model Registry throttled, timed out or failed on its side: retry."""


class RegistrationRefused(PermanentError):
    """The SageMaker Model Registry refused the request (validation, access, limits)."""


class PublicationRefused(PermanentError):
    """The model cannot be published as a Snowflake function (its artifact or features break the contract)."""


class InvalidModelSettings(PermanentError):
    """A dataset's model settings (its ML_DATASETS row, the template or the input) do not fit."""


class TrainingFailed(PermanentError):
    """TRAIN_MODEL failed inside Snowflake (its message says why); the run records it."""


class ScoringFailed(PermanentError):
    """The scoring statement failed inside Snowflake (its message says why); rolled back, recorded."""


class PromotionInProgress(TransientError):
    """Another run of the dataset holds the promotion lease: the state machine waits and retries."""


class LeaseUnavailable(TransientError):
    """DynamoDB throttled or failed the lease's write: retried like a held lease."""


class EndpointUnavailable(TransientError):
    """SageMaker or CloudWatch throttled or failed on its side while changing the endpoint: retry."""


class EndpointBusy(TransientError):
    """The endpoint is changing for another reason (not this run): retried, it settles first."""


class EndpointRefused(PermanentError):
    """SageMaker refused the endpoint change (validation, limits, access), or the endpoint is Failed."""


class EndpointDeploymentFailed(PermanentError):
    """The deployment ended Failed, or did not settle in time; ML_MODELS and the run record it."""
