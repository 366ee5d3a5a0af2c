"""Matching the tool calls a task expects against the calls the MCP server logged.

A logged call matches an expected one when the tool name is the same and every argument constraint holds
(:class:`benchmark.tasks.models.ArgumentCheck`). Unordered expectations use a maximum bipartite matching, so
one logged call never satisfies two expected calls; ordered ones use the longest in-order matching. Recall is
matched expected calls over expected calls; precision is matched logged calls over logged calls, so every
extra call (a repeat of an expected call included) lowers it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from benchmark.scoring.numbers import close_enough
from benchmark.tasks.models import ArgumentCheck, ExpectedToolCall

_MISSING = object()


@dataclass(frozen=True)
class LoggedCall:
    tool: str
    arguments: Any  # decoded JSON as the server logged it


@dataclass(frozen=True)
class CallMatch:
    pairs: tuple[tuple[int, int], ...]  # (expected index, logged index)
    expected: int
    logged: int

    @property
    def matched(self) -> int:
        return len(self.pairs)

    @property
    def recall(self) -> float:
        return self.matched / self.expected if self.expected else 1.0

    @property
    def precision(self) -> float:
        return self.matched / self.logged if self.logged else 1.0

    def missing(self) -> list[int]:
        found = {e for e, _ in self.pairs}
        return [i for i in range(self.expected) if i not in found]

    def unmatched_logged(self) -> list[int]:
        found = {a for _, a in self.pairs}
        return [i for i in range(self.logged) if i not in found]


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip().replace(",", ""))
        except ValueError:
            return None
    return None


def argument_ok(check: ArgumentCheck, value: Any) -> bool:
    """Whether one argument (``_MISSING`` when not given) satisfies its constraint."""
    if check.present is not None:
        return (value is not _MISSING) == check.present
    if value is _MISSING:
        return False
    if check.equals is not None:
        return bool(value == check.equals)
    if check.contains is not None:
        return check.contains.casefold() in _text(value).casefold()
    if check.regex is not None:
        try:
            return re.search(check.regex, _text(value)) is not None
        except re.error:
            return False
    assert check.number is not None
    number = _as_number(value)
    return number is not None and close_enough(number, check.number, check.tolerance)


def call_matches(expected: ExpectedToolCall, call: LoggedCall) -> bool:
    if call.tool != expected.name:
        return False
    arguments = call.arguments if isinstance(call.arguments, Mapping) else {}
    return all(argument_ok(check, arguments.get(name, _MISSING)) for name, check in expected.arguments.items())


def describe_expected(expected: ExpectedToolCall) -> str:
    """``sql_query(sql~regex '…')``: how a missing call is named in failure reasons."""
    parts = []
    for name, check in expected.arguments.items():
        if check.present is not None:
            parts.append(f"{name} {'given' if check.present else 'absent'}")
        elif check.equals is not None:
            parts.append(f"{name}={check.equals!r}")
        elif check.contains is not None:
            parts.append(f"{name} contains {check.contains!r}")
        elif check.regex is not None:
            parts.append(f"{name} ~ /{check.regex}/")
        elif check.number is not None:
            parts.append(f"{name}≈{check.number:g}" + (f"±{check.tolerance:g}" if check.tolerance else ""))
    return f"{expected.name}({', '.join(parts)})"


def _bipartite(table: list[list[bool]]) -> list[tuple[int, int]]:
    """Maximum matching of expected rows to logged columns (augmenting paths; the sets are small)."""
    owner: dict[int, int] = {}

    def place(row: int, seen: set[int]) -> bool:
        for column, ok in enumerate(table[row]):
            if ok and column not in seen:
                seen.add(column)
                if column not in owner or place(owner[column], seen):
                    owner[column] = row
                    return True
        return False

    for row in range(len(table)):
        place(row, set())
    return sorted((row, column) for column, row in owner.items())


def _in_order(table: list[list[bool]]) -> list[tuple[int, int]]:
    """The longest matching that keeps both sequences' order (LCS over the match table)."""
    rows, columns = len(table), len(table[0]) if table else 0
    best = [[0] * (columns + 1) for _ in range(rows + 1)]
    for r in range(rows - 1, -1, -1):
        for c in range(columns - 1, -1, -1):
            take = best[r + 1][c + 1] + 1 if table[r][c] else 0
            best[r][c] = max(take, best[r + 1][c], best[r][c + 1])
    pairs, r, c = [], 0, 0
    while r < rows and c < columns:
        if table[r][c] and best[r][c] == best[r + 1][c + 1] + 1:
            pairs.append((r, c))
            r, c = r + 1, c + 1
        elif best[r + 1][c] >= best[r][c + 1]:
            r += 1
        else:
            c += 1
    return pairs


def match_calls(expected: Sequence[ExpectedToolCall], logged: Sequence[LoggedCall], ordered: bool) -> CallMatch:
    table = [[call_matches(e, call) for call in logged] for e in expected]
    pairs = _in_order(table) if ordered else _bipartite(table)
    return CallMatch(pairs=tuple(pairs), expected=len(expected), logged=len(logged))


def mcp_tool_named(name: str, known: Iterable[str]) -> str | None:
    """The MCP tool (one of ``known``) a model-facing tool name stands for: adapters may prefix a server name
    (``afbench_calculator``, ``afbench-calculator``, ``mcp__afbench__calculator``); a routing or handoff tool
    stands for none. The longest match wins, so ``rag_search`` is never taken for ``search``."""
    for tool in sorted(known, key=len, reverse=True):
        if name == tool or re.search(rf"(?:^|[_\-.]){re.escape(tool)}$", name):
            return tool
    return None
