"""API keys, limits and the usage log in SQLite (aiosqlite, WAL).

Keys are stored only as SHA-256 hashes (they are 256-bit random tokens, so a slow KDF buys nothing).
Quota enforcement is a single ``BEGIN IMMEDIATE`` transaction that counts the caller's calls in the current
windows and, when under every limit, inserts the usage row: N concurrent calls against a remaining quota
of M succeed exactly M times, across connections, transports and server processes sharing the file.
Calls refused by a limit or a revoked key go to ``refusals``, never to ``usage``, so usage counts only
executed calls. The one exception is a call outside the key's tool scope (``api_keys.tools``): it is checked
in the same transaction, before any limit, and logged as a finished ``error`` row with code ``not_allowed``
that moves no counter (the attempt is part of what the client did; it costs no quota).

Every call's row starts ``running`` and ends ``ok``, ``error``, ``cancelled`` (the client went away) or
``interrupted`` (the server process ended first). A server registers itself in ``server_runs``; on start it
settles the ``running`` rows of runs whose process is gone (a crash, ``kill -9``) as ``interrupted``, with
the time of the restart. They still count against the quota: they were admitted, and may have run.

The check reads per-window counters (``usage_counters``: one row per key and minute, day, and tool-day),
incremented in the same transaction as the usage row, so its cost does not grow with the day's traffic and
one call costs five statements: BEGIN, one SELECT of limits and counts, the usage INSERT, one counter UPSERT,
COMMIT.

A call the server faulted on purpose (``faults.py``) is a usage row like any other, with the fault's kind in
``fault``. One whose fault replaced the tool's run (nothing ran for the client) is begun ``charged=False``: no
limit is checked, no counter moves (a revoked key is still refused).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import EllipsisType
from typing import Any

import aiosqlite

from mcp_server.process_identity import ProcessIdentity

KEY_PREFIX = "afb_"
NOT_ALLOWED = "not_allowed"  # the error code of a call outside the key's tool scope
OWNER_NAME = "local-owner"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    key_hash TEXT NOT NULL UNIQUE,
    key_hint TEXT NOT NULL,
    created_at REAL NOT NULL,
    revoked_at REAL,
    per_minute INTEGER,
    per_day INTEGER,
    tools TEXT
);
CREATE TABLE IF NOT EXISTS tool_limits (
    key_id INTEGER NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
    tool TEXT NOT NULL,
    per_day INTEGER NOT NULL,
    PRIMARY KEY (key_id, tool)
);
CREATE TABLE IF NOT EXISTS usage (
    id INTEGER PRIMARY KEY,
    key_id INTEGER NOT NULL REFERENCES api_keys(id),
    started_at REAL NOT NULL,
    tool TEXT NOT NULL,
    transport TEXT NOT NULL,
    mcp_session TEXT,
    trial_id TEXT,
    arguments TEXT NOT NULL,
    arg_bytes INTEGER NOT NULL,
    outcome TEXT NOT NULL DEFAULT 'running',
    error_code TEXT,
    latency_ms REAL,
    server_run INTEGER,
    finished_at REAL,
    fault TEXT
);
CREATE INDEX IF NOT EXISTS usage_by_key_time ON usage (key_id, started_at);
CREATE INDEX IF NOT EXISTS usage_by_trial ON usage (trial_id, id);
CREATE TABLE IF NOT EXISTS server_runs (
    id INTEGER PRIMARY KEY,
    host TEXT NOT NULL,
    process TEXT NOT NULL,
    started_at REAL NOT NULL,
    ended_at REAL
);
CREATE TABLE IF NOT EXISTS usage_counters (
    key_id INTEGER NOT NULL REFERENCES api_keys(id),
    window TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (key_id, window)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS refusals (
    id INTEGER PRIMARY KEY,
    key_id INTEGER NOT NULL REFERENCES api_keys(id),
    at REAL NOT NULL,
    tool TEXT NOT NULL,
    limit_name TEXT NOT NULL,
    trial_id TEXT
);
"""


# Added after the first release; older databases get them on open.
# ``api_keys.tools``: the key's tool scope, a JSON list of tool names; NULL (every key made before scopes
# existed, and every key made without --tools) is the default scope, which the dispatcher defines.
_ADDED_COLUMNS = (
    ("usage", "server_run", "INTEGER"),
    ("usage", "finished_at", "REAL"),
    ("usage", "fault", "TEXT"),
    ("api_keys", "tools", "TEXT"),
)
_RUNNING_INDEX = "CREATE INDEX IF NOT EXISTS usage_running ON usage (server_run) WHERE outcome = 'running'"


class StoreError(Exception):
    """The sessions database cannot be used; the message says which file, why, and what to do."""


class KeyNameError(ValueError):
    """A key name that is invalid, taken, or (for a change) not there."""


def _scope_text(tools: Sequence[str] | None) -> str | None:
    return None if tools is None else json.dumps(sorted(set(tools)))


def hash_key(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode("utf-8")).hexdigest()


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Limits:
    per_minute: int | None = None
    per_day: int | None = None
    per_tool_day: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ApiKey:
    id: int
    name: str
    key_hint: str
    created_at: float
    revoked_at: float | None
    limits: Limits
    tools: tuple[str, ...] | None = None  # the tool scope; None: the default scope

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "key_hint": self.key_hint,
            "created": _iso(self.created_at),
            "revoked": _iso(self.revoked_at),
            "per_minute": self.limits.per_minute,
            "per_day": self.limits.per_day,
            "tool_limits": dict(self.limits.per_tool_day),
            "tools": None if self.tools is None else list(self.tools),
        }


@dataclass(frozen=True)
class QuotaExceeded:
    """Why a call was refused: which limit, how much was used, and when the window resets (UTC)."""

    limit: str
    allowed: int
    used: int
    resets_at: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": "quota_exceeded",
            "limit": self.limit,
            "allowed": self.allowed,
            "used": self.used,
            "resets_at": _iso(self.resets_at),
            "retry_after_s": max(0, round(self.resets_at - time.time(), 1)),
        }

    def message(self) -> str:
        return (
            f"Quota exceeded: limit '{self.limit}' allows {self.allowed} calls, {self.used} used; "
            f"resets at {_iso(self.resets_at)}. The call was not executed."
        )


@dataclass(frozen=True)
class KeyRevoked:
    """The key was revoked (or deleted): every request of every session using it is refused, for good."""

    name: str
    revoked_at: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": "key_revoked",
            "message": f"the API key '{self.name}' was revoked at {_iso(self.revoked_at)}; this session cannot be used "
            "any more: connect again with an active key",
            "revoked_at": _iso(self.revoked_at),
        }


@dataclass(frozen=True)
class NotInScope:
    """The key's tool scope does not include the tool; the call is logged (outcome ``error``, code
    ``not_allowed``) and costs no quota. ``tools``: the key's explicit scope, None for the default one."""

    name: str
    tool: str
    tools: tuple[str, ...] | None
    usage_id: int


@dataclass(frozen=True)
class CallContext:
    """Who is calling and through what, attached to every usage row."""

    key: ApiKey
    transport: str
    mcp_session: str | None = None
    trial_id: str | None = None


PRUNE_EVERY = 10_000


def _scope(text: str | None) -> tuple[str, ...] | None:
    return None if text is None else tuple(json.loads(text))


def _refusal(row: Any, key: ApiKey, tool: str, now: float, minute: int, day: int) -> QuotaExceeded | KeyRevoked | None:
    """Why one more call is refused (revoked key, or the first limit it would break), or None.
    Windows: UTC minute, UTC day."""
    if row is None or row["revoked_at"] is not None:
        return KeyRevoked(key.name, row["revoked_at"] if row is not None else now)
    minute_end, day_end = (minute + 1) * 60.0, (day + 1) * 86400.0
    checks = (
        ("per_minute", row["per_minute"], row["used_minute"], minute_end),
        ("per_day", row["per_day"], row["used_day"], day_end),
        (f"tool:{tool}:per_day", row["per_tool"], row["used_tool"], day_end),
    )
    for name, allowed, used, resets in checks:
        if allowed is not None and (used or 0) >= allowed:
            return QuotaExceeded(name, allowed, used or 0, resets)
    return None


async def _add_missing_columns(connection: aiosqlite.Connection) -> None:
    for table, column, kind in _ADDED_COLUMNS:
        existing = {row[1] for row in await connection.execute_fetchall(f"PRAGMA table_info({table})")}
        if column not in existing:
            await connection.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")


class KeyStore:
    """One aiosqlite connection per store; a process-local lock keeps check-and-count transactions short."""

    def __init__(self, connection: aiosqlite.Connection, path: Path) -> None:
        self._db = connection
        self.path = path
        self._lock = asyncio.Lock()
        self._calls_since_prune = 0
        self.run_id: int | None = None  # set when this store serves calls (a server process)
        self.settled_at_start = 0

    @classmethod
    async def open(cls, path: Path | str, *, serving: bool = False) -> KeyStore:
        """Open (creating if new) the sessions database at ``path``; its folder must exist.

        ``serving``: this process will serve calls — register it, and settle what dead servers left running.
        Raises StoreError for a folder, a missing folder, or a file that is not an afbench SQLite database.
        """
        path = Path(path)
        if path.is_dir():
            raise StoreError(f"{path} is a folder; give the path of a SQLite file, e.g. {path / 'sessions.sqlite'}")
        if not path.parent.is_dir():
            raise StoreError(f"folder {path.parent} does not exist; create it, or give another path")
        try:
            connection = await aiosqlite.connect(path, timeout=30, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open {path}: {exc}") from None
        try:
            connection.row_factory = aiosqlite.Row
            await connection.execute("PRAGMA journal_mode=WAL")
            await connection.execute("PRAGMA synchronous=NORMAL")
            await connection.execute("PRAGMA foreign_keys=ON")
            await connection.executescript(_SCHEMA)
            await _add_missing_columns(connection)
            await connection.execute(_RUNNING_INDEX)
            store = cls(connection, path)
            if serving:
                await store._register_run()
        except sqlite3.DatabaseError as exc:
            # Close it, or aiosqlite's thread keeps the process alive after the error.
            await connection.close()
            raise StoreError(f"{path} is not an afbench sessions database (SQLite: {exc})") from None
        except BaseException:
            await connection.close()
            raise
        return store

    async def close(self) -> None:
        if self.run_id is not None:
            # Calls still running now will never finish: this process is going away.
            async with self._lock:
                now = time.time()
                await self._settle("server_run = ?", (self.run_id,), "interrupted", now)
                await self._db.execute("UPDATE server_runs SET ended_at = ? WHERE id = ?", (now, self.run_id))
        await self._db.close()

    async def _register_run(self) -> None:
        me = ProcessIdentity.current()
        now = time.time()
        runs = await self._db.execute_fetchall(
            "SELECT r.id, r.host, r.process FROM server_runs r WHERE r.ended_at IS NULL"
        )
        dead = []
        for run in runs:
            identity = ProcessIdentity.parse(run["host"], run["process"])
            if identity is None or identity.is_alive() is False:
                dead.append(run["id"])
        async with self._lock:
            settled = 0
            for run_id in dead:
                settled += await self._settle("server_run = ?", (run_id,), "interrupted", now)
                await self._db.execute("UPDATE server_runs SET ended_at = ? WHERE id = ?", (now, run_id))
            # Rows written before servers registered themselves have no run; no live server owns them.
            settled += await self._settle("server_run IS NULL", (), "interrupted", now)
            cursor = await self._db.execute(
                "INSERT INTO server_runs (host, process, started_at) VALUES (?, ?, ?)", (me.host, me.token, now)
            )
        self.run_id = cursor.lastrowid
        self.settled_at_start = settled

    async def _settle(self, where: str, params: Sequence[Any], outcome: str, now: float) -> int:
        """Give every ``running`` row matching ``where`` its final ``outcome``; called under the lock."""
        cursor = await self._db.execute(
            f"UPDATE usage SET outcome = ?, error_code = ?, finished_at = ? WHERE outcome = 'running' AND {where}",
            (outcome, outcome, now, *params),
        )
        return cursor.rowcount

    # --- keys -----------------------------------------------------------------------------------------

    async def create_key(
        self, name: str, limits: Limits = Limits(), tools: Sequence[str] | None = None
    ) -> tuple[ApiKey, str]:
        """Create a key; returns it with the raw secret, which is never stored and never shown again.
        ``tools``: its tool scope (None: the default scope)."""
        name = name.strip()
        if not name or len(name) > 100 or any(ch.isspace() and ch != " " for ch in name):
            raise KeyNameError("key name must be 1-100 printable characters")
        raw = KEY_PREFIX + secrets.token_urlsafe(32)
        async with self._lock:
            try:
                cursor = await self._db.execute(
                    "INSERT INTO api_keys (name, key_hash, key_hint, created_at, per_minute, per_day, tools)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        name,
                        hash_key(raw),
                        raw[:8] + "…",
                        time.time(),
                        limits.per_minute,
                        limits.per_day,
                        _scope_text(tools),
                    ),
                )
            except aiosqlite.IntegrityError:
                raise KeyNameError(f"a key named '{name}' already exists") from None
            key_id = cursor.lastrowid
            assert key_id is not None
            await self._db.executemany(
                "INSERT INTO tool_limits (key_id, tool, per_day) VALUES (?, ?, ?)",
                [(key_id, tool, n) for tool, n in limits.per_tool_day.items()],
            )
        key = await self.get_key(name)
        assert key is not None
        return key, raw

    async def owner_key(self) -> ApiKey:
        """The unlimited identity of a local stdio session started without ``AFBENCH_API_KEY``."""
        key = await self.get_key(OWNER_NAME)
        if key is None:
            try:
                key, _ = await self.create_key(OWNER_NAME)
            except KeyNameError:  # created concurrently by another process
                key = await self.get_key(OWNER_NAME)
        assert key is not None
        return key

    async def _load(self, where: str, params: Sequence[Any]) -> list[ApiKey]:
        rows = await self._db.execute_fetchall(f"SELECT * FROM api_keys WHERE {where} ORDER BY id", params)
        keys = []
        for row in rows:
            tool_rows = await self._db.execute_fetchall(
                "SELECT tool, per_day FROM tool_limits WHERE key_id = ? ORDER BY tool", (row["id"],)
            )
            keys.append(
                ApiKey(
                    id=row["id"],
                    name=row["name"],
                    key_hint=row["key_hint"],
                    created_at=row["created_at"],
                    revoked_at=row["revoked_at"],
                    limits=Limits(row["per_minute"], row["per_day"], {r["tool"]: r["per_day"] for r in tool_rows}),
                    tools=_scope(row["tools"]),
                )
            )
        return keys

    async def get_key(self, name: str) -> ApiKey | None:
        found = await self._load("name = ?", (name,))
        return found[0] if found else None

    async def list_keys(self) -> list[ApiKey]:
        return await self._load("1 = 1", ())

    async def authenticate(self, raw_key: str) -> ApiKey | None:
        """The active key matching ``raw_key``, or None when unknown or revoked."""
        key = await self.lookup(raw_key)
        return key if key is not None and key.revoked_at is None else None

    async def lookup(self, raw_key: str) -> ApiKey | None:
        """The key matching ``raw_key``, revoked or not (so that its holder can be told it was revoked)."""
        found = await self._load("key_hash = ?", (hash_key(raw_key),))
        return found[0] if found else None

    async def revocation(self, key: ApiKey) -> KeyRevoked | None:
        """None while ``key`` is active; checked on every request of a long-lived session (WebSocket, stdio)."""
        rows = await self._db.execute_fetchall("SELECT revoked_at FROM api_keys WHERE id = ?", (key.id,))
        row = next(iter(rows), None)
        if row is not None and row["revoked_at"] is None:
            return None
        return KeyRevoked(key.name, row["revoked_at"] if row is not None else time.time())

    async def tool_scope(self, key: ApiKey) -> tuple[str, ...] | None:
        """``key``'s tool scope as stored now (a long-lived session's key object may predate a change)."""
        rows = await self._db.execute_fetchall("SELECT tools FROM api_keys WHERE id = ?", (key.id,))
        row = next(iter(rows), None)
        return key.tools if row is None else _scope(row["tools"])

    async def set_tools(self, name: str, tools: Sequence[str] | None) -> ApiKey:
        """Replace the tool scope of key ``name`` (None: back to the default scope); applies at the next call."""
        async with self._lock:
            cursor = await self._db.execute("UPDATE api_keys SET tools = ? WHERE name = ?", (_scope_text(tools), name))
        if cursor.rowcount != 1:
            raise KeyNameError(f"no key named '{name}'")
        updated = await self.get_key(name)
        assert updated is not None
        return updated

    async def revoke(self, name: str) -> bool:
        async with self._lock:
            cursor = await self._db.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL", (time.time(), name)
            )
        return cursor.rowcount == 1

    async def set_limits(
        self,
        name: str,
        *,
        per_minute: int | EllipsisType | None = ...,
        per_day: int | EllipsisType | None = ...,
        tool_limits: dict[str, int | None] | None = None,
    ) -> ApiKey:
        """Change limits; ``...`` leaves a limit as it is, None removes it."""
        key = await self.get_key(name)
        if key is None:
            raise KeyNameError(f"no key named '{name}'")
        async with self._lock:
            if per_minute is not ...:
                await self._db.execute("UPDATE api_keys SET per_minute = ? WHERE id = ?", (per_minute, key.id))
            if per_day is not ...:
                await self._db.execute("UPDATE api_keys SET per_day = ? WHERE id = ?", (per_day, key.id))
            for tool, limit in (tool_limits or {}).items():
                if limit is None:
                    await self._db.execute("DELETE FROM tool_limits WHERE key_id = ? AND tool = ?", (key.id, tool))
                else:
                    await self._db.execute(
                        "INSERT INTO tool_limits (key_id, tool, per_day) VALUES (?, ?, ?)"
                        " ON CONFLICT (key_id, tool) DO UPDATE SET per_day = excluded.per_day",
                        (key.id, tool, limit),
                    )
        updated = await self.get_key(name)
        assert updated is not None
        return updated

    # --- quota and usage ------------------------------------------------------------------------------

    async def begin_call(
        self,
        context: CallContext,
        tool: str,
        arguments: dict[str, Any],
        *,
        fault: str | None = None,
        charged: bool = True,
        in_default_scope: bool = True,
    ) -> int | QuotaExceeded | KeyRevoked | NotInScope:
        """Atomically check every limit and record the call; returns the usage row id or the refusal.

        ``fault``: the kind of fault the server injects into this call. ``charged=False``: the call costs the
        caller nothing (its fault replaced the tool's run): the limits are not checked, the counters not moved.
        ``in_default_scope``: whether a key with the default scope may call ``tool``. A call outside the key's
        scope is refused before any limit, and logged as a finished ``error`` row (``not_allowed``) that
        moves no counter: the caller tried it, and it cost them nothing.
        """
        encoded = json.dumps(arguments, ensure_ascii=False, sort_keys=True, default=str)
        key = context.key
        async with self._lock:
            now = time.time()
            minute, day = int(now // 60), int(now // 86400)
            windows = (f"m:{minute}", f"d:{day}", f"t:{day}:{tool}")
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                # Limits are read inside the transaction so `keys set-limit` and `revoke` apply at once.
                row = await (
                    await self._db.execute(
                        "SELECT k.per_minute, k.per_day, k.revoked_at, k.tools,"
                        " (SELECT per_day FROM tool_limits WHERE key_id = k.id AND tool = ?) AS per_tool,"
                        " (SELECT n FROM usage_counters WHERE key_id = k.id AND window = ?) AS used_minute,"
                        " (SELECT n FROM usage_counters WHERE key_id = k.id AND window = ?) AS used_day,"
                        " (SELECT n FROM usage_counters WHERE key_id = k.id AND window = ?) AS used_tool"
                        " FROM api_keys k WHERE k.id = ?",
                        (tool, *windows, key.id),
                    )
                ).fetchone()
                refusal = _refusal(row, key, tool, now, minute, day)
                scope = _scope(row["tools"]) if row is not None else None
                if not isinstance(refusal, KeyRevoked) and not (in_default_scope if scope is None else tool in scope):
                    cursor = await self._db.execute(
                        "INSERT INTO usage (key_id, started_at, tool, transport, mcp_session, trial_id, arguments,"
                        " arg_bytes, server_run, fault, outcome, error_code, latency_ms, finished_at)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'error', ?, ?, ?)",
                        (
                            key.id,
                            now,
                            tool,
                            context.transport,
                            context.mcp_session,
                            context.trial_id,
                            encoded,
                            len(encoded.encode("utf-8")),
                            self.run_id,
                            fault,
                            NOT_ALLOWED,
                            round((time.time() - now) * 1000, 3),
                            time.time(),
                        ),
                    )
                    await self._db.execute("COMMIT")
                    assert cursor.lastrowid is not None
                    return NotInScope(key.name, tool, scope, cursor.lastrowid)
                if not charged and isinstance(refusal, QuotaExceeded):
                    refusal = None
                if refusal is not None:
                    limit_name = refusal.limit if isinstance(refusal, QuotaExceeded) else "key_revoked"
                    await self._db.execute(
                        "INSERT INTO refusals (key_id, at, tool, limit_name, trial_id) VALUES (?, ?, ?, ?, ?)",
                        (key.id, now, tool, limit_name, context.trial_id),
                    )
                    await self._db.execute("COMMIT")
                    return refusal
                cursor = await self._db.execute(
                    "INSERT INTO usage (key_id, started_at, tool, transport, mcp_session, trial_id, arguments,"
                    " arg_bytes, server_run, fault) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        key.id,
                        now,
                        tool,
                        context.transport,
                        context.mcp_session,
                        context.trial_id,
                        encoded,
                        len(encoded.encode("utf-8")),
                        self.run_id,
                        fault,
                    ),
                )
                if charged:
                    await self._db.execute(
                        "INSERT INTO usage_counters (key_id, window, n) VALUES (?, ?, 1), (?, ?, 1), (?, ?, 1)"
                        " ON CONFLICT (key_id, window) DO UPDATE SET n = n + 1",
                        (key.id, windows[0], key.id, windows[1], key.id, windows[2]),
                    )
                await self._db.execute("COMMIT")
            except BaseException:
                await self._db.execute("ROLLBACK")
                raise
            self._calls_since_prune += 1
            if self._calls_since_prune >= PRUNE_EVERY:
                await self._prune_counters(day)
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    async def _prune_counters(self, day: int) -> None:
        """Drop counters of windows that ended before yesterday; called under the lock."""
        self._calls_since_prune = 0
        await self._db.execute(
            "DELETE FROM usage_counters WHERE (window LIKE 'm:%' AND CAST(substr(window, 3) AS INTEGER) < ?)"
            " OR (window NOT LIKE 'm:%' AND CAST(substr(window, 3, instr(substr(window, 3) || ':', ':') - 1)"
            " AS INTEGER) < ?)",
            ((day - 1) * 1440, day - 1),
        )

    async def finish_call(self, usage_id: int, outcome: str, latency_ms: float, error_code: str | None = None) -> None:
        # Under the lock: on this shared connection a statement run while another call holds BEGIN IMMEDIATE
        # joins that transaction, and a crash before its COMMIT would lose an outcome the client already saw.
        async with self._lock:
            await self._db.execute(
                "UPDATE usage SET outcome = ?, latency_ms = ?, error_code = ?, finished_at = ? WHERE id = ?",
                (outcome, round(latency_ms, 3), error_code, time.time(), usage_id),
            )

    async def usage(
        self, *, key_name: str | None = None, trial_id: str | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Usage rows, oldest first, with their arguments decoded."""
        where, params = ["1 = 1"], []
        if key_name is not None:
            where.append("k.name = ?")
            params.append(key_name)
        if trial_id is not None:
            where.append("u.trial_id = ?")
            params.append(trial_id)
        sql = (
            "SELECT u.*, k.name AS key_name FROM usage u JOIN api_keys k ON k.id = u.key_id"
            f" WHERE {' AND '.join(where)} ORDER BY u.id"
        )
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        rows = await self._db.execute_fetchall(sql, params)
        return [
            {
                "id": r["id"],
                "time": _iso(r["started_at"]),
                "started_at": r["started_at"],  # Unix time, for callers that order calls against other events
                "key": r["key_name"],
                "tool": r["tool"],
                "transport": r["transport"],
                "mcp_session": r["mcp_session"],
                "trial_id": r["trial_id"],
                "arguments": json.loads(r["arguments"]),
                "arg_bytes": r["arg_bytes"],
                "outcome": r["outcome"],
                "error_code": r["error_code"],
                "latency_ms": r["latency_ms"],
                "finished": _iso(r["finished_at"]),
                "fault": r["fault"],  # the kind of fault the server injected, or None
            }
            for r in rows
        ]

    async def usage_summary(self) -> list[dict[str, Any]]:
        """Per key and tool: calls, how they ended (errors; interrupted by a server's end; cancelled by the
        client; still running), mean latency of finished calls, and refusals."""
        rows = await self._db.execute_fetchall(
            "SELECT k.name AS key, u.tool AS tool, COUNT(*) AS calls,"
            " SUM(u.outcome = 'error') AS errors, SUM(u.outcome = 'interrupted') AS interrupted,"
            " SUM(u.outcome = 'cancelled') AS cancelled, SUM(u.outcome = 'running') AS running,"
            " ROUND(AVG(u.latency_ms), 2) AS mean_latency_ms"
            " FROM usage u JOIN api_keys k ON k.id = u.key_id GROUP BY k.name, u.tool ORDER BY k.name, u.tool"
        )
        refused = await self._db.execute_fetchall(
            "SELECT k.name AS key, r.tool AS tool, COUNT(*) AS n FROM refusals r JOIN api_keys k ON k.id = r.key_id"
            " GROUP BY k.name, r.tool"
        )
        refusals = {(r["key"], r["tool"]): r["n"] for r in refused}
        summary = [dict(r) | {"refused": refusals.pop((r["key"], r["tool"]), 0)} for r in rows]
        summary += [
            {
                "key": k,
                "tool": t,
                "calls": 0,
                "errors": 0,
                "interrupted": 0,
                "cancelled": 0,
                "running": 0,
                "mean_latency_ms": None,
                "refused": n,
            }
            for (k, t), n in refusals.items()
        ]
        return summary
