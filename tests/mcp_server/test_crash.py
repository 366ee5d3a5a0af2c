"""A real server killed with SIGKILL in the middle of concurrent calls, then restarted on the same database:
nothing committed is lost, no call stays ``running``, and the quota counts exactly what was admitted.

Before the fix, a call's outcome could be written inside another call's open transaction and be lost with
it (2 of 5 crash runs lost successes the client had seen), and every call in flight stayed ``running`` for
ever, counted as an error by ``afbench usage``.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from tests.servers import RunningServer, afbench, create_key, http_server

pytestmark = pytest.mark.e2e

SESSIONS = 8
KILL_AFTER = 120  # successes seen before the kill
CRASHES = 2
# A read-only query that runs for a second or two, so that calls are surely in flight at the kill.
SLOW_SQL = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000) SELECT COUNT(*) FROM c"
SLOW_CALLS = 2


async def _hammer(
    server: RunningServer, key: str, seen_ok: set[str], enough: asyncio.Event, stop: asyncio.Event, worker: int
) -> None:
    """Calls until the server dies; records every expression whose success the client saw."""
    try:
        async with (
            httpx.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=30) as http,
            streamable_http_client(server.mcp_url, http_client=http) as (read, write, _),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            if worker < 0:
                await session.call_tool("sql_query", {"sql": SLOW_SQL})
                return
            for i in range(100_000):
                if stop.is_set():
                    return
                expression = f"{worker} * 100000 + {i}"
                result = await session.call_tool("calculator", {"expression": expression})
                if not result.isError:
                    seen_ok.add(expression)
                    if len(seen_ok) >= KILL_AFTER:
                        enough.set()
    except BaseException:  # the server went away mid-call: that is the point
        return


async def _crash_once(db: Path, key: str) -> set[str]:
    seen_ok: set[str] = set()
    enough, stop = asyncio.Event(), asyncio.Event()
    with http_server(db) as server:
        workers = [asyncio.create_task(_hammer(server, key, seen_ok, enough, stop, w)) for w in range(SESSIONS)]
        await asyncio.wait_for(enough.wait(), 120)
        workers += [asyncio.create_task(_hammer(server, key, seen_ok, enough, stop, -1 - n)) for n in range(SLOW_CALLS)]
        await asyncio.wait_for(_running_slow_calls(db), 60)
        server.process.kill()  # SIGKILL: no shutdown code runs
        server.process.wait()
        stop.set()
        for worker in workers:
            worker.cancel()
        await asyncio.wait(workers, timeout=30)
    return seen_ok


async def _running_slow_calls(db: Path) -> None:
    while True:
        with sqlite3.connect(db) as check:
            running = check.execute(
                "SELECT COUNT(*) FROM usage WHERE outcome = 'running' AND tool = 'sql_query'"
            ).fetchone()[0]
        if running >= SLOW_CALLS:
            return
        await asyncio.sleep(0.02)


def _rows(db: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(afbench("usage", "--key", "crash", "--json", db=db).stdout)
    return rows


async def test_a_killed_server_loses_nothing_and_a_restart_settles_what_was_in_flight(tmp_path: Path) -> None:
    db = tmp_path / "sessions.sqlite"
    key = create_key(db, "crash", "--per-day", "100000")
    seen_ok: set[str] = set()
    for _ in range(CRASHES):
        seen_ok |= await _crash_once(db, key)
        with http_server(db) as restarted:  # the restart settles what the dead process left running
            assert any("now 'interrupted'" in line for line in restarted.log) or all(
                r["outcome"] != "running" for r in _rows(db)
            )
    with sqlite3.connect(db) as check:
        assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        counted = check.execute("SELECT SUM(n) FROM usage_counters WHERE window LIKE 'd:%'").fetchone()[0]
    rows = _rows(db)
    outcomes = {r["outcome"] for r in rows}
    assert "running" not in outcomes and outcomes <= {"ok", "interrupted"}, outcomes
    ok_rows = {r["arguments"]["expression"] for r in rows if r["outcome"] == "ok"}
    assert seen_ok <= ok_rows, f"{len(seen_ok - ok_rows)} successes the client saw have no 'ok' row"
    interrupted = [r for r in rows if r["outcome"] == "interrupted"]
    assert len(interrupted) >= CRASHES * SLOW_CALLS  # at least the slow calls of every crash
    assert all(r["error_code"] == "interrupted" and r["finished"] is not None for r in interrupted)
    # Quota arithmetic as documented: every admitted call counts, interrupted ones included.
    assert counted == len(rows)
    summary = afbench("usage", "--key", "crash", db=db).stdout.splitlines()
    header = summary[0].split()[:7]
    lines = [dict(zip(header, line.split()[:7], strict=True)) for line in summary[1:]]
    assert sum(int(t["calls"]) for t in lines) == len(rows)
    assert {t["running"] for t in lines} == {"0"} and {t["errors"] for t in lines} == {"0"}
    assert sum(int(t["interrupted"]) for t in lines) == len(interrupted)
    # The limit is checked against that count: exactly the remainder is still allowed.
    allowed = len(rows) + 2
    afbench("keys", "set-limit", "crash", "--per-day", str(allowed), db=db)
    with http_server(db) as server:
        async with (
            httpx.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=30) as http,
            streamable_http_client(server.mcp_url, http_client=http) as (read, write, _),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            results = [await session.call_tool("calculator", {"expression": f"{n} + 1"}) for n in range(3)]
    assert [r.isError for r in results] == [False, False, True]
    refusal = json.loads(results[2].content[0].text)["error"]  # type: ignore[union-attr]
    assert (refusal["code"], refusal["allowed"], refusal["used"]) == ("quota_exceeded", allowed, allowed)
