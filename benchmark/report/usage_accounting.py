"""The usage-accounting section of the reports: each framework's own token counts against the gateway's.

Rows come from ``summary.json``'s per-framework ``usage_accounting`` (benchmark.scoring.usage_accounting);
the markdown and HTML reports render the same rows and the same note.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from benchmark.report.formatting import DASH
from benchmark.scoring.usage_accounting import TOLERANCE

HEADER = [
    "Framework",
    "Verdict",
    "Turns reported",
    "Input reported",
    "Input measured",
    "Ratio",
    "Output reported",
    "Output measured",
    "Ratio",
    "Calls reported",
    "Calls measured",
    "Reported by",
]


def note(scripted: bool) -> str:
    """What the comparison means, and which tokenizer counted each side."""
    truth = (
        "With the scripted model both sides are counted with one tokenizer (tiktoken cl100k): the gateway counts"
        " each call, and the scripted replies carry those counts in their usage, which is what frameworks read."
        if scripted
        else "The measured side is the upstream's own usage (or cl100k where it sent none), as the gateway saw it."
    )
    return (
        "Token usage as each framework reports it through its own public API (what a cost dashboard or a budget"
        " would be built on), against what the model gateway measured for the same turns: every model call of the"
        f" turn, retries included. Off by more than {TOLERANCE:.0%} is named under- or over-counting. {truth}"
    )


def _ratio(value: float | None) -> str:
    return DASH if value is None else f"{value:.3f}"


def rows(summary: Mapping[str, Any], order: Sequence[str]) -> list[list[str]]:
    """A row per framework with completed trials, in ``order``."""
    out = []
    for name in order:
        u = summary["frameworks"][name].get("usage_accounting")
        if not u:
            continue
        reported = u["reported_turns"] > 0
        out.append(
            [
                name,
                u["verdict"],
                f"{u['reported_turns']}/{u['turns']}",
                f"{u['input_reported']:,}" if reported else DASH,
                f"{u['input_measured']:,}" if reported else DASH,
                _ratio(u["input_ratio"]),
                f"{u['output_reported']:,}" if reported else DASH,
                f"{u['output_measured']:,}" if reported else DASH,
                _ratio(u["output_ratio"]),
                DASH if u["calls_reported"] is None else f"{u['calls_reported']:,}",
                f"{u['calls_measured']:,}" if reported else DASH,
                ", ".join(u["sources"]) or DASH,
            ]
        )
    return out


def miscounting(summary: Mapping[str, Any], order: Sequence[str]) -> list[str]:
    """The frameworks whose reported tokens are off (under- or over-counting), in ``order``."""
    return [
        name
        for name in order
        if (summary["frameworks"][name].get("usage_accounting") or {}).get("verdict") in ("under-counts", "over-counts")
    ]
