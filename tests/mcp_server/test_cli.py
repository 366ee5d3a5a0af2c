"""The admin CLI as an operator uses it: keys, limits, revocation, usage — against a real sessions database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.servers import afbench, create_key, http_server

CHINOOK = Path(__file__).resolve().parents[3] / "shared" / "data" / "chinook" / "Chinook_Sqlite.sqlite"


def test_key_lifecycle(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite"
    created = afbench("keys", "create", "--name", "ci", "--per-minute", "5", "--tool-limit", "weather=2", db=db)
    raw = created.stdout.strip().splitlines()[-1]
    assert raw.startswith("afb_") and "not shown again" in created.stdout
    listed = json.loads(afbench("keys", "list", "--json", db=db).stdout)
    assert listed == [
        {
            "name": "ci",
            "key_hint": raw[:8] + "…",
            "created": listed[0]["created"],
            "revoked": None,
            "per_minute": 5,
            "per_day": None,
            "tool_limits": {"weather": 2},
        }
    ]
    assert raw not in afbench("keys", "list", db=db).stdout
    changed = json.loads(afbench("keys", "set-limit", "ci", "--per-minute", "0", "--per-day", "100", db=db).stdout)
    assert (changed["per_minute"], changed["per_day"]) == (None, 100)
    assert "revoked 'ci'" in afbench("keys", "revoke", "ci", db=db).stdout
    assert json.loads(afbench("keys", "list", "--json", db=db).stdout)[0]["revoked"] is not None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("keys", "revoke", "nobody"), "no active key named 'nobody'"),
        (("keys", "set-limit", "nobody", "--per-day", "1"), "no key named 'nobody'"),
        (("keys", "create", "--name", "dup"), "already exists"),
    ],
)
def test_operator_mistakes_get_clear_errors(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    db = tmp_path / "s.sqlite"
    create_key(db, "dup")
    result = afbench(*args, db=db, check=False)
    assert result.returncode == 2 and message in result.stderr


def test_bad_limit_values_are_refused_by_the_parser(tmp_path: Path) -> None:
    for bad in (["--per-day", "-3"], ["--tool-limit", "weather"], ["--per-minute", "many"]):
        result = afbench("keys", "create", "--name", "x", *bad, db=tmp_path / "s.sqlite", check=False)
        assert result.returncode == 2 and "error" in result.stderr


@pytest.mark.skipif(not CHINOOK.is_file(), reason=f"Chinook sample database not found at {CHINOOK}")
async def test_any_sqlite_file_can_back_the_sql_tools(tmp_path: Path) -> None:
    from mcp import ClientSession

    from tests.mcp_server.test_transports import http_session

    db = tmp_path / "s.sqlite"
    key = create_key(db, "chinook")
    with http_server(db, "--sql-database", str(CHINOOK)) as running:
        async with http_session(running.mcp_url, key) as session:
            assert isinstance(session, ClientSession)
            schema = await session.call_tool("sql_schema", {"question": "Which invoices did customers pay?"})
            assert "Invoice" in {t["name"] for t in schema.structuredContent["tables"]}  # type: ignore[index]
            result = await session.call_tool("sql_query", {"sql": "SELECT COUNT(*) AS n FROM Invoice"})
            assert result.structuredContent["rows"] == [[412]]  # type: ignore[index]
            write = await session.call_tool("sql_query", {"sql": "DELETE FROM Invoice"})
            assert write.isError
    summary = afbench("usage", db=db).stdout
    assert "sql_query" in summary and "errors=1" in summary
