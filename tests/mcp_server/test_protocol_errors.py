"""End to end, as an attacker or a careless client: the real server process, raw bytes over a real socket or
pipe, and the error codes the JSON-RPC 2.0 and MCP specifications name — on streamable HTTP, WebSocket and
stdio alike. Each test is one defect found by the attack round (issue 10); each failed before the fix.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.mcp_server.raw_clients import ACCEPT, INIT_PARAMS, RawClient, http_raw, request, stdio_raw, websocket_raw
from tests.servers import RunningServer, afbench, create_key, http_server

pytestmark = pytest.mark.e2e

TRANSPORTS = ["http", "websocket", "stdio"]
PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS = -32700, -32600, -32601, -32602
RESOURCE_NOT_FOUND, KEY_REVOKED = -32002, -32001

Connect = Callable[..., AbstractAsyncContextManager[RawClient]]
KEY_NUMBERS = itertools.count(1)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with http_server(tmp_path_factory.mktemp("protocol") / "sessions.sqlite", "--log-level", "info") as running:
        yield running


@pytest.fixture
def connect(server: RunningServer, request: pytest.FixtureRequest) -> Connect:
    """``connect(key=None, initialize=True)``: a raw client of the parametrised transport; a new key each time."""
    transport = request.param

    def opener(key: str | None = None, *, initialize: bool = True) -> AbstractAsyncContextManager[RawClient]:
        key = key or create_key(server.db, f"{transport}-{next(KEY_NUMBERS)}")
        if transport == "http":
            return http_raw(server.mcp_url, {"Authorization": f"Bearer {key}"}, initialize=initialize)
        if transport == "websocket":
            return websocket_raw(f"{server.ws_url}?api_key={key}", initialize=initialize)
        return stdio_raw(server.db, initialize=initialize, env={"AFBENCH_API_KEY": key})

    return opener


def error_of(answer_message: dict[str, Any]) -> dict[str, Any]:
    assert "error" in answer_message, answer_message
    error: dict[str, Any] = answer_message["error"]
    return error


def tool_error(message: dict[str, Any]) -> dict[str, Any]:
    result = message["result"]
    assert result["isError"], result
    payload: dict[str, Any] = json.loads(result["content"][0]["text"])["error"]
    return payload


def no_traceback(server: RunningServer) -> None:
    log = "".join(server.log)
    assert "Traceback" not in log and "Exception in ASGI" not in log, log[-3000:]


by_transport = pytest.mark.parametrize("connect", TRANSPORTS, indirect=True)


@by_transport
async def test_prompt_names_are_looked_up_never_opened(connect: Connect, server: RunningServer) -> None:
    async with connect() as client:
        answers = {}
        for i, name in enumerate(["../../README", "../../NO_SUCH_FILE", "/etc/passwd", "legal_expert/../legal_expert"]):
            answer = (await client.exchange(request("prompts/get", i, {"name": name}), i)).only()
            error = error_of(answer)
            assert error["code"] == INVALID_PARAMS and "unknown prompt" in error["message"]
            answers[name] = error["message"].replace(repr(name), "NAME")
        # An existing file and a missing one get the same answer: nothing can be learnt about the disk.
        assert len(set(answers.values())) == 1, answers
        ok = (await client.exchange(request("prompts/get", 9, {"name": "legal_expert"}), 9)).only()
        assert "legal expert" in ok["result"]["messages"][0]["content"]["text"]
    no_traceback(server)


@by_transport
async def test_unknown_names_and_methods_get_the_codes_the_specification_names(connect: Connect) -> None:
    async with connect() as client:
        resource = (await client.exchange(request("resources/read", 1, {"uri": "afbench://nope"}), 1)).only()
        assert (
            error_of(resource)["code"] == RESOURCE_NOT_FOUND and "afbench://sql/schema" in resource["error"]["message"]
        )
        method = (await client.exchange(request("tools/destroy", 2), 2)).only()
        assert error_of(method)["code"] == METHOD_NOT_FOUND and "tools/destroy" in method["error"]["message"]
        # Declared nowhere in our capabilities: logging, completions, subscriptions.
        unsupported = (await client.exchange(request("logging/setLevel", 3, {"level": "debug"}), 3)).only()
        assert error_of(unsupported)["code"] == METHOD_NOT_FOUND
        cursor = (await client.exchange(request("tools/list", 4, {"cursor": "garbage"}), 4)).only()
        assert error_of(cursor)["code"] == INVALID_PARAMS and "cursor" in cursor["error"]["message"]
        wrong_type = (await client.exchange(request("tools/call", 5, {"name": 42}), 5)).only()
        assert error_of(wrong_type)["code"] == INVALID_PARAMS and "params.name" in wrong_type["error"]["message"]
        listed = (await client.exchange(request("tools/list", 6, {"cursor": None}), 6)).only()
        assert len(listed["result"]["tools"]) == 7


# (message, words of the error, the id the error must carry)
BAD_ENVELOPES: list[tuple[str, str, int | None]] = [
    ('[{"jsonrpc":"2.0","id":1,"method":"ping"}]', "batches", None),
    ('{"jsonrpc":"2.0","id":null,"method":"ping"}', "null", None),
    ('{"jsonrpc":"2.0","id":1.5,"method":"ping"}', "fraction", None),
    ('{"jsonrpc":"2.0","id":true,"method":"ping"}', "boolean", None),
    ('{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}', "object", None),
    ('{"jsonrpc":"2.0","id":[1],"method":"ping"}', "array", None),
    ('{"jsonrpc":"2.0","id":"\\ud800","method":"ping"}', "surrogate", None),
    ('{"id":1,"method":"ping"}', '"2.0"', 1),
    ('"ping"', "JSON object", None),
    ('{"jsonrpc":"2.0","id":1}', "method", 1),
]


@by_transport
async def test_a_bad_envelope_gets_invalid_request(connect: Connect, server: RunningServer) -> None:
    async with connect() as client:  # one session for them all: each bad message leaves it serving
        for body, why, echoed in BAD_ENVELOPES:
            answer = await client.exchange(body)
            error = error_of(answer.only())
            assert error["code"] == INVALID_REQUEST and why in error["message"], (body, error)
            assert answer.only()["id"] == echoed, (body, answer.only())
            if client.transport == "http":
                assert answer.http_status == 400, body
            assert "result" in (await client.exchange(request("ping", "after"), "after")).only()
    no_traceback(server)


HOSTILE_BYTES: list[tuple[bytes, int, str]] = [
    (b'{"jsonrpc":"2.0","id":1,"method":"ping"\xff}', PARSE_ERROR, "UTF-8"),
    (b"\xc3\x28", PARSE_ERROR, "UTF-8"),
    (b'{"jsonrpc":"2.0","id":' + b"7" * 5000 + b',"method":"ping"}', PARSE_ERROR, "digits"),
    (b'{"jsonrpc":"2.0","id":' + b"7" * 40 + b',"method":"ping"}', INVALID_REQUEST, "digits"),
    (
        b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"a":' + b"[" * 50_000 + b"]" * 50_000 + b"}}",
        PARSE_ERROR,
        "nest",
    ),
    (b'{"jsonrpc":"2.0","id":1,"method":"ping","params":' + b"[" * 200 + b"]" * 200 + b"}", PARSE_ERROR, "nest"),
    (b'{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"x":NaN}}', PARSE_ERROR, "NaN"),
    (b"{not json", PARSE_ERROR, "Parse error"),
]


@by_transport
async def test_hostile_bytes_get_a_parse_error_not_a_traceback(connect: Connect, server: RunningServer) -> None:
    async with connect() as client:
        for body, code, why in HOSTILE_BYTES:
            answer = await client.exchange(body, binary=True)
            error = error_of(answer.only())
            assert error["code"] == code and why in error["message"], (body[:60], error)
            assert answer.only()["id"] is None
            if client.transport == "http":
                assert answer.http_status == 400, body[:60]
            assert "result" in (await client.exchange(request("ping", 2), 2)).only()
    no_traceback(server)


@by_transport
async def test_ids_seven_and_string_seven_in_flight_at_once_each_get_their_own_answer(connect: Connect) -> None:
    async with connect() as client:
        calls = [
            (7, "6 * 7", 42),
            ("7", "2 + 2", 4),
            (9, "10 - 1", 9),
            (9, "3 * 3 * 3", 27),  # a duplicate id: not allowed by MCP, still answered, each its own
        ]
        bodies = [request("tools/call", i, {"name": "calculator", "arguments": {"expression": e}}) for i, e, _ in calls]
        if client.transport == "http":
            answers = await asyncio.gather(*(client.exchange(b, i) for b, (i, _, _) in zip(bodies, calls, strict=True)))
            messages = [a.only() for a in answers]
        else:
            sender: Any = client
            for body in bodies:
                await sender._send(body, False)
            messages = [await asyncio.wait_for(sender.inbox.get(), 15) for _ in calls]
            with pytest.raises(TimeoutError):  # and nothing more: no request is answered twice
                await asyncio.wait_for(sender.inbox.get(), 0.5)
        got = sorted((json.dumps(m["id"]), m["result"]["structuredContent"]["result"]) for m in messages)
        assert got == sorted((json.dumps(i), r) for i, _, r in calls)


@pytest.mark.parametrize("connect", ["websocket", "stdio"], indirect=True)
async def test_stream_errors_are_json_rpc_errors_never_log_notifications(connect: Connect) -> None:
    async with connect(initialize=False) as client:
        broken = await client.exchange(b'{"jsonrpc":"2.0","id":5,"method":', binary=True)
        assert error_of(broken.only())["code"] == PARSE_ERROR
        early = await client.exchange(request("tools/list", 6), 6)
        error = error_of(early.only())
        assert error["code"] == INVALID_REQUEST and "initialize" in error["message"]
        await client.initialize()
        bad_shape = await client.exchange('{"jsonrpc":"2.0","id":8,"method":["tools/list"]}')
        assert error_of(bad_shape.only())["code"] == INVALID_REQUEST and bad_shape.only()["id"] == 8
        # No notifications/message ("Internal Server Error") ever: the server declares no logging capability.
        seen = [*broken.messages, *early.messages, *bad_shape.messages]
        assert all("method" not in m for m in seen), seen


async def test_a_request_before_initialize_over_http_names_the_missing_session(server: RunningServer) -> None:
    async with http_raw(
        server.mcp_url, {"Authorization": f"Bearer {create_key(server.db, 'early')}"}, initialize=False
    ) as client:
        answer = await client.exchange(request("tools/list", 3), 3)
        assert answer.http_status == 400
        error = error_of(answer.only())
        assert answer.only()["id"] == 3 and error["code"] == INVALID_REQUEST and "initialize" in error["message"]


@by_transport
async def test_a_second_initialize_on_a_session_is_refused(connect: Connect) -> None:
    async with connect() as client:
        again = (await client.exchange(request("initialize", 11, INIT_PARAMS), 11)).only()
        assert error_of(again)["code"] == INVALID_REQUEST and "already initialized" in again["error"]["message"]
        assert "result" in (await client.exchange(request("tools/list", 12), 12)).only()


async def test_a_binary_websocket_frame_is_read_as_utf8_json(server: RunningServer) -> None:
    async with websocket_raw(f"{server.ws_url}?api_key={create_key(server.db, 'binary')}") as client:
        answer = await client.exchange(request("ping", 1).encode(), 1, binary=True)
        assert answer.only() == {"jsonrpc": "2.0", "id": 1, "result": {}}
        broken = await client.exchange(b"\xff\xfe\x00", binary=True)
        assert error_of(broken.only())["code"] == PARSE_ERROR
        assert client.close_code is None  # still open
    no_traceback(server)


@by_transport
async def test_a_lone_surrogate_in_tool_arguments_is_an_invalid_argument_logged_like_any_call(
    connect: Connect, server: RunningServer
) -> None:
    name = f"surrogate-{next(KEY_NUMBERS)}"
    key = create_key(server.db, name)
    async with connect(key) as client:
        body = request("tools/call", 1, {"name": "search", "arguments": {"query": "a\ud800b"}})
        error = tool_error((await client.exchange(body, 1)).only())
        assert error["code"] == "invalid_argument" and "arguments.query" in error["message"]
    rows = json.loads(afbench("usage", "--key", name, "--json", db=server.db).stdout)
    (row,) = [
        r
        for r in rows
        if r["tool"] == "search" and r["error_code"] == "invalid_argument" and "\\ud800" in json.dumps(r)
    ]
    assert row["outcome"] == "error" and row["arguments"] == {"query": "a\\ud800b"}


@pytest.mark.parametrize("connect", ["websocket", "stdio"], indirect=True)
async def test_a_revoked_key_is_refused_on_every_method_of_an_open_session(
    connect: Connect, server: RunningServer
) -> None:
    name = f"revoked-{next(KEY_NUMBERS)}"
    key = create_key(server.db, name)
    async with connect(key) as client:
        assert "result" in (await client.exchange(request("tools/list", 1), 1)).only()
        afbench("keys", "revoke", name, db=server.db)
        for i, (method, params) in enumerate(
            [
                ("tools/call", {"name": "calculator", "arguments": {"expression": "1"}}),
                ("tools/list", None),
                ("resources/read", {"uri": "afbench://sql/schema"}),
                ("prompts/get", {"name": "legal_expert"}),
                ("resources/list", None),
            ],
            start=10,
        ):
            error = error_of((await client.exchange(request(method, i, params), i)).only())
            assert error["code"] == KEY_REVOKED and error["data"]["code"] == "key_revoked", (method, error)
            assert "retry_after_s" not in error["data"] and "resets_at" not in error["data"]


async def test_a_revoked_key_gets_key_revoked_over_http(server: RunningServer) -> None:
    key = create_key(server.db, "revoked-http")
    async with http_raw(server.mcp_url, {"Authorization": f"Bearer {key}"}) as client:
        afbench("keys", "revoke", "revoked-http", db=server.db)
        answer = await client.exchange(request("tools/list", 1))
        assert answer.http_status == 401 and answer.only()["error"]["code"] == "key_revoked"
    unknown = httpx.post(server.mcp_url, json={}, headers=ACCEPT | {"Authorization": "Bearer afb_never_issued"})
    assert unknown.status_code == 401 and unknown.json()["error"]["code"] == "unauthorized"


async def test_api_key_in_the_query_string_is_redacted_from_every_log_line(server: RunningServer) -> None:
    key = create_key(server.db, "logged")
    async with websocket_raw(f"{server.ws_url}?api_key={key}") as client:
        assert "result" in (await client.exchange(request("ping", 1), 1)).only()
    on_mcp = httpx.post(f"{server.mcp_url}?api_key={key}", json={}, headers=ACCEPT)
    assert on_mcp.status_code == 401 and "only on /ws" in on_mcp.json()["error"]["message"]
    await asyncio.sleep(0.3)
    log = "".join(server.log)
    assert "api_key=" in log and key not in log and key[:12] not in log


async def test_results_name_the_database_never_its_path_and_tools_by_their_real_names(server: RunningServer) -> None:
    async with http_raw(server.mcp_url, {"Authorization": f"Bearer {create_key(server.db, 'paths')}"}) as client:
        schema = (await client.exchange(request("tools/call", 1, {"name": "sql_schema", "arguments": {}}), 1)).only()
        query = await client.exchange(
            request("tools/call", 2, {"name": "sql_query", "arguments": {"sql": "SELECT 1 AS one"}}), 2
        )
        resource = (await client.exchange(request("resources/read", 3, {"uri": "afbench://sql/schema"}), 3)).only()
        text2sql = await client.exchange(
            request("tools/call", 4, {"name": "text2sql", "arguments": {"question": "How many customers?"}}), 4
        )
    assert schema["result"]["structuredContent"]["database"] == "sample.sqlite"
    assert query.only()["result"]["structuredContent"]["database"] == "sample.sqlite"
    shown = json.dumps([schema, query.messages, resource])
    assert str(Path.home()) not in shown and "/.cache/" not in shown and "sample.sqlite" in shown
    advice = tool_error(text2sql.only())
    assert advice["code"] == "not_configured"
    assert "'sql_schema' tool" in advice["message"] and "'sql_query' tool" in advice["message"]


async def test_an_origin_without_the_servers_port_is_refused(server: RunningServer) -> None:
    key = create_key(server.db, "origin-port")
    headers = ACCEPT | {"Authorization": f"Bearer {key}"}
    body = request("initialize", 1, INIT_PARAMS)
    port = server.base_url.rsplit(":", 1)[1]
    for origin in ("http://localhost", "http://127.0.0.1", "http://localhost:1", "https://localhost"):
        refused = httpx.post(server.mcp_url, content=body, headers=headers | {"Origin": origin})
        assert refused.status_code == 403 and "Origin" in refused.json()["error"]["message"], origin
    for origin in (f"http://localhost:{port}", f"http://127.0.0.1:{port}"):
        assert httpx.post(server.mcp_url, content=body, headers=headers | {"Origin": origin}).status_code == 200
    bare_host = httpx.post(server.mcp_url, content=body, headers=headers | {"Host": "localhost"})
    assert bare_host.status_code == 403


async def test_the_sdks_own_http_errors_carry_the_requests_id(server: RunningServer) -> None:
    """An unknown session (404) or a missing Accept header (406) is answered by the SDK's transport, which used
    to give every such error the id "server-error"."""
    headers = ACCEPT | {"Authorization": f"Bearer {create_key(server.db, 'sdk-errors')}"}
    for i in range(20):  # made-up session ids: each a 404, none remembered
        gone = httpx.post(
            server.mcp_url, content=request("tools/list", 5), headers=headers | {"mcp-session-id": f"nope{i}"}
        )
        assert gone.status_code == 404 and gone.json()["id"] == 5 and gone.json()["error"]["code"] == INVALID_REQUEST
    picky = httpx.post(
        server.mcp_url, content=request("initialize", "init-1", INIT_PARAMS), headers=headers | {"Accept": "text/html"}
    )
    assert picky.status_code == 406 and picky.json()["id"] == "init-1"


async def test_ending_a_session_with_its_event_stream_open_logs_no_traceback(server: RunningServer) -> None:
    """The SDK logged "Error in standalone SSE writer" with a traceback for this normal end of a session."""
    headers = ACCEPT | {"Authorization": f"Bearer {create_key(server.db, 'get-stream')}"}
    async with httpx.AsyncClient(headers=headers, timeout=15) as http:
        opened = await http.post(server.mcp_url, content=request("initialize", 1, INIT_PARAMS))
        session = {"mcp-session-id": opened.headers["mcp-session-id"], "mcp-protocol-version": "2025-06-18"}
        await http.post(
            server.mcp_url, content='{"jsonrpc":"2.0","method":"notifications/initialized"}', headers=session
        )
        async with http.stream("GET", server.mcp_url, headers=session | {"Accept": "text/event-stream"}) as stream:
            assert stream.status_code == 200
            assert (await http.delete(server.mcp_url, headers=session)).status_code == 200
            async for _ in stream.aiter_bytes():
                pass  # the server ends the stream
        gone = await http.post(server.mcp_url, content=request("tools/list", 2), headers=session)
        assert gone.status_code == 404 and gone.json()["id"] == 2
    await asyncio.sleep(0.5)
    no_traceback(server)
