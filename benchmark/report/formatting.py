"""How numbers read in the reports (one place, so Markdown and HTML agree)."""

from __future__ import annotations

from typing import Any

DASH = "–"


def pct(value: float | None, digits: int = 1) -> str:
    return DASH if value is None else f"{value * 100:.{digits}f}%"


def ci(bounds: Any) -> str:
    low, high = bounds
    return f"{low * 100:.0f}–{high * 100:.0f}%"


def num(value: float | None, digits: int = 1) -> str:
    if value is None:
        return DASH
    return f"{value:,.{digits}f}"


def seconds(value: float | None) -> str:
    if value is None:
        return DASH
    if abs(value) < 1:
        return f"{value * 1000:.0f} ms"
    return f"{value:.2f} s"


def money(value: float | None) -> str:
    return DASH if value is None else f"${value:.4f}"


def cell(trials: int, passed: int) -> str:
    return f"{passed}/{trials}" if trials else DASH


def leaderboard_rows(summary: dict[str, Any], order: list[str]) -> list[dict[str, str]]:
    """The leaderboard's cells, by column name, for each framework in ``order`` (pass^k and cost only when some
    framework has them)."""
    rows = []
    for rank, name in enumerate(order, start=1):
        s = summary["frameworks"][name]
        pass_k = s.get("pass_k")
        rows.append(
            {
                "#": str(rank),
                "Framework": name,
                "Success": f"{pct(s['success_rate'])} ({s['passed']}/{s['trials']})",
                "95% CI": ci(s["success_ci95"]) if s["trials"] else DASH,
                f"pass^{pass_k['k']}" if pass_k else "pass^k": pct(pass_k["value"]) if pass_k else DASH,
                "Route acc.": pct(s["route_accuracy"]),
                "Tool P / R": f"{pct(s['tool_precision'], 0)} / {pct(s['tool_recall'], 0)}",
                "Calls/trial": num(s["model_calls_mean"]),
                "Tokens in/out": f"{num(s['tokens_in_mean'], 0)} / {num(s['tokens_out_mean'], 0)}"
                + ("" if s["tokens_source"] in ("counted", "none") else f" ({s['tokens_source']})"),
                "Wall p50 / p95": f"{seconds(s['wall_p50_s'])} / {seconds(s['wall_p95_s'])}",
                "Overhead p50": seconds(s["overhead_p50_s"]),
                "Import": seconds(s["import_s"]),
                "Peak RSS": DASH if s["peak_rss_mb"] is None else f"{s['peak_rss_mb']:.0f} MB",
                "LOC": DASH if s["loc"] is None else str(s["loc"]),
                "Cost/trial": money(s["cost_mean_usd"]),
                "Infra err.": str(s["infra_errors"]),
            }
        )
    # Columns that only mean something for some runs (repeats, a priced model) are left out when empty.
    for column in ("pass^k", "Cost/trial"):
        if rows and all(row.get(column) == DASH for row in rows):
            for row in rows:
                del row[column]
    return rows
