"""The client config snippets in the README work as written: each is parsed from README.md and used.

Only what a user must change is substituted: the checkout path (Claude Desktop, the shell snippets), the port
the test server got, and the key that VS Code asks for / Cursor reads from the environment. The shell snippets
run in bash from a folder outside the checkout, as a user's terminal would be anywhere.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

from tests.mcp_server.test_inspector import INSPECTOR, inspector_env
from tests.servers import afbench, http_server

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
CHECKOUT = "/path/to/afbench"


def block(language: str, label: str) -> str:
    match = re.search(rf"```{language} {label}\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert match, f"README has no ```{language} {label} block"
    return match.group(1)


def snippet(label: str) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(block("json", label))
    return parsed


def bash(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``script`` in bash, with the checkout's real path for the README's placeholder."""
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script.replace(CHECKOUT, str(ROOT))],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


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
    key = afbench("keys", "create", "--name", "ide", db=db).stdout.strip().splitlines()[-1]
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


def test_the_shell_snippets_make_a_key_and_list_the_tools_with_the_pinned_inspector_from_anywhere(
    tmp_path: Path,
) -> None:
    """``connect-key`` (activate, key into ``AFBENCH_KEY``) then ``inspector`` (the project's pinned Inspector
    through ``npm exec --prefix``), run from a folder outside the checkout against a server on that database."""
    if shutil.which("npm") is None or not INSPECTOR.exists():
        pytest.skip("the MCP Inspector is not installed (npm ci, run by make install)")
    anywhere = tmp_path / "elsewhere"
    anywhere.mkdir()
    db = tmp_path / "sessions.sqlite"
    env = {**inspector_env(tmp_path / "home"), "AFBENCH_DB": str(db), "HF_HUB_OFFLINE": "1"}
    made = bash(block("bash", "connect-key") + 'printf "%s" "$AFBENCH_KEY"\n', anywhere, env)
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip().splitlines()[-1]
    assert key.startswith("afb_")
    with http_server(db) as running:
        inspector = block("bash", "inspector").replace("127.0.0.1:8765", running.base_url.removeprefix("http://"))
        listed = bash(inspector, anywhere, {**env, "AFBENCH_KEY": key})
    assert listed.returncode == 0, listed.stderr
    assert "calculator" in listed.stdout and "run_python" not in listed.stdout  # a default key's scope
