"""End to end: ``afbench serve --transport http --fault-plan FILE`` in a subprocess, the official SDK client.

Each kind hits the planned call of the planned trial once; ``session_expired`` gives the client HTTP 404 and a
client that initialises again goes on; two trials at once, only the planned one faulted; a WebSocket session
that expires is closed; the usage log (``afbench usage --trial``) shows every fault.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import websockets
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import McpError

from tests.servers import RunningServer, afbench, create_key, error_of, http_server

pytestmark = pytest.mark.e2e

CALC = {"expression": "6 * 7"}
PLAN = {
    "e2e-tool_unavailable": {"kind": "tool_unavailable", "tool": "calculator", "nth": 2},
    "e2e-tool_timeout": {"kind": "tool_timeout", "tool": "calculator", "nth": 2},
    "e2e-jsonrpc_error": {"kind": "jsonrpc_error", "tool": "calculator", "nth": 2},
    "e2e-oversized_result": {"kind": "oversized_result", "tool": "calculator", "nth": 2},
    "e2e-session_expired": {"kind": "session_expired", "tool": "calculator", "nth": 2},
    "concurrent-faulted": {"kind": "tool_unavailable", "nth": 3},
    "ws-expired": {"kind": "session_expired", "nth": 1},
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    folder = tmp_path_factory.mktemp("faults")
    plan = folder / "plan.json"
    plan.write_text(json.dumps(PLAN))
    with http_server(folder / "sessions.sqlite", "--fault-plan", str(plan)) as running:
        yield running


@pytest.fixture(scope="module")
def key(server: RunningServer) -> str:
    return create_key(server.db, "fault-user")


@asynccontextmanager
async def session(url: str, key: str, trial: str | None) -> AsyncIterator[tuple[ClientSession, httpx.AsyncClient]]:
    headers = {"Authorization": f"Bearer {key}"} | ({"X-Trial-Id": trial} if trial else {})
    async with (
        httpx.AsyncClient(headers=headers, timeout=30) as http,
        streamable_http_client(url, http_client=http) as (read, write, get_session_id),
        ClientSession(read, write) as client,
    ):
        await client.initialize()
        http.headers["mcp-session-id"] = get_session_id() or ""  # for the raw requests of the test
        yield client, http


def rows_of(server: RunningServer, trial: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(afbench("usage", "--trial", trial, "--json", db=server.db).stdout)
    return rows


async def call(client: ClientSession) -> str:
    """What one calculator call shows of a fault: an error code, 'rpc:<code>', 'padded' or 'ok'."""
    try:
        result = await client.call_tool("calculator", CALC)
    except McpError as exc:
        return f"rpc:{exc.error.code}"
    if result.isError:
        return str(error_of(result)["code"])
    assert result.structuredContent is not None and result.structuredContent["result"] == 42
    text = result.content[0].text  # type: ignore[union-attr]
    if len(text) > 100_000:
        decoded = json.loads(text)
        assert decoded["result"] == 42 and set(decoded["padding"]) == {" "} and 1_000_000 <= len(text) < 1_000_100
        return "padded"
    return "ok"


@pytest.mark.parametrize(
    ("kind", "shows"),
    [
        ("tool_unavailable", "unavailable"),
        ("tool_timeout", "timeout"),
        ("jsonrpc_error", "rpc:-32603"),
        ("oversized_result", "padded"),
    ],
)
async def test_each_kind_hits_the_second_call_only(server: RunningServer, key: str, kind: str, shows: str) -> None:
    trial = f"e2e-{kind}"
    async with session(server.mcp_url, key, trial) as (client, _):
        seen = [await call(client) for _ in range(4)]
        weather = await client.call_tool("weather", {"location": "Lisbon"})
        assert not weather.isError
    assert seen == ["ok", shows, "ok", "ok"]
    rows = rows_of(server, trial)
    assert [r["fault"] for r in rows] == [None, kind, None, None, None]
    assert rows[1]["outcome"] == ("ok" if kind == "oversized_result" else "error")
    listing = afbench("usage", "--trial", trial, db=server.db).stdout.splitlines()
    assert "fault" in listing[0].split() and sum(kind in line for line in listing) == 1


async def test_session_expired_answers_404_and_a_client_that_initialises_again_goes_on(
    server: RunningServer, key: str
) -> None:
    trial = "e2e-session_expired"
    async with session(server.mcp_url, key, trial) as (client, http):
        assert await call(client) == "ok"
        assert await call(client) == "ok"  # the faulted call: its result arrives, then the session is gone
        with pytest.raises(McpError) as raised:
            await client.call_tool("calculator", CALC)
        assert "Session terminated" in raised.value.error.message  # how the SDK reports the 404
        ping = {"jsonrpc": "2.0", "id": 9, "method": "ping"}
        response = await http.post(server.mcp_url, json=ping, headers=MCP_HEADERS)
        assert response.status_code == 404
        assert response.json() == {
            "jsonrpc": "2.0",
            "id": 9,
            "error": {"code": -32600, "message": "Session not found: initialize again"},
        }
        assert (await http.get(server.mcp_url, headers={"Accept": "text/event-stream"})).status_code == 404
    async with session(server.mcp_url, key, trial) as (again, _):
        assert [await call(again) for _ in range(2)] == ["ok", "ok"]
    rows = rows_of(server, trial)
    assert [r["fault"] for r in rows] == [None, "session_expired", None, None]
    assert len({r["mcp_session"] for r in rows[:2]}) == 1 and rows[2]["mcp_session"] != rows[0]["mcp_session"]


async def test_two_trials_at_once_only_the_planned_one_is_faulted(server: RunningServer, key: str) -> None:
    async with (
        session(server.mcp_url, key, "concurrent-faulted") as (faulted, _),
        session(server.mcp_url, key, "concurrent-clean") as (clean, _),
        session(server.mcp_url, key, None) as (anonymous, _),
    ):
        outcomes = await asyncio.gather(*(call(c) for _ in range(6) for c in (faulted, clean, anonymous)))
    assert outcomes[1::3] == ["ok"] * 6 and outcomes[2::3] == ["ok"] * 6
    assert sorted(outcomes[0::3]) == ["ok"] * 5 + ["unavailable"]
    faulted_rows = rows_of(server, "concurrent-faulted")
    assert [r["fault"] for r in faulted_rows] == [None, None, "tool_unavailable", None, None, None]
    assert all(r["fault"] is None for r in rows_of(server, "concurrent-clean"))


async def test_a_websocket_session_that_expires_is_closed_after_the_result(server: RunningServer, key: str) -> None:
    url = server.base_url.replace("http://", "ws://") + f"/t/ws-expired/ws?api_key={key}"
    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }
    async with websockets.connect(url, subprotocols=[websockets.Subprotocol("mcp")]) as ws:
        await ws.send(json.dumps(init))
        assert "result" in json.loads(await ws.recv())
        await ws.send(json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        call_message = {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "calculator", "arguments": CALC},
        }
        await ws.send(json.dumps(call_message))
        answer = json.loads(await ws.recv())
        assert answer["id"] == 2 and answer["result"]["structuredContent"]["result"] == 42
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), timeout=10)
        assert closed.value.rcvd is not None and (closed.value.rcvd.code, closed.value.rcvd.reason) == (
            1001,
            "session expired",
        )
    assert [r["fault"] for r in rows_of(server, "ws-expired")] == ["session_expired"]


async def test_the_server_still_serves_after_every_fault(server: RunningServer, key: str) -> None:
    async with session(server.mcp_url, key, "after-all") as (client, _):
        assert await call(client) == "ok"
    assert f"faults will be injected into {len(PLAN)} trial(s)" in "".join(server.log)
