"""A recording pass-through in front of llama-server: what the server itself answered, call by call.

The benchmark's gateway records each model call's tokens from the upstream's ``usage``. To check that record
against something the gateway did not compute, the test puts this tap between the gateway and llama-server:
it forwards every request byte for byte and keeps, per exchange, what llama-server put on the wire: the
status, ``usage`` (llama-server's own prompt and completion token counts), ``timings`` (its own split of the
prompt into processed and cached tokens, and the tokens it predicted) and the finish reason.

It must not change what the gateway sees, and above all not when the gateway walks away: a one-slot server
frees its slot only when the client's connection closes, so a client that leaves (a trial ending inside a call,
the gateway cancelling it) closes the tap's upstream connection at once, before the upstream's headers as well
as during its body. A raw ASGI app does that: it races the upstream request against the client's
``http.disconnect``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

# The ASGI type aliases, spelled out to keep the tap free of a framework.
Scope = dict[str, Any]
Message = dict[str, Any]
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


@dataclass
class Exchange:
    """One request through the tap and what llama-server answered to it."""

    started_at: float  # Unix time the request reached the tap
    method: str
    path: str
    request: dict[str, Any] = field(default_factory=dict)  # the JSON body (chat requests only)
    ended_at: float | None = None
    status: int | None = None
    usage: dict[str, Any] | None = None
    timings: dict[str, Any] | None = None
    finish_reason: str | None = None
    error: str | None = None  # llama-server's error message, or why the tap could not reach it
    upstream_unreachable: bool = False  # the tap could not connect to llama-server / it dropped the connection
    client_closed: bool = False  # the gateway left before the whole answer had been relayed
    content: str = ""  # the reply's text, joined over a stream's deltas
    # The reply's tool calls by index, name and arguments joined over a stream's deltas.
    tool_calls: dict[int, dict[str, str]] = field(default_factory=dict)

    @property
    def is_chat(self) -> bool:
        return self.method == "POST" and self.path.endswith("/chat/completions")

    @property
    def max_tokens(self) -> int | None:
        value = self.request.get("max_completion_tokens", self.request.get("max_tokens"))
        return value if isinstance(value, int) else None


def _observe(exchange: Exchange, payload: Any) -> None:
    if not isinstance(payload, dict):
        return
    if isinstance(payload.get("usage"), dict):
        exchange.usage = payload["usage"]
    if isinstance(payload.get("timings"), dict):
        exchange.timings = payload["timings"]
    error = payload.get("error")
    if isinstance(error, dict):
        exchange.error = str(error.get("message", error))
    elif isinstance(error, str):
        exchange.error = error
    for choice in payload.get("choices") or []:
        if not isinstance(choice, dict):
            continue
        if choice.get("finish_reason"):
            exchange.finish_reason = str(choice["finish_reason"])
        message = choice.get("message") or choice.get("delta") or {}
        if not isinstance(message, dict):
            continue
        if isinstance(message.get("content"), str):
            exchange.content += message["content"]
        for position, call in enumerate(message.get("tool_calls") or []):
            if not isinstance(call, dict):
                continue
            function = call.get("function")
            function = function if isinstance(function, dict) else {}
            slot = exchange.tool_calls.setdefault(int(call.get("index", position)), {"name": "", "arguments": ""})
            slot["name"] += str(function.get("name") or "")
            slot["arguments"] += str(function.get("arguments") or "")


def _parse_body(exchange: Exchange, body: bytes, content_type: str) -> None:
    text = body.decode("utf-8", errors="replace")
    if content_type.startswith("text/event-stream"):
        for line in text.splitlines():
            if line.startswith("data:") and line[5:].strip() not in ("", "[DONE]"):
                with contextlib.suppress(ValueError):
                    _observe(exchange, json.loads(line[5:]))
        return
    with contextlib.suppress(ValueError):
        _observe(exchange, json.loads(text))
    if exchange.error is None and exchange.status is not None and exchange.status >= 400:
        exchange.error = text[:300]


class Tap:
    """An ASGI app forwarding everything to ``upstream`` (``http://127.0.0.1:PORT``) and recording it."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.exchanges: list[Exchange] = []
        self._lock = threading.Lock()

    def snapshot(self) -> list[Exchange]:
        with self._lock:
            return list(self.exchanges)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        exchange = Exchange(started_at=time.time(), method=scope["method"], path=scope["path"])
        if exchange.is_chat:
            with contextlib.suppress(ValueError):
                exchange.request = json.loads(body)
        with self._lock:
            self.exchanges.append(exchange)
        # After the request body, the only thing the client can still send is its disconnect.
        disconnected = asyncio.ensure_future(receive())
        try:
            await self._forward(scope, body, exchange, send, disconnected)
        finally:
            disconnected.cancel()
            exchange.ended_at = time.time()

    async def _forward(
        self, scope: Scope, body: bytes, exchange: Exchange, send: Any, gone: asyncio.Future[Any]
    ) -> None:
        query = scope["query_string"].decode()
        url = self.upstream + scope["path"] + (f"?{query}" if query else "")
        headers = [(k.decode(), v.decode()) for k, v in scope["headers"] if k.decode().lower() not in _HOP_BY_HOP]
        # No timeout of its own: the gateway's timeouts are under test, the tap only relays.
        async with httpx.AsyncClient(timeout=None) as client:
            request = client.build_request(scope["method"], url, headers=headers, content=body)
            answer = asyncio.ensure_future(client.send(request, stream=True))
            await asyncio.wait({answer, gone}, return_when=asyncio.FIRST_COMPLETED)
            if not answer.done():
                # The client left while llama-server was still working (a non-streamed reply's headers come
                # when generation ends): cancelling closes the connection, which is what stops llama-server.
                answer.cancel()
                exchange.client_closed = True
                with contextlib.suppress(BaseException):
                    await answer
                return
            try:
                response = answer.result()
            except httpx.HTTPError as exc:
                exchange.upstream_unreachable = True
                exchange.error = f"{exc.__class__.__name__}: {exc}"
                exchange.status = 502
                await send({"type": "http.response.start", "status": 502, "headers": []})
                await send({"type": "http.response.body", "body": exchange.error.encode()})
                return
            exchange.status = response.status_code
            content_type = response.headers.get("content-type", "")
            out_headers = [
                (k.encode(), v.encode()) for k, v in response.headers.items() if k.lower() not in _HOP_BY_HOP
            ]
            received = b""
            try:
                await send({"type": "http.response.start", "status": response.status_code, "headers": out_headers})
                chunks = response.aiter_raw()
                while True:
                    # Each read races the client's leaving: a server generating slowly (or holding) must see the
                    # connection close now, not when its next token happens to come.
                    read = asyncio.ensure_future(anext(chunks, None))
                    await asyncio.wait({read, gone}, return_when=asyncio.FIRST_COMPLETED)
                    if not read.done():
                        read.cancel()
                        exchange.client_closed = True
                        with contextlib.suppress(BaseException):
                            await read
                        break
                    chunk = read.result()
                    if chunk is None:
                        await send({"type": "http.response.body", "body": b""})
                        break
                    received += chunk
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            except httpx.HTTPError as exc:
                exchange.upstream_unreachable = True
                exchange.error = f"llama-server broke off its answer: {exc.__class__.__name__}: {exc}"
            except OSError:
                exchange.client_closed = True
            finally:
                await response.aclose()
                _parse_body(exchange, received, content_type)
