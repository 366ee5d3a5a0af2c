"""``report.html``: one self-contained page (inline CSS and SVG, no script, no external resource): the
leaderboard, success against tokens, the latency of each framework, success per category, and failures."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

from benchmark.records import TrialRecord
from benchmark.report.formatting import cell, leaderboard_rows, money, pct
from benchmark.report.summary import leaderboard_order
from benchmark.report.svg import heat_map, scatter_chart, strip_chart

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 1360px;
       color: #111827; padding: 0 1rem; line-height: 1.45; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2rem; border-bottom: 1px solid #e5e7eb; }
table { border-collapse: collapse; font-size: 0.8rem; margin: 0.5rem 0; }
.scroll { overflow-x: auto; }  /* a wide leaderboard scrolls on its own instead of widening the page */
th, td { border: 1px solid #e5e7eb; padding: 0.25rem 0.4rem; text-align: right; white-space: nowrap; }
th { background: #f3f4f6; } td:nth-child(2), th:nth-child(2) { text-align: left; }
.meta { color: #4b5563; font-size: 0.9rem; } .meta li { margin: 0.1rem 0; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(480px, 1fr)); gap: 1.5rem; }
.chart { width: 100%; height: auto; max-width: 720px; }
.failures li { font-size: 0.85rem; margin: 0.2rem 0; } code { background: #f3f4f6; padding: 0 0.2rem; }
.note { color: #6b7280; font-size: 0.8rem; }
"""


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _charts(summary: dict[str, Any], trials: Sequence[TrialRecord], order: list[str]) -> str:
    frameworks = summary["frameworks"]
    points = [
        (name, float(frameworks[name]["tokens_in_mean"]), float(frameworks[name]["success_rate"]))
        for name in order
        if frameworks[name]["success_rate"] is not None and frameworks[name]["tokens_in_mean"] is not None
    ]
    scatter = scatter_chart(
        points,
        title="Success rate against input tokens per trial",
        x_label="input tokens per trial (mean)",
        y_label="success rate",
    )
    walls = [(name, [t.wall_s for t in trials if t.framework == name and t.status == "completed"]) for name in order]
    strip = strip_chart(walls, title="Wall time per trial", x_label="seconds per trial (box: p25–p75, median)")
    categories = summary["categories"]
    cells: dict[tuple[str, str], tuple[float | None, str]] = {}
    for name in order:
        for category, stats in frameworks[name]["categories"].items():
            cells[(category, name)] = (stats["success_rate"], cell(stats["trials"], stats["passed"]))
    heat = heat_map(categories, order, cells, title="Success by category")
    return (
        '<div class="charts">'
        f"<figure>{scatter}<figcaption class=note>Up and to the left is better.</figcaption></figure>"
        f"<figure>{strip}</figure></div>"
        f"<h2>Success by category</h2><figure>{heat}</figure>"
    )


def render_html(summary: dict[str, Any], trials: Sequence[TrialRecord]) -> str:
    run = summary["run"]
    model = run["model"]
    totals = summary["totals"]
    machine = run["machine"]
    order = leaderboard_order(summary)
    rows = leaderboard_rows(summary, order)
    header = list(rows[0]) if rows else []
    leaderboard = _table(header, [[r[h] for h in header] for r in rows]) if rows else "<p>No frameworks.</p>"
    meta = [
        f"Run <code>{escape(run['run_id'])}</code>, started {escape(run['created_at'])}",
        f"{run['tasks']} tasks × {run['repeats']} repeat(s): {totals['trials']} trials, {totals['passed']} passed,"
        f" {totals['infra_errors']} infrastructure errors",
        f"Model: {escape(model['backend'])} <code>{escape(model['model'])}</code> (profile {escape(model['name'])})",
        f"Machine: {escape(str(machine.get('cores', '–')))} cores, {escape(str(machine.get('platform', '')))}",
        "Versions: "
        + escape(", ".join(f"{k} {v}" for k, v in (run.get("versions") or {}).items() if isinstance(v, str))),
    ]
    if totals["cost_usd"] is not None:
        meta.append(f"Cost: {money(totals['cost_usd'])}")
    failures = "".join(
        f"<li><code>{escape(f['trial_id'])}</code> ({escape(f['category'])}): {escape(str(f['reason']))}</li>"
        for f in summary["failures"]
    )
    infra = "".join(
        f"<li><code>{escape(e['trial_id'])}</code>: {escape(str(e['reason']))}</li>" for e in summary["infra_errors"]
    )
    category_rows = [
        [c]
        + [
            f"{cell(s['trials'], s['passed'])} ({pct(s['success_rate'], 0)})"
            if (s := summary["frameworks"][n]["categories"].get(c))
            else "–"
            for n in order
        ]
        for c in summary["categories"]
    ]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>afbench: {escape(run["suite"])} / {escape(model["name"])}</title><style>{CSS}</style></head>
<body>
<h1>afbench: suite <code>{escape(run["suite"])}</code> with model <code>{escape(model["name"])}</code></h1>
<ul class="meta">{"".join(f"<li>{m}</li>" for m in meta)}</ul>
<h2>Leaderboard</h2>
{leaderboard}
<p class="note">Success: every turn routed right, every answer check passed and every expected tool call made (per
the MCP server's log). 95% CI: Wilson interval. Overhead p50: median over trials of wall time minus model and
tool time.</p>
{_charts(summary, trials, order)}
{_table(["Category", *order], category_rows) if category_rows else ""}
<h2>Failures ({len(summary["failures"])})</h2>
<ul class="failures">{failures or "<li>None.</li>"}</ul>
<h2>Infrastructure errors ({len(summary["infra_errors"])})</h2>
<ul class="failures">{infra or "<li>None.</li>"}</ul>
</body></html>
"""
