"""Key store: hashed keys, limits, atomic check-and-count, usage log — against a real SQLite file."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from mcp_server.store import CallContext, KeyStore, Limits, QuotaExceeded, hash_key


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
    assert isinstance(refusal, QuotaExceeded) and refusal.limit == "key_revoked"


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
