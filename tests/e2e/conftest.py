from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.services import Sandbox

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test of this folder runs the loop in the sandbox: `pytest -m e2e` selects them."""
    for item in items:
        if HERE in item.path.resolve().parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    """One sandbox per test module (about 3 s): moto, fakesnow and the deployed template."""
    with Sandbox() as running:
        yield running
