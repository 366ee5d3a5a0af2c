"""API keys, limits and the usage log in SQLite (aiosqlite, WAL).

Keys are stored only as SHA-256 hashes (they are 256-bit random tokens, so a slow KDF buys nothing).
Quota enforcement is a single ``BEGIN IMMEDIATE`` transaction that counts the caller's calls in the current
windows and, when under every limit, inserts the usage row: N concurrent calls against a remaining quota
of M succeed exactly M times, across connections, transports and server processes sharing the file.
Refused calls go to ``refusals``, never to ``usage``, so usage counts only executed calls.

The check reads per-window counters (``usage_counters``: one row per key and minute, day, and tool-day),
incremented in the same transaction as the usage row, so its cost does not grow with the day's traffic and
one call costs five statements: BEGIN, one SELECT of limits and counts, the usage INSERT, one counter UPSERT,
COMMIT.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import EllipsisType
from typing import Any

import aiosqlite

KEY_PREFIX = "afb_"
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
    per_day INTEGER
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
    latency_ms REAL
);
CREATE INDEX IF NOT EXISTS usage_by_key_time ON usage (key_id, started_at);
CREATE INDEX IF NOT EXISTS usage_by_trial ON usage (trial_id, id);
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

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "key_hint": self.key_hint,
            "created": _iso(self.created_at),
            "revoked": _iso(self.revoked_at),
            "per_minute": self.limits.per_minute,
            "per_day": self.limits.per_day,
            "tool_limits": dict(self.limits.per_tool_day),
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
class CallContext:
    """Who is calling and through what, attached to every usage row."""

    key: ApiKey
    transport: str
    mcp_session: str | None = None
    trial_id: str | None = None


PRUNE_EVERY = 10_000


def _refusal(row: Any, tool: str, now: float, minute: int, day: int) -> QuotaExceeded | None:
    """The first limit that one more call would break, or None. Windows: UTC minute, UTC day."""
    if row is None or row["revoked_at"] is not None:
        return QuotaExceeded("key_revoked", 0, 0, now)
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


class KeyStore:
    """One aiosqlite connection per store; a process-local lock keeps check-and-count transactions short."""

    def __init__(self, connection: aiosqlite.Connection, path: Path) -> None:
        self._db = connection
        self.path = path
        self._lock = asyncio.Lock()
        self._calls_since_prune = 0

    @classmethod
    async def open(cls, path: Path | str) -> KeyStore:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        connection = await aiosqlite.connect(path, timeout=30, isolation_level=None)
        connection.row_factory = aiosqlite.Row
        await connection.execute("PRAGMA journal_mode=WAL")
        await connection.execute("PRAGMA synchronous=NORMAL")
        await connection.execute("PRAGMA foreign_keys=ON")
        await connection.executescript(_SCHEMA)
        return cls(connection, path)

    async def close(self) -> None:
        await self._db.close()

    # --- keys -----------------------------------------------------------------------------------------

    async def create_key(self, name: str, limits: Limits = Limits()) -> tuple[ApiKey, str]:
        """Create a key; returns it with the raw secret, which is never stored and never shown again."""
        name = name.strip()
        if not name or len(name) > 100 or any(ch.isspace() and ch != " " for ch in name):
            raise ValueError("key name must be 1-100 printable characters")
        raw = KEY_PREFIX + secrets.token_urlsafe(32)
        async with self._lock:
            try:
                cursor = await self._db.execute(
                    "INSERT INTO api_keys (name, key_hash, key_hint, created_at, per_minute, per_day)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (name, hash_key(raw), raw[:8] + "…", time.time(), limits.per_minute, limits.per_day),
                )
            except aiosqlite.IntegrityError:
                raise ValueError(f"a key named '{name}' already exists") from None
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
            except ValueError:  # created concurrently by another process
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
        found = await self._load("key_hash = ? AND revoked_at IS NULL", (hash_key(raw_key),))
        return found[0] if found else None

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
            raise ValueError(f"no key named '{name}'")
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

    async def begin_call(self, context: CallContext, tool: str, arguments: dict[str, Any]) -> int | QuotaExceeded:
        """Atomically check every limit and record the call; returns the usage row id or the refusal."""
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
                        "SELECT k.per_minute, k.per_day, k.revoked_at,"
                        " (SELECT per_day FROM tool_limits WHERE key_id = k.id AND tool = ?) AS per_tool,"
                        " (SELECT n FROM usage_counters WHERE key_id = k.id AND window = ?) AS used_minute,"
                        " (SELECT n FROM usage_counters WHERE key_id = k.id AND window = ?) AS used_day,"
                        " (SELECT n FROM usage_counters WHERE key_id = k.id AND window = ?) AS used_tool"
                        " FROM api_keys k WHERE k.id = ?",
                        (tool, *windows, key.id),
                    )
                ).fetchone()
                refusal = _refusal(row, tool, now, minute, day)
                if refusal is not None:
                    await self._db.execute(
                        "INSERT INTO refusals (key_id, at, tool, limit_name, trial_id) VALUES (?, ?, ?, ?, ?)",
                        (key.id, now, tool, refusal.limit, context.trial_id),
                    )
                    await self._db.execute("COMMIT")
                    return refusal
                cursor = await self._db.execute(
                    "INSERT INTO usage (key_id, started_at, tool, transport, mcp_session, trial_id, arguments,"
                    " arg_bytes) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        key.id,
                        now,
                        tool,
                        context.transport,
                        context.mcp_session,
                        context.trial_id,
                        encoded,
                        len(encoded.encode("utf-8")),
                    ),
                )
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
        await self._db.execute(
            "UPDATE usage SET outcome = ?, latency_ms = ?, error_code = ? WHERE id = ?",
            (outcome, round(latency_ms, 3), error_code, usage_id),
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
            }
            for r in rows
        ]

    async def usage_summary(self) -> list[dict[str, Any]]:
        """Per key and tool: calls, errors, mean latency, and refusals."""
        rows = await self._db.execute_fetchall(
            "SELECT k.name AS key, u.tool AS tool, COUNT(*) AS calls,"
            " SUM(u.outcome != 'ok') AS errors, ROUND(AVG(u.latency_ms), 2) AS mean_latency_ms"
            " FROM usage u JOIN api_keys k ON k.id = u.key_id GROUP BY k.name, u.tool ORDER BY k.name, u.tool"
        )
        refused = await self._db.execute_fetchall(
            "SELECT k.name AS key, r.tool AS tool, COUNT(*) AS n FROM refusals r JOIN api_keys k ON k.id = r.key_id"
            " GROUP BY k.name, r.tool"
        )
        refusals = {(r["key"], r["tool"]): r["n"] for r in refused}
        summary = [dict(r) | {"refused": refusals.pop((r["key"], r["tool"]), 0)} for r in rows]
        summary += [
            {"key": k, "tool": t, "calls": 0, "errors": 0, "mean_latency_ms": None, "refused": n}
            for (k, t), n in refusals.items()
        ]
        return summary
