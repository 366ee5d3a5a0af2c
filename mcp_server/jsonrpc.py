"""JSON-RPC 2.0 on the wire, as MCP uses it: parse one incoming message, or say precisely what is wrong.

Every transport (streamable HTTP, WebSocket, stdio) passes each message through ``parse`` before the SDK sees
it, so hostile bytes get the error the specifications name instead of a traceback: invalid UTF-8, invalid
JSON, NaN, nesting too deep → ``-32700``; a batch, a wrong envelope or an id that is not a string or an
integer (MCP forbids ``null``) → ``-32600``. Knows nothing of the SDK, of methods or of sessions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
RESOURCE_NOT_FOUND = -32002  # MCP's code for resources/read of an unknown URI
KEY_REVOKED = -32001  # server-defined range (-32000..-32099): the session's API key was revoked

MAX_DEPTH = 64
MAX_ID_LENGTH = 256
# An integer id longer than this is refused; Python would otherwise spend time (and CPython refuses beyond
# 4300 digits) turning it into an int, and no client numbers its requests past 2**63.
MAX_INT_DIGITS = 20
MAX_INT_LITERAL = 4300  # CPython's own bound for turning digits into an int

Id = int | str


@dataclass(frozen=True)
class Message:
    """A well-formed message: a request (``id`` set), a notification, or a response to a server request."""

    kind: Literal["request", "notification", "response"]
    payload: dict[str, Any]

    @property
    def id(self) -> Id:
        value: Id = self.payload["id"]
        return value

    @property
    def method(self) -> str:
        method: str = self.payload["method"]
        return method

    @property
    def params(self) -> dict[str, Any]:
        params: dict[str, Any] = self.payload.get("params") or {}
        return params


@dataclass(frozen=True)
class WireError(Exception):
    """What to answer a message that cannot be processed; ``id`` is None when it could not be told."""

    code: int
    message: str
    id: Id | None = None

    def response(self) -> dict[str, Any]:
        return error_response(self.id, self.code, self.message)


def error_response(request_id: Id | None, code: int, message: str, data: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "id": request_id, "error": error}


class _HugeInt(int):
    """An integer literal too long to be an id (it keeps its value: it may be a tool argument)."""


def _parse_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits <= MAX_INT_DIGITS:
        return int(text)
    if digits > MAX_INT_LITERAL:
        raise ValueError(f"an integer of {digits} digits (at most {MAX_INT_LITERAL})")
    return _HugeInt(text)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def decode(data: bytes | str) -> Any:
    """The JSON value of ``data``, or ``WireError(-32700)``."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise WireError(PARSE_ERROR, f"Parse error: the message is not valid UTF-8 (byte {exc.start})") from None
    try:
        value = json.loads(data, parse_int=_parse_int, parse_constant=_refuse_constant)
    except RecursionError:
        raise WireError(PARSE_ERROR, "Parse error: the message nests too deeply") from None
    except ValueError as exc:  # JSONDecodeError is a ValueError
        raise WireError(PARSE_ERROR, f"Parse error: {exc}") from None
    if _depth_exceeds(value, MAX_DEPTH):
        raise WireError(PARSE_ERROR, f"Parse error: the message nests deeper than {MAX_DEPTH} levels")
    return value


def _depth_exceeds(value: Any, limit: int) -> bool:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def has_lone_surrogate(text: str) -> bool:
    """True when ``text`` holds half of a UTF-16 surrogate pair (``"\\ud800"`` in JSON): not Unicode, so it
    cannot be encoded, stored or echoed."""
    try:
        text.encode("utf-8")  # fails on a lone surrogate and nothing else, at C speed
    except UnicodeEncodeError:
        return True
    return False


def first_lone_surrogate(value: Any, path: str = "") -> str | None:
    """The path (``a.b[2]``) of the first string or key in ``value`` with a lone surrogate, or None."""
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            if has_lone_surrogate(item):
                return where or "(value)"
        elif isinstance(item, dict):
            for key, child in item.items():
                if has_lone_surrogate(key):
                    return f"{where}.<key>" if where else "<key>"
                stack.append((child, f"{where}.{key}" if where else key))
        elif isinstance(item, list):
            stack.extend((child, f"{where}[{i}]") for i, child in enumerate(item))
    return None


def _valid_id(value: Any) -> bool:
    if isinstance(value, bool | _HugeInt):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, str) and len(value) <= MAX_ID_LENGTH and not has_lone_surrogate(value)


def _id_problem(value: Any) -> str:
    if value is None:
        return "the id must not be null (MCP); omit it for a notification"
    if isinstance(value, _HugeInt):
        return f"an integer id may have at most {MAX_INT_DIGITS} digits"
    if isinstance(value, str):
        if len(value) > MAX_ID_LENGTH:
            return f"a string id may have at most {MAX_ID_LENGTH} characters"
        return "the id contains a lone UTF-16 surrogate, which is not valid Unicode"
    return f"the id must be a string or an integer, not {_json_type(value)}"


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, float):
        return "a number with a fraction"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return "a " + type(value).__name__


def parse(data: bytes | str) -> Message:
    """One incoming message, checked as JSON-RPC 2.0 (MCP flavour), or ``WireError``."""
    return classify(decode(data))


def classify(value: Any) -> Message:
    if isinstance(value, list):
        raise WireError(INVALID_REQUEST, "Invalid Request: batches are not supported (MCP 2025-06-18 removed them)")
    if not isinstance(value, dict):
        raise WireError(INVALID_REQUEST, f"Invalid Request: a message must be a JSON object, not {_json_type(value)}")
    has_id = "id" in value
    raw_id = value.get("id")
    good_id = has_id and _valid_id(raw_id)
    echo: Id | None = raw_id if good_id else None
    if value.get("jsonrpc") != "2.0":
        raise WireError(INVALID_REQUEST, 'Invalid Request: "jsonrpc" must be "2.0"', echo)
    if has_id and not good_id:
        raise WireError(INVALID_REQUEST, f"Invalid Request: {_id_problem(raw_id)}")
    if "method" in value:
        method = value["method"]
        if not isinstance(method, str) or not method or has_lone_surrogate(method):
            raise WireError(INVALID_REQUEST, "Invalid Request: method must be a non-empty string", echo)
        if "result" in value or "error" in value:
            raise WireError(INVALID_REQUEST, "Invalid Request: a request cannot carry a result or an error", echo)
        params = value.get("params")
        if params is not None and not isinstance(params, dict):
            code = INVALID_PARAMS if isinstance(params, list) else INVALID_REQUEST
            raise WireError(code, f"Invalid params: params must be an object, not {_json_type(params)}", echo)
        return Message("request" if has_id else "notification", value)
    if "result" in value or "error" in value:
        if not has_id:
            raise WireError(INVALID_REQUEST, "Invalid Request: a response needs the id of the request it answers")
        if ("result" in value) == ("error" in value):
            raise WireError(INVALID_REQUEST, "Invalid Request: a response has either a result or an error", echo)
        if "error" in value and not _valid_error(value["error"]):
            raise WireError(INVALID_REQUEST, "Invalid Request: error must be an object with an integer code", echo)
        return Message("response", value)
    raise WireError(INVALID_REQUEST, "Invalid Request: a message needs a method (request) or a result/error", echo)


def _valid_error(error: Any) -> bool:
    return (
        isinstance(error, dict)
        and isinstance(error.get("code"), int)
        and not isinstance(error.get("code"), bool)
        and isinstance(error.get("message", ""), str)
    )


def encode(message: dict[str, Any]) -> str:
    """Compact JSON for the wire; a lone surrogate that got this far is written as its escape."""
    text = json.dumps(message, ensure_ascii=False, separators=(",", ":"))
    if has_lone_surrogate(text):
        text = json.dumps(message, ensure_ascii=True, separators=(",", ":"))
    return text
