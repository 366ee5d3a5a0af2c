"""A stand-in for a hosted OpenAI-compatible model server, as an ASGI app for ``tests.loopback``.

It speaks the chat-completions protocol (JSON and SSE streams, usage when asked, OpenAI error bodies, a
``/v1/models`` list), records every request it receives (body and headers), and can be told to fail the
next N requests with a status and a ``Retry-After`` header, to fail every request, to leave usage out, to
answer with a tool call instead of text, or to drop the connection in the middle of a stream.

Like a local model server it can also generate without end: ``hold_next`` makes the next requests stop
after some stream events (or, not streamed, before answering at all) and stay open until the client goes
away; ``withhold_done`` sends a whole stream but its ``data: [DONE]``; ``slots=1`` serves one request at a
time and queues the rest, as llama.cpp does with one slot. ``log`` tells what happened to each request
(``start N``, ``hold N``, ``gone N``, ``done N``, numbered in arrival order) and ``wait_for`` waits for a line.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

DONE = b"data: [DONE]\n\n"


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
    withhold_done: bool = False  # send the whole stream but ``data: [DONE]``, then hold until the client leaves
    slots: int | None = None  # how many requests are served at once; the rest wait their turn
    models_route: bool = True  # serve GET /v1/models (some OpenAI-compatible servers do not)
    always: Failure | None = None
    failures: deque[Failure] = field(default_factory=deque)
    holds: deque[int] = field(default_factory=deque)
    requests: list[dict[str, Any]] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _logged: threading.Condition = field(init=False)
    _slots: asyncio.Semaphore | None = None

    def __post_init__(self) -> None:
        self._logged = threading.Condition(self._lock)

    def fail_next(self, count: int, status: int, retry_after: str | None = None, **extra: Any) -> None:
        for _ in range(count):
            self.failures.append(Failure(status, retry_after, **extra))

    def hold_next(self, count: int = 1, after: int = 0) -> None:
        """The next ``count`` requests send ``after`` stream events (none: no answer at all), then stay open,
        generating as far as the client can tell, until it goes away."""
        with self._lock:
            self.holds.extend([after] * count)

    def wait_for(self, line: str, timeout_s: float = 10.0) -> bool:
        """Block until ``line`` is in the log (False if it is not there within the timeout)."""
        with self._logged:
            return self._logged.wait_for(lambda: line in self.log, timeout_s)

    def _note(self, line: str) -> None:
        with self._logged:
            self.log.append(line)
            self._logged.notify_all()

    @property
    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
            ]
        )

    def _error(self, failure: Failure) -> Response:
        headers = {}
        if failure.retry_after is not None:
            headers["Retry-After"] = failure.retry_after
        if failure.retry_after_ms is not None:
            headers["retry-after-ms"] = failure.retry_after_ms
        payload = failure.body or {
            "error": {"message": f"simulated {failure.status}", "type": "server_error", "param": None, "code": None}
        }
        return JSONResponse(payload, status_code=failure.status, headers=headers)

    async def _models(self, request: Request) -> Response:
        if self.always is not None:
            return self._error(self.always)
        if not self.models_route:
            return JSONResponse({"error": "Not Found"}, status_code=404)
        return JSONResponse({"object": "list", "data": [{"id": "fake-model", "object": "model", "owned_by": "fake"}]})

    def _slot(self) -> asyncio.Semaphore | None:
        # Made on first use, on the loop that serves the requests.
        if self.slots is not None and self._slots is None:
            self._slots = asyncio.Semaphore(self.slots)
        return self._slots

    def _failure(self) -> Failure | None:
        with self._lock:
            if self.failures:
                return self.failures.popleft()
        return self.always

    async def _chat(self, request: Request) -> Response:
        body = await request.json()
        with self._lock:
            self.requests.append({"body": body, "headers": dict(request.headers)})
            number = len(self.requests)
        failure = self._failure()
        if failure is not None:
            return self._error(failure)
        with self._lock:
            hold = self.holds.popleft() if self.holds else None
        slot = self._slot()
        if slot is not None:
            await slot.acquire()
        self._note(f"start {number}")
        try:
            response = await self._answer(request, body, number, hold)
        except BaseException:
            if slot is not None:
                slot.release()
            raise
        if slot is not None:
            if isinstance(response, StreamingResponse):
                response.body_iterator = self._releasing(response.body_iterator, slot)
            else:
                slot.release()
        return response

    async def _releasing(self, events: Any, slot: asyncio.Semaphore) -> AsyncIterator[Any]:
        try:
            async for event in events:
                yield event
        finally:
            slot.release()

    async def _answer(self, request: Request, body: dict[str, Any], number: int, hold: int | None) -> Response:
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
            if hold is not None:
                self._note(f"hold {number}")
                while (await request.receive())["type"] != "http.disconnect":  # the body is read: only this comes
                    pass
                self._note(f"gone {number}")
                return Response(status_code=204)
            self._note(f"done {number}")
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
        return StreamingResponse(self._cut(events, number, hold), media_type="text/event-stream")

    async def _cut(self, events: Any, number: int, hold: int | None) -> Any:
        sent, finished = 0, False
        try:
            async for event in events:
                if self.break_stream_after is not None and sent >= self.break_stream_after:
                    raise ConnectionAbortedError("fake upstream drops the stream")  # uvicorn closes the socket
                if sent == hold or (self.withhold_done and event == DONE):
                    self._note(f"hold {number}")
                    await asyncio.Event().wait()  # until the client leaves (Starlette then cancels the stream)
                sent += 1
                yield event
                if self.event_delay_s:
                    await asyncio.sleep(self.event_delay_s)
            finished = True
        finally:
            self._note(f"done {number}" if finished else f"gone {number}")

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
        yield DONE
