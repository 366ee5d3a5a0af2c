"""Validating a chat-completions request body the way OpenAI does, with errors that name the field.

Validation is as strict as OpenAI's where a framework would fail against OpenAI too (``n`` other than 1, a
message without a role, a ``tool_choice`` naming a tool that is not offered) and lenient where real servers
differ (extra keys, ``stream_options`` without ``stream``, a string ``tool_choice`` with no tools), so a
framework that works against a hosted API works here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from benchmark.gateway.errors import invalid

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
TOOL_CHOICES = frozenset({"auto", "none", "required"})
RESPONSE_FORMATS = frozenset({"text", "json_object", "json_schema"})


@dataclass(frozen=True)
class ChatRequest:
    body: dict[str, Any]  # as sent, for the backend (the scripted model reads it, upstream receives it)
    model: str
    stream: bool
    include_usage: bool
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]]
    tool_choice: str | None  # "auto"/"none"/"required", "function:<name>", or None when not given
    response_format: str | None  # "text"/"json_object"/"json_schema", or None when not given
    # Generation settings as sent (None: not sent), recorded so that a report can show what each build asked
    # for; the gateway passes them on unchecked, the upstream judges them.
    temperature: float | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    parallel_tool_calls: bool | None = None

    @property
    def tool_names(self) -> list[str]:
        return [str(tool["function"]["name"]) for tool in self.tools]


def _content_ok(content: Any) -> bool:
    if content is None or isinstance(content, str):
        return True
    return isinstance(content, list) and all(isinstance(part, Mapping) and "type" in part for part in content)


def _check_message(index: int, message: Any) -> None:
    where = f"messages[{index}]"
    if not isinstance(message, Mapping):
        raise invalid(f"{where} must be an object, got {type(message).__name__}", where)
    role = message.get("role")
    if role not in ROLES:
        raise invalid(f"{where}.role must be one of {', '.join(sorted(ROLES))}; got {role!r}", f"{where}.role")
    content = message.get("content")
    if not _content_ok(content):
        raise invalid(f"{where}.content must be a string, null, or a list of content parts", f"{where}.content")
    tool_calls = message.get("tool_calls")
    if role in ("system", "developer", "user") and content is None:
        raise invalid(f"{where}.content is required for a {role} message", f"{where}.content")
    if role == "assistant" and content is None and not tool_calls and message.get("function_call") is None:
        raise invalid(f"{where} (assistant) needs content or tool_calls", f"{where}.content")
    if role == "tool" and not isinstance(message.get("tool_call_id"), str):
        raise invalid(f"{where}.tool_call_id is required for a tool message", f"{where}.tool_call_id")
    if tool_calls is not None:
        if role != "assistant" or not isinstance(tool_calls, list):
            raise invalid(f"{where}.tool_calls must be a list on an assistant message", f"{where}.tool_calls")
        for position, call in enumerate(tool_calls):
            spot = f"{where}.tool_calls[{position}]"
            function = call.get("function") if isinstance(call, Mapping) else None
            call_id = call.get("id") if isinstance(call, Mapping) else None
            if not isinstance(call_id, str) or not isinstance(function, Mapping):
                raise invalid(f"{spot} must be an object with an id and a function", spot)
            if not isinstance(function.get("name"), str) or not isinstance(function.get("arguments"), str):
                raise invalid(f"{spot}.function needs a string name and string arguments", f"{spot}.function")


def _check_tools(raw: Any) -> list[dict[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise invalid("tools must be a list of function tools", "tools")
    tools = []
    for index, tool in enumerate(raw):
        where = f"tools[{index}]"
        function = tool.get("function") if isinstance(tool, Mapping) else None
        if not isinstance(function, Mapping) or tool.get("type", "function") != "function":
            raise invalid(f"{where} must be {{'type': 'function', 'function': {{...}}}}", where)
        name = function.get("name")
        if not isinstance(name, str) or not name.strip():
            raise invalid(f"{where}.function.name must be a non-empty string", f"{where}.function.name")
        parameters = function.get("parameters")
        if parameters is not None and not isinstance(parameters, Mapping):
            raise invalid(f"{where}.function.parameters must be a JSON schema object", f"{where}.function.parameters")
        tools.append(dict(tool))
    return tools


def _tool_choice(raw: Any, tool_names: list[str]) -> str | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        if raw not in TOOL_CHOICES:
            raise invalid(f"tool_choice must be auto, none, required or a function; got {raw!r}", "tool_choice")
        if raw == "required" and not tool_names:
            raise invalid("tool_choice 'required' needs tools", "tool_choice")
        return raw
    function = raw.get("function") if isinstance(raw, Mapping) else None
    name = function.get("name") if isinstance(function, Mapping) else None
    if not isinstance(raw, Mapping) or raw.get("type") != "function" or not isinstance(name, str):
        raise invalid("tool_choice object must be {'type': 'function', 'function': {'name': ...}}", "tool_choice")
    if name not in tool_names:
        raise invalid(
            f"tool_choice names function {name!r}, which is not among the tools ({', '.join(tool_names) or 'none'})",
            "tool_choice",
        )
    return f"function:{name}"


def _response_format(raw: Any) -> str | None:
    if raw is None:
        return None
    kind = raw.get("type") if isinstance(raw, Mapping) else None
    if kind not in RESPONSE_FORMATS:
        raise invalid(f"response_format.type must be one of {', '.join(sorted(RESPONSE_FORMATS))}", "response_format")
    if kind == "json_schema":
        spec = raw.get("json_schema")
        if not isinstance(spec, Mapping) or not isinstance(spec.get("name"), str):
            raise invalid("response_format json_schema needs json_schema.name", "response_format.json_schema")
        if spec.get("schema") is not None and not isinstance(spec.get("schema"), Mapping):
            raise invalid("response_format json_schema.schema must be an object", "response_format.json_schema.schema")
    return str(kind)


def parse_chat_request(raw: bytes) -> ChatRequest:
    """The validated request; raises GatewayError (400) naming the first problem."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise invalid(f"request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise invalid(f"request body must be a JSON object, got {type(body).__name__}")
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise invalid("you must provide a model parameter (a non-empty string)", "model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise invalid("messages must be a non-empty list", "messages")
    for index, message in enumerate(messages):
        _check_message(index, message)
    n = body.get("n")
    if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n != 1):
        raise invalid(f"n must be 1 (this gateway returns one choice); got {n!r}", "n")
    stream = body.get("stream", False)
    if stream is None:
        stream = False
    if not isinstance(stream, bool):
        raise invalid(f"stream must be a boolean; got {stream!r}", "stream")
    options = body.get("stream_options")
    if options is not None and not isinstance(options, Mapping):
        raise invalid("stream_options must be an object", "stream_options")
    parallel = body.get("parallel_tool_calls")
    if parallel is not None and not isinstance(parallel, bool):
        raise invalid(f"parallel_tool_calls must be a boolean; got {parallel!r}", "parallel_tool_calls")
    tools = _check_tools(body.get("tools"))
    names = [str(tool["function"]["name"]) for tool in tools]
    return ChatRequest(
        body=body,
        model=model,
        stream=stream,
        include_usage=bool(stream and options and options.get("include_usage") is True),
        messages=messages,
        tools=tools,
        tool_choice=_tool_choice(body.get("tool_choice"), names),
        response_format=_response_format(body.get("response_format")),
        temperature=_as_sent(body.get("temperature"), float),
        max_tokens=_as_sent(body.get("max_tokens"), int),
        max_completion_tokens=_as_sent(body.get("max_completion_tokens"), int),
        parallel_tool_calls=parallel,
    )


def _as_sent(value: Any, kind: type[int] | type[float]) -> Any:
    """``value`` when it is a number of ``kind`` (an int is a float too), else None: recorded, not judged."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if kind is int and not isinstance(value, int):
        return None
    return value
