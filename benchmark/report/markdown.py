"""``report.md``: the banner when the ranks say nothing, the leaderboard with its rule and legend, success per
category, resilience (when a task injected a fault: unsafe count first, rate per build, the fault-kind ×
framework matrix, every trial that was not resilient), usage accounting (each framework's own token counts
against the gateway's), the versions of every build's packages, and every failure with its reason and the tool
calls it sent."""

from __future__ import annotations

from typing import Any

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
from benchmark.report.leaderboard import BEST_NOTE, leaderboard
from benchmark.report.resilience import HEADER as RESILIENCE_HEADER
from benchmark.report.resilience import (
    framework_rows,
    matrix_columns,
    matrix_rows,
    not_resilient,
    resilience_order,
    unsafe_line,
)
from benchmark.report.summary import leaderboard_order
from benchmark.report.usage_accounting import HEADER as USAGE_HEADER
from benchmark.report.usage_accounting import miscounting
from benchmark.report.usage_accounting import note as usage_note
from benchmark.report.usage_accounting import rows as usage_rows


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(_escape(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_escape(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _code(text: str) -> str:
    """Inline code that survives backticks inside (tool arguments can hold any text)."""
    fence = "``" if "`" in text else "`"
    return f"{fence} {text} {fence}" if fence == "``" else f"`{text}`"


def _resilience(summary: dict[str, Any], order: list[str]) -> list[str]:
    block = summary.get("resilience")
    if not block:
        return []
    order = resilience_order(summary, order)
    out = ["", "## Resilience", "", f"> **{unsafe_line(block)}**", "", block["rule"], ""]
    out.append(table(RESILIENCE_HEADER, framework_rows(summary, order)))
    columns = matrix_columns(block, order)
    out += ["", "### Outcome by fault kind", ""]
    out.append(table(["Fault", "Expected", *columns], matrix_rows(block, order)) if block["matrix"] else "None.")
    bad = not_resilient(block)
    out += ["", f"### Not resilient ({len(bad)})", ""]
    out += [
        f"- `{t['trial_id']}` ({t['side']} fault {t['kind']}, expected {t['expected']}): **{t['outcome']}**:"
        f" {_escape(t['why'])}"
        for t in bad
    ] or ["None."]
    return out


def _usage_accounting(summary: dict[str, Any], order: list[str]) -> list[str]:
    found = usage_rows(summary, order)
    if not found:
        return []
    off = miscounting(summary, order)
    named = f"**Miscounting: {', '.join(off)}.**" if off else "**No framework miscounts its tokens.**"
    scripted = summary["run"]["model"]["backend"] == "scripted"
    return ["", "## Usage accounting", "", named, "", usage_note(scripted), "", table(USAGE_HEADER, found)]


def render_markdown(summary: dict[str, Any]) -> str:
    run = summary["run"]
    model = run["model"]
    order = leaderboard_order(summary)
    totals = summary["totals"]
    banner = summary["leaderboard"]["banner"]
    out = [f"# afbench: suite `{run['suite']}` with model `{model['name']}`", ""]
    if banner:
        out += [f"> **{banner}**", ""]
    out += [
        f"- Run `{run['run_id']}`, started {run['created_at']}; {run['tasks']} tasks × {run['repeats']} repeat(s);"
        f" {totals['trials']} trials, {totals['passed']} passed, {totals['infra_errors']} infrastructure errors.",
        f"- Model: {model['backend']} `{model['model']}`"
        + (f" at {model['base_url']}" if model.get("base_url") else ""),
        f"- Machine: {run['machine'].get('cores', DASH)} cores, {run['machine'].get('platform', DASH)}",
        f"- Versions: {versions_line(run.get('versions') or {})}; each build's under Versions below",
    ]
    if totals["cost_usd"] is not None:
        out.append(f"- Cost: {money(totals['cost_usd'])} in all")
    if run.get("stopped"):
        out.append(f"- **Stopped early**: {run['stopped']}")
    board = leaderboard(summary)
    out += ["", "## Leaderboard", "", summary["leaderboard"]["rule"], ""]
    if board.rows:
        rows = [
            [f"**{c}**" if (r, i) in board.best else c for i, c in enumerate(row)] for r, row in enumerate(board.rows)
        ]
        out.append(table(board.header, rows))
    out.append("")
    out += [f"- **{column}**: {text}" for column, text in board.legend]
    if board.best:
        out.append(f"- **Bold**: {BEST_NOTE}")
    out += ["", "## Success by category", ""]
    categories = summary["categories"]
    if categories:
        cat_rows = []
        for name in order:
            row = [name]
            for category in categories:
                stats = summary["frameworks"][name]["categories"].get(category)
                row.append(
                    f"{cell(stats['trials'], stats['passed'])} ({pct(stats['success_rate'], 0)})" if stats else DASH
                )
            cat_rows.append(row)
        out.append(table(["Framework", *categories], cat_rows))
    else:
        out.append("No completed trials.")
    out += _resilience(summary, order)
    out += _usage_accounting(summary, order)
    setup = framework_setup(run, order)
    out += ["", "## Versions and setup cost", "", SETUP_NOTE, "", table(SETUP_HEADER, setup) if setup else "None."]
    out += ["", f"## Failures ({len(summary['failures'])})", ""]
    for f in summary["failures"]:
        out.append(f"- `{f['trial_id']}` ({f['category']}): {f['reason']}")
        for line in calls_sent(f):
            parts = "; ".join(_code(item) for item in line.items)
            out.append(f"  - {line.label}: {parts}{' ' if parts and line.rest else ''}{line.rest}")
    if not summary["failures"]:
        out.append("None.")
    out += ["", f"## Infrastructure errors ({len(summary['infra_errors'])})", ""]
    for e in summary["infra_errors"]:
        # A crash's reason ends with the worker's log, over several lines: indented, they stay in the list item.
        reason = str(e["reason"]).replace("\n", "\n  ")
        out.append(f"- `{e['trial_id']}`: {reason}")
    if not summary["infra_errors"]:
        out.append("None.")
    return "\n".join(out) + "\n"
