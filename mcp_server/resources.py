"""Read-only MCP resources: the SQL database schema and the list of documents behind search and RAG."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from mcp_server.config import ServerConfig
from tools import sql
from tools.corpus import load_corpus


@dataclass(frozen=True)
class ResourceSpec:
    uri: str
    name: str
    title: str
    description: str
    mime_type: str
    read: Callable[[], Awaitable[str]]


def build_resources(config: ServerConfig) -> list[ResourceSpec]:
    async def documents() -> str:
        listing = [{"id": d.id, "title": d.title, "source": d.source, "category": d.category} for d in load_corpus()]
        return json.dumps({"documents": listing, "count": len(listing)}, ensure_ascii=False, indent=1)

    async def schema() -> str:
        info = await sql.describe_schema(str(config.sql_database) if config.sql_database else None)
        return info.model_dump_json(indent=1)

    return [
        ResourceSpec(
            uri="afbench://sql/schema",
            name="sql-schema",
            title="SQL database schema",
            description="Tables, columns, keys, row counts and sample values of the database the SQL tools query.",
            mime_type="application/json",
            read=schema,
        ),
        ResourceSpec(
            uri="afbench://corpus/documents",
            name="documents",
            title="Indexed documents",
            description="Every document that `search` (all) and `rag_search` (legal half) can return.",
            mime_type="application/json",
            read=documents,
        ),
    ]
