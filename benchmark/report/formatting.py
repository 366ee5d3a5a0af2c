"""How numbers read in the reports (one place, so Markdown and HTML agree)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

DASH = "–"
ARGUMENT_CHARS = 80  # one argument's value, as JSON: a sentence-long query or a short SQL statement reads whole
CALL_CHARS = 240
CALLS_SHOWN = 8


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


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def call_text(call: dict[str, Any]) -> str:
    """``turn 1 sql_query(sql="SELECT …", limit=5) → invalid_argument``: one logged tool call, its arguments cut
    short where long, and its outcome when it was not ok."""
    arguments = call["arguments"]
    if isinstance(arguments, dict):
        inner = ", ".join(
            f"{k}={clip(json.dumps(v, ensure_ascii=False), ARGUMENT_CHARS)}" for k, v in arguments.items()
        )
    else:
        inner = clip(json.dumps(arguments, ensure_ascii=False), ARGUMENT_CHARS)
    outcome = "" if call["outcome"] == "ok" else f" → {call.get('error_code') or call['outcome']}"
    return clip(f"turn {call['turn']} {call['tool']}({inner}){outcome}", CALL_CHARS)


@dataclass(frozen=True)
class CallLine:
    """One line under a failure: a label, items shown as code, and plain text after them."""

    label: str
    items: list[str]
    rest: str = ""


def calls_sent(failure: dict[str, Any]) -> list[CallLine]:
    """The lines under a failure: the tool calls the MCP server logged, and the calls the model asked for (as
    the gateway saw them, reaching the server or not), each with its arguments."""
    calls = failure.get("tool_calls") or []
    more = f"and {len(calls) - CALLS_SHOWN} more" if len(calls) > CALLS_SHOWN else ""
    lines = [
        CallLine(
            "tool calls sent",
            [call_text(c) for c in calls[:CALLS_SHOWN]],
            more or ("" if calls else "none reached the MCP server"),
        )
    ]
    asked = failure.get("model_tool_calls") or []
    if asked:
        lines.append(
            CallLine(
                "model asked for",
                [_asked_text(a) for a in asked[:CALLS_SHOWN]],
                f"and {len(asked) - CALLS_SHOWN} more" if len(asked) > CALLS_SHOWN else "",
            )
        )
    return lines


def _asked_text(asked: Any) -> str:
    if isinstance(asked, str):  # a summary written before the arguments were recorded
        return asked
    if asked.get("arguments") is None:  # recorded before the gateway kept arguments
        return f"turn {asked['turn']} {asked['tool']}"
    return call_text({"turn": asked["turn"], "tool": asked["tool"], "arguments": asked["arguments"], "outcome": "ok"})


def versions_line(versions: dict[str, Any]) -> str:
    """The run-wide versions (python, afbench, mcp, openai, …) in one line."""
    return ", ".join(f"{k} {v}" for k, v in versions.items() if isinstance(v, str)) or DASH


SETUP_HEADER = ["Framework", "Packages", "Distributions", "Env size", "Install"]
SETUP_NOTE = (
    "Each build runs in its own environment (.venvs/<framework>, from envs/<framework>/requirements.lock)."
    " Packages: what its requirements.in names, as installed. Distributions: everything installed, the whole"
    " dependency tree. Env size: the installed files on disk. Install: uv installing the lock into an empty"
    " virtualenv from a warm package cache (no downloads), as measured by `afbench envs sync`."
)


def framework_setup(run: dict[str, Any], order: list[str]) -> list[list[str]]:
    """A row per framework in ``order``: its packages and versions (one not installed is left out), then its
    environment's setup cost, or dashes when the run recorded none (another plugin folder, an older run)."""
    packages = (run.get("versions") or {}).get("frameworks") or {}
    setup = run.get("setup") or {}
    rows = []
    for name in order:
        found = [f"{p} {v}" for p, v in (packages.get(name) or {}).items() if v]
        cost = setup.get(name) or {}
        rows.append(
            [
                name,
                ", ".join(found) or DASH,
                str(cost["distributions"]) if "distributions" in cost else DASH,
                f"{cost['size_mb']:,.0f} MB" if "size_mb" in cost else DASH,
                f"{cost['install_s']:.1f} s" if "install_s" in cost else DASH,
            ]
        )
    return rows
