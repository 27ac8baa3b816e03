"""Fault injection for tests of the pipeline's failure handling (emulator-only, not an AWS API)."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from sandbox.sagemaker.errors import ERROR_CODES, SageMakerError

_API_ALIASES = {
    "create_training_job": "create_training_job",
    "createtrainingjob": "create_training_job",
    "create_transform_job": "create_transform_job",
    "createtransformjob": "create_transform_job",
    "create_model": "create_model",
    "createmodel": "create_model",
    "create_hyper_parameter_tuning_job": "create_hyper_parameter_tuning_job",
    "createhyperparametertuningjob": "create_hyper_parameter_tuning_job",
}

_DEFAULT_MESSAGES = {
    "ThrottlingException": "Rate exceeded",
    "ResourceLimitExceeded": "The account-level service limit for this resource has been exceeded.",
}


def _normalise_api(api: str) -> str:
    key = api.strip().lower()
    if key not in _API_ALIASES:
        raise ValueError(
            f"unknown api {api!r}: use create_training_job, create_transform_job, create_model or"
            " create_hyper_parameter_tuning_job"
        )
    return _API_ALIASES[key]


@dataclass
class _CreateFault:
    code: str
    message: str
    remaining: int


@dataclass(frozen=True)
class JobFault:
    """What to do with the next job: ``kind`` is "fail" or "stop"."""

    kind: str
    reason: str


class FaultPlan:
    """Faults armed by tests; each is consumed by the call or job it affects. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._create: dict[str, list[_CreateFault]] = {}
        self._training: list[JobFault] = []
        self._transform: list[JobFault] = []

    def fail_create(self, api: str, code: str, message: str = "", times: int = 1) -> None:
        """Make the next ``times`` calls of ``api`` raise ``SageMakerError(code, message)``.

        ``api`` is create_training_job, create_transform_job or create_model (CreateTrainingJob
        spelling accepted).
        """
        if code not in ERROR_CODES:
            raise ValueError(f"unknown error code {code!r}: one of {sorted(ERROR_CODES)}")
        if times < 1:
            raise ValueError("times must be at least 1")
        text = message or _DEFAULT_MESSAGES.get(code, f"Injected {code}")
        with self._lock:
            self._create.setdefault(_normalise_api(api), []).append(_CreateFault(code, text, times))

    def fail_next_training(self, reason: str = "AlgorithmError: injected failure") -> None:
        """The next training job created ends Failed with ``reason`` as its FailureReason."""
        with self._lock:
            self._training.append(JobFault("fail", reason))

    def stop_next_training(self) -> None:
        """The next training job created ends Stopped with SecondaryStatus MaxRuntimeExceeded."""
        with self._lock:
            self._training.append(JobFault("stop", "MaxRuntimeExceeded"))

    def fail_next_transform(self, reason: str = "ClientError: injected failure") -> None:
        """The next transform job created ends Failed with ``reason`` as its FailureReason."""
        with self._lock:
            self._transform.append(JobFault("fail", reason))

    def clear(self) -> None:
        with self._lock:
            self._create.clear()
            self._training.clear()
            self._transform.clear()

    # Used by the emulator.
    def check_create(self, api: str) -> None:
        """Raise the armed error for ``api``, if any (consuming one use of it)."""
        with self._lock:
            faults = self._create.get(_normalise_api(api))
            if not faults:
                return
            fault = faults[0]
            fault.remaining -= 1
            if fault.remaining <= 0:
                faults.pop(0)
        raise SageMakerError(fault.code, fault.message)

    def take_training(self) -> JobFault | None:
        with self._lock:
            return self._training.pop(0) if self._training else None

    def take_transform(self) -> JobFault | None:
        with self._lock:
            return self._transform.pop(0) if self._transform else None
