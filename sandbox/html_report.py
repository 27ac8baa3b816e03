"""A one-file HTML report of a run: the state machine graph coloured by outcome, the timeline, the metric,
and for a data scientist the validation metric per round, the ROC curve and score histogram on the
validation set, the gain importance, challenger against champion, the lineage and the cost.

Details: sandbox/README.md, "html_report.py".
"""

from __future__ import annotations

import html
import json
from collections import deque
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from plotly.io import to_json
from plotly.offline import get_plotlyjs

from sandbox.aws.executions import ExecutionSummary
from sandbox.cost import cost_text
from sandbox.model_insight import ModelInsight, histogram, model_insight, roc_points
from sandbox.services import Sandbox
from tooling.template import PROJECT_ROOT

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


def _insight(result: Any, sandbox: Sandbox) -> ModelInsight:
    output = result.execution.output or {}
    training = output.get("training") or {}
    plan = (output.get("plan") or {}).get("training") or {}
    if not training.get("job_name") or sandbox.emulator is None:
        return ModelInsight(problem="no model trained in this run (score only, or a failure before Train)")
    if ((output.get("plan") or {}).get("model") or {}).get("training_engine") == "SNOWFLAKE":
        return ModelInsight(
            problem="trained in Snowflake by TRAIN_MODEL: no SageMaker training job to describe, and the"
            " validation rows stayed in Snowflake"
        )
    describe = sandbox.client("sagemaker").describe_training_job(TrainingJobName=training["job_name"])
    log = sandbox.emulator.training_log(training["job_name"])
    return model_insight(sandbox.client("s3"), describe, plan.get("validation_uri", ""), log)


def _lineage(result: Any) -> list[tuple[str, str]]:
    output = result.execution.output or {}
    plan = output.get("plan") or {}
    model = output.get("model") or {}
    published = output.get("published") or {}
    function = published.get("function_name") or (result.sql_scoring.function if result.sql_scoring else None)
    return [
        ("export", str(plan.get("export_id") or result.manifest.get("export_id"))),
        ("training job", str((output.get("training") or {}).get("job_name", "none (score only)"))),
        ("model package", str(model.get("model_package_arn"))),
        # the transform job, or ScoreInSnowflake's snowflake:ML_PREDICT_<DATASET>:v<n>
        (
            "scored by",
            str(
                (output.get("transform") or {}).get("job_name") or (output.get("load") or {}).get("scored_by")
            ),
        ),
        ("predictions table", str(result.predictions_table)),
        ("SQL function", str(function or "not published")),
    ]


def feature_names(manifest: dict[str, Any]) -> list[str]:
    """The training columns after the label: xgboost's f0, f1, ... (the CSV has no header)."""
    return [str(column) for column in (manifest.get("train") or {}).get("columns", [])[1:]]


def charts(insight: ModelInsight, features: list[str]) -> dict[str, go.Figure]:
    """The model's charts by element id: axes with values, exact figures on hover."""
    margin = {"l": 60, "r": 20, "t": 10, "b": 50}
    base: dict[str, Any] = {"width": 440, "height": 300, "margin": margin, "showlegend": False}
    figures: dict[str, go.Figure] = {}
    if insight.rounds:
        metric = insight.metric_name or "validation metric"
        figures["chart-rounds"] = go.Figure(
            go.Scatter(
                x=[number for number, _ in insight.rounds],
                y=[value for _, value in insight.rounds],
                mode="lines+markers",
                hovertemplate=f"round %{{x}}<br>{metric} %{{y:.4f}}<extra></extra>",
            ),
            {**base, "xaxis": {"title": {"text": "boosting round"}}, "yaxis": {"title": {"text": metric}}},
        )
    roc = roc_points(insight.labels, insight.scores)
    if roc:
        figures["chart-roc"] = go.Figure(
            [
                go.Scatter(
                    x=[0, 1], y=[0, 1], mode="lines", line={"dash": "dash", "color": "#bbb"}, hoverinfo="skip"
                ),
                go.Scatter(
                    x=[x for x, _ in roc],
                    y=[y for _, y in roc],
                    mode="lines",
                    hovertemplate="false positive rate %{x:.3f}<br>true positive rate %{y:.3f}<extra></extra>",
                ),
            ],
            {
                **base,
                "xaxis": {"title": {"text": "false positive rate"}, "range": [0, 1]},
                "yaxis": {"title": {"text": "true positive rate"}, "range": [0, 1]},
            },
        )
    if insight.scores:
        counts = histogram(insight.scores)
        bins = [f"{i / len(counts):.1f}-{(i + 1) / len(counts):.1f}" for i in range(len(counts))]
        figures["chart-histogram"] = go.Figure(
            go.Bar(x=bins, y=counts, hovertemplate="score %{x}<br>%{y} rows<extra></extra>"),
            {
                **base,
                "xaxis": {"title": {"text": "score"}, "type": "category"},
                "yaxis": {"title": {"text": "validation rows"}},
            },
        )
    if insight.gain:
        ranked = sorted(insight.gain.items(), key=lambda item: item[1])[-15:]  # largest at the top
        names = [_feature(name, features) for name, _ in ranked]
        figures["chart-gain"] = go.Figure(
            go.Bar(
                x=[value for _, value in ranked],
                y=names,
                orientation="h",
                hovertemplate="%{y}<br>gain %{x:,.4f}<extra></extra>",
            ),
            {
                **base,
                "margin": {**margin, "l": 200},
                "xaxis": {"title": {"text": "gain"}},
                "yaxis": {"type": "category", "automargin": True},
            },
        )
    return figures


def _feature(name: str, features: list[str]) -> str:
    """xgboost's ``f<i>`` as the training column's name (kept as it is when it names no column)."""
    index = name[1:]
    return (
        features[int(index)]
        if name.startswith("f") and index.isdigit() and int(index) < len(features)
        else name
    )


def _charts_html(figures: dict[str, go.Figure]) -> str:
    """plotly.js inlined (the page needs no network), one newPlot per chart; the body then carries
    data-charts-drawn (tests/sandbox/test_report_chromium.py reads it)."""
    if not figures:
        return '<script>document.body.dataset.chartsDrawn = "0";</script>'
    calls = ",\n".join(
        f"draw({json.dumps(chart_id)}, {to_json(figure)})" for chart_id, figure in figures.items()
    )
    calls = calls.replace("</", "<\\/")  # no "</script>" inside the script
    return f"""<script>{get_plotlyjs()}</script>
<script>
const draw = (id, figure) => Plotly.newPlot(id, figure.data, figure.layout, {{displayModeBar: false}});
Promise.all([{calls}])
  .then(drawn => {{ document.body.dataset.chartsDrawn = String(drawn.length); }});
</script>"""


def _champion_text(gate: dict[str, Any]) -> str:
    """Both of the champion's numbers: on this export's rows (what the gate compared) and as recorded."""
    recorded, on_export = gate.get("champion_metric"), gate.get("champion_metric_on_export")
    if recorded is None and on_export is None:
        return "none (first model)"
    parts = [f"{on_export:.4f} on this export's rows"] if on_export is not None else []
    parts.append(f"{recorded:.4f} as recorded" if recorded is not None else "none recorded")
    return ", ".join(parts)


def _data_scientist_sections(result: Any, insight: ModelInsight) -> str:
    gate = result.gate
    metric = result.metric
    challenger = (
        f"{metric.get('name')} = {metric['value']:.4f}" if metric.get("value") is not None else "none"
    )
    versus = (
        f"challenger {html.escape(challenger)} against champion {html.escape(_champion_text(gate))}: "
        f"{'promoted' if gate.get('promoted') else 'not promoted'} ({html.escape(str(gate.get('reason')))})"
    )
    lineage = " &rarr; ".join(f"<b>{html.escape(k)}</b> {html.escape(v)}" for k, v in _lineage(result))
    problem = f"<p class=bad>Model charts: {html.escape(insight.problem)}</p>" if insight.problem else ""
    figures = charts(insight, feature_names(result.manifest))
    captions = {
        "chart-rounds": "Validation metric per boosting round",
        "chart-roc": f"ROC curve (validation set, {len(insight.labels)} rows)",
        "chart-histogram": "Score histogram (validation set)",
        "chart-gain": "Feature importance (gain)",
    }
    boxes = "".join(
        f'<figure><figcaption>{html.escape(caption)}</figcaption><div id="{chart_id}"></div></figure>'
        for chart_id, caption in captions.items()
        if chart_id in figures
    )
    return f"""<h2>Model</h2>{problem}
<p>{versus}</p>
<div class=charts>{boxes}</div>
<h2>Lineage</h2><p>{lineage}</p>
<h2>Cost</h2><p>{html.escape(cost_text(result.cost))}</p>
{_charts_html(figures)}"""


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
.bad{{color:#c62828}} .charts{{display:flex;flex-wrap:wrap}} figure{{margin:8px}} .top{{font-size:12px;margin:0}} .legend span{{display:inline-block;padding:2px 8px;margin-right:6px;color:white;border-radius:4px}}</style>
</head><body>
<h1>Snowsage run {html.escape(execution.name)}: {html.escape(execution.status)}</h1>
<p>{html.escape(execution.arn)}<br>{execution.seconds or 0:.1f} s, {execution.transitions} state transitions</p>
{failure}
<h2>Metric</h2><p>{html.escape(metric_line)}; rows scored {result.rows_scored}, rows loaded {result.rows_loaded}</p>
{_data_scientist_sections(result, _insight(result, sandbox))}
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
