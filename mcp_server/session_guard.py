"""One MCP session's protocol state, kept in front of the SDK so that every request gets exactly one answer.

The guard decides for each well-formed message (``jsonrpc.parse`` has refused the rest) whether it reaches
the SDK, gets an error at once, or is dropped:

- unknown method → ``-32601``; params the method does not take, a pagination cursor this server never issued,
  a lone surrogate outside tool arguments → ``-32602``; a request before ``initialize`` or a second
  ``initialize`` → ``-32600``; any request once the session's API key is revoked → ``-32001`` (``key_revoked``).
- Request ids are replaced by the guard's own, unique ones on the way in and restored on the way out: the
  SDK keys in-flight requests by ``str(id)``, so ``7`` and ``"7"`` (distinct ids) or a reused id would
  otherwise collide and leave a request unanswered or answered twice. ``notifications/cancelled`` is
  translated the same way.

It knows nothing of transports or of the SDK: ``sdk.py`` supplies the method names and the params check.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from mcp_server import jsonrpc
from mcp_server.jsonrpc import Id, Message

log = logging.getLogger("afbench.session")

# Methods whose results could be paged: this server returns every item at once and issues no cursor.
LIST_METHODS = frozenset({"tools/list", "resources/list", "resources/templates/list", "prompts/list"})
# Internal ids are unique across every session of the process (HTTP sessions share the SDK's transports).
_NEXT_ID = itertools.count(1)

ParamsCheck = Callable[[str, dict[str, Any]], str | None]  # (method, message) → problem or None
KeyCheck = Callable[[], Awaitable[dict[str, Any] | None]]  # → None while the key is active, else its error


@dataclass(frozen=True)
class Protocol:
    """What the SDK behind the guard understands."""

    methods: frozenset[str]  # request methods with a handler
    notifications: frozenset[str]  # notification methods a client may send
    check_request: ParamsCheck
    check_notification: ParamsCheck


@dataclass(frozen=True)
class Forward:
    payload: dict[str, Any]  # the message to give the SDK (with the guard's id for a request)


@dataclass(frozen=True)
class Reply:
    payload: dict[str, Any]  # the error to send back at once


DROP = None
Admission = Forward | Reply | None


class SessionGuard:
    def __init__(self, protocol: Protocol, *, initialized: bool = False, key_check: KeyCheck | None = None) -> None:
        self.protocol = protocol
        self.key_check = key_check
        self.initialized = initialized
        self._initialize_id: int | None = None
        self._in_flight: dict[int, Id] = {}  # guard id → the client's id
        self._by_client_id: dict[tuple[type, Id], int] = {}

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    async def admit(self, message: Message) -> Admission:
        if message.kind == "response":
            return Forward(message.payload)  # an answer to a server→client request: its id is the server's
        if message.kind == "notification":
            return self._notification(message)
        problem = await self._request_problem(message)
        if problem is not None:
            code, text, data = problem
            return Reply(jsonrpc.error_response(message.id, code, text, data))
        internal = next(_NEXT_ID)
        if message.method == "initialize":
            self._initialize_id = internal
        self._in_flight[internal] = message.id
        self._by_client_id[(type(message.id), message.id)] = internal
        return Forward(dict(message.payload, id=internal))

    async def _request_problem(self, message: Message) -> tuple[int, str, Any] | None:
        method, params = message.method, message.params
        if method not in self.protocol.methods:
            return jsonrpc.METHOD_NOT_FOUND, f"Method not found: {method!r}", None
        if self.key_check is not None:
            revoked = await self.key_check()
            if revoked is not None:
                return jsonrpc.KEY_REVOKED, revoked["message"], revoked
        if method == "initialize":
            if self.initialized or self._initialize_id is not None:
                return jsonrpc.INVALID_REQUEST, "Invalid Request: the session is already initialized", None
        elif not self.initialized and method != "ping":
            return jsonrpc.INVALID_REQUEST, "Invalid Request: the session is not initialized; send initialize", None
        if method in LIST_METHODS and params.get("cursor") is not None:
            return (
                jsonrpc.INVALID_PARAMS,
                "Invalid params: unknown cursor; this server returns every item at once and issues no cursors",
                None,
            )
        checked = {k: v for k, v in params.items() if k != "arguments"} if method == "tools/call" else params
        where = jsonrpc.first_lone_surrogate(checked, "params")
        if where is not None:
            return jsonrpc.INVALID_PARAMS, f"Invalid params: {where} contains a lone UTF-16 surrogate", None
        problem = self.protocol.check_request(method, message.payload)
        if problem is not None:
            return jsonrpc.INVALID_PARAMS, f"Invalid params for {method}: {problem}", None
        return None

    def _notification(self, message: Message) -> Admission:
        method = message.method
        if method not in self.protocol.notifications:
            log.debug("dropped notification %r: not a client notification", method)
            return DROP
        if not self.initialized and method != "notifications/initialized":
            log.debug("dropped notification %r before initialize", method)
            return DROP
        if jsonrpc.first_lone_surrogate(message.params) or self.protocol.check_notification(method, message.payload):
            log.debug("dropped notification %r: invalid params", method)
            return DROP
        if method == "notifications/cancelled":
            client_id = message.params.get("requestId")
            internal = self._by_client_id.get((type(client_id), client_id)) if client_id is not None else None
            if internal is None:
                return DROP  # nothing of that id is in flight (or it was answered already)
            params = dict(message.params, requestId=internal)
            return Forward(dict(message.payload, params=params))
        return Forward(message.payload)

    def restore(self, outgoing: dict[str, Any]) -> dict[str, Any]:
        """``outgoing`` as the client must see it: a response carries the client's id again."""
        if "method" in outgoing or "id" not in outgoing:
            return outgoing
        internal = outgoing["id"]
        if not isinstance(internal, int) or internal not in self._in_flight:
            return outgoing
        client_id = self._in_flight.pop(internal)
        if self._by_client_id.get((type(client_id), client_id)) == internal:
            del self._by_client_id[(type(client_id), client_id)]
        if internal == self._initialize_id:
            self._initialize_id = None
            self.initialized = self.initialized or "result" in outgoing
        return dict(outgoing, id=client_id)

    def forget(self, internal: int) -> Id | None:
        """Drop a request that will never be answered (its HTTP stream closed); returns the client's id."""
        client_id = self._in_flight.pop(internal, None)
        if client_id is not None and self._by_client_id.get((type(client_id), client_id)) == internal:
            del self._by_client_id[(type(client_id), client_id)]
        if internal == self._initialize_id:
            self._initialize_id = None
        return client_id
