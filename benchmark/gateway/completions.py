"""Chat-completion objects in OpenAI's exact shape, their streamed chunks, and reading both back.

Built here: ``chat.completion`` bodies and ``chat.completion.chunk`` sequences (role first, content in
pieces, each tool call opened with its index, id and name and then fed argument fragments, a last chunk with
the finish reason, and an optional ``choices: []`` usage chunk). Read here: what a completion or a stream
says (text, tool calls, finish reason, usage), for the call records of the upstream backend, and whether a
stream has delivered its reply whole.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ToolCallOut:
    id: str
    name: str
    arguments: str  # JSON text


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int

    def as_dict(self) -> dict[str, int]:
        total = self.prompt_tokens + self.completion_tokens
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens, "total_tokens": total}


def completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex[:24]}"


def _tool_call_dict(call: ToolCallOut) -> dict[str, Any]:
    return {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}


def completion_body(
    model: str, content: str | None, tool_calls: list[ToolCallOut], finish_reason: str, usage: Usage
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
    if tool_calls:
        message["tool_calls"] = [_tool_call_dict(call) for call in tool_calls]
    return {
        "id": completion_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": None,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}],
        "usage": usage.as_dict(),
    }


def _pieces(text: str, words: int = 4) -> list[str]:
    tokens = re.findall(r"\s*\S+\s*|\s+", text)
    return ["".join(tokens[i : i + words]) for i in range(0, len(tokens), words)] or [""]


def completion_chunks(
    model: str,
    content: str | None,
    tool_calls: list[ToolCallOut],
    finish_reason: str,
    usage: Usage,
    include_usage: bool,
) -> Iterator[dict[str, Any]]:
    """The chunk objects of one streamed completion, in order, as OpenAI sends them."""
    ident, created = completion_id(), int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": ident,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": None,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if include_usage:
            body["usage"] = None
        return body

    if tool_calls:
        yield chunk({"role": "assistant", "content": content})
        for index, call in enumerate(tool_calls):
            function = {"name": call.name, "arguments": ""}
            opener = {"index": index, "id": call.id, "type": "function", "function": function}
            yield chunk({"tool_calls": [opener]})
            for start in range(0, len(call.arguments), 12):
                fragment = call.arguments[start : start + 12]
                yield chunk({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]})
    else:
        yield chunk({"role": "assistant", "content": ""})
        for piece in _pieces(content or ""):
            if piece:
                yield chunk({"content": piece})
    yield chunk({}, finish_reason)
    if include_usage:
        final = chunk({})
        final["choices"] = []
        final["usage"] = usage.as_dict()
        yield final


def sse(payload: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n".encode()


SSE_DONE = b"data: [DONE]\n\n"


@dataclass
class Observed:
    """What a completion said, reassembled from a body or from stream chunks."""

    content: str = ""
    tool_calls: dict[int, dict[str, str]] = field(default_factory=dict)  # index → id, name, arguments
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None

    def feed_chunk(self, chunk: dict[str, Any]) -> None:
        if isinstance(chunk.get("usage"), dict):
            self.usage = chunk["usage"]
        for choice in chunk.get("choices") or []:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            if isinstance(delta.get("content"), str):
                self.content += delta["content"]
            for call in delta.get("tool_calls") or []:
                if not isinstance(call, dict):
                    continue
                slot = self.tool_calls.setdefault(int(call.get("index", 0)), {"id": "", "name": "", "arguments": ""})
                function = call.get("function") or {}
                if call.get("id"):
                    slot["id"] = str(call["id"])
                if function.get("name"):
                    slot["name"] += str(function["name"])
                if isinstance(function.get("arguments"), str):
                    slot["arguments"] += function["arguments"]
            if choice.get("finish_reason"):
                self.finish_reason = str(choice["finish_reason"])

    def feed_body(self, body: dict[str, Any]) -> None:
        if isinstance(body.get("usage"), dict):
            self.usage = body["usage"]
        choices = body.get("choices") or []
        choice = choices[0] if choices and isinstance(choices[0], dict) else {}
        message = choice.get("message") or {}
        if isinstance(message.get("content"), str):
            self.content = message["content"]
        for index, call in enumerate(message.get("tool_calls") or []):
            function = call.get("function") or {} if isinstance(call, dict) else {}
            self.tool_calls[index] = {
                "id": str(call.get("id") or "") if isinstance(call, dict) else "",
                "name": str(function.get("name") or ""),
                "arguments": str(function.get("arguments") or ""),
            }
        if choice.get("finish_reason"):
            self.finish_reason = str(choice["finish_reason"])

    def calls(self) -> list[ToolCallOut]:
        return [ToolCallOut(c["id"], c["name"], c["arguments"]) for _, c in sorted(self.tool_calls.items())]

    def feed_sse(self, chunk: bytes) -> None:
        """Every ``data:`` object of a piece of an SSE stream (a stream's bytes as they were handed on)."""
        for line in chunk.decode("utf-8", errors="replace").splitlines():
            data = sse_data(line)
            if data is not None:
                self.feed_chunk(data)

    def as_completion(self) -> dict[str, Any]:
        """What was observed as one ``chat.completion`` body's essentials: the message, finish reason, usage."""
        message: dict[str, Any] = {"role": "assistant", "content": self.content or None}
        if self.tool_calls:
            message["tool_calls"] = [_tool_call_dict(call) for call in self.calls()]
        choice = {"index": 0, "message": message, "finish_reason": self.finish_reason}
        return {"object": "chat.completion", "choices": [choice], "usage": self.usage}

    def reported_usage(self) -> Usage | None:
        usage = self.usage or {}
        prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
        if isinstance(prompt, int) and isinstance(completion, int):
            return Usage(prompt, completion)
        return None


def sse_data(line: str) -> dict[str, Any] | None:
    """The object an SSE ``data:`` line carries; None for other lines, ``[DONE]``, and data that is no object."""
    if not line.startswith("data:"):
        return None
    data = line[5:].strip()
    if not data or data == "[DONE]":
        return None
    try:
        chunk = json.loads(data)
    except ValueError:
        return None
    return chunk if isinstance(chunk, dict) else None


# Only a chunk with a finish reason or a usage object can end a reply; anything else need not be decoded.
_ENDING = re.compile(rb'"(?:finish_reason"\s*:\s*"|usage"\s*:\s*\{)')


class Delivery:
    """Whether the chunks handed to a client hold the whole reply: its finish reason and, when the request
    asked for usage, the usage chunk. Only ``data: [DONE]`` may be missing then: a client that stops reading
    once it has the usage (Semantic Kernel does) has had a complete answer."""

    def __init__(self, want_usage: bool) -> None:
        self.want_usage = want_usage
        self._seen = Observed()

    def feed(self, chunk: bytes) -> None:
        if not _ENDING.search(chunk):
            return
        for line in chunk.decode("utf-8", errors="replace").splitlines():
            data = sse_data(line)
            if data is not None:
                self._seen.feed_chunk(data)

    @property
    def complete(self) -> bool:
        return self._seen.finish_reason is not None and (self._seen.usage is not None or not self.want_usage)
