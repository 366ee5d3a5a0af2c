"""Raw MCP clients for hostile-input tests: they send exactly the bytes given (no SDK in between, so nothing
is validated or repaired on the way) over streamable HTTP, WebSocket or stdio, and return every JSON-RPC
message the server sends back.

``exchange(data, expect_id)`` is the one operation: send one message, then collect the server's answers —
the response with ``expect_id`` when one is due, or, when none is (a notification, or an error without an
id), everything up to the answer to a sentinel ``ping`` sent right behind it (the server answers a message
that fails the envelope check before it reads the next one).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
import websockets

INIT_PARAMS = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}
ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
_SENTINELS = itertools.count(1)
REPLY_TIMEOUT_S = 15.0


@dataclass
class Answer:
    """What the server sent back for one message."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    http_status: int | None = None  # HTTP only

    def only(self) -> dict[str, Any]:
        assert len(self.messages) == 1, self.messages
        return self.messages[0]


class RawClient(Protocol):
    transport: str

    async def exchange(self, data: bytes | str, expect_id: Any = None, *, binary: bool = False) -> Answer: ...

    async def initialize(self) -> None: ...


def request(method: str, request_id: Any, params: dict[str, Any] | None = None) -> str:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
    if params is not None:
        message["params"] = params
    return json.dumps(message)


def _sentinel() -> str:
    return f"sentinel-{next(_SENTINELS)}"


def parse_sse(text: str) -> list[dict[str, Any]]:
    return [json.loads(line[5:].strip()) for line in text.splitlines() if line.startswith("data:") and line[5:].strip()]


class HttpRaw:
    transport = "http"

    def __init__(self, url: str, headers: dict[str, str] | None = None) -> None:
        self.url = url
        self.http = httpx.AsyncClient(headers=ACCEPT | (headers or {}), timeout=REPLY_TIMEOUT_S)
        self.session_id: str | None = None

    async def initialize(self) -> None:
        response = await self.http.post(self.url, content=request("initialize", 0, INIT_PARAMS))
        assert response.status_code == 200, response.text
        self.session_id = response.headers["mcp-session-id"]
        await self.http.post(
            self.url, content='{"jsonrpc":"2.0","method":"notifications/initialized"}', headers=self._session()
        )

    def _session(self) -> dict[str, str]:
        return {"mcp-session-id": self.session_id} if self.session_id else {}

    async def exchange(self, data: bytes | str, expect_id: Any = None, *, binary: bool = False) -> Answer:
        body = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
        response = await self.http.post(self.url, content=body, headers=self._session())
        text = response.text
        if response.headers.get("content-type", "").startswith("text/event-stream"):
            messages = parse_sse(text)
        else:
            messages = [json.loads(text)] if text.strip() else []
        return Answer(messages, response.status_code)

    async def close(self) -> None:
        await self.http.aclose()


class _StreamRaw:
    """Shared by WebSocket and stdio: one ordered stream of messages from the server."""

    transport = "stream"

    def __init__(self) -> None:
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def _send(self, data: bytes | str, binary: bool) -> None:
        raise NotImplementedError

    async def initialize(self) -> None:
        answer = await self.exchange(request("initialize", 0, INIT_PARAMS), 0)
        assert "result" in answer.only(), answer
        await self._send('{"jsonrpc":"2.0","method":"notifications/initialized"}', False)

    async def exchange(self, data: bytes | str, expect_id: Any = None, *, binary: bool = False) -> Answer:
        await self._send(data, binary)
        answer = Answer()
        if expect_id is None:
            sentinel = _sentinel()
            await self._send(request("ping", sentinel), False)
            while True:
                message = await asyncio.wait_for(self.inbox.get(), REPLY_TIMEOUT_S)
                if message.get("id") == sentinel:
                    return answer
                answer.messages.append(message)
        while True:
            message = await asyncio.wait_for(self.inbox.get(), REPLY_TIMEOUT_S)
            answer.messages.append(message)
            if _same_id(message.get("id"), expect_id) and "method" not in message:
                return answer


def _same_id(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


class WebSocketRaw(_StreamRaw):
    transport = "websocket"

    def __init__(self, connection: Any) -> None:
        super().__init__()
        self.connection = connection
        self.close_code: int | None = None
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for frame in self.connection:
                await self.inbox.put(json.loads(frame))
        except websockets.exceptions.ConnectionClosed as exc:
            self.close_code = exc.rcvd.code if exc.rcvd else 1006
        if self.close_code is None and self.connection.close_code is not None:
            self.close_code = self.connection.close_code

    async def _send(self, data: bytes | str, binary: bool) -> None:
        raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
        if not binary:
            try:
                await self.connection.send(raw.decode("utf-8"))  # a text frame
                return
            except UnicodeDecodeError:
                pass  # a text frame must be UTF-8: invalid bytes can only travel as a binary frame
        await self.connection.send(raw)


class StdioRaw(_StreamRaw):
    transport = "stdio"

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        super().__init__()
        self.process = process
        self.stderr: list[str] = []
        self._reader = asyncio.create_task(self._read())
        self._drain = asyncio.create_task(self._drain_stderr())

    async def _read(self) -> None:
        assert self.process.stdout is not None
        while line := await self.process.stdout.readline():
            await self.inbox.put(json.loads(line))

    async def _drain_stderr(self) -> None:
        assert self.process.stderr is not None
        while line := await self.process.stderr.readline():
            self.stderr.append(line.decode("utf-8", "replace"))

    async def _send(self, data: bytes | str, binary: bool) -> None:
        assert self.process.stdin is not None
        raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
        self.process.stdin.write(raw.replace(b"\n", b" ") + b"\n")
        await self.process.stdin.drain()


@asynccontextmanager
async def http_raw(
    url: str, headers: dict[str, str] | None = None, *, initialize: bool = True
) -> AsyncIterator[HttpRaw]:
    client = HttpRaw(url, headers)
    try:
        if initialize:
            await client.initialize()
        yield client
    finally:
        await client.close()


@asynccontextmanager
async def websocket_raw(url: str, *, initialize: bool = True) -> AsyncIterator[WebSocketRaw]:
    async with websockets.connect(url, subprotocols=["mcp"], max_size=None) as connection:  # type: ignore[list-item]
        client = WebSocketRaw(connection)
        if initialize:
            await client.initialize()
        yield client


@asynccontextmanager
async def stdio_raw(db: Path, *, initialize: bool = True, env: dict[str, str] | None = None) -> AsyncIterator[StdioRaw]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mcp_server.cli",
        "serve",
        "--transport",
        "stdio",
        "--db",
        str(db),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=dict(os.environ, HF_HUB_OFFLINE="1", **(env or {})),
        limit=16 * 1024 * 1024,
    )
    client = StdioRaw(process)
    try:
        if initialize:
            await client.initialize()
        yield client
    finally:
        assert process.stdin is not None
        process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()
        await client._drain
