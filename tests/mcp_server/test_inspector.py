"""End-to-end: the official MCP Inspector CLI lists and calls our tools over streamable HTTP with an API key.

The Inspector is the npm package ``@modelcontextprotocol/inspector``, pinned to an exact version in
``package.json`` / ``package-lock.json`` and installed into ``node_modules`` by ``make install`` (``npm ci``);
the test runs it from ``node_modules/.bin`` and never fetches anything. Without npm/node or without that
install, the test skips and says why.

Version notes: 2.x reorganised the CLI behind a launcher (``mcp-inspector --cli TARGET ...``, mode flag
first). 2.12.0 is used because its CLI does everything needed here: ``--header "Authorization: Bearer KEY"``,
``--format json`` (one JSON object on stdout; an error envelope on stderr) and documented exit codes
(0 ok, 3 auth_required on HTTP 401/403, 5 a tool result with ``isError``). Every release since 0.16 declares
``node >=22``, yet the CLI path runs on the Node 20 of the project machines (npm only warns, EBADENGINE).
``--stored-auth-only`` keeps a 401 from starting the interactive OAuth flow, and ``HOME`` and the
Inspector's storage paths point into a temporary folder so the test writes nothing to the user's home.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.servers import RunningServer, afbench, create_key, http_server

ROOT = Path(__file__).resolve().parents[2]
INSPECTOR = ROOT / "node_modules" / ".bin" / "mcp-inspector"
INSPECTOR_VERSION = "2.12.0"
TIMEOUT_S = 90
EXIT_OK, EXIT_AUTH_REQUIRED, EXIT_TOOL_ERROR = 0, 3, 5


def _skip_reason() -> str | None:
    if shutil.which("node") is None:
        return "node is not on PATH; install Node.js and run `make install` for the MCP Inspector test"
    if not INSPECTOR.exists():
        return f"MCP Inspector not installed at {INSPECTOR}; run `make install` (it runs `npm ci`)"
    return None


pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(_skip_reason() is not None, reason=_skip_reason() or ""),
]


@dataclass
class Setup:
    server: RunningServer
    key: str
    home: Path


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str

    def result(self) -> dict[str, Any]:
        payload = json.loads(self.stdout)
        assert isinstance(payload, dict) and "result" in payload, self.stdout
        result: dict[str, Any] = payload["result"]
        return result

    def error(self) -> dict[str, Any]:
        # With --format json the error envelope is the last line on stderr.
        lines = [line for line in self.stderr.splitlines() if line.strip().startswith("{")]
        assert lines, f"no JSON error envelope on stderr:\n{self.stderr}"
        envelope: dict[str, Any] = json.loads(lines[-1])["error"]
        return envelope


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    folder = tmp_path_factory.mktemp("inspector")
    db = folder / "sessions.sqlite"
    key = create_key(db, "inspector", "--per-minute", "1000", "--per-day", "10000")
    home = folder / "home"
    home.mkdir()
    with http_server(db) as server:
        yield Setup(server, key, home)


def inspector_env(home: Path) -> dict[str, str]:
    """An environment for the Inspector that keeps its storage, catalog and OAuth state under ``home``."""
    storage = home / ".mcp-inspector"
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "CI": "true",
        "NO_COLOR": "1",
        "MCP_STORAGE_DIR": str(storage / "storage"),
        "MCP_CATALOG_PATH": str(storage / "mcp.json"),
        "MCP_CLIENT_CONFIG_PATH": str(storage / "client.json"),
        "MCP_INSPECTOR_OAUTH_STATE_PATH": str(storage / "oauth.json"),
    }


def inspector(setup: Setup, *args: str, key: str | None = None) -> Run:
    """One Inspector CLI invocation against the server's /mcp endpoint, with ``key`` as a Bearer token."""
    command = [
        str(INSPECTOR),
        "--cli",
        setup.server.mcp_url,
        "--transport",
        "http",
        "--format",
        "json",
        "--stored-auth-only",
        "--connect-timeout",
        "20000",
        *args,
    ]
    if key is not None:
        command += ["--header", f"Authorization: Bearer {key}"]
    env = inspector_env(setup.home)
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=TIMEOUT_S, env=env, cwd=ROOT, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"MCP Inspector did not finish in {TIMEOUT_S} s: {' '.join(command)}\n{exc.stderr!r}")
    return Run(done.returncode, done.stdout, done.stderr)


def _usage(setup: Setup) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(afbench("usage", "--json", "--key", "inspector", db=setup.server.db).stdout)
    return rows


def test_installed_inspector_is_the_pinned_version() -> None:
    done = subprocess.run(
        [str(INSPECTOR), "--cli", "--version"], capture_output=True, text=True, timeout=TIMEOUT_S, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == INSPECTOR_VERSION
    pinned = json.loads((ROOT / "package.json").read_text())["devDependencies"]["@modelcontextprotocol/inspector"]
    assert pinned == INSPECTOR_VERSION


def test_lists_tools_with_their_schemas(setup: Setup) -> None:
    run = inspector(setup, "--method", "tools/list", key=setup.key)

    assert run.returncode == EXIT_OK, run.stderr
    tools = {tool["name"]: tool for tool in run.result()["tools"]}
    assert {"calculator", "search"} <= set(tools)
    calculator = tools["calculator"]
    assert calculator["inputSchema"]["properties"]["expression"]["type"] == "string"
    assert calculator["inputSchema"]["required"] == ["expression"]
    assert "result" in calculator["outputSchema"]["properties"]
    assert calculator["annotations"]["readOnlyHint"] is True


def test_calls_calculator_and_the_call_is_logged_against_the_key(setup: Setup) -> None:
    before = len(_usage(setup))

    run = inspector(
        setup, "--method", "tools/call", "--tool-name", "calculator", "--tool-arg", "expression=6*7", key=setup.key
    )

    assert run.returncode == EXIT_OK, run.stderr
    result = run.result()
    assert result["isError"] is False
    assert result["structuredContent"] == {"expression": "6*7", "result": 42, "formatted": "42"}
    assert json.loads(result["content"][0]["text"])["result"] == 42
    rows = _usage(setup)
    assert len(rows) == before + 1
    assert (rows[-1]["tool"], rows[-1]["transport"], rows[-1]["outcome"]) == ("calculator", "http", "ok")
    assert rows[-1]["arguments"] == {"expression": "6*7"}
    assert rows[-1]["mcp_session"]


def test_tool_error_comes_back_as_an_error_result(setup: Setup) -> None:
    run = inspector(
        setup, "--method", "tools/call", "--tool-name", "calculator", "--tool-arg", "expression=1/0", key=setup.key
    )

    assert run.returncode == EXIT_TOOL_ERROR, run.stderr
    result = run.result()
    assert result["isError"] is True
    # No structured content on errors: it would not match the output schema, which the Inspector checks.
    assert "structuredContent" not in result
    error = json.loads(result["content"][0]["text"])["error"]
    assert error["code"] == "division_by_zero"
    assert "division by zero" in error["message"]


@pytest.mark.parametrize(
    ("key", "expected"),
    [(None, "missing API key"), ("afb_not-a-real-key", "unknown API key")],
    ids=["no-key", "unknown-key"],
)
def test_without_a_valid_key_the_server_answers_401_and_nothing_runs(
    setup: Setup, key: str | None, expected: str
) -> None:
    before = len(_usage(setup))

    for method in (
        ["--method", "tools/list"],
        ["--method", "tools/call", "--tool-name", "calculator", "--tool-arg", "expression=6*7"],
    ):
        run = inspector(setup, *method, key=key)

        # The Inspector maps HTTP 401/403 to exit code 3 'auth_required' and quotes the response body;
        # our gate's 401 body is the only one that says "... API key" (a 403 names the Host or Origin).
        assert run.returncode == EXIT_AUTH_REQUIRED, (run.stdout, run.stderr)
        assert run.stdout.strip() == ""
        error = run.error()
        assert error["code"] == "auth_required"
        assert "unauthorized" in error["message"]
        assert expected in error["message"]
    assert len(_usage(setup)) == before
