"""``report.html``: one self-contained page (inline CSS and SVG, no script, no external resource): the banner
when the ranks say nothing, the leaderboard with its rule and legend, success against tokens, the wall time
of every trial, success per category, resilience (when a task injected a fault: the unsafe count first, the
rate per build, a heat map of outcome classes by fault kind and framework), usage accounting (each framework's
own token counts against the gateway's), the versions of every build's packages, and failures with the tool
calls they sent. Every chart point has a tooltip (an SVG ``<title>``) naming whose it is."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

from benchmark.records import TrialRecord
from benchmark.report.formatting import (
    DASH,
    SETUP_HEADER,
    SETUP_NOTE,
    calls_sent,
    cell,
    framework_setup,
    money,
    pct,
    versions_line,
)
from benchmark.report.leaderboard import BEST_NOTE, Leaderboard, leaderboard
from benchmark.report.resilience import HEADER as RESILIENCE_HEADER
from benchmark.report.resilience import (
    framework_rows,
    heat_cells,
    matrix_columns,
    matrix_rows,
    not_resilient,
    resilience_order,
    unsafe_line,
)
from benchmark.report.summary import leaderboard_order
from benchmark.report.svg import Point, Series, color, heat_map, scatter_chart, strip_chart
from benchmark.report.usage_accounting import HEADER as USAGE_HEADER
from benchmark.report.usage_accounting import miscounting
from benchmark.report.usage_accounting import note as usage_note
from benchmark.report.usage_accounting import rows as usage_rows

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 1360px;
       color: #111827; padding: 0 1rem; line-height: 1.45; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2rem; border-bottom: 1px solid #e5e7eb; }
table { border-collapse: collapse; font-size: 0.8rem; margin: 0.5rem 0; }
.scroll { overflow-x: auto; }  /* a wide table scrolls on its own instead of widening the page */
th, td { border: 1px solid #e5e7eb; padding: 0.25rem 0.4rem; text-align: right; white-space: nowrap; }
th { background: #f3f4f6; } .board td:nth-child(2), .board th:nth-child(2) { text-align: left; }
.names td:first-child, .names th:first-child { text-align: left; }
td.best { font-weight: 700; background: #ecfdf5; } tr.unranked td { color: #6b7280; }
.versions td, .versions th { white-space: normal; text-align: left; }
.meta { color: #4b5563; font-size: 0.9rem; } .meta li { margin: 0.1rem 0; }
.banner { background: #fffbeb; border: 1px solid #f59e0b; border-radius: 6px; padding: 0.6rem 0.9rem;
          font-weight: 600; margin: 1rem 0; }
.legend { columns: 2 440px; column-gap: 2rem; font-size: 0.8rem; color: #374151; padding-left: 1.1rem; }
.legend li { break-inside: avoid; margin: 0.15rem 0; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(480px, 1fr)); gap: 1.5rem; }
figure { margin: 1rem 0; } .chart { width: 100%; height: auto; display: block; }
.failures li { font-size: 0.85rem; margin: 0.2rem 0; } code { background: #f3f4f6; padding: 0 0.2rem; }
.failures .sent { color: #4b5563; font-size: 0.8rem; list-style: none; margin: 0; padding-left: 1rem;
                  overflow-wrap: anywhere; }
.note { color: #6b7280; font-size: 0.8rem; } .empty { color: #92400e; font-weight: 600; }
.unsafe { border: 2px solid #dc2626; border-radius: 6px; padding: 0.5rem 0.9rem; font-weight: 700; }
.unsafe.none { border-color: #16a34a; }
"""


def _table(
    header: list[str], rows: list[list[str]], kind: str = "names", best: frozenset[tuple[int, int]] = frozenset()
) -> str:
    """A scrolling table; cells in ``best`` (row, column) are marked, rows of unranked builds (rank –) muted."""
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = []
    for r, row in enumerate(rows):
        cells = "".join(
            f'<td class="best">{escape(c)}</td>' if (r, i) in best else f"<td>{escape(c)}</td>"
            for i, c in enumerate(row)
        )
        muted = kind == "board" and row[0] == DASH
        body.append(f'<tr class="unranked">{cells}</tr>' if muted else f"<tr>{cells}</tr>")
    return (
        f'<div class="scroll"><table class="{kind}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def _legend(board: Leaderboard) -> str:
    items = [f"<li><b>{escape(column)}</b>: {escape(text)}</li>" for column, text in board.legend]
    if board.best:
        items.append(f"<li><b>Bold</b>: {escape(BEST_NOTE)}</li>")
    return f'<ul class="legend">{"".join(items)}</ul>'


def _charts(summary: dict[str, Any], trials: Sequence[TrialRecord], order: list[str]) -> str:
    frameworks = summary["frameworks"]
    if not any(frameworks[name]["trials"] for name in order):
        return (
            '<p class="empty">No charts: no trial completed (every trial hit an infrastructure error), so there'
            " is nothing to plot. See Infrastructure errors below.</p>"
        )
    colours = {name: color(i) for i, name in enumerate(order)}
    points = []
    for name in order:
        s = frameworks[name]
        if s["success_rate"] is None or s["tokens_in_mean"] is None:
            continue
        tip = (
            f"{name}: success {pct(s['success_rate'])} ({s['passed']}/{s['trials']}),"
            f" {s['tokens_in_mean']:,.0f} input tokens per trial (mean of {s['trials']} completed trials)"
        )
        points.append(Point(name, float(s["tokens_in_mean"]), float(s["success_rate"]), tip, colours[name]))
    scatter = scatter_chart(
        points,
        title="Success rate against input tokens per trial",
        x_label="input tokens per trial (mean)",
        y_label="success rate",
    )
    unplotted = [name for name in order if not frameworks[name]["trials"]]
    missing = f" Not plotted (no completed trial): {escape(', '.join(unplotted))}." if unplotted else ""
    walls = [
        Series(
            name,
            colours[name],
            [
                (
                    t.wall_s,
                    f"{t.trial_id}: task {t.task_id}, {name}, {t.wall_s:.3f} s, {'passed' if t.passed else 'failed'}",
                )
                for t in trials
                if t.framework == name and t.status == "completed"
            ],
        )
        for name in order
    ]
    strip = strip_chart(walls, title="Wall time per trial", x_label="seconds per trial (box: p25–p75, median)")
    return (
        '<div class="charts">'
        f"<figure>{scatter}<figcaption class=note>Up and to the left is better.{missing}"
        " Hover a point for its numbers.</figcaption></figure>"
        f"<figure>{strip}<figcaption class=note>One dot per completed trial; hover it for the trial and task."
        "</figcaption></figure></div>"
    )


def _categories(summary: dict[str, Any], order: list[str]) -> str:
    """The heat map (when anything completed) and the table of success per category, a row per build."""
    frameworks = summary["frameworks"]
    if not summary["categories"]:
        return "<p>No trials.</p>"
    cells: dict[tuple[str, str], tuple[float | None, str]] = {}
    rows = []
    for name in order:
        row = [name]
        for category in summary["categories"]:
            stats = frameworks[name]["categories"].get(category)
            if stats:
                cells[(name, category)] = (stats["success_rate"], cell(stats["trials"], stats["passed"]))
            row.append(f"{cell(stats['trials'], stats['passed'])} ({pct(stats['success_rate'], 0)})" if stats else DASH)
        rows.append(row)
    heat = heat_map(order, summary["categories"], cells, title="Success by category") if cells else ""
    return (f"<figure>{heat}</figure>" if heat else "") + _table(["Framework", *summary["categories"]], rows)


def _resilience(summary: dict[str, Any], order: list[str]) -> str:
    """The section, or nothing when no task injected a fault."""
    block = summary.get("resilience")
    if not block:
        return ""
    order = resilience_order(summary, order)
    columns = matrix_columns(block, order)
    heat = heat_map(list(block["matrix"]), columns, heat_cells(block, columns), title="Outcome by fault kind")
    bad = "".join(
        f"<li><code>{escape(t['trial_id'])}</code> ({escape(t['side'])} fault {escape(t['kind'])}, expected"
        f" {escape(t['expected'])}): <b>{escape(str(t['outcome']))}</b>: {escape(t['why'])}</li>"
        for t in not_resilient(block)
    )
    tone = "unsafe none" if block["unsafe"] == 0 else "unsafe"
    return (
        f'<h2>Resilience</h2>\n<p class="{tone}">{escape(unsafe_line(block))}</p>\n'
        f'<p class="note">{escape(block["rule"])}</p>\n{_table(RESILIENCE_HEADER, framework_rows(summary, order))}\n'
        f"<figure>{heat}<figcaption class=note>Green: every trial of the cell recovered or ended gracefully; red:"
        " none did. Hover a cell for its outcomes.</figcaption></figure>\n"
        f"{_table(['Fault', 'Expected', *columns], matrix_rows(block, order))}\n"
        f'<h3>Not resilient</h3>\n<ul class="failures">{bad or "<li>None.</li>"}</ul>\n'
    )


def _usage_accounting(summary: dict[str, Any], order: list[str]) -> str:
    """The section, or nothing without completed trials."""
    found = usage_rows(summary, order)
    if not found:
        return ""
    off = miscounting(summary, order)
    named = f"Miscounting: {', '.join(off)}." if off else "No framework miscounts its tokens."
    scripted = summary["run"]["model"]["backend"] == "scripted"
    return (
        f"<h2>Usage accounting</h2>\n<p><b>{escape(named)}</b></p>\n"
        f'<p class="note">{escape(usage_note(scripted))}</p>\n{_table(USAGE_HEADER, found)}\n'
    )


def _failure(f: dict[str, Any]) -> str:
    sent = "".join(
        f"<li>{escape(line.label)}: "
        + "; ".join(f"<code>{escape(item)}</code>" for item in line.items)
        + (" " if line.items and line.rest else "")
        + f"{escape(line.rest)}</li>"
        for line in calls_sent(f)
    )
    return (
        f"<li><code>{escape(f['trial_id'])}</code> ({escape(f['category'])}): {escape(str(f['reason']))}"
        f'<ul class="sent">{sent}</ul></li>'
    )


def render_html(summary: dict[str, Any], trials: Sequence[TrialRecord]) -> str:
    run = summary["run"]
    model = run["model"]
    totals = summary["totals"]
    machine = run["machine"]
    order = leaderboard_order(summary)
    board = leaderboard(summary)
    banner = summary["leaderboard"]["banner"]
    meta = [
        f"Run <code>{escape(run['run_id'])}</code>, started {escape(run['created_at'])}",
        f"{run['tasks']} tasks × {run['repeats']} repeat(s): {totals['trials']} trials, {totals['passed']} passed,"
        f" {totals['infra_errors']} infrastructure errors",
        f"Model: {escape(model['backend'])} <code>{escape(model['model'])}</code> (profile {escape(model['name'])})",
        f"Machine: {escape(str(machine.get('cores', DASH)))} cores, {escape(str(machine.get('platform', '')))}",
        f"Versions: {escape(versions_line(run.get('versions') or {}))}; each build's under Versions below",
    ]
    if totals["cost_usd"] is not None:
        meta.append(f"Cost: {money(totals['cost_usd'])}")
    if run.get("stopped"):
        meta.append(f"Stopped early: {escape(run['stopped'])}")
    failures = "".join(_failure(f) for f in summary["failures"])
    infra = "".join(
        f"<li><code>{escape(e['trial_id'])}</code>: {escape(str(e['reason']))}</li>" for e in summary["infra_errors"]
    )
    setup = framework_setup(run, order)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>afbench: {escape(run["suite"])} / {escape(model["name"])}</title><style>{CSS}</style></head>
<body>
<h1>afbench: suite <code>{escape(run["suite"])}</code> with model <code>{escape(model["name"])}</code></h1>
{f'<p class="banner">{escape(banner)}</p>' if banner else ""}
<ul class="meta">{"".join(f"<li>{m}</li>" for m in meta)}</ul>
<h2>Leaderboard</h2>
<p class="note">{escape(summary["leaderboard"]["rule"])}</p>
{_table(board.header, board.rows, "board", board.best) if board.rows else "<p>No frameworks.</p>"}
{_legend(board)}
{_charts(summary, trials, order)}
<h2>Success by category</h2>
{_categories(summary, order)}
{_resilience(summary, order)}{_usage_accounting(summary, order)}<h2>Versions and setup cost</h2>
<p class="note">{escape(SETUP_NOTE)}</p>
{_table(SETUP_HEADER, setup, kind="names versions") if setup else "<p>None recorded.</p>"}
<h2>Failures ({len(summary["failures"])})</h2>
<ul class="failures">{failures or "<li>None.</li>"}</ul>
<h2>Infrastructure errors ({len(summary["infra_errors"])})</h2>
<ul class="failures">{infra or "<li>None.</li>"}</ul>
</body></html>
"""
