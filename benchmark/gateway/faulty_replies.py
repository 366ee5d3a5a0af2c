"""Reply faults: the backend's reply to one call replaced by the faulty reply a real model produces.

The backend answers as usual; its reply (a JSON body or a whole SSE stream) is read back into text, tool
calls and finish reason, broken as the fault's kind says, and sent in the shape the request asked for (a
``chat.completion`` body, or a chunk stream with the usage chunk when asked). What each kind sends:

- ``malformed_arguments``: the first call's arguments text cut by its last character, so it is not JSON
  (on a JSON text reply, a structured output, that text cut the same way);
- ``unknown_tool``: the first call made to a name the request does not offer (``get_<tool>``, a common
  invention); on a text reply, a call to ``lookup_answer`` with the user's request;
- ``missing_argument``: the first call without one argument: the first the tool's schema requires, else
  its first (on a JSON object text: the schema's first required property, else the first key);
- ``wrong_argument_type``: that argument with a value of another JSON type (a string becomes a list holding
  it, a number its text, a boolean its text, a list or object its JSON text, null the number 0);
- ``disallowed_tool``: the reply replaced by one call to ``fault.tool``, a real MCP tool the request does not
  offer (when the fault names none: the first of ``sql_query``, then the system's other tools in order, not
  offered), with plausible arguments: the task's own script's, else a typical call of that tool;
- ``tool_call_as_text``: the calls written into ``content`` the way local servers' chat templates do
  (``<tool_call>{"name": ..., "arguments": ...}</tool_call>``), no ``tool_calls``;
- ``empty_reply``: empty content, no calls, ``finish_reason: "stop"``;
- ``length_cutoff``: ``finish_reason: "length"`` with the first half of the text (or of the first call's
  arguments);
- ``parallel_calls``: two calls in one message where the script has them in sequence: the reply's call and
  the call the scripted model makes next once that one has a result; the same call twice (a new id) when
  nothing follows it.

A kind that needs something the reply does not have (arguments to break on a plain text, a tool call to
repeat, a disallowed tool that this request offers after all) leaves the reply as it was: the gateway then
records no fault on the call and logs why.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, get_args

from benchmark.gateway.backend import JsonReply, StreamReply
from benchmark.gateway.chat_request import ChatRequest
from benchmark.gateway.completions import (
    SSE_DONE,
    Observed,
    ToolCallOut,
    Usage,
    completion_body,
    completion_chunks,
    sse,
    sse_data,
)
from benchmark.gateway.flights import close_stream
from benchmark.scripted import reply as scripted_reply
from benchmark.scripted.messages import read_request
from benchmark.scripted.specialist import offered_name
from benchmark.scripted.turns import find_turn
from benchmark.spec import SystemSpec
from benchmark.tasks.models import ModelFault, ModelFaultKind, ReplyFaultKind, Task

REPLY_KINDS: frozenset[ModelFaultKind] = frozenset(get_args(ReplyFaultKind))
# The MCP server's tools and a typical call of each, for a disallowed call the task's script has no example of.
TYPICAL_CALLS: dict[str, dict[str, Any]] = {
    "sql_query": {"sql": "SELECT * FROM customers LIMIT 10"},
    "sql_schema": {},
    "text2sql": {"question": "How many customers are there?"},
    "calculator": {"expression": "2 * (3 + 4)"},
    "weather": {"location": "Lisbon"},
    "rag_search": {"query": "notice period of the services agreement"},
    "search": {"query": "replace the battery"},
}
DISALLOWED_PREFERENCE = ("sql_query", *TYPICAL_CALLS)
PLACEHOLDER_RESULT = '{"ok": true}'  # the result the next scripted call is worked out against


@dataclass(frozen=True)
class Reply:
    content: str | None
    calls: list[ToolCallOut]
    finish_reason: str


class NotApplicable(ValueError):
    """The fault cannot be applied to this reply; the message says why."""


@dataclass(frozen=True)
class FaultContext:
    fault: ModelFault
    request: ChatRequest
    task: Task
    spec: SystemSpec | None


# -- reading the backend's reply ------------------------------------------------------------------------------


async def read_reply(answer: JsonReply | StreamReply) -> Reply | None:
    """The reply as text, calls and finish reason; None for an error answer (passed on as it is)."""
    observed = Observed()
    if isinstance(answer, JsonReply):
        if answer.status >= 400:
            return None
        observed.feed_body(answer.body)
    else:
        try:
            async for chunk in answer.chunks:
                for line in chunk.decode("utf-8", errors="replace").splitlines():
                    data = sse_data(line)
                    if data is not None:
                        observed.feed_chunk(data)
        finally:
            await close_stream(answer.chunks)
    return Reply(observed.content or None, observed.calls(), observed.finish_reason or "stop")


def serve(reply: Reply, request: ChatRequest, usage: Usage) -> JsonReply | StreamReply:
    """The reply in the wire shape the request asked for."""
    if not request.stream:
        return JsonReply(200, completion_body(request.model, reply.content, reply.calls, reply.finish_reason, usage))
    chunks = completion_chunks(
        request.model, reply.content, reply.calls, reply.finish_reason, usage, request.include_usage
    )

    async def stream() -> Any:
        for chunk in chunks:
            yield sse(chunk)
        yield SSE_DONE

    return StreamReply(stream())


# -- the kinds -----------------------------------------------------------------------------------------------


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _json_object(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _broken(text: str) -> str:
    stripped = text.rstrip()
    cut = stripped[:-1] if len(stripped) > 1 else "{"
    return cut if not _is_json(cut) else "{" + stripped


def _tool_schema(request: ChatRequest, name: str) -> Mapping[str, Any]:
    for tool in request.tools:
        function = tool.get("function") or {}
        if function.get("name") == name and isinstance(function.get("parameters"), Mapping):
            return dict(function["parameters"])
    return {}


def _response_schema(request: ChatRequest) -> Mapping[str, Any]:
    schema = read_request(request.body).response_schema
    return schema if schema is not None else {}


def _target_key(arguments: dict[str, Any], schema: Mapping[str, Any]) -> str:
    required = schema.get("required")
    for name in required if isinstance(required, list) else []:
        if name in arguments:
            return str(name)
    if not arguments:
        raise NotApplicable("the call has no arguments to leave out or mistype")
    return next(iter(arguments))


def _other_type(value: Any) -> Any:
    if isinstance(value, str):
        return [value]
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return 0


def _first_call(reply: Reply, kind: str) -> ToolCallOut:
    if not reply.calls:
        raise NotApplicable(f"{kind} breaks a tool call, and this reply is a text")
    return reply.calls[0]


def _with_first(reply: Reply, call: ToolCallOut, finish_reason: str | None = None) -> Reply:
    return Reply(None, [call, *reply.calls[1:]], finish_reason or reply.finish_reason)


def _arguments_fault(reply: Reply, context: FaultContext) -> Reply:
    """missing_argument / wrong_argument_type, on the first call or on a JSON object text."""
    kind = context.fault.kind
    if reply.calls:
        call = reply.calls[0]
        arguments = _json_object(call.arguments)
        if arguments is None:
            raise NotApplicable(f"{kind}: the call's arguments are not a JSON object")
        schema = _tool_schema(context.request, call.name)
    else:
        arguments = _json_object(reply.content)
        if arguments is None:
            raise NotApplicable(f"{kind} breaks arguments, and this reply is a plain text")
        schema = _response_schema(context.request)
    key = _target_key(arguments, schema)
    if kind == "missing_argument":
        changed = {k: v for k, v in arguments.items() if k != key}
    else:
        changed = {**arguments, key: _other_type(arguments[key])}
    text = json.dumps(changed, ensure_ascii=False)
    if reply.calls:
        return _with_first(reply, replace(reply.calls[0], arguments=text))
    return Reply(text, [], reply.finish_reason)


def _unknown_name(base: str, offered: list[str]) -> str:
    taken = set(offered) | set(TYPICAL_CALLS)
    name = f"get_{base}"
    while name in taken:
        name += "_v2"
    return name


def _user_text(context: FaultContext) -> str:
    match = find_turn(context.task, read_request(context.request.body))
    return match.turn.user if match is not None else ""


def _call_id(reply: Reply, suffix: str) -> str:
    base = reply.calls[0].id if reply.calls else "call_fault"
    return f"{base}_{suffix}"


def _unknown_tool(reply: Reply, context: FaultContext) -> Reply:
    offered = context.request.tool_names
    if reply.calls:
        call = reply.calls[0]
        return _with_first(reply, replace(call, name=_unknown_name(call.name, offered)))
    arguments = json.dumps({"query": _user_text(context)}, ensure_ascii=False)
    return Reply(
        None, [ToolCallOut(_call_id(reply, "x"), _unknown_name("lookup_answer", offered), arguments)], "tool_calls"
    )


def _disallowed_tool(reply: Reply, context: FaultContext) -> Reply:
    offered = context.request.tool_names
    candidates = [context.fault.tool] if context.fault.tool else list(dict.fromkeys(DISALLOWED_PREFERENCE))
    allowed = [name for name in candidates if name and offered_name(name, offered) is None]
    if not allowed:
        named = ", ".join(str(name) for name in candidates)
        raise NotApplicable(f"disallowed_tool: the request offers {named} (offered: {', '.join(offered)})")
    tool = allowed[0]
    arguments = next(
        (
            step.arguments
            for turn in context.task.turns
            if turn.script
            for step in turn.script.steps
            if step.call == tool
        ),
        TYPICAL_CALLS.get(tool, {}),
    )
    call = ToolCallOut(_call_id(reply, "d"), tool, json.dumps(arguments, ensure_ascii=False))
    return Reply(None, [call], "tool_calls")


def _as_text(reply: Reply) -> Reply:
    if not reply.calls:
        raise NotApplicable("tool_call_as_text writes a tool call as text, and this reply has none")
    blocks = []
    for call in reply.calls:
        arguments = _json_object(call.arguments)
        payload = {"name": call.name, "arguments": arguments if arguments is not None else call.arguments}
        blocks.append(f"<tool_call>\n{json.dumps(payload, ensure_ascii=False)}\n</tool_call>")
    return Reply("\n".join(blocks), [], "stop")


def _cut_off(reply: Reply) -> Reply:
    if reply.calls:
        call = reply.calls[0]
        half = call.arguments[: max(1, len(call.arguments) // 2)]
        return Reply(None, [replace(call, arguments=half)], "length")
    text = reply.content or ""
    words = text.split(" ")
    kept = " ".join(words[: max(1, len(words) // 2)]) if len(words) > 1 else text[: len(text) // 2]
    return Reply(kept, [], "length")


def _parallel(reply: Reply, context: FaultContext) -> Reply:
    first = _first_call(reply, "parallel_calls")
    history = [
        *context.request.messages,
        {"role": "assistant", "content": None, "tool_calls": [_wire_call(first)]},
        {"role": "tool", "tool_call_id": first.id, "content": PLACEHOLDER_RESULT},
    ]
    following = scripted_reply(context.task, {**context.request.body, "messages": history}, context.spec)
    nxt = following.tool_calls[0] if following.tool_calls else None
    if nxt is not None and nxt.name in context.request.tool_names and nxt.id != first.id:
        second = ToolCallOut(nxt.id, nxt.name, nxt.arguments)
    else:
        second = replace(first, id=_call_id(reply, "2"))
    return Reply(None, [first, second], "tool_calls")


def _wire_call(call: ToolCallOut) -> dict[str, Any]:
    return {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}


def faulty(reply: Reply, context: FaultContext) -> Reply:
    """The faulty reply that stands for ``reply``; NotApplicable when the kind cannot break this one."""
    kind = context.fault.kind
    if kind == "malformed_arguments":
        if reply.calls:
            return _with_first(reply, replace(reply.calls[0], arguments=_broken(reply.calls[0].arguments)))
        if reply.content is None or not _is_json(reply.content):
            raise NotApplicable("malformed_arguments breaks JSON, and this reply is a plain text")
        return Reply(_broken(reply.content), [], reply.finish_reason)
    if kind in ("missing_argument", "wrong_argument_type"):
        return _arguments_fault(reply, context)
    if kind == "unknown_tool":
        return _unknown_tool(reply, context)
    if kind == "disallowed_tool":
        return _disallowed_tool(reply, context)
    if kind == "tool_call_as_text":
        return _as_text(reply)
    if kind == "empty_reply":
        return Reply("", [], "stop")
    if kind == "length_cutoff":
        return _cut_off(reply)
    if kind == "parallel_calls":
        return _parallel(reply, context)
    raise NotApplicable(f"{kind} is not a reply fault")
