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
