"""The leaderboard as both reports show it: its cells, the ranking rule stated in words, the banner when every
build ties on success, the best value of each cost column among the builds sharing first place, and a legend
of every column. The ranking itself is :func:`benchmark.scoring.aggregate.rank_frameworks`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from benchmark.report.formatting import DASH, ci, money, num, pct, seconds
from benchmark.scoring.aggregate import CostKey, Ranking

_TIE_BREAK_WORDS: dict[CostKey, str] = {
    "cost_mean_usd": "lower cost per trial",
    "tokens_in_mean": "fewer input tokens per trial",
    "wall_p50_s": "lower wall time p50",
}

# Lower is better in each of these columns; the metric behind each, for finding the best value.
_COST_COLUMNS = {
    "Calls/trial": "model_calls_mean",
    "Tokens in/out": "tokens_in_mean",
    "Wall p50 / p95": "wall_p50_s",
    "Overhead p50": "overhead_p50_s",
    "Import": "import_s",
    "Peak RSS": "peak_rss_mb",
    "LOC": "loc",
    "Cost/trial": "cost_mean_usd",
}

LEGEND = {
    "#": "Rank by success, by the rule above. =N: the rank is shared with another build. –: no completed trial,"
    " so nothing was measured and the build is not ranked.",
    "Framework": "The build: its module in agents/, one idiomatic implementation of the same system.",
    "Success": "Passed over completed trials. A trial passes when every turn ran without the build raising, was"
    " routed to the expected agent, passed its answer checks and made every expected tool call (per the MCP"
    " server's log).",
    "95% CI": "Wilson score interval of the success rate at 95% confidence; the ranking compares these.",
    "pass^k": "Mean over tasks of the chance that k repeats of a task all pass (τ-bench's estimator), over the"
    " tasks with k completed repeats.",
    "Route acc.": "Turns routed to the expected agent (a guardrail refusal is the route 'refused'), over all"
    " scored turns.",
    "Tool P / R": "Tool-call precision / recall from the MCP server's log: logged calls that matched an expected"
    " call over logged calls (calls a turn merely allows are left out) / expected calls matched over expected"
    " calls.",
    "Resilience": "Faulted trials (resilience suite) that recovered (the task still passes) or ended gracefully"
    " (no exception, the answer says the request could not be completed, nothing invented), over the faulted"
    " trials that completed; its 95% interval and every outcome class are under Resilience below.",
    "Unsafe": "Faulted trials in which a disallowed tool executed (the MCP server logged a call of a tool outside"
    " the answering agent's allow-list) or an invented result was presented as real. Should be 0.",
    "Calls/trial": "Model calls through the gateway per trial (mean); a retried call counts once.",
    "Tokens in/out": "Input / output tokens per trial (mean, all its model calls), counted with tiktoken cl100k"
    " unless marked upstream (the model server's own usage) or mixed.",
    "Wall p50 / p95": "Median and 95th percentile of a trial's wall time, from opening the conversation to closing it.",
    "Overhead p50": "Median over trials of wall time minus model time and tool time: the framework's own time"
    " (the harness adds a few ms).",
    "Import": "Median cold import time of the build module in a fresh worker process.",
    "Peak RSS": "Highest peak resident memory of a worker process running the build.",
    "LOC": "Lines of code of the build module: no blank lines, comments or docstrings.",
    "Cost/trial": "Mean price of a trial's tokens at the model profile's prices.",
    "Infra err.": "Trials lost to an infrastructure error (gateway failure after retries, worker crash,"
    " timeout); they are left out of every other column.",
}
BEST_NOTE = "the lowest value of a cost column among the builds sharing first place."  # the legend's "Bold"


def rule(tie_break: Sequence[CostKey]) -> str:
    """The ranking rule in words, as :func:`benchmark.scoring.aggregate.rank_frameworks` applies it."""
    order = ", then ".join(["higher success", *(_TIE_BREAK_WORDS[k] for k in tie_break)])
    return (
        "Ranked by success: a build ranks below another only when its whole 95% interval lies below the"
        " other's, so builds whose intervals overlap share a rank (=1). Within a rank the order is "
        f"{order}. Builds that passed nothing are listed by name (failing early is cheap); builds with no"
        " completed trial are not ranked (–) and come last."
    )


def banner(ranking: Ranking, *, scripted: bool) -> str | None:
    """What to read instead of the ranks when they say nothing: every build ties, passed nothing, or ran nothing."""
    ranked = [s.framework for s in ranking.standings if s.rank is not None]
    unranked = [s.framework for s in ranking.standings if s.rank is None]
    if not ranking.standings:
        return None
    if not ranked:
        return (
            "No build completed a trial: every trial hit an infrastructure error, so nothing is ranked or"
            " plotted; see Infrastructure errors below."
        )
    if not ranking.any_passed:
        text = (
            "No build passed a trial, so success ranks nothing, and the cost columns measure failures (a build"
            " that fails at once is the cheapest); see Failures below."
        )
    elif ranking.all_tied:
        builds = f"All {len(ranked)} builds" + (" with a completed trial" if unranked else "")
        within = "" if ranking.all_equal else " (within their 95% intervals)"
        advice = "With the scripted model success checks wiring; compare" if scripted else "Compare"
        text = f"{builds} tie on success{within}. {advice} the cost columns."
    else:
        return None
    if unranked:
        text += f" Not ranked (no completed trial): {', '.join(unranked)}."
    return text


@dataclass(frozen=True)
class Leaderboard:
    header: list[str]
    rows: list[list[str]]
    best: frozenset[tuple[int, int]]  # (row, column) of the best value of a cost column among first place
    legend: list[tuple[str, str]]  # (column, what it means) for the columns shown


def _rank_cell(standing: dict[str, Any]) -> str:
    if standing["rank"] is None:
        return DASH
    return ("=" if standing["tied"] else "") + str(standing["rank"])


def _cells(standing: dict[str, Any], s: dict[str, Any]) -> dict[str, str]:
    pass_k = s.get("pass_k")
    success = f"{pct(s['success_rate'])} ({s['passed']}/{s['trials']})" if s["trials"] else "no completed trial"
    return {
        "#": _rank_cell(standing),
        "Framework": standing["framework"],
        "Success": success,
        "95% CI": ci(s["success_ci95"]) if s["trials"] else DASH,
        f"pass^{pass_k['k']}" if pass_k else "pass^k": pct(pass_k["value"]) if pass_k else DASH,
        "Route acc.": pct(s["route_accuracy"]),
        "Tool P / R": f"{pct(s['tool_precision'], 0)} / {pct(s['tool_recall'], 0)}",
        **_resilience_cells(s.get("resilience")),
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


def _resilience_cells(r: dict[str, Any] | None) -> dict[str, str]:
    if not r:
        return {"Resilience": DASH, "Unsafe": DASH}
    rate = f"{pct(r['rate'])} ({r['resilient']}/{r['faulted']})" if r["faulted"] else DASH
    return {"Resilience": rate, "Unsafe": str(r["unsafe"]) if r["faulted"] else DASH}


# Columns that only mean something for some runs (repeats, a priced model, faulted trials): left out when empty.
_OPTIONAL = ("Cost/trial", "Resilience", "Unsafe")


def _best(
    summary: dict[str, Any], standings: list[dict[str, Any]], header: list[str], rows: list[list[str]]
) -> set[tuple[int, int]]:
    # Only first place: a cheap build further down may be cheap because it fails, which is no merit.
    first = [
        i for i, st in enumerate(standings) if st["rank"] == 1 and summary["frameworks"][st["framework"]]["passed"]
    ]
    if len(first) < 2:
        return set()
    best = set()
    for column, metric in _COST_COLUMNS.items():
        if column not in header:
            continue
        c = header.index(column)
        values = [(summary["frameworks"][standings[i]["framework"]][metric], i) for i in first]
        known = [(v, i) for v, i in values if v is not None]
        if not known:
            continue
        lowest = rows[min(known)[1]][c]
        if all(rows[i][c] == lowest for _, i in known):
            continue  # the same for all: nothing to point out
        # Equal as shown is equal: two builds reading "4.5" are both best, whatever the next digit says.
        best |= {(i, c) for _, i in known if rows[i][c] == lowest}
    return best


def leaderboard(summary: dict[str, Any]) -> Leaderboard:
    """The table in rank order; pass^k, cost, resilience and unsafe only when some build has them."""
    standings = summary["leaderboard"]["standings"]
    cells = [_cells(st, summary["frameworks"][st["framework"]]) for st in standings]
    header = [
        column
        for column in (cells[0] if cells else {})
        if not (column.startswith("pass^") or column in _OPTIONAL) or any(row[column] != DASH for row in cells)
    ]
    rows = [[row[column] for column in header] for row in cells]
    legend = [(column, LEGEND["pass^k" if column.startswith("pass^") else column]) for column in header]
    return Leaderboard(header, rows, frozenset(_best(summary, standings, header, rows)), legend)
