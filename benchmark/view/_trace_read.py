"""Reading a trace's bodies for display: a model call's messages, tools, reply and who sent it, and the result
of an MCP tool call as the framework passed it back to the model."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from benchmark.runner.traces import ModelCallLine, ToolCallLine, TraceLine

LABEL_CHARS = 70


def request_of(line: ModelCallLine) -> dict[str, Any]:
    body = line.request.value if line.request is not None else None
    return body if isinstance(body, dict) else {}


def reply_of(line: ModelCallLine) -> dict[str, Any]:
    body = line.response.value if line.response is not None else None
    if not isinstance(body, dict):
        return {}
    choices = body.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        message = choices[0].get("message")
        return {**(message if isinstance(message, dict) else {}), "finish_reason": choices[0].get("finish_reason")}
    return {"error": body.get("error")} if "error" in body else {}


def text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(part.get("text", "")) if isinstance(part, dict) else str(part) for part in content)
    return "" if content is None else json.dumps(content, ensure_ascii=False)


def asker(line: ModelCallLine) -> str:
    """Who sent the call, as its instructions start (the first system or developer message)."""
    for message in request_of(line).get("messages") or []:
        if isinstance(message, dict) and message.get("role") in ("system", "developer"):
            text = " ".join(text_of(message.get("content")).split())
            return text[:LABEL_CHARS] + ("…" if len(text) > LABEL_CHARS else "")
    return "no instructions sent"


def tool_names(line: ModelCallLine) -> list[str]:
    names = []
    for tool in request_of(line).get("tools") or []:
        function = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(function, dict) and function.get("name"):
            names.append(str(function["name"]))
    return names


def requested_calls(line: ModelCallLine) -> list[tuple[str, str, str]]:
    """(id, name, arguments) of the tool calls the reply asked for."""
    calls = []
    for call in reply_of(line).get("tool_calls") or []:
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict):
            calls.append((str(call.get("id") or ""), str(function.get("name") or ""), str(function.get("arguments"))))
    return calls


@dataclass(frozen=True)
class ToolResult:
    text: str | None  # None: no later request carried it back
    call_id: str | None


def _same_arguments(raw: str, arguments: Any) -> bool:
    try:
        return bool(json.loads(raw) == arguments)
    except ValueError:
        return False


def tool_results(lines: Sequence[TraceLine]) -> dict[int, ToolResult]:
    """For each tool call line (by its position in ``lines``), what the framework sent back to the model: the
    content of the later request's tool message answering the model's call of that tool with those arguments."""
    models = [line for line in lines if isinstance(line, ModelCallLine)]
    asked = [(call_id, name, args) for line in models for call_id, name, args in requested_calls(line)]
    answered: dict[str, str] = {}
    for model in models:
        for message in request_of(model).get("messages") or []:
            if isinstance(message, dict) and message.get("role") == "tool" and message.get("tool_call_id"):
                answered.setdefault(str(message["tool_call_id"]), text_of(message.get("content")))
    found: dict[int, ToolResult] = {}
    used: set[str] = set()
    for position, line in enumerate(lines):
        if not isinstance(line, ToolCallLine):
            continue
        match = next(
            (
                call_id
                for call_id, name, args in asked
                if call_id not in used and name.endswith(line.tool) and _same_arguments(args, line.arguments)
            ),
            None,
        )
        if match is not None:
            used.add(match)
        found[position] = ToolResult(answered.get(match) if match else None, match)
    return found
