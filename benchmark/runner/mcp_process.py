"""The MCP tool server as the runner's child: ``afbench serve --transport http --port 0`` on a fresh sessions
database in the run directory (with ``--fault-plan`` when the run injects tool faults), one API key created
with the real CLI, and the server's usage log read back.
"""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path
from typing import Any

from benchmark.contract import McpEndpoint
from benchmark.runner.children import child_env, die_with_parent
from mcp_server.store import KeyStore

MCP_CLI = [sys.executable, "-m", "mcp_server.cli"]
_LISTENING = re.compile(r"afbench MCP server: (http://\S+)/mcp")


class McpServerError(RuntimeError):
    """The server could not be started or a key could not be created; the message quotes its output."""


class McpServer:
    def __init__(self, db: Path, log_path: Path, fault_plan: Path | None = None) -> None:
        self.db = db
        self.log_path = log_path
        self.fault_plan = fault_plan
        self.base_url = ""
        self._process: asyncio.subprocess.Process | None = None
        self._store: KeyStore | None = None

    async def start(self, timeout_s: float = 120.0) -> McpServer:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        faults = ("--fault-plan", str(self.fault_plan)) if self.fault_plan is not None else ()
        with self.log_path.open("ab") as log:
            self._process = await asyncio.create_subprocess_exec(
                *MCP_CLI,
                # --warm-up: the embedding model and indices load before the first trial, which no build pays.
                *("serve", "--transport", "http", "--port", "0", "--db", str(self.db), "--warm-up", *faults),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=child_env(),
                preexec_fn=die_with_parent,
            )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while loop.time() < deadline:
            text = self._log_since(offset)
            match = _LISTENING.search(text)
            if match:
                self.base_url = match.group(1)
                self._store = await KeyStore.open(self.db)
                return self
            if self._process.returncode is not None:
                raise McpServerError(f"the MCP server exited with {self._process.returncode}:\n{text[-2000:]}")
            await asyncio.sleep(0.05)
        await self.stop()
        raise McpServerError(f"the MCP server did not start within {timeout_s:g} s:\n{self._log_since(offset)[-2000:]}")

    def _log_since(self, offset: int) -> str:
        with self.log_path.open("rb") as handle:
            handle.seek(offset)
            return handle.read().decode("utf-8", errors="replace")

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.returncode is None

    async def create_key(self, name: str) -> str:
        """``afbench keys create --name NAME --tools all``: the raw key, the last line the CLI prints. Every tool,
        ``run_python`` included (off by default): the code team's tester runs its tests with it, and each agent's
        own allow-list is the spec's, checked against the server's log."""
        process = await asyncio.create_subprocess_exec(
            *MCP_CLI,
            *("keys", "create", "--name", name, "--tools", "all", "--db", str(self.db)),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=child_env(),
        )
        out, err = await asyncio.wait_for(process.communicate(), timeout=60)
        lines = out.decode().strip().splitlines()
        if process.returncode != 0 or not lines:
            raise McpServerError(f"afbench keys create failed ({process.returncode}): {err.decode().strip()}")
        return lines[-1].strip()

    def endpoint(self, trial_id: str, api_key: str) -> McpEndpoint:
        return McpEndpoint(url=f"{self.base_url}/t/{trial_id}/mcp", api_key=api_key, trial_id=trial_id)

    async def usage(self, key_name: str, trial_id: str) -> list[dict[str, Any]]:
        """The trial's tool calls in the order the server logged them (this run's key only)."""
        assert self._store is not None, "start() first"
        return await self._store.usage(key_name=key_name, trial_id=trial_id)

    async def stop(self) -> None:
        if self._store is not None:
            await self._store.close()
            self._store = None
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), timeout=10)
        except TimeoutError:
            process.kill()
            await process.wait()
