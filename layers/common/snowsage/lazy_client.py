"""A boto3 client made on its first use, for a client that only some invocations need.

Making a client loads its service's model (SageMaker's is one of the largest), which a handler
would otherwise pay for at init on every cold start (docs/benchmarks.md, section 1). PrepareRun
needs SageMaker only for a warm-starting tuning run, RecordRun only for a tuned run's trials.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class LazyClient:
    """Stands for the client ``factory`` makes; the factory runs on the first attribute read."""

    def __init__(self, factory: Callable[[], Any]) -> None:
        self._factory = factory
        self._client: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._client is None:
            self._client = self._factory()
        return getattr(self._client, name)
