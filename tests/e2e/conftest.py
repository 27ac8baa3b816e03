from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.services import Sandbox


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    """One sandbox per test module (about 3 s): moto, fakesnow and the deployed template."""
    with Sandbox() as running:
        yield running
