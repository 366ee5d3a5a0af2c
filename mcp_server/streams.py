"""The stream transports, WebSocket and stdio: one connection is one MCP session, every message in passes
``jsonrpc.parse`` and the session guard before the SDK sees it, every message out gets the client's id back.

Ours rather than the SDK's: the ``mcp`` 1.x ones turn a malformed message into an "Internal Server Error" log
notification (even before ``initialize``) instead of a JSON-RPC error, drop the connection on a binary frame,
and 2.x has no WebSocket transport at all. A binary frame is read as UTF-8 JSON, like a text frame.

A WebSocket session that a ``session_expired`` fault ended (``faults.py``) is closed by the server (code
1001, reason ``session expired``) once the faulted call's result has been sent: a WebSocket has no session id
to answer 404 for, so losing the connection is how its client learns that it must initialise again. (The
close follows the first message sent once the fault has fired: on a connection with calls in parallel, another
call's answer sent in that instant can close it before the faulted call's result goes out.)
"""

from __future__ import annotations

import contextlib
import logging
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from mcp_server import jsonrpc, sdk
from mcp_server.gate import CALLER_STATE, Caller
from mcp_server.sdk import McpServer
from mcp_server.session_guard import Forward, Reply, SessionGuard
from mcp_server.store import KeyStore

log = logging.getLogger("afbench.streams")

SendText = Callable[[str], Awaitable[None]]


def guard_for(server: McpServer, store: KeyStore, caller: Caller) -> SessionGuard:
    """A session guard that also refuses every request once ``caller``'s key is revoked: these sessions
    outlive the check the gate made when they opened."""

    async def key_check() -> dict[str, Any] | None:
        revoked = await store.revocation(caller.key)
        return revoked.as_dict() if revoked is not None else None

    return SessionGuard(sdk.protocol(server), key_check=key_check)


async def serve_connection(
    server: McpServer,
    guard: SessionGuard,
    incoming: AsyncIterator[bytes | str],
    send_text: SendText,
    expired: Callable[[], bool] = lambda: False,
) -> bool:
    """Run one MCP session over a stream of messages until ``incoming`` ends, or until a message sent finds
    the session ``expired``; returns whether it expired."""
    ended = False
    (into_writer, into_reader), (out_writer, out_reader) = sdk.session_streams()
    lock = anyio.Lock()  # replies from the reader and the SDK's messages share the connection

    async def send(payload: dict[str, Any]) -> None:
        async with lock:
            await send_text(jsonrpc.encode(payload))

    async def pump_out() -> None:
        nonlocal ended
        async with out_reader:
            async for message in out_reader:
                await send(guard.restore(sdk.from_sdk(message)))
                if expired():
                    ended = True
                    tasks.cancel_scope.cancel()
                    return

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(sdk.run_session, server, into_reader, out_writer)
        tasks.start_soon(pump_out)
        async with into_writer:
            async for data in incoming:
                try:
                    admission = await guard.admit(jsonrpc.parse(data))
                except jsonrpc.WireError as exc:
                    await send(exc.response())
                    continue
                if isinstance(admission, Reply):
                    await send(admission.payload)
                elif isinstance(admission, Forward):
                    await into_writer.send(sdk.to_sdk(admission.payload))
        # The client is gone: the session ends with its read stream, in-flight handlers are cancelled.
    return ended


async def serve_websocket(
    server: McpServer,
    store: KeyStore,
    scope: Scope,
    receive: Receive,
    send: Send,
    is_expired: Callable[[str], bool] = lambda session_id: False,
) -> None:
    """One WebSocket connection (subprotocol ``mcp`` when offered); the gate has already admitted the caller.
    ``is_expired``: whether a fault has ended the session of this id."""
    caller: Caller = scope["state"][CALLER_STATE]
    websocket = WebSocket(scope, receive, send)
    offered = scope.get("subprotocols") or []
    await websocket.accept(subprotocol="mcp" if "mcp" in offered else None)

    async def incoming() -> AsyncIterator[bytes | str]:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            yield text if text is not None else (message.get("bytes") or b"")

    async def send_text(text: str) -> None:
        if websocket.application_state == WebSocketState.CONNECTED:
            try:
                await websocket.send_text(text)
            except (WebSocketDisconnect, RuntimeError, OSError):
                log.debug("websocket closed before a message could be sent")

    session_id = f"ws-{uuid.uuid4().hex}"
    sdk.CURRENT_CALLER.set(caller)
    sdk.CURRENT_SESSION.set(session_id)
    expired = await serve_connection(
        server, guard_for(server, store, caller), incoming(), send_text, lambda: is_expired(session_id)
    )
    if websocket.client_state == WebSocketState.CONNECTED and websocket.application_state == WebSocketState.CONNECTED:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
            code, reason = (1001, "session expired") if expired else (1000, None)
            await websocket.close(code, reason)


async def serve_stdio(server: McpServer, store: KeyStore, caller: Caller) -> None:
    """One session over stdin/stdout, a message per line (the MCP stdio transport)."""
    stdin = anyio.wrap_file(sys.stdin.buffer)
    stdout = anyio.wrap_file(sys.stdout.buffer)

    async def incoming() -> AsyncIterator[bytes | str]:
        async for line in stdin:
            if line.strip():
                yield line

    async def send_text(text: str) -> None:
        await stdout.write(text.encode("utf-8") + b"\n")
        await stdout.flush()

    sdk.CURRENT_CALLER.set(caller)
    sdk.CURRENT_SESSION.set(f"stdio-{uuid.uuid4().hex}")
    await serve_connection(server, guard_for(server, store, caller), incoming(), send_text)
