"""The ASGI gate in front of ``/mcp`` and ``/ws``: DNS-rebinding checks, API keys and trial tagging.

Runs before any MCP traffic: a bad Host or Origin gets 403, a missing or unknown key 401 ``unauthorized``, a
revoked one 401 ``key_revoked`` (HTTP checks every request; WebSocket and stdio sessions are checked on every
request by their session guard). The caller
(key, transport, trial id) is put in ``scope["state"]["afbench_caller"]`` for the tool dispatcher. A trial id
comes from the ``X-Trial-Id`` header, or from a path prefix ``/t/<trial-id>/mcp`` (or ``/ws``) for clients
that cannot set headers.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Receive, Scope, Send

from mcp_server.store import ApiKey, KeyRevoked, KeyStore

log = logging.getLogger("afbench.gate")

TRIAL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
_PREFIX = re.compile(r"^/t/([^/]+)(/(?:mcp|ws)/?)$")
CALLER_STATE = "afbench_caller"


@dataclass(frozen=True)
class Caller:
    key: ApiKey
    transport: str
    trial_id: str | None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class GateSettings:
    """``allowed_hosts`` are Host header values (``host`` or ``host:port``; ``*`` allows all)."""

    allowed_hosts: frozenset[str]
    allowed_origins: frozenset[str]
    require_key: bool = True

    @classmethod
    def for_bind(
        cls, host: str, port: int, extra_hosts: list[str] | None = None, extra_origins: list[str] | None = None
    ) -> GateSettings:
        names = {"127.0.0.1", "localhost", "[::1]"} if is_loopback(host) or host in ("0.0.0.0", "::") else set()
        names.add(host if ":" not in host else f"[{host}]")
        # A Host or Origin without a port means the scheme's default port (80, 443): accepted only when the
        # server is bound there, or a page served by another local server could call this one.
        hosts = {f"{n}:{port}" for n in names} | (names if port in (80, 443) else set()) | set(extra_hosts or [])
        origins = {f"http://{n}:{port}" for n in names} | {f"https://{n}:{port}" for n in names}
        origins |= {f"http://{n}" for n in names} if port == 80 else set()
        origins |= {f"https://{n}" for n in names} if port == 443 else set()
        origins |= {f"http://{h}" for h in extra_hosts or []} | {f"https://{h}" for h in extra_hosts or []}
        return cls(frozenset(hosts), frozenset(origins | set(extra_origins or [])))


class Gate:
    """Pure ASGI middleware; HTTP and WebSocket scopes alike."""

    def __init__(
        self,
        app: ASGIApp,
        store: KeyStore,
        settings: GateSettings,
        owner: Callable[[], Awaitable[ApiKey]],
    ) -> None:
        self.app = app
        self.store = store
        self.settings = settings
        self.owner = owner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        trial_id: str | None = None
        match = _PREFIX.match(path)
        if match:
            trial_id, path = match.group(1), match.group(2)
            scope = dict(scope, path=path, raw_path=path.encode())
        if path.rstrip("/") not in ("/mcp", "/ws"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        problem = self._check_host_origin(headers)
        if problem:
            log.warning("refused %s: %s", path, problem)
            await _deny(scope, receive, send, 403, "forbidden", problem)
            return
        trial_id = headers.get("x-trial-id", trial_id)
        if trial_id is not None and not TRIAL_ID.match(trial_id):
            await _deny(scope, receive, send, 400, "invalid_trial_id", "trial id must match " + TRIAL_ID.pattern)
            return
        key = await self._authenticate(headers, scope)
        if key is None or key.revoked_at is not None:
            code, message = self._refusal(key, headers, scope)
            await _deny(scope, receive, send, 401, code, message)
            return
        transport = "websocket" if scope["type"] == "websocket" else "http"
        state = dict(scope.get("state") or {})
        state[CALLER_STATE] = Caller(key=key, transport=transport, trial_id=trial_id)
        await self.app(dict(scope, state=state), receive, send)

    def _check_host_origin(self, headers: dict[str, str]) -> str | None:
        host = headers.get("host", "")
        if "*" not in self.settings.allowed_hosts and host not in self.settings.allowed_hosts:
            return f"Host header {host!r} is not allowed"
        origin = headers.get("origin")
        if (
            origin is not None
            and "*" not in self.settings.allowed_origins
            and origin not in self.settings.allowed_origins
        ):
            return f"Origin {origin!r} is not allowed"
        return None

    async def _authenticate(self, headers: dict[str, str], scope: Scope) -> ApiKey | None:
        """The key presented (revoked or not), or None when there is none or it is unknown."""
        if not self.settings.require_key:
            return await self.owner()
        raw = _raw_key(headers)
        if raw is None and scope["type"] == "websocket":
            # WebSocket clients in browsers and the mcp 1.x SDK cannot set headers on the handshake.
            raw = _query_key(scope)
        return await self.store.lookup(raw) if raw else None

    def _refusal(self, key: ApiKey | None, headers: dict[str, str], scope: Scope) -> tuple[str, str]:
        how = "send 'Authorization: Bearer <key>' or 'X-API-Key: <key>' (WebSocket: or ?api_key=<key>)"
        if key is not None:
            revoked = KeyRevoked(key.name, key.revoked_at or 0).as_dict()
            return "key_revoked", revoked["message"]
        if _raw_key(headers):
            return "unauthorized", f"unknown API key: {how}"
        if _query_key(scope):
            # Query strings end up in access logs and browser history: accepted only where headers cannot be set.
            return "unauthorized", (
                "the api_key query parameter is accepted only on /ws (WebSocket handshakes cannot carry headers); "
                "on /mcp send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"
            )
        return "unauthorized", f"missing API key: {how}"


def _query_key(scope: Scope) -> str | None:
    found: str | None = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("api_key", [None])[0]
    return found or None


def _raw_key(headers: dict[str, str]) -> str | None:
    auth = headers.get("authorization", "")
    if auth[:7].lower() == "bearer " and auth[7:].strip():
        return auth[7:].strip()
    return headers.get("x-api-key", "").strip() or None


async def _deny(scope: Scope, receive: Receive, send: Send, status: int, code: str, message: str) -> None:
    if scope["type"] == "websocket":
        # Refusing the handshake: the ASGI server answers with an HTTP error before any upgrade.
        await send({"type": "websocket.http.response.start", "status": status, "headers": _json_headers()})
        await send({"type": "websocket.http.response.body", "body": _body(code, message)})
        return
    await send({"type": "http.response.start", "status": status, "headers": _json_headers(status)})
    await send({"type": "http.response.body", "body": _body(code, message)})


def _json_headers(status: int = 0) -> list[tuple[bytes, bytes]]:
    headers = [(b"content-type", b"application/json")]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="afbench"'))
    return headers


def _body(code: str, message: str) -> bytes:
    payload: dict[str, Any] = {"error": {"code": code, "message": message}}
    return json.dumps(payload).encode()
