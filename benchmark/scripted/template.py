"""Answer templates: ``{name.path}`` placeholders filled from the tool results the framework sent back.

Path syntax: dots for object keys, ``[i]`` for list indices (``{sql.rows[0][1]}``, ``{weather.error.message}``).
``{name}`` alone is the whole result. A value that is missing stays in the answer as ``{?name.path}``, so a
dropped or wrong tool result fails the turn visibly.

Tool results are read in the forms frameworks deliver them: JSON text (the MCP server's result object or its
``{"error": {...}}``), an MCP ``CallToolResult`` serialised as JSON (``structuredContent`` preferred, else its
text parts), a JSON list of content parts, or prose with a JSON object embedded in it ("Error: {...}",
"[TextContent(type='text', text='{...}')]"); plain text that holds no JSON is the result itself.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

PLACEHOLDER = re.compile(r"\{(?P<name>[A-Za-z_][\w-]*)(?P<path>(?:\.[A-Za-z_][\w-]*|\.\d+|\[\d+\])*)\}")
_STEP = re.compile(r"\.(?P<key>[A-Za-z_][\w-]*|\d+)|\[(?P<index>\d+)\]")
_MISSING = object()


def _embedded_json(text: str) -> Any:
    """The largest JSON object or array found inside ``text``, or _MISSING."""
    decoder = json.JSONDecoder()
    best: Any = _MISSING
    best_span = 0
    for candidate in (text, text.replace('\\"', '"').replace("\\n", "\n").replace("\\'", "'")):
        position = 0
        while True:
            starts = [i for i in (candidate.find("{", position), candidate.find("[", position)) if i >= 0]
            if not starts:
                break
            start = min(starts)
            try:
                value, end = decoder.raw_decode(candidate, start)
            except ValueError:
                position = start + 1
                continue
            if isinstance(value, dict | list) and end - start > best_span:
                best, best_span = value, end - start
            position = end
        if best is not _MISSING:
            return best
    return best


def _unwrap(value: Any) -> Any:
    """An MCP CallToolResult or a list of content parts reduced to the result it carries."""
    if isinstance(value, Mapping) and isinstance(value.get("content"), list) and "isError" in value:
        structured = value.get("structuredContent")
        if isinstance(structured, Mapping):
            return structured
        return parse_result(_parts_text(value["content"]))
    if isinstance(value, list) and value and all(isinstance(p, Mapping) and p.get("type") == "text" for p in value):
        return parse_result(_parts_text(value))
    return value


def _parts_text(parts: list[Any]) -> str:
    return "\n".join(str(p.get("text", "")) for p in parts if isinstance(p, Mapping))


def parse_result(text: str) -> Any:
    """A tool result's value: decoded JSON where there is some, else the text itself."""
    stripped = text.strip()
    try:
        return _unwrap(json.loads(stripped))
    except ValueError:
        pass
    embedded = _embedded_json(stripped)
    if embedded is not _MISSING:
        return _unwrap(embedded)
    return stripped


def lookup(value: Any, path: str) -> Any:
    for step in _STEP.finditer(path):
        key, index = step.group("key"), step.group("index")
        if index is not None or (key is not None and key.isdigit()):
            position = int(index if index is not None else key)
            if not isinstance(value, list) or position >= len(value):
                return _MISSING
            value = value[position]
        elif isinstance(value, Mapping) and key in value:
            value = value[key]
        else:
            return _MISSING
    return value


def render(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def fill(template: str, results: Mapping[str, Any]) -> str:
    """``template`` with each placeholder replaced from ``results`` (name → parsed result)."""

    def replace(match: re.Match[str]) -> str:
        name, path = match.group("name"), match.group("path")
        if name not in results:
            return "{?" + name + path + "}"
        value = lookup(results[name], path)
        if value is _MISSING:
            return "{?" + name + path + "}"
        return render(value)

    return PLACEHOLDER.sub(replace, template)


def skeleton(template: str) -> list[str]:
    """The template's literal pieces (placeholders removed) that are long enough to recognise it by."""
    pieces = [" ".join(piece.split()).casefold() for piece in PLACEHOLDER.sub("\0", template).split("\0")]
    return [piece for piece in pieces if sum(ch.isalnum() for ch in piece) >= 3]
