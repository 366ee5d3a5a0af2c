"""Streamable HTTP at ``/mcp``: every POSTed message passes ``jsonrpc.parse`` and its session's guard before
the SDK's session manager sees it, and every message the SDK answers with gets the client's id back.

What the ``mcp`` 1.x transport gets wrong on its own, and this module answers instead: invalid UTF-8, an
over-long integer id or deep nesting (HTTP 500 and a traceback there; ``-32700`` / ``-32600`` here), a bad
envelope or a batch (``-32602`` with id ``"server-error"`` there; ``-32600`` with id ``null`` here), ids of
the wrong type (202 and silence there), and ``7`` beside ``"7"`` (one never answered there: it keys
requests by ``str(id)``). GET (the server's event stream) and DELETE pass through unchanged.

A session that a ``session_expired`` fault ended (``faults.py``) answers every later request with HTTP 404,
as the specification says for a session the server no longer has; the SDK's session is ended too (by a
DELETE forwarded for it) once the POST whose call expired it has been answered.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.types import Message, Receive, Scope, Send

from mcp_server import jsonrpc
from mcp_server.jsonrpc import Id
from mcp_server.session_guard import Forward, Protocol, Reply, SessionGuard

log = logging.getLogger("afbench.http")

SESSION_HEADER = b"mcp-session-id"
SSEApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass
class _Session:
    guard: SessionGuard
    used: float = field(default_factory=time.monotonic)


class HttpFront:
    def __init__(
        self,
        manager_app: SSEApp,
        protocol: Protocol,
        max_body_bytes: int,
        session_idle_timeout_s: float,
        is_expired: Callable[[str], bool] = lambda session_id: False,
    ) -> None:
        self.manager_app = manager_app
        self.protocol = protocol
        self.max_body_bytes = max_body_bytes
        self.idle_timeout_s = session_idle_timeout_s
        self.is_expired = is_expired
        self._sessions: dict[str, _Session] = {}
        self._opened_since_prune = 0
        self._ended: set[str] = set()  # expired sessions whose SDK session has been ended

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        session_id = _header(scope, SESSION_HEADER)
        if session_id is not None and self.is_expired(session_id):
            await self._expired(scope, receive, send)
            return
        if scope["method"] != "POST":
            status = await _status_of(self.manager_app, scope, receive, send)
            if scope["method"] == "DELETE" and session_id is not None and status is not None and status < 300:
                self._sessions.pop(session_id, None)
            return
        body = await _read_body(receive, self.max_body_bytes)
        if body is None:
            error = jsonrpc.error_response(
                None, jsonrpc.INVALID_REQUEST, f"Invalid Request: the body exceeds {self.max_body_bytes} bytes"
            )
            await _send_json(send, 413, error)
            return
        try:
            message = jsonrpc.parse(body)
        except jsonrpc.WireError as exc:
            await _send_json(send, 400, exc.response())
            return
        guard, known = self._guard(session_id, message)
        if guard is None:
            error = jsonrpc.error_response(
                message.id if message.kind == "request" else None,
                jsonrpc.INVALID_REQUEST,
                "Bad Request: no Mcp-Session-Id header; send initialize first to open a session",
            )
            await _send_json(send, 400, error)
            return
        admission = await guard.admit(message)
        if isinstance(admission, Reply):
            await _send_json(send, 200, admission.payload)
            return
        if not isinstance(admission, Forward):
            await _send_json(send, 202, None)  # a notification with nothing to do
            return
        rewriter = await self._forward(scope, receive, send, guard, message, admission.payload)
        if session_id is not None and self.is_expired(session_id) and session_id not in self._ended:
            await self._end_sdk_session(scope, session_id)
            return
        if rewriter.status is None or rewriter.status >= 300:
            return
        if message.kind == "request" and message.method == "initialize" and rewriter.session_id is not None:
            guard.initialized = True
            self._remember(rewriter.session_id, guard)
        elif session_id is not None and not known:
            self._remember(session_id, guard)  # the SDK knows the session: keep its guard from now on

    async def _expired(self, scope: Scope, receive: Receive, send: Send) -> None:
        """HTTP 404 for a request on an expired session, with the request's id when it is one."""
        request_id: Id | None = None
        if scope["method"] == "POST":
            body = await _read_body(receive, self.max_body_bytes)
            try:
                message = jsonrpc.parse(body) if body else None
            except jsonrpc.WireError:
                message = None
            request_id = message.id if message is not None and message.kind == "request" else None
        error = jsonrpc.error_response(request_id, jsonrpc.INVALID_REQUEST, "Session not found: initialize again")
        await _send_json(send, 404, error)

    async def _end_sdk_session(self, scope: Scope, session_id: str) -> None:
        """End the SDK's side of an expired session (its streams, its task) with a DELETE, as a client would."""
        self._ended.add(session_id)
        self._sessions.pop(session_id, None)
        headers = [(k, v) for k, v in scope["headers"] if k not in (b"content-length", b"content-type")]

        async def no_body() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def discard(message: Message) -> None:
            return None

        await self.manager_app(dict(scope, method="DELETE", headers=headers), no_body, discard)

    def _guard(self, session_id: str | None, message: jsonrpc.Message) -> tuple[SessionGuard | None, bool]:
        """The session's guard, and whether this front already keeps it."""
        if session_id is None:
            opening = message.kind == "request" and message.method == "initialize"
            return (SessionGuard(self.protocol) if opening else None), False
        entry = self._sessions.get(session_id)
        if entry is None:
            # A session this front has not seen (or has pruned): if the SDK knows it, it is past initialize;
            # it is kept only once the SDK has answered for it, so made-up session ids cost no memory.
            return SessionGuard(self.protocol, initialized=True), False
        entry.used = time.monotonic()
        return entry.guard, True

    def _remember(self, session_id: str, guard: SessionGuard) -> _Session:
        self._opened_since_prune += 1
        if self._opened_since_prune >= 256:
            self._opened_since_prune = 0
            cutoff = time.monotonic() - self.idle_timeout_s
            for stale in [sid for sid, s in self._sessions.items() if s.used < cutoff and not s.guard.in_flight]:
                del self._sessions[stale]
        entry = self._sessions[session_id] = _Session(guard)
        return entry

    async def _forward(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        guard: SessionGuard,
        message: jsonrpc.Message,
        payload: dict[str, Any],
    ) -> _ResponseRewriter:
        body = jsonrpc.encode(payload).encode("utf-8")
        headers = [(k, v) for k, v in scope["headers"] if k != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        client_id = message.id if message.kind == "request" else None
        rewriter = _ResponseRewriter(send, guard, client_id)
        try:
            await self.manager_app(dict(scope, headers=headers), replay, rewriter.send)
        finally:
            if message.kind == "request":
                guard.forget(payload["id"])  # answered (restore popped it) or never will be
        return rewriter


class _ResponseRewriter:
    """Wraps ``send`` for one forwarded POST: the SDK's answer gets the client's id; an SDK error without one
    (``"id": "server-error"``) gets the request's id, or ``null``."""

    def __init__(self, send: Send, guard: SessionGuard, client_id: Id | None) -> None:
        self._send = send
        self._guard = guard
        self._client_id = client_id
        self._start: Message | None = None
        self._json_body = b""
        self._sse_tail = b""
        self.status: int | None = None
        self.session_id: str | None = None
        self.streaming = False

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            headers = dict(message.get("headers") or [])
            session = headers.get(SESSION_HEADER)
            self.session_id = session.decode("latin-1") if session else None
            self.streaming = headers.get(b"content-type", b"").startswith(b"text/event-stream")
            if self.streaming:
                await self._send(message)
            else:
                self._start = message  # held until the body is known: its length changes
            return
        if message["type"] != "http.response.body":
            await self._send(message)
            return
        more = message.get("more_body", False)
        if self.streaming:
            data = self._sse_tail + message.get("body", b"")
            complete, _, self._sse_tail = data.rpartition(b"\n")
            out = self._rewrite_sse(complete + b"\n") if complete or data.endswith(b"\n") else b""
            if not more and self._sse_tail:
                out += self._sse_tail
                self._sse_tail = b""
            await self._send({"type": "http.response.body", "body": out, "more_body": more})
            return
        self._json_body += message.get("body", b"")
        if more:
            return
        body = self._rewrite_json(self._json_body)
        assert self._start is not None
        kept = [(k, v) for k, v in self._start.get("headers") or [] if k != b"content-length"]
        kept.append((b"content-length", str(len(body)).encode()))
        await self._send(dict(self._start, headers=kept))
        await self._send({"type": "http.response.body", "body": body, "more_body": False})

    def _restore(self, payload: Any) -> Any:
        if not isinstance(payload, dict):
            return payload
        if payload.get("id") == "server-error" and ("error" in payload):
            return dict(payload, id=self._client_id)
        return self._guard.restore(payload)

    def _rewrite_json(self, body: bytes) -> bytes:
        if not body:
            return body
        try:
            payload = json.loads(body)
        except ValueError:
            return body
        return jsonrpc.encode(self._restore(payload)).encode("utf-8")

    def _rewrite_sse(self, chunk: bytes) -> bytes:
        lines = chunk.split(b"\n")
        for i, line in enumerate(lines):
            if line.startswith(b"data:"):
                ending = b"\r" if line.endswith(b"\r") else b""
                text = line[5:].rstrip(b"\r").lstrip(b" ")
                try:
                    payload = json.loads(text)
                except ValueError:
                    continue
                lines[i] = b"data: " + jsonrpc.encode(self._restore(payload)).encode("utf-8") + ending
        return b"\n".join(lines)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole request body, or None once it exceeds ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b""
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _status_of(app: SSEApp, scope: Scope, receive: Receive, send: Send) -> int | None:
    status: int | None = None

    async def watch(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        await send(message)

    await app(scope, receive, watch)
    return status


async def _send_json(send: Send, status: int, payload: dict[str, Any] | None) -> None:
    body = b"" if payload is None else jsonrpc.encode(payload).encode("utf-8")
    headers = [(b"content-length", str(len(body)).encode())]
    if payload is not None:
        headers.append((b"content-type", b"application/json"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})
