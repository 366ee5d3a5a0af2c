"""End to end: ``run_python`` through a real ``afbench serve --transport http`` and the official SDK client,
attacked as a model could attack it, and the per-key tool scopes that keep it off by default.

After every attack the server answers a calculator call and a plain ``run_python`` call on the same session,
and its process is still the one that started.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from tests.servers import RunningServer, afbench, create_key, error_of, http_server

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with http_server(tmp_path_factory.mktemp("sandbox") / "sessions.sqlite", "--log-level", "info") as running:
        yield running


@pytest.fixture(scope="module")
def coder_key(server: RunningServer) -> str:
    return create_key(server.db, "coder", "--tools", "calculator,run_python")


@asynccontextmanager
async def session(server: RunningServer, key: str) -> AsyncIterator[ClientSession]:
    async with (
        httpx.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=60) as http,
        streamable_http_client(server.mcp_url, http_client=http) as (read, write, _),
        ClientSession(read, write) as client,
    ):
        await client.initialize()
        yield client


async def run_python(client: ClientSession, code: str) -> dict[str, Any]:
    result = await client.call_tool("run_python", {"code": code})
    assert not result.isError, result.content
    assert result.structuredContent is not None
    return result.structuredContent


async def still_serving(server: RunningServer, client: ClientSession) -> None:
    assert server.process.poll() is None, "".join(server.log)
    calc = await client.call_tool("calculator", {"expression": "6 * 7"})
    assert calc.structuredContent is not None and calc.structuredContent["result"] == 42
    assert (await run_python(client, "print('still here')"))["stdout"] == "still here\n"


def processes_with(marker: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and marker.encode() in Path(f"/proc/{entry}/cmdline").read_bytes():
                found.append(int(entry))
        except OSError:
            pass
    return found


def isolation_of(server: RunningServer) -> str:
    said = "".join(server.log)
    assert "run_python isolation:" in said or "run_python cannot run here" in said
    return "bubblewrap" if "run_python isolation: bubblewrap" in said else "rlimits"


ATTACKS = {
    "cpu loop": ("while True: pass", lambda r: r["limit"] == "cpu"),
    "sleep": ("import time\ntime.sleep(60)", lambda r: r["limit"] == "wall"),
    "memory bomb": ("x = [bytearray(1 << 20) for _ in range(4096)]", lambda r: r["limit"] == "memory"),
    "huge output": ("while True: print('x' * 10000)", lambda r: r["limit"] == "output" and r["stdout_truncated"]),
    "fork bomb": (
        "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass",
        lambda r: r["limit"] in ("wall", "cpu"),
    ),
    "kill the parent": ("import os\nos.kill(os.getppid(), 9)", lambda r: True),
    "kill every process it can": ("import os\nos.kill(-1, 9)", lambda r: True),
}


@pytest.mark.parametrize("attack", ATTACKS)
async def test_attacks_are_contained_and_the_server_keeps_serving(
    server: RunningServer, coder_key: str, attack: str
) -> None:
    code, contained = ATTACKS[attack]
    async with session(server, coder_key) as client:
        result = await run_python(client, code)
        assert contained(result), result
        assert result["duration_ms"] < 15_000  # the 5 s wall limit, with room for a loaded machine
        await still_serving(server, client)


async def test_no_child_outlives_its_call(server: RunningServer, coder_key: str) -> None:
    marker = f"left-behind-{uuid.uuid4().hex}"
    code = (
        "import os, sys\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        f"    os.execv(sys.executable, [sys.executable, '-c', 'import time; time.sleep(30)  # {marker}'])\n"
        "print('started a child')\n"
    )
    async with session(server, coder_key) as client:
        assert (await run_python(client, code))["stdout"] == "started a child\n"
        assert processes_with(marker) == []
        await still_serving(server, client)


async def test_the_sessions_database_and_host_files_are_out_of_reach(server: RunningServer, coder_key: str) -> None:
    database = str(server.db.resolve())
    code = (
        f"for path in ({database!r}, '/etc/passwd'):\n"
        "    try:\n"
        "        print(path, len(open(path, 'rb').read()))\n"
        "    except OSError as e:\n"
        "        print(path, type(e).__name__)\n"
        f"for path in ({database!r}, {str(server.db.parent / 'planted')!r}, '/usr/planted'):\n"
        "    try:\n"
        "        open(path, 'ab').write(b'x')\n"
        "        print('wrote', path)\n"
        "    except OSError as e:\n"
        "        print(type(e).__name__)\n"
    )
    async with session(server, coder_key) as client:
        said = (await run_python(client, code))["stdout"]
        assert f"{database} FileNotFoundError" in said or f"{database} PermissionError" in said
        assert "wrote" not in said and not (server.db.parent / "planted").exists()
        if isolation_of(server) == "bubblewrap":
            assert "/etc/passwd FileNotFoundError" in said
        await still_serving(server, client)


async def test_the_server_cannot_be_reached_from_the_sandbox(server: RunningServer, coder_key: str) -> None:
    if isolation_of(server) != "bubblewrap":
        pytest.skip("only a network namespace keeps the code off the network (rlimits: stated in the README)")
    port = int(server.base_url.rsplit(":", 1)[1])
    code = (
        "import socket\n"
        f"for address in (('127.0.0.1', {port}), ('1.1.1.1', 443)):\n"
        "    try:\n"
        "        socket.create_connection(address, timeout=2)\n"
        "        print('connected')\n"
        "    except OSError as e:\n"
        "        print(type(e).__name__)\n"
    )
    async with session(server, coder_key) as client:
        assert (await run_python(client, code))["stdout"].split() == ["ConnectionRefusedError", "OSError"]


# --- scopes ----------------------------------------------------------------------------------------------


def usage(server: RunningServer, key: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(afbench("usage", "--key", key, "--json", db=server.db).stdout)
    return rows


async def test_a_default_key_is_not_offered_run_python_and_is_refused_it(server: RunningServer) -> None:
    key = create_key(server.db, "plain", "--per-day", "1")
    async with session(server, key) as client:
        listed = [tool.name for tool in (await client.list_tools()).tools]
        assert "run_python" not in listed and "calculator" in listed
        refused = error_of(await client.call_tool("run_python", {"code": "print(1)"}))
        assert refused["code"] == "not_allowed" and "outside the default scope" in refused["message"]
        assert "run_python" not in refused["details"]["allowed"]
        # No quota used: the one call of the day is still there, and then gone.
        assert not (await client.call_tool("calculator", {"expression": "1 + 1"})).isError
        assert error_of(await client.call_tool("calculator", {"expression": "1 + 1"}))["code"] == "quota_exceeded"
    rows = usage(server, "plain")
    assert [(r["tool"], r["outcome"], r["error_code"]) for r in rows] == [
        ("run_python", "error", "not_allowed"),
        ("calculator", "ok", None),
    ]
    assert rows[0]["arguments"] == {"code": "print(1)"}


async def test_a_scope_change_applies_to_an_open_session(server: RunningServer, coder_key: str) -> None:
    key = create_key(server.db, "narrow", "--tools", "calculator")
    async with session(server, key) as client:
        assert [tool.name for tool in (await client.list_tools()).tools] == ["calculator"]
        assert error_of(await client.call_tool("weather", {"location": "Lisbon"}))["code"] == "not_allowed"
        afbench("keys", "set-limit", "narrow", "--tools", "all", db=server.db)
        listed = [tool.name for tool in (await client.list_tools()).tools]
        assert "run_python" in listed and "weather" in listed
        assert (await run_python(client, "print(2 ** 10)"))["stdout"] == "1024\n"
        afbench("keys", "set-limit", "narrow", "--tools", "default", db=server.db)
        assert error_of(await client.call_tool("run_python", {"code": "print(1)"}))["code"] == "not_allowed"
    shown = {k["name"]: k for k in json.loads(afbench("keys", "list", "--json", db=server.db).stdout)}
    assert shown["narrow"]["tools"] is None and shown["coder"]["tools"] == ["calculator", "run_python"]


def test_the_cli_refuses_an_unknown_tool_in_a_scope(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite"
    done = afbench("keys", "create", "--name", "x", "--tools", "calculator,shell", db=db, check=False)
    assert done.returncode == 2 and "unknown tool 'shell'" in done.stderr and "Traceback" not in done.stderr
