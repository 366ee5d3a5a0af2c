"""A stand-in for a hosted OpenAI-compatible model server, as an ASGI app for ``tests.loopback``.

It speaks the chat-completions protocol (JSON and SSE streams, usage when asked, OpenAI error bodies),
records every request it receives (body and headers), and can be told to fail the next N requests with a
status and a ``Retry-After`` header, to fail every request, to leave usage out, to answer with a tool
call instead of text, or to drop the connection in the middle of a stream.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route


@dataclass
class Failure:
    status: int
    retry_after: str | None = None
    retry_after_ms: str | None = None
    body: Any = None  # JSON error body; default is OpenAI's shape


@dataclass
class FakeUpstream:
    reply_text: str = "Hello from upstream."
    tool_call: tuple[str, dict[str, Any]] | None = None  # (name, arguments) to answer with instead of text
    report_usage: bool = True
    break_stream_after: int | None = None  # drop the connection after this many stream events
    event_delay_s: float = 0.0  # pause between stream events, like a model generating
    always: Failure | None = None
    failures: deque[Failure] = field(default_factory=deque)
    requests: list[dict[str, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(self, count: int, status: int, retry_after: str | None = None, **extra: Any) -> None:
        for _ in range(count):
            self.failures.append(Failure(status, retry_after, **extra))

    @property
    def app(self) -> Starlette:
        return Starlette(routes=[Route("/v1/chat/completions", self._chat, methods=["POST"])])

    def _failure(self) -> Failure | None:
        with self._lock:
            if self.failures:
                return self.failures.popleft()
        return self.always

    async def _chat(self, request: Request) -> Response:
        body = await request.json()
        with self._lock:
            self.requests.append({"body": body, "headers": dict(request.headers)})
        failure = self._failure()
        if failure is not None:
            headers = {}
            if failure.retry_after is not None:
                headers["Retry-After"] = failure.retry_after
            if failure.retry_after_ms is not None:
                headers["retry-after-ms"] = failure.retry_after_ms
            payload = failure.body or {
                "error": {"message": f"simulated {failure.status}", "type": "server_error", "param": None, "code": None}
            }
            return JSONResponse(payload, status_code=failure.status, headers=headers)
        usage = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
        message: dict[str, Any] = {"role": "assistant", "content": self.reply_text}
        finish = "stop"
        if self.tool_call is not None:
            name, arguments = self.tool_call
            message = {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "up_1", "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}
                ],
            }
            finish = "tool_calls"
        if not body.get("stream"):
            payload = {
                "id": "chatcmpl-up",
                "object": "chat.completion",
                "created": 1,
                "model": body.get("model"),
                "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            }
            if self.report_usage:
                payload["usage"] = usage
            return JSONResponse(payload)
        include_usage = bool((body.get("stream_options") or {}).get("include_usage")) and self.report_usage
        events = self._stream(body, message, finish, usage, include_usage)
        return StreamingResponse(self._cut(events), media_type="text/event-stream")

    async def _cut(self, events: Any) -> Any:
        sent = 0
        async for event in events:
            if self.break_stream_after is not None and sent >= self.break_stream_after:
                raise ConnectionAbortedError("fake upstream drops the stream")  # uvicorn closes the socket
            sent += 1
            yield event
            if self.event_delay_s:
                await asyncio.sleep(self.event_delay_s)

    async def _stream(
        self, body: dict[str, Any], message: dict[str, Any], finish: str, usage: dict[str, int], include_usage: bool
    ) -> Any:
        def chunk(delta: dict[str, Any], reason: str | None = None) -> bytes:
            payload = {
                "id": "chatcmpl-up",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": body.get("model"),
                "choices": [{"index": 0, "delta": delta, "finish_reason": reason}],
            }
            return f"data: {json.dumps(payload)}\n\n".encode()

        yield chunk({"role": "assistant", "content": ""})
        if message.get("tool_calls"):
            call = message["tool_calls"][0]
            opener = {"name": call["function"]["name"], "arguments": ""}
            yield chunk({"tool_calls": [{"index": 0, "id": call["id"], "type": "function", "function": opener}]})
            arguments = call["function"]["arguments"]
            for start in range(0, len(arguments), 5):
                yield chunk({"tool_calls": [{"index": 0, "function": {"arguments": arguments[start : start + 5]}}]})
        else:
            for word in self.reply_text.split(" "):
                yield chunk({"content": word + " "})
        yield chunk({}, finish)
        if include_usage:
            final: dict[str, Any] = {"id": "chatcmpl-up", "object": "chat.completion.chunk", "created": 1,
                                     "model": body.get("model"), "choices": [], "usage": usage}  # fmt: skip
            yield f"data: {json.dumps(final)}\n\n".encode()
        yield b"data: [DONE]\n\n"
