"""Which tools a key may call: its tool scope.

A key made with ``--tools a,b`` may call exactly those; a key made without (every key made before scopes
existed, too) has the default scope: every tool but the opt-in ones (``catalog.OPT_IN_TOOLS``: ``run_python``,
which runs code). The store keeps the list and checks it with the quotas; this module names the default and
reads what an operator types.
"""

from __future__ import annotations

from collections.abc import Iterable

from mcp_server.catalog import OPT_IN_TOOLS, TOOL_NAMES


class ScopeError(ValueError):
    """A --tools value that names no tool, or one that does not exist."""


def default_scope() -> frozenset[str]:
    return frozenset(TOOL_NAMES) - frozenset(OPT_IN_TOOLS)


def allowed(tools: Iterable[str] | None) -> frozenset[str]:
    """The tools a key with stored scope ``tools`` (None: the default) may call, of those that exist."""
    return default_scope() if tools is None else frozenset(tools) & frozenset(TOOL_NAMES)


def parse(text: str) -> tuple[str, ...] | None:
    """``calculator,run_python`` → those names; ``all`` → every tool; ``default`` → None (the default scope)."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    if names == ["default"]:
        return None
    if names == ["all"]:  # every tool there is now, the opt-in ones included; not the ones added later
        return TOOL_NAMES
    if not names:
        raise ScopeError("--tools needs tool names separated by commas, 'all' or 'default'")
    unknown = [n for n in names if n not in TOOL_NAMES]
    if unknown:
        raise ScopeError(f"unknown tool {', '.join(map(repr, unknown))}; the tools are: {', '.join(TOOL_NAMES)}")
    return tuple(dict.fromkeys(names))


def describe(tools: Iterable[str] | None) -> str:
    """One line for ``keys list``: ``default (every tool but run_python)`` or the names."""
    if tools is None:
        return f"default (every tool but {', '.join(OPT_IN_TOOLS)})"
    names = [n for n in TOOL_NAMES if n in set(tools)]
    return "all" if len(names) == len(TOOL_NAMES) else ", ".join(names) or "none"
