"""``report.md``: the leaderboard, success per category, and every failure with its reason."""

from __future__ import annotations

from typing import Any

from benchmark.report.formatting import DASH, cell, leaderboard_rows, money, pct
from benchmark.report.summary import leaderboard_order


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(_escape(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_escape(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _versions(run: dict[str, Any]) -> str:
    versions = run.get("versions") or {}
    parts = [f"{name} {versions[name]}" for name in ("python", "mcp", "openai") if versions.get(name)]
    for framework, packages in (versions.get("frameworks") or {}).items():
        found = [f"{p} {v}" for p, v in packages.items() if v]
        if found:
            parts.append(f"{framework}: {', '.join(found)}")
    return "; ".join(parts) or DASH


def render_markdown(summary: dict[str, Any]) -> str:
    run = summary["run"]
    model = run["model"]
    order = leaderboard_order(summary)
    totals = summary["totals"]
    out = [
        f"# afbench: suite `{run['suite']}` with model `{model['name']}`",
        "",
        f"- Run `{run['run_id']}`, started {run['created_at']}; {run['tasks']} tasks × {run['repeats']} repeat(s);"
        f" {totals['trials']} trials, {totals['passed']} passed, {totals['infra_errors']} infrastructure errors.",
        f"- Model: {model['backend']} `{model['model']}`"
        + (f" at {model['base_url']}" if model.get("base_url") else ""),
        f"- Machine: {run['machine'].get('cores', DASH)} cores, {run['machine'].get('platform', DASH)}",
        f"- Versions: {_versions(run)}",
    ]
    if totals["cost_usd"] is not None:
        out.append(f"- Cost: {money(totals['cost_usd'])} in all")
    rows = leaderboard_rows(summary, order)
    out += ["", "## Leaderboard", ""]
    if rows:
        header = list(rows[0])
        out.append(table(header, [[row[h] for h in header] for row in rows]))
    out += [
        "",
        "Success: trials whose every turn was routed right, passed its answer checks and made every expected tool"
        " call (per the MCP server's log). 95% CI: Wilson interval. Overhead p50: median over trials of wall time"
        " minus model and tool time."
        " Tokens are counted with cl100k unless marked upstream.",
        "",
        "## Success by category",
        "",
    ]
    categories = summary["categories"]
    if categories:
        cat_rows = []
        for category in categories:
            row = [category]
            for name in order:
                stats = summary["frameworks"][name]["categories"].get(category)
                row.append(
                    f"{cell(stats['trials'], stats['passed'])} ({pct(stats['success_rate'], 0)})" if stats else DASH
                )
            cat_rows.append(row)
        out.append(table(["Category", *order], cat_rows))
    else:
        out.append("No completed trials.")
    out += ["", f"## Failures ({len(summary['failures'])})", ""]
    out += [f"- `{f['trial_id']}` ({f['category']}): {f['reason']}" for f in summary["failures"]] or ["None."]
    out += ["", f"## Infrastructure errors ({len(summary['infra_errors'])})", ""]
    out += [f"- `{e['trial_id']}`: {e['reason']}" for e in summary["infra_errors"]] or ["None."]
    return "\n".join(out) + "\n"
