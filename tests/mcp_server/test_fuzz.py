"""Fuzzing the real server with a bounded, seeded corpus (``fuzz_corpus.py``) over streamable HTTP, WebSocket
and stdio. For every message: exactly one valid JSON-RPC response when it had a valid id (its own id, the
right error code), nothing for a notification, an error with id ``null`` when no id can be told, no HTTP
5xx. After the corpus: no traceback in the server's log, and a normal tool call still works.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.mcp_server.fuzz_corpus import INVALID_REQUEST, PARSE_ERROR, Case, corpus
from tests.mcp_server.raw_clients import Answer, RawClient, http_raw, request, stdio_raw, websocket_raw
from tests.servers import RunningServer, create_key, http_server

pytestmark = pytest.mark.e2e

SEEDS = {"http": 20261201, "websocket": 20261202, "stdio": 20261203}
MESSAGES = 300  # per transport


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with http_server(tmp_path_factory.mktemp("fuzz") / "sessions.sqlite") as running:
        yield running


def check_shape(message: dict[str, Any]) -> None:
    """A valid JSON-RPC 2.0 response: version, an id member, exactly one of result and error."""
    assert message.get("jsonrpc") == "2.0" and "id" in message, message
    assert ("result" in message) != ("error" in message), message
    if "error" in message:
        error = message["error"]
        assert isinstance(error.get("code"), int) and isinstance(error.get("message"), str), message


def check(case: Case, answer: Answer, transport: str) -> None:
    where = f"{case.kind}: {case.data[:120]!r}"
    if answer.http_status is not None:
        assert answer.http_status < 500, (where, answer.http_status)
    if case.silent:
        assert answer.messages == [], (where, answer.messages)
        if answer.http_status is not None:
            assert answer.http_status == 202, (where, answer.http_status)
        return
    assert len(answer.messages) == 1, (where, answer.messages)
    (message,) = answer.messages
    check_shape(message)
    assert type(message["id"]) is type(case.id) and message["id"] == case.id, (where, message)
    if case.code is None:
        assert "result" in message, (where, message)
        return
    assert "error" in message and message["error"]["code"] == case.code, (where, message)
    if transport == "http" and case.code in (PARSE_ERROR, INVALID_REQUEST):
        assert answer.http_status == 400, (where, answer.http_status)


async def run_corpus(client: RawClient, cases: list[Case]) -> None:
    for case in cases:
        answer = await client.exchange(case.data, case.answer_id, binary=case.binary)
        check(case, answer, client.transport)
    tail = await client.exchange(
        request("tools/call", "last", {"name": "calculator", "arguments": {"expression": "6*7"}}), "last"
    )
    assert tail.only()["result"]["structuredContent"]["result"] == 42


@asynccontextmanager
async def client_for(transport: str, server: RunningServer, db: Path) -> AsyncIterator[RawClient]:
    key = create_key(server.db, f"fuzz-{transport}")
    if transport == "http":
        async with http_raw(server.mcp_url, {"Authorization": f"Bearer {key}"}) as client:
            yield client
    elif transport == "websocket":
        async with websocket_raw(f"{server.ws_url}?api_key={key}") as client:
            yield client
    else:
        async with stdio_raw(server.db, env={"AFBENCH_API_KEY": key}) as client:
            yield client
        log = "".join(client.stderr)
        assert "Traceback" not in log, log[-3000:]


@pytest.mark.parametrize("transport", ["http", "websocket", "stdio"])
async def test_every_hostile_message_gets_the_answer_the_specification_names(
    transport: str, server: RunningServer, tmp_path: Path
) -> None:
    cases = list(corpus(SEEDS[transport], MESSAGES, binary_frames=transport == "websocket"))
    kinds = Counter(c.kind for c in cases)
    assert len(kinds) >= 15, kinds  # every class is in the corpus
    async with client_for(transport, server, tmp_path / "stdio.sqlite") as client:
        await run_corpus(client, cases)
    log = "".join(server.log)
    assert "Traceback" not in log and "Exception in ASGI" not in log, log[-3000:]
    assert server.process.poll() is None


@pytest.mark.parametrize("transport", ["http", "websocket", "stdio"])
async def test_requests_before_initialize_are_refused_and_ping_is_answered(
    transport: str, server: RunningServer
) -> None:
    key = create_key(server.db, f"early-{transport}")
    opener: Any = {
        "http": lambda: http_raw(server.mcp_url, {"Authorization": f"Bearer {key}"}, initialize=False),
        "websocket": lambda: websocket_raw(f"{server.ws_url}?api_key={key}", initialize=False),
        "stdio": lambda: stdio_raw(server.db, initialize=False, env={"AFBENCH_API_KEY": key}),
    }[transport]
    async with opener() as client:
        for method in ("tools/list", "tools/call", "prompts/get", "resources/read"):
            message = (await client.exchange(request(method, method, {}), method)).only()
            assert message["error"]["code"] == INVALID_REQUEST, message
        if transport != "http":  # over HTTP, a message without a session is refused before any method
            assert "result" in (await client.exchange(request("ping", 1), 1)).only()
        await client.initialize()
        assert "result" in (await client.exchange(request("tools/list", 2), 2)).only()
