"""The admin CLI as an operator uses it: keys, limits, revocation, usage — against a real sessions database."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.servers import AFBENCH, afbench, create_key, http_server

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
            "tools": None,  # the default scope
            "allowed": ["calculator", "rag_search", "search", "sql_query", "sql_schema", "text2sql", "weather"],
        }
    ]
    assert raw not in afbench("keys", "list", db=db).stdout
    changed = json.loads(
        afbench("keys", "set-limit", "ci", "--per-minute", "0", "--per-day", "100", "--json", db=db).stdout
    )
    assert (changed["per_minute"], changed["per_day"]) == (None, 100)
    # Without --json, set-limit answers in the same words as create and list.
    said = afbench("keys", "set-limit", "ci", "--tool-limit", "weather=0", db=db).stdout
    assert said.strip() == f"key 'ci' ({raw[:8]}…): 100/day; tools: default (every tool but run_python)"
    table = afbench("keys", "list", db=db).stdout.splitlines()
    assert table[0].split() == ["name", "key", "state", "limits", "tools"] and table[1].split()[:3] == [
        "ci",
        raw[:8] + "…",
        "active",
    ]
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
    rows = {line.split()[1]: line.split() for line in afbench("usage", db=db).stdout.splitlines()[1:]}
    assert rows["sql_query"][2:4] == ["2", "1"]  # calls, errors


def _one_clear_line(result: Any, *needles: str) -> None:
    """Exit status 2, no traceback, and a single ``error:`` line that says what is wrong."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and "Error:" not in result.stderr.replace("error:", ""), result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 or lines[-1].startswith("afbench"), lines
    for needle in needles:
        assert needle in result.stderr, (needle, result.stderr)


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (("serve", "--transport", "stdio", "--port", "8766"), ("--port", "only apply to --transport http")),
        (("serve", "--port", "70000"), ("--port", "between 0 and 65535")),
        (("serve", "--port", "eighty"), ("--port", "expected a port number")),
        (
            ("keys", "create", "--name", "x", "--tool-limit", "nosuchtool=5"),
            ("unknown tool 'nosuchtool'", "calculator"),
        ),
        (
            ("keys", "create", "--name", "x", "--per-minute", "abc"),
            ("--per-minute", "positive whole number, got 'abc'"),
        ),
        (("keys", "set-limit", "x", "--tool-limit", "weather=lots"), ("--tool-limit", "got 'lots'")),
        (("keys", "set-limit", "x", "--tool-limit", "nosuchtool=1"), ("unknown tool 'nosuchtool'",)),
        (("keys", "set-limit", "x"), ("nothing to change",)),
    ],
)
def test_command_line_mistakes_get_one_clear_line(
    tmp_path: Path, args: tuple[str, ...], needles: tuple[str, ...]
) -> None:
    _one_clear_line(afbench(*args, db=tmp_path / "s.sqlite", check=False), *needles)


def test_a_port_in_use_is_named_not_a_traceback(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        result = afbench("serve", "--transport", "http", "--port", port, db=tmp_path / "s.sqlite", check=False)
    _one_clear_line(result, f"127.0.0.1:{port}", "in use", "--port")


@pytest.mark.parametrize(
    "command", [("keys", "list"), ("usage",), ("keys", "create", "--name", "x"), ("serve", "--port", "0")]
)
def test_a_database_that_is_not_one_is_refused_at_once(tmp_path: Path, command: tuple[str, ...]) -> None:
    text_file = tmp_path / "notes.sqlite"
    text_file.write_text("these are my notes, not a database\n" * 50)
    started = time.monotonic()
    _one_clear_line(afbench(*command, db=text_file, check=False), "notes.sqlite", "not an afbench sessions database")
    assert time.monotonic() - started < 30  # it used to hang forever
    assert text_file.read_text().startswith("these are my notes")  # and it is left as it was
    _one_clear_line(afbench(*command, db=tmp_path, check=False), "is a folder")
    missing = tmp_path / "typo" / "s.sqlite"
    _one_clear_line(afbench(*command, db=missing, check=False), "does not exist")
    assert not missing.parent.exists()  # no folders made for a mistyped path


def test_a_wrong_sql_database_is_refused_at_start(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a database")
    for path, needle in ((tmp_path / "missing.sqlite", "No database file"), (tmp_path / "notes.txt", "not a readable")):
        result = afbench("serve", "--port", "0", "--sql-database", str(path), db=tmp_path / "s.sqlite", check=False)
        _one_clear_line(result, "--sql-database", needle)


def test_http_options_imply_the_http_transport(tmp_path: Path) -> None:
    with http_server(tmp_path / "s.sqlite") as running:  # the helper passes --transport http
        assert running.base_url.startswith("http://127.0.0.1:")
    process = subprocess.Popen(
        [*AFBENCH, "serve", "--port", "0", "--db", str(tmp_path / "s.sqlite")],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        first_line: list[str] = []
        reader = threading.Thread(target=lambda: first_line.append(process.stderr.readline()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        reader.join(timeout=60)  # a server on stdio would print nothing and wait on stdin
        assert first_line and "http://127.0.0.1:" in first_line[0], first_line
    finally:
        process.terminate()
        process.wait(timeout=15)


def test_empty_databases_say_so(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite"
    assert "no keys yet" in afbench("keys", "list", db=db).stdout
    assert "no calls recorded" in afbench("usage", db=db).stdout
    assert "no calls recorded for trial 'nope'" in afbench("usage", "--trial", "nope", db=db).stdout


def test_ctrl_c_stops_an_idle_server_cleanly(tmp_path: Path) -> None:
    for _ in range(3):
        process = subprocess.Popen(
            [*AFBENCH, "serve", "--transport", "http", "--port", "0", "--db", str(tmp_path / "s.sqlite")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert process.stderr is not None
        assert "http://" in process.stderr.readline()
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
        assert process.returncode == 130 and "Traceback" not in err and "Event loop is closed" not in err, err


def test_warm_up_calls_every_tool_before_listening_and_logs_no_usage(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite"
    with http_server(db, "--warm-up") as running:
        banner = "".join(running.log)
    warmed = banner[banner.index("warmed up in") :].splitlines()[0]
    for tool in ("calculator", "weather", "sql_schema", "sql_query", "rag_search", "search"):
        assert f"{tool} " in warmed, warmed
    assert "text2sql" not in warmed  # it needs a model: nothing to load ahead
    assert banner.index("warmed up in") < banner.index("afbench MCP server:")  # before it listens
    assert "no calls recorded" in afbench("usage", db=db).stdout  # outside quotas and the usage log
