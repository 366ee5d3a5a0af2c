"""A tolerant reading of an OpenAI chat-completions request body: messages, tool calls, tool results, tools.

Frameworks send the same protocol in many dialects: content as a string, ``None`` or a list of parts;
instructions under ``system`` or ``developer``; tool results as JSON text, prose, or content parts. This
module flattens all of them into one small view so the scripted model never branches on a framework.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

INSTRUCTION_ROLES = frozenset({"system", "developer"})


def normalise(text: str) -> str:
    """Whitespace collapsed and case folded: the form every text comparison here uses."""
    return " ".join(text.split()).casefold()


def forms(text: str) -> tuple[str, ...]:
    """``text`` as a framework may send it, each :func:`normalise`-d: as written, and inside a JSON string
    (``M\\u00fcnchen``, ``\\"``; or with ``ü`` kept and only quotes and line breaks escaped, as ``ensure_ascii=False``
    writes it), because some frameworks pass the conversation, or a tool call's arguments, as a JSON document.

    The one way the scripted model looks for a text it expects (a turn's words, required context): search a
    normalised haystack for each form.
    """
    found = [normalise(text)]
    for escaped in (json.dumps(text)[1:-1], json.dumps(text, ensure_ascii=False)[1:-1]):
        if normalise(escaped) not in found:
            found.append(normalise(escaped))
    return tuple(found)


def contains(haystack: str, text: str) -> bool:
    """Whether the normalised ``haystack`` holds ``text`` in any of its :func:`forms`."""
    return any(form in haystack for form in forms(text))


def squash(text: str) -> str:
    """Letters and digits only, lower case: ``Legal expert``, ``legal_expert`` and ``LegalExpert`` agree."""
    return re.sub(r"[^0-9a-z]", "", text.casefold())


def content_text(content: Any) -> str:
    """The text of a message ``content``: a string, or the ``text`` of each part of a list, joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, Mapping):
        content = [content]
    if isinstance(content, Sequence) and not isinstance(content, str | bytes):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, Mapping) and isinstance(part.get("text"), str):
                parts.append(part["text"])
        return "\n".join(parts)
    return ""


@dataclass(frozen=True)
class Call:
    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class Message:
    index: int
    role: str
    text: str
    calls: tuple[Call, ...] = ()
    tool_call_id: str | None = None


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    parameters: Mapping[str, Any]


@dataclass(frozen=True)
class RequestView:
    messages: tuple[Message, ...]
    tools: tuple[Tool, ...]
    tool_choice: Any
    response_schema: Mapping[str, Any] | None  # the JSON schema of response_format json_schema, if any
    wants_json: bool  # response_format json_object or json_schema

    def tool(self, name: str) -> Tool | None:
        return next((t for t in self.tools if t.name == name), None)

    @property
    def forced_tool(self) -> str | None:
        """The function ``tool_choice`` names, if it names one."""
        choice = self.tool_choice
        if isinstance(choice, Mapping):
            function = choice.get("function")
            if isinstance(function, Mapping) and isinstance(function.get("name"), str):
                return str(function["name"])
            if isinstance(choice.get("name"), str):
                return str(choice["name"])
        return None

    @property
    def tools_forbidden(self) -> bool:
        return bool(self.tool_choice == "none")

    @property
    def tools_required(self) -> bool:
        return bool(self.tool_choice == "required") or self.forced_tool is not None

    @property
    def callable_tools(self) -> tuple[Tool, ...]:
        """The tools the model may call now, after ``tool_choice``."""
        if self.tools_forbidden:
            return ()
        forced = self.forced_tool
        if forced is not None:
            return tuple(t for t in self.tools if t.name == forced)
        return self.tools

    def all_calls(self) -> list[Call]:
        return [call for message in self.messages for call in message.calls]

    def result_for(self, call_id: str) -> str | None:
        """The text of the tool message answering ``call_id``, or None if the framework never sent one."""
        for message in self.messages:
            if message.role in ("tool", "function") and message.tool_call_id == call_id:
                return message.text
        return None


def _calls(raw: Any) -> tuple[Call, ...]:
    calls = []
    if isinstance(raw, Sequence) and not isinstance(raw, str | bytes):
        for item in raw:
            if not isinstance(item, Mapping):
                continue
            function = item.get("function")
            if not isinstance(function, Mapping):
                continue
            arguments = function.get("arguments")
            if not isinstance(arguments, str):
                arguments = json.dumps(arguments if arguments is not None else {})
            calls.append(Call(str(item.get("id") or ""), str(function.get("name") or ""), arguments))
    return tuple(calls)


def _tools(raw: Any) -> tuple[Tool, ...]:
    tools = []
    if isinstance(raw, Sequence) and not isinstance(raw, str | bytes):
        for item in raw:
            function = item.get("function") if isinstance(item, Mapping) else None
            if isinstance(function, Mapping) and isinstance(function.get("name"), str):
                parameters = function.get("parameters")
                tools.append(
                    Tool(
                        name=function["name"],
                        description=str(function.get("description") or ""),
                        parameters=parameters if isinstance(parameters, Mapping) else {},
                    )
                )
    return tuple(tools)


def read_request(request: Mapping[str, Any]) -> RequestView:
    messages = []
    raw_messages = request.get("messages")
    if isinstance(raw_messages, Sequence) and not isinstance(raw_messages, str | bytes):
        for index, raw in enumerate(raw_messages):
            if not isinstance(raw, Mapping):
                continue
            tool_call_id = raw.get("tool_call_id")
            messages.append(
                Message(
                    index=index,
                    role=str(raw.get("role") or ""),
                    text=content_text(raw.get("content")),
                    calls=_calls(raw.get("tool_calls")),
                    tool_call_id=str(tool_call_id) if tool_call_id is not None else None,
                )
            )
    schema: Mapping[str, Any] | None = None
    wants_json = False
    response_format = request.get("response_format")
    if isinstance(response_format, Mapping):
        kind = response_format.get("type")
        wants_json = kind in ("json_object", "json_schema")
        spec = response_format.get("json_schema")
        if kind == "json_schema" and isinstance(spec, Mapping) and isinstance(spec.get("schema"), Mapping):
            schema = spec["schema"]
    return RequestView(
        messages=tuple(messages),
        tools=_tools(request.get("tools")),
        tool_choice=request.get("tool_choice"),
        response_schema=schema,
        wants_json=wants_json,
    )
