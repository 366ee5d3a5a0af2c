"""Everything a running server holds: configuration, key store, tool dispatcher and the MCP server object."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mcp.server.lowlevel import Server

from mcp_server.catalog import build_tools
from mcp_server.config import ServerConfig
from mcp_server.dispatch import Dispatcher
from mcp_server.resources import build_resources
from mcp_server.sdk import build_server
from mcp_server.store import KeyStore


@dataclass
class Runtime:
    config: ServerConfig
    store: KeyStore
    dispatcher: Dispatcher
    server: Server[Any, Any]

    @classmethod
    async def start(cls, config: ServerConfig) -> Runtime:
        store = await KeyStore.open(config.db_path)
        dispatcher = Dispatcher(build_tools(config), store, config)
        return cls(config, store, dispatcher, build_server(dispatcher, build_resources(config)))

    async def close(self) -> None:
        await self.store.close()
