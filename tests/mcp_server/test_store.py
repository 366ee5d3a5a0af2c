"""Key store: hashed keys, limits, atomic check-and-count, usage log — against a real SQLite file."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from mcp_server.process_identity import ProcessIdentity
from mcp_server.store import CallContext, KeyRevoked, KeyStore, Limits, NotInScope, QuotaExceeded, hash_key


@pytest.fixture
async def store(tmp_path: Path) -> KeyStore:
    opened = await KeyStore.open(tmp_path / "sessions.sqlite")
    yield opened  # type: ignore[misc]
    await opened.close()


async def test_raw_key_is_never_stored(store: KeyStore, tmp_path: Path) -> None:
    key, raw = await store.create_key("alice")
    assert raw.startswith("afb_") and len(raw) > 40
    dump = "\n".join(sqlite3.connect(tmp_path / "sessions.sqlite").iterdump())
    assert raw not in dump
    assert hash_key(raw) in dump
    assert (await store.authenticate(raw)) == key
    assert await store.authenticate(raw + "x") is None


async def test_duplicate_names_and_bad_names_are_refused(store: KeyStore) -> None:
    await store.create_key("bob")
    with pytest.raises(ValueError, match="already exists"):
        await store.create_key("bob")
    with pytest.raises(ValueError, match="1-100"):
        await store.create_key("   ")


async def test_revoked_key_no_longer_authenticates_and_is_refused_mid_session(store: KeyStore) -> None:
    key, raw = await store.create_key("carol")
    context = CallContext(key, "http")
    assert isinstance(await store.begin_call(context, "calculator", {}), int)
    assert await store.revoke("carol")
    assert not await store.revoke("carol")
    assert await store.authenticate(raw) is None
    refusal = await store.begin_call(context, "calculator", {})
    assert isinstance(refusal, KeyRevoked) and refusal.as_dict()["code"] == "key_revoked"
    assert "retry_after_s" not in refusal.as_dict() and "resets_at" not in refusal.as_dict()


async def test_concurrent_calls_get_exactly_the_quota(store: KeyStore) -> None:
    key, _ = await store.create_key("dave", Limits(per_day=20))
    context = CallContext(key, "http")
    results = await asyncio.gather(*(store.begin_call(context, "calculator", {"n": i}) for i in range(120)))
    granted = [r for r in results if isinstance(r, int)]
    refused = [r for r in results if isinstance(r, QuotaExceeded)]
    assert len(granted) == 20 and len(refused) == 100
    assert len(await store.usage(key_name="dave")) == 20
    assert {r.limit for r in refused} == {"per_day"}
    assert refused[0].as_dict()["used"] == 20 and refused[0].as_dict()["resets_at"].endswith("+00:00")


async def test_two_stores_on_one_file_share_the_quota(tmp_path: Path) -> None:
    first = await KeyStore.open(tmp_path / "s.sqlite")
    second = await KeyStore.open(tmp_path / "s.sqlite")
    try:
        key, _ = await first.create_key("erin", Limits(per_minute=10))
        calls = [s.begin_call(CallContext(key, "ws"), "search", {}) for s in (first, second) for _ in range(15)]
        results = await asyncio.gather(*calls)
        assert sum(isinstance(r, int) for r in results) == 10
    finally:
        await first.close()
        await second.close()


async def test_per_tool_limit_only_touches_that_tool(store: KeyStore) -> None:
    key, _ = await store.create_key("frank", Limits(per_tool_day={"weather": 2}))
    context = CallContext(key, "stdio")
    outcomes = [await store.begin_call(context, "weather", {}) for _ in range(3)]
    assert isinstance(outcomes[2], QuotaExceeded) and outcomes[2].limit == "tool:weather:per_day"
    assert isinstance(await store.begin_call(context, "calculator", {}), int)


async def test_set_limits_applies_at_once(store: KeyStore) -> None:
    key, _ = await store.create_key("gina", Limits(per_minute=1))
    context = CallContext(key, "http")
    assert isinstance(await store.begin_call(context, "calculator", {}), int)
    assert isinstance(await store.begin_call(context, "calculator", {}), QuotaExceeded)
    updated = await store.set_limits("gina", per_minute=None, tool_limits={"search": 5})
    assert updated.limits.per_minute is None and updated.limits.per_tool_day == {"search": 5}
    assert isinstance(await store.begin_call(context, "calculator", {}), int)


async def test_usage_log_keeps_order_trial_and_arguments(store: KeyStore) -> None:
    key, _ = await store.create_key("hank")
    for i, tool in enumerate(["search", "calculator", "search"]):
        usage_id = await store.begin_call(CallContext(key, "http", "sess-1", "trial-7"), tool, {"i": i, "q": "ü"})
        assert isinstance(usage_id, int)
        await store.finish_call(usage_id, "ok", 1.5)
    await store.begin_call(CallContext(key, "http", "sess-1", "other"), "weather", {})
    rows = await store.usage(trial_id="trial-7")
    assert [(r["tool"], r["arguments"]["i"]) for r in rows] == [("search", 0), ("calculator", 1), ("search", 2)]
    assert rows[0]["arguments"]["q"] == "ü" and rows[0]["outcome"] == "ok" and rows[0]["mcp_session"] == "sess-1"


async def test_owner_key_is_created_once(store: KeyStore) -> None:
    first = await store.owner_key()
    assert (await store.owner_key()).id == first.id
    assert first.limits == Limits()


async def test_windows_reset_and_old_counters_are_pruned(store: KeyStore, monkeypatch: pytest.MonkeyPatch) -> None:
    import mcp_server.store as store_module

    clock = [1_800_000_000.0]  # a fixed instant; the store reads time through time.time
    monkeypatch.setattr(store_module.time, "time", lambda: clock[0])
    key, _ = await store.create_key("ivy", Limits(per_minute=1, per_day=3))
    context = CallContext(key, "http")
    assert isinstance(await store.begin_call(context, "calculator", {}), int)
    refused = await store.begin_call(context, "calculator", {})
    assert isinstance(refused, QuotaExceeded) and refused.limit == "per_minute"
    assert refused.resets_at == (clock[0] // 60 + 1) * 60
    clock[0] += 60  # next minute: the minute window is fresh, the day window is not
    assert isinstance(await store.begin_call(context, "calculator", {}), int)
    clock[0] += 60
    assert isinstance(await store.begin_call(context, "calculator", {}), int)
    clock[0] += 60
    day_refusal = await store.begin_call(context, "calculator", {})
    assert isinstance(day_refusal, QuotaExceeded) and day_refusal.limit == "per_day"
    clock[0] += 3 * 86400  # days later the old windows are pruned on the next sweep
    monkeypatch.setattr(store_module, "PRUNE_EVERY", 1)
    assert isinstance(await store.begin_call(context, "calculator", {}), int)
    windows = sqlite3.connect(store.path).execute("SELECT window FROM usage_counters").fetchall()
    day = int(clock[0] // 86400)
    assert sorted(w for (w,) in windows) == sorted([f"d:{day}", f"t:{day}:calculator", f"m:{int(clock[0] // 60)}"])
    assert len(await store.usage(key_name="ivy")) == 4


async def test_an_outcome_is_committed_before_finish_call_returns(tmp_path: Path) -> None:
    """finish_call used to run outside the lock: its UPDATE joined another call's open BEGIN IMMEDIATE, so the
    client saw success while the outcome was not yet committed (and a crash then lost it)."""
    path = tmp_path / "s.sqlite"
    store = await KeyStore.open(path, serving=True)
    try:
        key, _ = await store.create_key("frank")
        first = await store.begin_call(CallContext(key, "http"), "calculator", {"n": 1})
        assert isinstance(first, int)
        in_transaction, release = asyncio.Event(), asyncio.Event()
        original = store._db.execute

        async def slow_execute(sql: str, *args: object) -> object:
            result = await original(sql, *args)
            if sql.startswith("INSERT INTO usage_counters"):  # inside the second call's transaction
                in_transaction.set()
                await release.wait()
            return result

        store._db.execute = slow_execute  # type: ignore[assignment,method-assign]
        second = asyncio.create_task(store.begin_call(CallContext(key, "http"), "calculator", {"n": 2}))
        await in_transaction.wait()
        finished = asyncio.create_task(store.finish_call(first, "ok", 1.0))
        try:
            await asyncio.sleep(0.2)
            assert not finished.done()  # it waits for the open transaction instead of joining it
        finally:
            release.set()
            await asyncio.gather(second, finished)
        outcome = sqlite3.connect(path).execute("SELECT outcome FROM usage WHERE id = ?", (first,)).fetchone()
        assert outcome == ("ok",)  # committed: visible from another connection
    finally:
        await store.close()


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


async def test_a_starting_server_settles_the_calls_a_dead_server_left_running(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    live = await KeyStore.open(path, serving=True)  # a server that is still running
    key, _ = await live.create_key("gail", Limits(per_day=10))
    live_call = await live.begin_call(CallContext(key, "http"), "calculator", {"live": True})
    dead = ProcessIdentity(socket.gethostname(), ProcessIdentity.current().boot, _dead_pid(), "1")
    with sqlite3.connect(path) as db:  # what a server killed with SIGKILL leaves behind
        run = db.execute(
            "INSERT INTO server_runs (host, process, started_at) VALUES (?, ?, 0)", (dead.host, dead.token)
        ).lastrowid
        db.execute(
            "INSERT INTO usage (key_id, started_at, tool, transport, arguments, arg_bytes, server_run)"
            " VALUES (?, 0, 'calculator', 'http', '{}', 2, ?)",
            (key.id, run),
        )
    restarted = await KeyStore.open(path, serving=True)
    try:
        assert restarted.settled_at_start == 1
        rows = {r["id"]: r for r in await restarted.usage(key_name="gail")}
        assert rows[live_call]["outcome"] == "running"  # the live server's call is left alone
        (interrupted,) = [r for r in rows.values() if r["id"] != live_call]
        assert interrupted["outcome"] == "interrupted" and interrupted["error_code"] == "interrupted"
        assert interrupted["finished"] is not None
        summary = (await restarted.usage_summary())[0]
        assert (summary["calls"], summary["errors"], summary["interrupted"], summary["running"]) == (2, 0, 1, 1)
    finally:
        await restarted.close()
        await live.close()
    # A clean stop settles its own unfinished calls as well; nothing stays running.
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT COUNT(*) FROM usage WHERE outcome = 'running'").fetchone() == (0,)
        assert db.execute("SELECT COUNT(*) FROM server_runs WHERE ended_at IS NULL").fetchone() == (0,)


async def test_a_database_of_the_previous_release_gains_the_new_columns(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript(
            "CREATE TABLE usage (id INTEGER PRIMARY KEY, key_id INTEGER NOT NULL, started_at REAL NOT NULL,"
            " tool TEXT NOT NULL, transport TEXT NOT NULL, mcp_session TEXT, trial_id TEXT, arguments TEXT NOT NULL,"
            " arg_bytes INTEGER NOT NULL, outcome TEXT NOT NULL DEFAULT 'running', error_code TEXT, latency_ms REAL);"
            "INSERT INTO usage (key_id, started_at, tool, transport, arguments, arg_bytes)"
            " VALUES (1, 0, 'x', 'http', '{}', 2);"
        )
    store = await KeyStore.open(path, serving=True)
    try:
        # The old release's running row has no server run: no live server can own it.
        assert store.settled_at_start == 1
    finally:
        await store.close()


async def test_keys_made_before_scopes_keep_working_with_the_default_scope(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as old:  # the api_keys table as it was before tool scopes
        old.execute(
            "CREATE TABLE api_keys (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, key_hash TEXT NOT NULL UNIQUE,"
            " key_hint TEXT NOT NULL, created_at REAL NOT NULL, revoked_at REAL, per_minute INTEGER, per_day INTEGER)"
        )
        old.execute("INSERT INTO api_keys VALUES (1, 'veteran', ?, 'afb_x…', 0, NULL, NULL, 5)", (hash_key("afb_x"),))
    store = await KeyStore.open(path)
    try:
        key = await store.authenticate("afb_x")
        assert key is not None and key.tools is None and key.limits.per_day == 5
        context = CallContext(key, "test")
        assert isinstance(await store.begin_call(context, "calculator", {}), int)
        refused = await store.begin_call(context, "run_python", {}, in_default_scope=False)
        assert isinstance(refused, NotInScope) and refused.tools is None
    finally:
        await store.close()


async def test_a_call_outside_the_scope_is_logged_and_costs_no_quota(store: KeyStore) -> None:
    key, _ = await store.create_key("scoped", Limits(per_day=1), tools=["calculator"])
    assert key.tools == ("calculator",)
    context = CallContext(key, "test", trial_id="scope-1")
    refused = await store.begin_call(context, "weather", {"location": "Lisbon"})
    assert isinstance(refused, NotInScope) and refused.tools == ("calculator",)
    assert isinstance(await store.begin_call(context, "calculator", {}), int)  # the day's one call is still there
    assert isinstance(await store.begin_call(context, "calculator", {}), QuotaExceeded)
    rows = await store.usage(trial_id="scope-1")
    assert [(r["tool"], r["outcome"], r["error_code"]) for r in rows] == [
        ("weather", "error", "not_allowed"),
        ("calculator", "running", None),
    ]
    widened = await store.set_tools("scoped", ["calculator", "weather"])
    assert widened.tools == ("calculator", "weather") and await store.tool_scope(key) == ("calculator", "weather")
    assert (await store.set_tools("scoped", None)).tools is None
