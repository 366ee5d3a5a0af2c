"""The search-provider interface, request validation and the provider registry."""

from __future__ import annotations

import os
from typing import Protocol

from tools._text import checked_text
from tools.errors import ErrorCode, ToolError
from tools.search.models import SearchRequest, SearchResult

MAX_QUERY_CHARS = 1000
MAX_K = 20
PROVIDERS = ("offline", "searxng")


class SearchProvider(Protocol):
    name: str

    async def search(self, request: SearchRequest) -> SearchResult: ...


def validate_request(request: SearchRequest) -> str:
    """Return the cleaned query, or raise a specific error for empty, huge or malformed requests."""
    query = checked_text(request.query, "query", MAX_QUERY_CHARS, collapse=True)
    if not 1 <= request.k <= MAX_K:
        raise ToolError(ErrorCode.INVALID_ARGUMENT, f"k must be between 1 and {MAX_K}, got {request.k}")
    return query


def make_provider(name: str | None = None) -> SearchProvider:
    """Build a provider by name; default from ``AFBENCH_SEARCH_PROVIDER``, else ``offline``."""
    chosen = (name or os.environ.get("AFBENCH_SEARCH_PROVIDER") or "offline").strip().lower()
    if chosen == "offline":
        from tools.search.offline import OfflineSearch

        return OfflineSearch.default()
    if chosen == "searxng":
        from tools.search.searxng import SearxngSearch

        return SearxngSearch.from_env()
    raise ToolError(
        ErrorCode.INVALID_ARGUMENT,
        f"unknown search provider '{chosen}'; choose one of: {', '.join(PROVIDERS)}",
    )
