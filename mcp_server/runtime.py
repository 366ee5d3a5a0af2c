"""Everything a running server holds: configuration, key store, tool dispatcher and the MCP server object."""

from __future__ import annotations

import logging
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
        dispatcher = Dispatcher(build_tools(config), store, config)
        return cls(config, store, dispatcher, build_server(dispatcher, build_resources(config)))

    async def close(self) -> None:
        await self.store.close()
