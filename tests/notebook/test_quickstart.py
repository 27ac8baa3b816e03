"""notebooks/quickstart.ipynb top to bottom against ``python -m sandbox serve --with-sample-data``, in
its own kernel (.venv-notebook, requirements/notebook.lock) through nbclient (tooling/run_notebook.py),
as ``make notebook`` runs it. A cell's error fails the run; the repository keeps the notebook without
outputs."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.serve.test_serve import Served, serving_sample_data
from tooling.template import PROJECT_ROOT

pytestmark = pytest.mark.e2e

NOTEBOOK = PROJECT_ROOT / "notebooks" / "quickstart.ipynb"
KERNEL_PYTHON = PROJECT_ROOT / ".venv-notebook" / "bin" / "python"
RUNNER = PROJECT_ROOT / "tooling" / "run_notebook.py"
SDK_CONFIG = PROJECT_ROOT / "tests" / "sdk" / "sagemaker-config.yaml"  # the SDK's telemetry off
RUN_TIMEOUT = 1200  # seconds for the whole notebook: a guard against a hang, not a speed goal


def _cells() -> list[dict[str, Any]]:
    cells: list[dict[str, Any]] = json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]
    return cells


def _run(notebook: Path, served: Served, home: Path) -> subprocess.CompletedProcess[str]:
    if not KERNEL_PYTHON.exists():
        pytest.fail(f"{KERNEL_PYTHON} is missing: run make venv (requirements/notebook.lock)")
    environment = {
        "PATH": f"{KERNEL_PYTHON.parent}:{os.environ['PATH']}",
        "HOME": str(home),  # no ~/.aws or Jupyter settings of the machine running the tests
        "SNOWSAGE_SANDBOX_ENDPOINT": f"http://127.0.0.1:{served.ports[0]}",
        "SAGEMAKER_USER_CONFIG_OVERRIDE": str(SDK_CONFIG),
        "SAGEMAKER_SUPPRESS_V2_WARNING": "1",
    }
    return subprocess.run(
        [str(KERNEL_PYTHON), str(RUNNER), "run", str(notebook), "--output", str(home / "executed.ipynb")],
        capture_output=True,
        text=True,
        env=environment,
        timeout=RUN_TIMEOUT,
        check=False,
    )


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serving_sample_data(tmp_path_factory.mktemp("serve")) as running:
        yield running


def test_the_repository_keeps_the_notebook_without_outputs() -> None:
    for cell in _cells():
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None, "".join(cell["source"])[:80]


def test_the_quickstart_runs_end_to_end_against_the_sandbox(served: Served, tmp_path: Path) -> None:
    done = _run(NOTEBOOK, served, tmp_path)
    assert done.returncode == 0, f"{done.stdout[-6000:]}\n{done.stderr[-3000:]}"
    executed = json.loads((tmp_path / "executed.ipynb").read_text(encoding="utf-8"))
    printed = "".join(
        "".join(output.get("text", ""))
        for cell in executed["cells"]
        if cell["cell_type"] == "code"
        for output in cell["outputs"]
    )
    assert "the Snowpark features match MERCHANT_FEATURES" in printed
    assert "Completed" in printed and "SUCCEEDED" in printed


def test_a_cell_broken_on_purpose_fails_the_run(served: Served, tmp_path: Path) -> None:
    """The brief's aggregation with MIN for MAX no longer matches the feature view: the check cell fails."""
    document = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    (aggregation,) = [
        cell
        for cell in document["cells"]
        if cell["cell_type"] == "code" and "group_by(" in "".join(cell["source"])
    ]
    source = "".join(aggregation["source"])
    assert 'F.max(F.col("AMOUNT")' in source
    aggregation["source"] = source.replace('F.max(F.col("AMOUNT")', 'F.min(F.col("AMOUNT")')
    broken = tmp_path / "broken.ipynb"
    broken.write_text(json.dumps(document), encoding="utf-8")
    done = _run(broken, served, tmp_path)
    assert done.returncode == 1, done.stdout[-3000:]
    assert "FAILED at cell" in done.stdout and "MAX_AMOUNT" in done.stdout, done.stdout[-3000:]
