"""The one check every text argument of every tool passes: a string, within its length limit, not blank."""

from __future__ import annotations

import unicodedata

from tools.errors import ErrorCode, ToolError


def checked_text(value: object, name: str, limit: int, *, empty_hint: str = "", collapse: bool = False) -> str:
    """``value`` stripped, or a ToolError naming ``name``: not text, over ``limit`` characters, or blank.

    ``collapse`` (for search queries): control characters become spaces and whitespace runs one space; they
    carry no meaning for retrieval and break some upstream APIs.
    """
    if not isinstance(value, str):
        kind = type(value).__name__
        raise ToolError(ErrorCode.INVALID_ARGUMENT, f"{name} must be text, got {kind}", got=kind)
    if len(value) > limit:
        raise ToolError(
            ErrorCode.INPUT_TOO_LARGE,
            f"{name} is {len(value):,} characters; the limit is {limit:,}",
            length=len(value),
            limit=limit,
        )
    stripped = value.strip()
    if collapse:
        stripped = " ".join("".join(" " if unicodedata.category(ch)[0] == "C" else ch for ch in stripped).split())
    if not stripped:
        raise ToolError(ErrorCode.EMPTY_INPUT, f"{name} is empty" + (f": {empty_hint}" if empty_hint else ""))
    return stripped
