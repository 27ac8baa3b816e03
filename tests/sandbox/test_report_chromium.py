"""The sandbox report as a real page: headless Chromium draws its charts and logs nothing to the console.

Skipped where the machine has no Chromium (`apt-get install -y chromium`; .ci/run installs it).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox import pipeline_run
from sandbox.chromium import INSTALL_HINT, find_chromium, render
from sandbox.html_report import write_report
from sandbox.reference_runs import load_reference_data
from sandbox.services import Sandbox
from tooling.sample_data import SAMPLE_DATASET

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason=f"no Chromium on this machine: {INSTALL_HINT}")
CHARTS = ("chart-rounds", "chart-roc", "chart-histogram", "chart-gain")


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, Any]]]:
    with Sandbox() as sandbox:
        load_reference_data(sandbox)
        result = pipeline_run.run_from_export(sandbox, SAMPLE_DATASET, export_id="20261126t020000z")
        assert result.status == "SUCCEEDED", (result.execution.error, result.execution.cause)
        yield write_report(result, sandbox, tmp_path_factory.mktemp("report")), result.manifest


def chart(dom: str, chart_id: str) -> str:
    """The chart's element as the page drew it: from its id to the end of its figure."""
    start = dom.find(f'id="{chart_id}"')
    assert start >= 0, f"{chart_id} is not on the page"
    return dom[start : dom.index("</figure>", start)]


def tick_labels(drawn: str, axis: str) -> list[str]:
    return re.findall(rf'class="{axis}tick"[^>]*>.*?<text[^>]*>([^<]*)</text>', drawn)


def test_the_report_draws_every_chart_and_logs_nothing(report: tuple[Path, dict[str, Any]]) -> None:
    assert CHROMIUM is not None
    page, manifest = report
    rendered = render(page, CHROMIUM)
    assert rendered.console == []
    assert 'data-charts-drawn="4"' in rendered.dom
    for chart_id in CHARTS:
        drawn = chart(rendered.dom, chart_id)
        assert "main-svg" in drawn, f"{chart_id} was not drawn"
        assert tick_labels(drawn, "x") and tick_labels(drawn, "y"), f"{chart_id} has no axis values"
    assert chart(rendered.dom, "chart-histogram").count('class="point"') == 10
    features = set(manifest["train"]["columns"][1:])
    named = set(tick_labels(chart(rendered.dom, "chart-gain"), "y"))
    assert len(named) >= 3 and named <= features, named
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
