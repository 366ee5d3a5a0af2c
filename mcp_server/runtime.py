"""Everything a running server holds: configuration, key store, tool dispatcher and the MCP server object."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from mcp_server.catalog import build_tools
from mcp_server.config import ServerConfig
from mcp_server.dispatch import Dispatcher
from mcp_server.resources import build_resources
from mcp_server.sdk import McpServer, build_server
from mcp_server.store import KeyStore

log = logging.getLogger("afbench.runtime")


@dataclass
class Runtime:
    config: ServerConfig
    store: KeyStore
    dispatcher: Dispatcher
    server: McpServer

    @classmethod
    async def start(cls, config: ServerConfig) -> Runtime:
        store = await KeyStore.open(config.db_path, serving=True)
        if store.settled_at_start:
            log.warning(
                "%d call(s) left running by a server that ended without finishing them are now 'interrupted'",
                store.settled_at_start,
            )
        tools = build_tools(config)
        for spec in tools:
            if spec.notice is not None:
                log.log(*spec.notice)
        dispatcher = Dispatcher(tools, store, config)
        return cls(config, store, dispatcher, build_server(dispatcher, build_resources(config)))

    async def warm_up(self) -> dict[str, float]:
        """Call each tool once with its representative arguments, outside quotas and the usage log, so that
        the first real call does not pay for loading the embedding model or building an index. Returns the
        seconds each took; a tool that fails here is logged and left to fail (or recover) on its real call."""
        took: dict[str, float] = {}
        for spec in self.dispatcher.tools.values():
            if spec.warm_up is None:
                continue
            started = time.perf_counter()
            try:
                await spec.handler(spec.input_model.model_validate(spec.warm_up))
            except Exception as exc:  # a warm-up must never stop the server from starting
                log.warning("warming up %s failed: %s", spec.name, exc)
            took[spec.name] = time.perf_counter() - started
        return took

    async def close(self) -> None:
        await self.store.close()
