"""The error the emulator raises for API calls, shaped like a SageMaker service error."""

from __future__ import annotations

ERROR_CODES = frozenset(
    {
        "ValidationException",
        "ResourceInUse",
        "ResourceNotFound",
        "ResourceLimitExceeded",
        "ThrottlingException",
    }
)


class SageMakerError(Exception):
    """A SageMaker API error: ``code`` is the AWS error code, ``message`` its message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def validation_error(message: str) -> SageMakerError:
    return SageMakerError("ValidationException", message)


class JobFailure(Exception):
    """Raised inside a running job: the job ends Failed with ``reason`` as its FailureReason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def client_error(message: str) -> JobFailure:
    """A failure caused by the customer's data or settings (the real container's ``ClientError``)."""
    return JobFailure(f"ClientError: {message}")


# DescribeTrainingJob returns the first 1024 characters of the algorithm's failure file
# (sagemaker-containers _files.write_failure_file docstring; your-algorithms-training-algo).
FAILURE_FILE_LIMIT = 1024
_TOOLKIT_ERRORS = {"UserError", "AlgorithmError", "PlatformError"}


def container_failure(kind: str, message: str) -> JobFailure:
    """The FailureReason of the built-in XGBoost container when its code raises.

    sagemaker-containers ``_trainer.train`` (v2.8.6.post2, lines 113-116) writes
    ``"framework error: \\n%s\\n%s" % (traceback, str(e))`` to the failure file, and SageMaker reports it
    as ``AlgorithmError: <first 1024 characters>``. The container's own frames are not reproduced: the
    traceback keeps only its last line, the exception's class and message.
    """
    qualified = f"sagemaker_algorithm_toolkit.exceptions.{kind}" if kind in _TOOLKIT_ERRORS else kind
    body = f"framework error: \nTraceback (most recent call last):\n{qualified}: {message}\n\n{message}"
    return JobFailure(f"AlgorithmError: {body[:FAILURE_FILE_LIMIT]}")
