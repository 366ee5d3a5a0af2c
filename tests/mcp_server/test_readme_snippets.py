"""The client config snippets in the README work as written: each is parsed from README.md and used.

Only what a user must change is substituted: the checkout path (Claude Desktop), the port the test server got,
and the key that VS Code asks for / Cursor reads from the environment.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

from tests.servers import create_key, http_server

pytestmark = pytest.mark.e2e

README = Path(__file__).resolve().parents[2] / "README.md"


def snippet(label: str) -> dict[str, Any]:
    match = re.search(rf"```json {label}\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert match, f"README has no ```json {label} block"
    parsed: dict[str, Any] = json.loads(match.group(1))
    return parsed


async def _tool_names(session: ClientSession) -> set[str]:
    await session.initialize()
    return {tool.name for tool in (await session.list_tools()).tools}


async def test_claude_desktop_snippet(tmp_path: Path) -> None:
    server = snippet("claude-desktop")["mcpServers"]["afbench"]
    assert server["command"].endswith("/.venv/bin/afbench")
    command = str(Path(sys.executable).parent / "afbench")
    env = {**os.environ, **server["env"], "AFBENCH_DB": str(tmp_path / "s.sqlite")}
    env.pop("AFBENCH_API_KEY", None)
    params = StdioServerParameters(command=command, args=server["args"], env=env)
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        assert "calculator" in await _tool_names(session)


@pytest.mark.parametrize("label", ["vscode", "cursor"])
async def test_http_snippets(tmp_path: Path, label: str) -> None:
    config = snippet(label)
    server = (config.get("servers") or config["mcpServers"])["afbench"]
    db = tmp_path / "s.sqlite"
    key = create_key(db, "ide")
    with http_server(db) as running:
        url = server["url"].replace("127.0.0.1:8765", running.base_url.removeprefix("http://"))
        headers = {
            name: value.replace("${input:afbench-key}", key).replace("${env:AFBENCH_KEY}", key)
            for name, value in server["headers"].items()
        }
        async with (
            httpx.AsyncClient(headers=headers) as http,
            streamable_http_client(url, http_client=http) as (read, write, _),
            ClientSession(read, write) as session,
        ):
            assert "search" in await _tool_names(session)
