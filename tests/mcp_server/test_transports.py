"""End to end: the real ``afbench serve`` process, the official SDK client, real sockets.

stdio, streamable HTTP and WebSocket each list tools, call every tool, read a resource and get a prompt.
Then the gate (keys, Origin, Host), quotas across connections and transports, trial tagging, and bad input
over the wire — after which the server must still serve.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import warnings
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

from tests.servers import RunningServer, afbench, create_key, error_of, http_server

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from mcp.client.websocket import websocket_client

pytestmark = pytest.mark.e2e

# One valid call per tool; a tool the server lists without an entry here fails the test.
TOOL_SAMPLES: dict[str, tuple[dict[str, Any], str]] = {
    "sql_schema": ({"question": "Which customer spent the most?"}, "customers"),
    "sql_query": ({"sql": "SELECT COUNT(*) AS n FROM customers"}, '"n"'),
    "text2sql": ({"question": "How many customers are there?"}, "not_configured"),  # no model configured
    "calculator": ({"expression": "6 * 7"}, "42"),
    "weather": ({"location": "Lisbon", "days": 2}, "Lisbon"),
    "rag_search": ({"query": "How many days of notice to end the services agreement?"}, "legal-"),
    "search": ({"query": "replace the battery in a Kestrel Beacon", "k": 3}, "Beacon"),
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with http_server(tmp_path_factory.mktemp("srv") / "sessions.sqlite") as running:
        yield running


@asynccontextmanager
async def http_session(url: str, key: str | None, trial: str | None = None) -> AsyncIterator[ClientSession]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    if trial:
        headers["X-Trial-Id"] = trial
    async with (
        httpx.AsyncClient(headers=headers, timeout=30) as http,
        streamable_http_client(url, http_client=http) as (read, write, _),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


@asynccontextmanager
async def ws_session(url: str, key: str) -> AsyncIterator[ClientSession]:
    async with websocket_client(f"{url}?api_key={key}") as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


async def exercise(session: ClientSession) -> None:
    """What an IDE does on connect, then one call of every tool."""
    listed = {tool.name for tool in (await session.list_tools()).tools}
    assert listed == set(TOOL_SAMPLES), f"add samples for: {listed - set(TOOL_SAMPLES)}"
    for name, (arguments, expected) in TOOL_SAMPLES.items():
        result = await session.call_tool(name, arguments)
        if expected == "not_configured":
            assert error_of(result)["code"] == expected
            continue
        assert not result.isError, result.content
        assert expected in json.dumps(result.structuredContent)
    resource = await session.read_resource("afbench://corpus/documents")  # type: ignore[arg-type]
    assert json.loads(resource.contents[0].text)["count"] > 0  # type: ignore[union-attr]
    schema = await session.read_resource("afbench://sql/schema")  # type: ignore[arg-type]
    assert "orders" in {t["name"] for t in json.loads(schema.contents[0].text)["tables"]}  # type: ignore[union-attr]
    prompt = await session.get_prompt("operational_agent")
    assert "calculator" in prompt.messages[0].content.text  # type: ignore[union-attr]


async def test_stdio(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite"
    key = create_key(db, "stdio-user")
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "mcp_server.cli", "serve", "--transport", "stdio", "--db", str(db)],
        env={**os.environ, "AFBENCH_API_KEY": key, "AFBENCH_TRIAL_ID": "stdio-trial"},
    )
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        await exercise(session)
    rows = json.loads(afbench("usage", "--trial", "stdio-trial", "--json", db=db).stdout)
    assert [r["tool"] for r in rows] == list(TOOL_SAMPLES)
    assert {r["key"] for r in rows} == {"stdio-user"} and {r["transport"] for r in rows} == {"stdio"}


async def test_stdio_without_key_runs_as_local_owner(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite"
    env = {k: v for k, v in os.environ.items() if k != "AFBENCH_API_KEY"}
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "mcp_server.cli", "serve", "--db", str(db)], env=env
    )
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        assert not (await session.call_tool("calculator", {"expression": "1+1"})).isError
    rows = json.loads(afbench("usage", "--json", db=db).stdout)
    assert [r["key"] for r in rows] == ["local-owner"]


async def test_streamable_http(server: RunningServer) -> None:
    async with http_session(server.mcp_url, create_key(server.db, "http-user")) as session:
        await exercise(session)


async def test_websocket(server: RunningServer) -> None:
    async with ws_session(server.ws_url, create_key(server.db, "ws-user")) as session:
        await exercise(session)


def test_healthz(server: RunningServer) -> None:
    response = httpx.get(f"{server.base_url}/healthz")
    assert response.status_code == 200 and response.json()["status"] == "ok"


def test_missing_unknown_and_revoked_keys_get_401(server: RunningServer) -> None:
    assert httpx.post(server.mcp_url, json=INIT, headers=MCP_HEADERS).status_code == 401
    bad = httpx.post(server.mcp_url, json=INIT, headers=MCP_HEADERS | {"X-API-Key": "afb_nope"})
    assert bad.status_code == 401 and bad.json()["error"]["code"] == "unauthorized"
    key = create_key(server.db, "soon-revoked")
    assert httpx.post(server.mcp_url, json=INIT, headers=MCP_HEADERS | {"X-API-Key": key}).status_code == 200
    afbench("keys", "revoke", "soon-revoked", db=server.db)
    assert httpx.post(server.mcp_url, json=INIT, headers=MCP_HEADERS | {"X-API-Key": key}).status_code == 401


async def test_websocket_without_key_is_refused_before_the_handshake(server: RunningServer) -> None:
    with pytest.raises(websockets.exceptions.InvalidStatus) as caught:
        async with websockets.connect(server.ws_url, subprotocols=["mcp"]):  # type: ignore[list-item]
            pass
    assert caught.value.response.status_code == 401


def test_bad_origin_and_host_get_403(server: RunningServer) -> None:
    key = create_key(server.db, "origin-user")
    evil = httpx.post(
        server.mcp_url, json=INIT, headers=MCP_HEADERS | {"X-API-Key": key, "Origin": "https://evil.example"}
    )
    assert evil.status_code == 403 and "Origin" in evil.json()["error"]["message"]
    rebound = httpx.post(
        server.mcp_url, json=INIT, headers=MCP_HEADERS | {"X-API-Key": key, "Host": "attacker.example"}
    )
    assert rebound.status_code == 403
    own_origin = MCP_HEADERS | {"X-API-Key": key, "Origin": server.base_url}
    assert httpx.post(server.mcp_url, json=INIT, headers=own_origin).status_code == 200


async def test_quota_holds_across_connections_and_transports(server: RunningServer) -> None:
    key = create_key(server.db, "quota-20", "--per-day", "20")
    async with (
        http_session(server.mcp_url, key) as h1,
        http_session(server.mcp_url, key) as h2,
        ws_session(server.ws_url, key) as w1,
        ws_session(server.ws_url, key) as w2,
    ):
        sessions = [h1, h2, w1, w2]
        calls = [sessions[i % 4].call_tool("calculator", {"expression": f"{i} + 1"}) for i in range(120)]
        results = await asyncio.gather(*calls)
    executed = [r for r in results if not r.isError]
    refused = [r for r in results if r.isError]
    assert len(executed) == 20 and len(refused) == 100
    assert {error_of(r)["code"] for r in refused} == {"quota_exceeded"}
    rows = json.loads(afbench("usage", "--key", "quota-20", "--json", db=server.db).stdout)
    assert len(rows) == 20 and {r["outcome"] for r in rows} == {"ok"}


async def test_trial_ids_from_header_and_path_prefix(server: RunningServer) -> None:
    key = create_key(server.db, "trial-user")
    async with http_session(server.mcp_url, key, trial="trial-h") as session:
        await session.call_tool("calculator", {"expression": "1+1"})
        await session.call_tool("search", {"query": "git undo commit"})
    async with http_session(f"{server.base_url}/t/trial-p/mcp", key) as session:
        await session.call_tool("calculator", {"expression": "3*3"})
    header_rows = json.loads(afbench("usage", "--trial", "trial-h", "--json", db=server.db).stdout)
    assert [(r["tool"], r["arguments"]) for r in header_rows] == [
        ("calculator", {"expression": "1+1"}),
        ("search", {"query": "git undo commit"}),
    ]
    path_rows = json.loads(afbench("usage", "--trial", "trial-p", "--json", db=server.db).stdout)
    assert [r["arguments"] for r in path_rows] == [{"expression": "3*3"}]
    async with httpx.AsyncClient() as client:
        bad = await client.post(
            server.mcp_url, json=INIT, headers=MCP_HEADERS | {"X-API-Key": key, "X-Trial-Id": "../x"}
        )
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_trial_id"


async def test_bad_input_over_the_wire_leaves_the_server_serving(server: RunningServer) -> None:
    key = create_key(server.db, "fuzzer")
    headers = MCP_HEADERS | {"X-API-Key": key}
    async with httpx.AsyncClient(timeout=30) as client:
        malformed = await client.post(server.mcp_url, content=b"{not json", headers=headers)
        assert malformed.status_code == 400 and "Parse error" in malformed.text
        wrong_shape = await client.post(server.mcp_url, json={"jsonrpc": "2.0", "method": 5}, headers=headers)
        assert wrong_shape.status_code == 400
        huge = await client.post(server.mcp_url, content=b"x" * (10 * 1024 * 1024), headers=headers)
        assert huge.status_code == 413
    async with websockets.connect(f"{server.ws_url}?api_key={key}", subprotocols=["mcp"], max_size=None) as ws:  # type: ignore[list-item]
        await ws.send("x" * (10 * 1024 * 1024))
        with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009  # message too big
    async with ws_session(server.ws_url, key) as session:
        result = await session.call_tool("calculator", {"expression": [1, 2]})  # type: ignore[dict-item]
        assert "valid string" in error_of(result)["message"]
    async with http_session(server.mcp_url, key) as session:
        assert (await session.call_tool("calculator", {"expression": "2+2"})).structuredContent["result"] == 4  # type: ignore[index]
    assert server.process.poll() is None


def test_no_auth_is_refused_off_loopback(tmp_path: Path) -> None:
    result = subprocess_serve(tmp_path, "--host", "0.0.0.0", "--no-auth")
    assert result.returncode == 2 and "loopback" in result.stderr


async def test_no_auth_on_loopback_needs_no_key(tmp_path: Path) -> None:
    with http_server(tmp_path / "s.sqlite", "--no-auth") as running:
        assert any("authentication is off" in line for line in running.log)
        async with http_session(running.mcp_url, None) as session:
            assert not (await session.call_tool("calculator", {"expression": "1"})).isError


def subprocess_serve(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mcp_server.cli",
            "serve",
            "--transport",
            "http",
            "--port",
            "0",
            "--db",
            str(tmp_path / "s.sqlite"),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
