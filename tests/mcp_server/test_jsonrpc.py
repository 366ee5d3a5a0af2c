"""Fast unit tests of the wire check and the session guard: what each kind of message gets, without a server.
The same behaviour end to end, over real sockets and pipes, is in ``test_protocol_errors.py`` and
``test_fuzz.py``."""

from __future__ import annotations

from typing import Any

import pytest

from mcp_server import jsonrpc
from mcp_server.runtime import Runtime
from mcp_server.sdk import protocol
from mcp_server.session_guard import Forward, Reply, SessionGuard

INIT = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}


@pytest.mark.parametrize(
    ("data", "code", "echo"),
    [
        (b"\xff", jsonrpc.PARSE_ERROR, None),
        (b'{"jsonrpc":"2.0","id":1,"method":"ping"', jsonrpc.PARSE_ERROR, None),
        (b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":NaN}}', jsonrpc.PARSE_ERROR, None),
        (b"[" * 100 + b"]" * 100, jsonrpc.PARSE_ERROR, None),
        (b'{"jsonrpc":"2.0","id":' + b"1" * 5000 + b',"method":"ping"}', jsonrpc.PARSE_ERROR, None),
        (b'{"jsonrpc":"2.0","id":' + b"1" * 21 + b',"method":"ping"}', jsonrpc.INVALID_REQUEST, None),
        (b'[{"jsonrpc":"2.0","id":1,"method":"ping"}]', jsonrpc.INVALID_REQUEST, None),
        (b'{"jsonrpc":"2.0","id":null,"method":"ping"}', jsonrpc.INVALID_REQUEST, None),
        (b'{"jsonrpc":"2.0","id":false,"method":"ping"}', jsonrpc.INVALID_REQUEST, None),
        (b'{"jsonrpc":"2.0","id":"\\udfff","method":"ping"}', jsonrpc.INVALID_REQUEST, None),
        (b'{"jsonrpc":"1.0","id":4,"method":"ping"}', jsonrpc.INVALID_REQUEST, 4),
        (b'{"jsonrpc":"2.0","id":"a","method":7}', jsonrpc.INVALID_REQUEST, "a"),
        (b'{"jsonrpc":"2.0","id":5,"method":"ping","params":[1]}', jsonrpc.INVALID_PARAMS, 5),
        (b'{"jsonrpc":"2.0","id":5,"method":"ping","params":"x"}', jsonrpc.INVALID_REQUEST, 5),
        (b'{"jsonrpc":"2.0","id":5,"result":{},"error":{"code":1,"message":""}}', jsonrpc.INVALID_REQUEST, 5),
    ],
)
def test_a_bad_message_gets_the_error_the_specification_names(data: bytes, code: int, echo: Any) -> None:
    with pytest.raises(jsonrpc.WireError) as caught:
        jsonrpc.parse(data)
    response = caught.value.response()
    assert response["error"]["code"] == code and response["id"] == echo
    assert "Traceback" not in response["error"]["message"] and "sys.set_int_max_str_digits" not in str(response)


def test_well_formed_messages_are_classified() -> None:
    assert jsonrpc.parse('{"jsonrpc":"2.0","id":"7","method":"ping"}').kind == "request"
    assert jsonrpc.parse(b'{"jsonrpc":"2.0","method":"notifications/initialized"}').kind == "notification"
    assert jsonrpc.parse('{"jsonrpc":"2.0","id":0,"result":{}}').kind == "response"
    big = jsonrpc.parse('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"n":' + "9" * 30 + "}}")
    assert big.params["n"] == int("9" * 30)  # a long integer is refused as an id, kept as an argument


def test_encode_never_fails_on_a_lone_surrogate() -> None:
    text = jsonrpc.encode({"jsonrpc": "2.0", "id": 1, "result": {"text": "a\ud800"}})
    assert "\\ud800" in text and text.encode("utf-8")


@pytest.fixture
async def guard(tmp_path: Any) -> Any:
    from mcp_server.config import ServerConfig

    runtime = await Runtime.start(ServerConfig(db_path=tmp_path / "s.sqlite"))
    try:
        yield SessionGuard(protocol(runtime.server))
    finally:
        await runtime.close()


def message(method: str, request_id: Any = None, params: Any = None) -> jsonrpc.Message:
    payload: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if request_id is not None:
        payload["id"] = request_id
    if params is not None:
        payload["params"] = params
    return jsonrpc.classify(payload)


async def error_code(guard: SessionGuard, method: str, params: Any = None, request_id: Any = 1) -> int:
    admitted = await guard.admit(message(method, request_id, params))
    assert isinstance(admitted, Reply), admitted
    code: int = admitted.payload["error"]["code"]
    return code


async def initialize(guard: SessionGuard) -> None:
    admitted = await guard.admit(message("initialize", 0, INIT))
    assert isinstance(admitted, Forward)
    guard.restore({"jsonrpc": "2.0", "id": admitted.payload["id"], "result": {}})


async def test_the_guard_keeps_the_session_lifecycle(guard: SessionGuard) -> None:
    assert await error_code(guard, "tools/list") == jsonrpc.INVALID_REQUEST  # before initialize
    assert isinstance(await guard.admit(message("ping", 1)), Forward)  # ping is allowed at any time
    await initialize(guard)
    assert await error_code(guard, "initialize", INIT) == jsonrpc.INVALID_REQUEST  # a second one
    assert await error_code(guard, "no/such") == jsonrpc.METHOD_NOT_FOUND
    assert await error_code(guard, "logging/setLevel", {"level": "info"}) == jsonrpc.METHOD_NOT_FOUND
    assert await error_code(guard, "tools/list", {"cursor": "abc"}) == jsonrpc.INVALID_PARAMS
    assert await error_code(guard, "tools/call", {"name": 3}) == jsonrpc.INVALID_PARAMS
    assert await error_code(guard, "prompts/get", {"name": "\udc00"}) == jsonrpc.INVALID_PARAMS
    surrogate_argument = await guard.admit(message("tools/call", 2, {"name": "search", "arguments": {"q": "\ud800"}}))
    assert isinstance(surrogate_argument, Forward)  # the dispatcher answers it as a tool error, and logs it


async def test_ids_are_replaced_and_restored_so_that_equal_looking_ids_never_collide(guard: SessionGuard) -> None:
    await initialize(guard)
    forwarded = []
    for client_id in (7, "7", 7):
        admitted = await guard.admit(message("tools/list", client_id))
        assert isinstance(admitted, Forward)
        forwarded.append(admitted.payload["id"])
    assert len(set(forwarded)) == 3  # each its own id inside
    restored = [guard.restore({"jsonrpc": "2.0", "id": i, "result": {}})["id"] for i in reversed(forwarded)]
    assert [type(r) for r in restored] == [int, str, int] and restored == [7, "7", 7]
    assert guard.in_flight == 0


async def test_a_cancellation_is_translated_or_dropped(guard: SessionGuard) -> None:
    await initialize(guard)
    admitted = await guard.admit(message("tools/call", "job", {"name": "calculator", "arguments": {}}))
    assert isinstance(admitted, Forward)
    cancel = await guard.admit(message("notifications/cancelled", None, {"requestId": "job"}))
    assert isinstance(cancel, Forward) and cancel.payload["params"]["requestId"] == admitted.payload["id"]
    # Nothing in flight under that id: dropped, so it cannot cancel another request by accident.
    assert await guard.admit(message("notifications/cancelled", None, {"requestId": "other"})) is None
    assert await guard.admit(message("notifications/unknown")) is None


async def test_a_revoked_key_is_refused_on_every_request(guard: SessionGuard) -> None:
    async def revoked() -> dict[str, Any] | None:
        return {"code": "key_revoked", "message": "the API key 'k' was revoked"}

    guard.key_check = revoked
    for method in ("tools/list", "prompts/get", "resources/read", "tools/call", "ping"):
        assert await error_code(guard, method, {}) == jsonrpc.KEY_REVOKED
