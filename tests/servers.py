"""Start the real ``afbench`` server as a subprocess and create keys with the real CLI, for end-to-end tests."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

AFBENCH = [sys.executable, "-m", "mcp_server.cli"]
_LISTENING = re.compile(r"http://([^ ]+)/mcp")


def afbench(*args: str, db: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run one ``afbench`` CLI command against the sessions database ``db``."""
    return subprocess.run(
        [*AFBENCH, *args, "--db", str(db)], capture_output=True, text=True, check=check, timeout=60, env=_env()
    )


def create_key(db: Path, name: str, *limits: str) -> str:
    """``afbench keys create``; the raw key is the last stdout line."""
    return afbench("keys", "create", "--name", name, *limits, db=db).stdout.strip().splitlines()[-1]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("HF_HUB_OFFLINE", "1")
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass
class RunningServer:
    base_url: str  # http://127.0.0.1:PORT
    db: Path
    process: subprocess.Popen[str]
    log: list[str]

    @property
    def mcp_url(self) -> str:
        return f"{self.base_url}/mcp"

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http://", "ws://") + "/ws"


@contextmanager
def http_server(db: Path, *extra: str) -> Iterator[RunningServer]:
    """``afbench serve --transport http --port 0`` in a subprocess; yields once it is listening."""
    process = subprocess.Popen(
        [*AFBENCH, "serve", "--transport", "http", "--port", "0", "--db", str(db), *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    assert process.stderr is not None
    deadline = time.monotonic() + 60
    base_url = None
    seen: list[str] = []
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line and process.poll() is not None:
            break
        seen.append(line)
        match = _LISTENING.search(line)
        if match:
            base_url = f"http://{match.group(1)}"
            break
    if base_url is None:
        process.kill()
        raise RuntimeError("server did not start:\n" + "".join(seen))
    # Keep draining stderr so a chatty server never blocks on a full pipe.
    threading.Thread(target=lambda: seen.extend(iter(process.stderr.readline, "")), daemon=True).start()  # type: ignore[union-attr]
    try:
        yield RunningServer(base_url, db, process, seen)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def error_of(result: Any) -> dict[str, Any]:
    """The machine-readable error of an MCP tool result with ``isError`` (JSON in its text content)."""
    assert result.isError, result
    assert result.structuredContent is None  # would not match the tool's output schema
    payload: dict[str, Any] = json.loads(result.content[0].text)["error"]
    return payload
