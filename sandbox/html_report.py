"""A one-file HTML report of a run: the state machine graph coloured by outcome, the timeline, the metric.

The graph is drawn from the real ASL file (statemachines/pipeline.asl.json), so the picture is
the definition that ran, not a drawing of it.
"""

from __future__ import annotations

import html
import json
from collections import deque
from pathlib import Path
from typing import Any

from sandbox.aws.executions import ExecutionSummary
from sandbox.aws.template import PROJECT_ROOT
from sandbox.services import Sandbox

ASL = PROJECT_ROOT / "statemachines" / "pipeline.asl.json"
COLOURS = {"succeeded": "#2e7d32", "failed": "#c62828", "running": "#f9a825", "not run": "#9e9e9e"}
NODE_W, NODE_H, GAP_X, GAP_Y = 190, 34, 30, 40


def transitions(state: dict[str, Any]) -> list[tuple[str, bool]]:
    """(target, via Catch) for every way out of a state."""
    targets = [(state["Next"], False)] if "Next" in state else []
    targets += [(choice["Next"], False) for choice in state.get("Choices", [])]
    if "Default" in state:
        targets.append((state["Default"], False))
    targets += [(catch["Next"], True) for catch in state.get("Catch", [])]
    return targets


def layout(definition: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """Longest-path layers from StartAt (normal edges only), states side by side within a layer."""
    states = definition["States"]
    depth = {definition["StartAt"]: 0}
    queue = deque([definition["StartAt"]])
    while queue:
        name = queue.popleft()
        for target, via_catch in transitions(states[name]):
            if via_catch:
                continue
            if depth.get(target, -1) < depth[name] + 1 and depth[name] + 1 < len(states):
                depth[target] = depth[name] + 1
                queue.append(target)
    last = max(depth.values(), default=0)
    for name in states:  # the failure branch: below everything else
        depth.setdefault(name, last + 1)
    columns: dict[int, int] = {}
    positions: dict[str, tuple[int, int]] = {}
    for name in states:
        level = depth[name]
        positions[name] = (columns.get(level, 0), level)
        columns[level] = columns.get(level, 0) + 1
    return positions


def _graph_svg(definition: dict[str, Any], outcomes: dict[str, str]) -> str:
    positions = layout(definition)
    width = (max(col for col, _ in positions.values()) + 1) * (NODE_W + GAP_X) + GAP_X
    height = (max(row for _, row in positions.values()) + 1) * (NODE_H + GAP_Y) + GAP_Y

    def centre(name: str) -> tuple[float, float]:
        col, row = positions[name]
        return GAP_X + col * (NODE_W + GAP_X) + NODE_W / 2, GAP_Y + row * (NODE_H + GAP_Y) + NODE_H / 2

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif">'
    ]
    for name, state in definition["States"].items():
        x1, y1 = centre(name)
        for target, via_catch in transitions(state):
            x2, y2 = centre(target)
            dash = ' stroke-dasharray="4 3"' if via_catch else ""
            taken = outcomes.get(name) in {"succeeded", "failed"} and outcomes.get(target) not in {
                None,
                "not run",
            }
            colour = "#555" if taken else "#ccc"
            if x1 == x2 and abs(y2 - y1) > NODE_H + GAP_Y and not via_catch:
                # An edge that skips layers in one column: bow it out to the right, clear of the nodes.
                bow = x1 + NODE_W / 2 + 20 + abs(y2 - y1) / 25
                parts.append(
                    f'<path d="M {x1 + NODE_W / 2} {y1} C {bow} {y1}, {bow} {y2}, {x2 + NODE_W / 2} {y2}"'
                    f' fill="none" stroke="{colour}"{dash}/>'
                )
            else:
                parts.append(f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="{colour}"{dash}/>')
    for name, state in definition["States"].items():
        cx, cy = centre(name)
        fill = COLOURS[outcomes.get(name, "not run")]
        parts.append(
            f'<rect x="{cx - NODE_W / 2}" y="{cy - NODE_H / 2}" width="{NODE_W}" height="{NODE_H}" rx="6"'
            f' fill="{fill}"><title>{html.escape(state.get("Comment", state["Type"]))}</title></rect>'
            f'<text x="{cx}" y="{cy + 4}" fill="white" font-size="12" text-anchor="middle">{html.escape(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _timeline_svg(execution: ExecutionSummary) -> str:
    total = max(execution.seconds or 0.0, 0.001)
    row, label_w, bar_w = 22, 190, 620
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + bar_w + 90}" '
        f'height="{row * len(execution.spans) + 10}" font-family="sans-serif" font-size="12">'
    ]
    for index, span in enumerate(execution.spans):
        start = (span.entered - execution.started).total_seconds()
        length = span.seconds or 0.0
        x = label_w + bar_w * start / total
        w = max(bar_w * length / total, 1.5)
        y = index * row + 4
        parts.append(
            f'<text x="0" y="{y + 13}">{html.escape(span.name)}</text>'
            f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{row - 6}" fill="{COLOURS[span.outcome]}"/>'
            f'<text x="{x + w + 4:.1f}" y="{y + 13}">{length:.2f} s</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def write_report(result: Any, sandbox: Sandbox, folder: Path) -> Path:
    """Write ``report.html`` (and ``run.json``) into ``folder``; returns the HTML path."""
    folder.mkdir(parents=True, exist_ok=True)
    definition = json.loads(ASL.read_text())
    execution: ExecutionSummary = result.execution
    outcomes = {span.name: span.outcome for span in execution.spans}
    metric = result.metric
    metric_line = (
        f"{metric['name']} = {metric['value']:.4f}" if metric.get("name") else "no metric (score only)"
    )
    rows = "".join(
        f"<tr><td>{html.escape(str(row[0]))}</td><td>{float(row[1]):.4f}</td><td>{html.escape(str(row[3]))}</td></tr>"
        for row in result.predictions
    )
    failure = (
        f"<p class=bad>Failed in <b>{html.escape(str(execution.failed_state))}</b>: "
        f"{html.escape(str(execution.error))} &mdash; {html.escape((execution.cause or '')[:1500])}</p>"
        if execution.status != "SUCCEEDED"
        else ""
    )
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>Snowsage run {html.escape(execution.name)}</title>
<style>body{{font-family:sans-serif;margin:24px;color:#222}} td,th{{padding:2px 10px;text-align:left}}
.bad{{color:#c62828}} .legend span{{display:inline-block;padding:2px 8px;margin-right:6px;color:white;border-radius:4px}}</style>
</head><body>
<h1>Snowsage run {html.escape(execution.name)}: {html.escape(execution.status)}</h1>
<p>{html.escape(execution.arn)}<br>{execution.seconds or 0:.1f} s, {execution.transitions} state transitions</p>
{failure}
<h2>Metric</h2><p>{html.escape(metric_line)}; rows scored {result.rows_scored}, rows loaded {result.rows_loaded}</p>
<h2>State machine</h2>
<p class=legend>{"".join(f'<span style="background:{c}">{k}</span>' for k, c in COLOURS.items())} dashed: Catch</p>
{_graph_svg(definition, outcomes)}
<h2>Timeline</h2>{_timeline_svg(execution)}
<h2>Predictions (top scores, read back from Snowflake {html.escape(str(result.predictions_table))})</h2>
<table><tr><th>id</th><th>score</th><th>model version</th></tr>{rows}</table>
<p>Sandbox: AWS {html.escape(sandbox.endpoint_url)}, bucket {html.escape(sandbox.bucket)}</p>
</body></html>"""
    target = folder / "report.html"
    target.write_text(page)
    (folder / "run.json").write_text(json.dumps(result.as_json(), indent=2, default=str))
    return target
