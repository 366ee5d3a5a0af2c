"""The search-provider interface, request validation and the provider registry."""

from __future__ import annotations

import os
import unicodedata
from typing import Protocol

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
    if len(request.query) > MAX_QUERY_CHARS:
        raise ToolError(
            ErrorCode.INPUT_TOO_LARGE,
            f"query is {len(request.query)} characters; the limit is {MAX_QUERY_CHARS}",
            limit=MAX_QUERY_CHARS,
        )
    # Control characters carry no meaning for search and break some upstream APIs.
    query = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in request.query)
    query = " ".join(query.split())
    if not query:
        raise ToolError(ErrorCode.EMPTY_INPUT, "query is empty")
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
