"""The sandbox report as a real page: headless Chromium draws its charts and logs nothing to the console.

Skipped where the machine has no Chromium (`apt-get install -y chromium`; .ci/run installs it).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox import pipeline_run
from sandbox.chromium import INSTALL_HINT, find_chromium, render
from sandbox.html_report import write_report
from sandbox.reference_runs import load_reference_data
from sandbox.sample_data import SAMPLE_DATASET
from sandbox.services import Sandbox

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason=f"no Chromium on this machine: {INSTALL_HINT}")
CHARTS = ("chart-rounds", "chart-roc", "chart-histogram", "chart-gain")


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with Sandbox() as sandbox:
        load_reference_data(sandbox)
        result = pipeline_run.run_from_export(sandbox, SAMPLE_DATASET, export_id="20261126t020000z")
        assert result.status == "SUCCEEDED", (result.execution.error, result.execution.cause)
        yield write_report(result, sandbox, tmp_path_factory.mktemp("report"))


def chart(dom: str, chart_id: str) -> str:
    match = re.search(rf'<svg id="{chart_id}"[^>]*>(.*?)</svg>', dom, re.DOTALL)
    assert match, f"{chart_id} is not on the page"
    return match.group(1)


def test_the_report_draws_every_chart_and_logs_nothing(report: Path) -> None:
    assert CHROMIUM is not None
    rendered = render(report, CHROMIUM)
    assert rendered.console == []
    assert 'data-charts-drawn="4"' in rendered.dom
    assert "<polyline" in chart(rendered.dom, "chart-rounds")
    assert "<polyline" in chart(rendered.dom, "chart-roc")
    assert chart(rendered.dom, "chart-histogram").count("<rect") == 10
    assert chart(rendered.dom, "chart-gain").count("<rect") >= 3
    for text in (
        "challenger",
        "champion",
        "training job",
        "model package",
        "SQL function",
        "sandbox figures",
    ):
        assert text in rendered.dom, text


def test_a_script_error_is_caught(tmp_path: Path) -> None:
    """The check above can fail: a page whose script throws is seen through its console."""
    assert CHROMIUM is not None
    page = tmp_path / "broken.html"
    page.write_text(
        "<html><body><script>document.body.dataset.chartsDrawn = '1'; missing();</script></body></html>"
    )
    rendered = render(page, CHROMIUM)
    assert any("ReferenceError" in line for line in rendered.console)
