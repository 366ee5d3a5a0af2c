"""The HTTP face of the server: one ASGI app with streamable HTTP at ``/mcp``, WebSocket at ``/ws`` and
``GET /healthz``, behind the gate (Host/Origin checks, API keys, trial tagging)."""

from __future__ import annotations

import contextlib
import json
import logging
import signal
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from types import FrameType
from typing import Any

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from mcp_server import sdk
from mcp_server.gate import Gate, GateSettings
from mcp_server.http_front import HttpFront
from mcp_server.log_redaction import uvicorn_log_config
from mcp_server.runtime import Runtime
from mcp_server.streams import serve_websocket

log = logging.getLogger("afbench.http")

MAX_BODY_BYTES = 4 * 1024 * 1024


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (0: a free port) and already listening, so clients that connect as
    soon as the address is announced wait in the backlog instead of being refused."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    return sock


def uvicorn_config(app: ASGIApp, log_level: str) -> uvicorn.Config:
    """The uvicorn settings of every HTTP/WebSocket server here (``afbench serve`` and the load test's bare
    baseline, so that only the MCP layer differs between them)."""
    return uvicorn.Config(
        app,
        log_level=log_level,
        log_config=uvicorn_log_config(),
        ws="websockets-sansio",
        ws_max_size=MAX_BODY_BYTES,
        lifespan="on",
        timeout_graceful_shutdown=3,
    )


class StopRequest:
    """SIGINT/SIGTERM received while ``afbench serve --transport http`` runs: from before the server loads its
    tools to after it has closed the sessions database, a signal only asks the server to stop (the running
    uvicorn server, or the start-up that has not reached it yet), so Ctrl-C never lands as a
    KeyboardInterrupt in the middle of start-up or shutdown (which printed tracebacks and "Event loop is
    closed")."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self.server: uvicorn.Server | None = None

    def __call__(self, sig: int, frame: FrameType | None) -> None:
        self.signal = self.signal or sig
        if self.server is not None:
            self.server.handle_exit(sig, frame)  # a second Ctrl-C forces the exit, as uvicorn does

    @property
    def interrupted(self) -> bool:
        return self.signal == signal.SIGINT


@contextlib.contextmanager
def stop_signals() -> Iterator[StopRequest]:
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return
    original = {sig: signal.signal(sig, request) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield request
    finally:
        for sig, handler in original.items():
            signal.signal(sig, handler)


class QuietServer(uvicorn.Server):
    """uvicorn's server with its signals handled by :func:`stop_signals` for the whole life of the command:
    uvicorn's own handling installs itself only once serving starts, and re-raises the signal after a graceful
    shutdown, turning Ctrl-C into a KeyboardInterrupt while the sessions database is still being closed."""

    def __init__(self, config: uvicorn.Config, stop: StopRequest) -> None:
        super().__init__(config)
        stop.server = self
        self.should_exit = stop.signal is not None

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Router:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.manager = sdk.streamable_http_manager(runtime.server, MAX_BODY_BYTES)
        self.front = HttpFront(
            self.manager.handle_request,
            sdk.protocol(runtime.server),
            MAX_BODY_BYTES,
            sdk.SESSION_IDLE_TIMEOUT_S,
            runtime.dispatcher.faults.is_expired,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        path = scope["path"].rstrip("/") or "/"
        if scope["type"] == "websocket" and path == "/ws":
            faults = self.runtime.dispatcher.faults
            await serve_websocket(self.runtime.server, self.runtime.store, scope, receive, send, faults.is_expired)
        elif scope["type"] == "http" and path == "/mcp":
            await self.front(scope, receive, send)
        elif scope["type"] == "http" and path == "/healthz":
            await _json(send, 200, {"status": "ok", "tools": sorted(self.runtime.dispatcher.tools)})
        elif scope["type"] == "http":
            await _json(send, 404, {"error": {"code": "not_found", "message": f"no route {path}; MCP is at /mcp"}})
        else:
            await send({"type": "websocket.close", "code": 1008})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        message = await receive()
        assert message["type"] == "lifespan.startup"
        async with self._running():
            await send({"type": "lifespan.startup.complete"})
            message = await receive()
        await send({"type": "lifespan.shutdown.complete"})

    @contextlib.asynccontextmanager
    async def _running(self) -> AsyncIterator[None]:
        async with self.manager.run():
            yield


async def _json(send: Send, status: int, payload: dict[str, Any]) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": json.dumps(payload).encode()})


def build_http_app(runtime: Runtime, settings: GateSettings) -> Gate:
    return Gate(Router(runtime), runtime.store, settings, runtime.store.owner_key)
