"""Search: BM25 over the bundled corpus (``offline``, the default) or the web through SearXNG."""

from __future__ import annotations

from tools.search.models import SearchCategory, SearchHit, SearchRequest, SearchResult
from tools.search.provider import PROVIDERS, SearchProvider, make_provider

__all__ = [
    "PROVIDERS",
    "SearchCategory",
    "SearchHit",
    "SearchProvider",
    "SearchRequest",
    "SearchResult",
    "make_provider",
    "search",
]


async def search(request: SearchRequest, provider: SearchProvider | None = None) -> SearchResult:
    """Search documents and return the best matches with title, source, snippet and score.

    The default offline provider searches Kestrel Systems' bundled legal and operational documents
    (contracts, data-protection and employment policies, law summaries, product FAQs, runbooks, how-tos).
    """
    return await (provider or make_provider()).search(request)
