"""One sandbox per test module (a module may override ``sandbox_config``); Retry never sleeps."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.aws import moto_patches
from sandbox.services import Sandbox, SandboxConfig
from tests.reliability.helpers import load_sample


@pytest.fixture(scope="module")
def sandbox_config() -> SandboxConfig:
    # These tests are about faults, not the gate: with a few dozen merchants the validation AUC
    # moves with the (unordered) export's row order, so the gate is set where it never decides.
    return SandboxConfig(template_parameters={"EvaluationThreshold": "0.5"})


@pytest.fixture(scope="module")
def sb(sandbox_config: SandboxConfig) -> Iterator[Sandbox]:
    # The recorder also covers module-scoped fixtures that run executions before any test's own.
    with Sandbox(sandbox_config) as sandbox, moto_patches.RetrySleepRecorder():
        load_sample(sandbox)
        yield sandbox
        moto_patches.wait_for_event_deliveries()


@pytest.fixture(autouse=True)
def retry_sleeps() -> Iterator[moto_patches.RetrySleepRecorder]:
    """Retry/Wait delays are recorded, never slept: the tests assert the computed backoff."""
    with moto_patches.RetrySleepRecorder() as recorder:
        yield recorder
