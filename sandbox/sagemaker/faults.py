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
    name_prefix: str = ""


@dataclass(frozen=True)
class JobFault:
    """What to do with the next job: ``kind`` is "fail" or "stop"."""

    kind: str
    reason: str
    name_prefix: str = ""  # only a job whose name starts so ("": any), so concurrent runs keep apart


class FaultPlan:
    """Faults armed by tests; each is consumed by the call or job it affects. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._create: dict[str, list[_CreateFault]] = {}
        self._training: list[JobFault] = []
        self._transform: list[JobFault] = []

    def fail_create(
        self, api: str, code: str, message: str = "", times: int = 1, *, name_prefix: str = ""
    ) -> None:
        """Make the next ``times`` calls of ``api`` raise ``SageMakerError(code, message)``.

        ``api`` is create_training_job, create_transform_job or create_model (CreateTrainingJob
        spelling accepted); ``name_prefix``: only calls whose job or model name starts with it.
        """
        if code not in ERROR_CODES:
            raise ValueError(f"unknown error code {code!r}: one of {sorted(ERROR_CODES)}")
        if times < 1:
            raise ValueError("times must be at least 1")
        text = message or _DEFAULT_MESSAGES.get(code, f"Injected {code}")
        with self._lock:
            self._create.setdefault(_normalise_api(api), []).append(
                _CreateFault(code, text, times, name_prefix)
            )

    def fail_next_training(
        self, reason: str = "AlgorithmError: injected failure", *, name_prefix: str = ""
    ) -> None:
        """The next training job created (named ``name_prefix``…) ends Failed with ``reason``."""
        with self._lock:
            self._training.append(JobFault("fail", reason, name_prefix))

    def stop_next_training(self, *, name_prefix: str = "") -> None:
        """The next training job created ends Stopped with SecondaryStatus MaxRuntimeExceeded."""
        with self._lock:
            self._training.append(JobFault("stop", "MaxRuntimeExceeded", name_prefix))

    def fail_next_transform(
        self, reason: str = "ClientError: injected failure", *, name_prefix: str = ""
    ) -> None:
        """The next transform job created ends Failed with ``reason`` as its FailureReason."""
        with self._lock:
            self._transform.append(JobFault("fail", reason, name_prefix))

    def discard(self, name_prefix: str) -> int:
        """Take back the faults armed for ``name_prefix``; returns the uses none consumed."""
        with self._lock:
            left = 0
            for faults in self._create.values():
                left += sum(f.remaining for f in faults if f.name_prefix == name_prefix)
                faults[:] = [f for f in faults if f.name_prefix != name_prefix]
            for jobs in (self._training, self._transform):
                left += sum(1 for f in jobs if f.name_prefix == name_prefix)
                jobs[:] = [f for f in jobs if f.name_prefix != name_prefix]
            return left

    def clear(self) -> None:
        with self._lock:
            self._create.clear()
            self._training.clear()
            self._transform.clear()

    # Used by the emulator.
    def check_create(self, api: str, name: str = "") -> None:
        """Raise the armed error for ``api`` and this name, if any (consuming one use of it)."""
        with self._lock:
            faults = self._create.get(_normalise_api(api)) or []
            fault = next((f for f in faults if name.startswith(f.name_prefix)), None)
            if fault is None:
                return
            fault.remaining -= 1
            if fault.remaining <= 0:
                faults.remove(fault)
        raise SageMakerError(fault.code, fault.message)

    def take_training(self, name: str = "") -> JobFault | None:
        with self._lock:
            return _take(self._training, name)

    def take_transform(self, name: str = "") -> JobFault | None:
        with self._lock:
            return _take(self._transform, name)


def _take(faults: list[JobFault], name: str) -> JobFault | None:
    """The first fault armed for a job of this name, removed from the list."""
    fault = next((f for f in faults if name.startswith(f.name_prefix)), None)
    if fault is not None:
        faults.remove(fault)
    return fault
