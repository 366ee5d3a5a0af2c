"""A seeded corpus of hostile and odd MCP messages, each with the answer the JSON-RPC 2.0 and MCP
specifications require — the oracle of ``test_fuzz.py``.

Every class the attack round found is covered: malformed JSON, invalid UTF-8, deep nesting, wrong shapes and
batches, ids of every type, unknown methods, wrong param types, lone surrogates, notifications (which get no
answer at all) — mixed with well-formed requests, so the server is checked to keep answering those too.
"""

from __future__ import annotations

import json
import random
import string
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS = -32700, -32600, -32601, -32602
SERVED_METHODS = frozenset(
    {"initialize", "ping", "tools/list", "tools/call", "prompts/list", "prompts/get", "resources/list"}
    | {"resources/read", "resources/templates/list"}
)

Id = int | str


@dataclass(frozen=True)
class Case:
    """One message and what must come back: an error with ``code`` (and ``id``, None when it cannot be told),
    a result for ``id``, or nothing at all (``silent``)."""

    kind: str  # the class of input, for failure messages and coverage
    data: bytes
    code: int | None = None  # expected error code; None: a result
    id: Id | None = None
    silent: bool = False
    binary: bool = False  # WebSocket: send as a binary frame

    @property
    def answer_id(self) -> Id | None:
        return None if self.silent else self.id


def _dump(message: Any) -> bytes:
    return json.dumps(message, ensure_ascii=True).encode()


def _request(rng: random.Random, method: str, params: Any = None, **extra: Any) -> tuple[dict[str, Any], Id]:
    request_id = _valid_id(rng)
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
    if params is not None:
        message["params"] = params
    message.update(extra)
    return message, request_id


def _valid_id(rng: random.Random) -> Id:
    choice = rng.randrange(6)
    if choice == 0:
        return rng.randrange(-(2**31), 2**31)
    if choice == 1:
        return rng.randrange(0, 2**53)
    if choice == 2:
        return "".join(rng.choices(string.ascii_letters + string.digits + "-_:.", k=rng.randrange(1, 40)))
    if choice == 3:
        return rng.choice(["", "0", "7", "null", "é", "日本", "🙂", " spaced id "])
    if choice == 4:
        return "x" * 256
    return rng.randrange(0, 1000)


def _valid_request(rng: random.Random) -> tuple[dict[str, Any], Id]:
    method, params = rng.choice(
        [
            ("ping", None),
            ("tools/list", None),
            ("tools/list", {}),
            ("prompts/list", None),
            ("resources/list", None),
            ("prompts/get", {"name": "legal_expert"}),
            ("tools/call", {"name": "calculator", "arguments": {"expression": f"{rng.randrange(100)} * 3"}}),
            ("tools/call", {"name": "calculator", "arguments": {"expression": rng.choice(["1/0", "2 +", "", "x"])}}),
            ("tools/call", {"name": "no_such_tool", "arguments": {}}),
        ]
    )
    return _request(rng, method, params)


def malformed_json(rng: random.Random) -> Case:
    message, _ = _valid_request(rng)
    text = json.dumps(message)
    kind = rng.randrange(4)
    if kind == 0:
        broken = text[: rng.randrange(1, len(text))]  # a proper prefix of an object is never JSON
    elif kind == 1:
        broken = text.replace(":", rng.choice([";", "=", ""]), 1)
    elif kind == 2:
        broken = "{" + "".join(rng.choices(string.printable, k=rng.randrange(1, 60)))
        broken = broken.replace("}", "")
    else:
        broken = text.replace('"2.0"', rng.choice(["NaN", "Infinity", "'2.0'", "2.0.0"]), 1)
    return Case("malformed json", broken.encode(), PARSE_ERROR)


def invalid_utf8(rng: random.Random) -> Case:
    data = bytearray(_dump(_valid_request(rng)[0]))
    at = rng.randrange(1, len(data))
    data[at:at] = rng.choice([b"\xff", b"\xfe", b"\xc3\x28", b"\x80", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80"])
    return Case("invalid utf-8", bytes(data), PARSE_ERROR, binary=True)


def deep_nesting(rng: random.Random) -> Case:
    depth = rng.choice([65, 100, 1_000, 100_000])
    opener, closer = rng.choice([("[", "]"), ('{"a":', "}")])
    params = opener * depth + closer * depth
    text = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"calculator","arguments":' + params + "}}"
    return Case("deep nesting", text.encode(), PARSE_ERROR)


def wrong_shape(rng: random.Random) -> Case:
    message, request_id = _valid_request(rng)
    kind = rng.randrange(9)
    if kind == 0:
        return Case("scalar", _dump(rng.choice([1, "ping", True, None, 2.5])), INVALID_REQUEST)
    if kind == 1:
        return Case("batch", _dump([message, _valid_request(rng)[0]]), INVALID_REQUEST)
    if kind == 2:
        return Case("empty batch", b"[]", INVALID_REQUEST)
    if kind == 3:
        version = rng.choice([None, "1.0", 2.0, "2", ""])
        bad = {k: v for k, v in message.items() if k != "jsonrpc"} | ({} if version is None else {"jsonrpc": version})
        return Case("jsonrpc version", _dump(bad), INVALID_REQUEST, request_id)
    if kind == 4:
        bad = dict(message, method=rng.choice([5, None, ["ping"], {"m": 1}, ""]))
        return Case("method type", _dump(bad), INVALID_REQUEST, request_id)
    if kind == 5:
        bad = {"jsonrpc": "2.0", "id": request_id}
        return Case("no method", _dump(bad), INVALID_REQUEST, request_id)
    if kind == 6:
        bad = dict(message, result={}, error={"code": 1, "message": "x"})
        bad.pop("method")
        return Case("result and error", _dump(bad), INVALID_REQUEST, request_id)
    if kind == 7:
        bad = dict(message, params=rng.choice(["x", 5, True]))
        return Case("params scalar", _dump(bad), INVALID_REQUEST, request_id)
    return Case("empty object", b"{}", INVALID_REQUEST)


def bad_id(rng: random.Random) -> Case:
    value: Any = rng.choice([None, 1.5, -0.0, 1e30, True, False, {"id": 1}, [1], "x" * 257])
    raw = None
    if rng.random() < 0.3:
        raw = rng.choice(['"\\ud800"', '"a\\udfffb"', "1" * rng.randrange(21, 400)])
    text = json.dumps({"jsonrpc": "2.0", "id": "@ID@", "method": "ping"})
    text = text.replace('"@ID@"', raw if raw is not None else json.dumps(value))
    return Case("invalid id", text.encode(), INVALID_REQUEST)


def good_id(rng: random.Random) -> Case:
    request_id = _valid_id(rng)
    return Case("valid id", _dump({"jsonrpc": "2.0", "id": request_id, "method": "ping"}), None, request_id)


def unknown_method(rng: random.Random) -> Case:
    method = rng.choice(
        [
            *("tools/destroy", "admin", "rpc.discover", "Tools/List", "tools/list ", "prompts", "completion/complete"),
            "".join(rng.choices(string.ascii_lowercase + "/_", k=rng.randrange(1, 30))),
        ]
    )
    if method in SERVED_METHODS:
        method += "x"
    message, request_id = _request(rng, method, rng.choice([None, {}, {"x": 1}]))
    return Case("unknown method", _dump(message), METHOD_NOT_FOUND, request_id)


def wrong_params(rng: random.Random) -> Case:
    method, params = rng.choice(
        [
            ("tools/call", {}),
            ("tools/call", {"name": 5}),
            ("tools/call", {"name": ["calculator"]}),
            ("tools/call", {"name": "calculator", "arguments": "1+1"}),
            ("tools/call", {"name": "calculator", "arguments": [1, 2]}),
            ("prompts/get", {}),
            ("prompts/get", {"name": None}),
            ("prompts/get", {"name": "../../README"}),
            ("prompts/get", {"name": "/etc/passwd"}),
            ("resources/read", {"uri": 42}),
            ("resources/read", {}),
            ("tools/list", {"cursor": "garbage"}),
            ("prompts/list", {"cursor": 17}),
            ("ping", [1, 2]),
            ("tools/list", []),
        ]
    )
    message, request_id = _request(rng, method, params)
    return Case("wrong params", _dump(message), INVALID_PARAMS, request_id)


def lone_surrogate(rng: random.Random) -> Case:
    request_id = _valid_id(rng)
    where = rng.randrange(3)
    if where == 0:  # in a tool argument: a tool error result, logged like any call
        text = json.dumps(
            {
                "jsonrpc": "2.0",
                "id": request_id,
                "method": "tools/call",
                "params": {"name": "search", "arguments": {"query": "@S@"}},
            }
        )
        return Case("surrogate in arguments", text.replace("@S@", "a\\ud83d b").encode(), None, request_id)
    if where == 1:
        text = json.dumps({"jsonrpc": "2.0", "id": request_id, "method": "prompts/get", "params": {"name": "@S@"}})
        return Case("surrogate in params", text.replace("@S@", "\\udc00").encode(), INVALID_PARAMS, request_id)
    text = json.dumps({"jsonrpc": "2.0", "id": request_id, "method": "@S@"})
    return Case("surrogate in method", text.replace("@S@", "ping\\ud800").encode(), INVALID_REQUEST, request_id)


def notification(rng: random.Random) -> Case:
    message: dict[str, Any] = rng.choice(
        [
            {"jsonrpc": "2.0", "method": "notifications/initialized"},
            {"jsonrpc": "2.0", "method": "notifications/roots/list_changed"},
            {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": _valid_id(rng)}},
            {"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progressToken": 1, "progress": "x"}},
            {"jsonrpc": "2.0", "method": "notifications/unknown"},
            {"jsonrpc": "2.0", "method": "tools/list"},  # a request without an id is a notification
        ]
    )
    return Case("notification", _dump(message), silent=True)


def valid_request(rng: random.Random) -> Case:
    message, request_id = _valid_request(rng)
    return Case("valid request", _dump(message), None, request_id)


GENERATORS: list[tuple[Callable[[random.Random], Case], int]] = [
    (malformed_json, 3),
    (invalid_utf8, 2),
    (deep_nesting, 1),
    (wrong_shape, 3),
    (bad_id, 3),
    (good_id, 2),
    (unknown_method, 2),
    (wrong_params, 3),
    (lone_surrogate, 2),
    (notification, 2),
    (valid_request, 3),
]


def corpus(seed: int, size: int, *, binary_frames: bool = False) -> Iterator[Case]:
    """``size`` cases, the same ones for the same seed; with ``binary_frames``, a third go as binary frames."""
    rng = random.Random(seed)
    generators = [g for g, weight in GENERATORS for _ in range(weight)]
    for _ in range(size):
        case = rng.choice(generators)(rng)
        if binary_frames and not case.binary and rng.random() < 0.33:
            case = Case(case.kind, case.data, case.code, case.id, case.silent, binary=True)
        yield case
