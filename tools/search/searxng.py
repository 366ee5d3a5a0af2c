"""Web search through a SearXNG instance's JSON API (self-hosted or public; the instance must enable JSON).

Configuration: ``AFBENCH_SEARXNG_URL`` (base URL, e.g. http://localhost:8888) and optionally
``AFBENCH_SEARXNG_TOKEN``, sent as a Bearer token for instances behind an authenticating proxy.
"""

from __future__ import annotations

import os
from typing import Any

from tools._http import DEFAULT_POLICY, RetryPolicy, get_json
from tools.errors import ErrorCode, ToolError
from tools.search.models import SearchHit, SearchRequest, SearchResult
from tools.search.offline import SNIPPET_CHARS
from tools.search.provider import validate_request


class SearxngSearch:
    name = "searxng"

    def __init__(self, base_url: str, token: str | None = None, policy: RetryPolicy = DEFAULT_POLICY) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.policy = policy

    @classmethod
    def from_env(cls) -> SearxngSearch:
        url = os.environ.get("AFBENCH_SEARXNG_URL", "").strip()
        if not url:
            raise ToolError(
                ErrorCode.NOT_CONFIGURED,
                "the searxng provider needs AFBENCH_SEARXNG_URL (the base URL of a SearXNG instance "
                "with the JSON format enabled); the 'offline' provider needs no configuration",
            )
        return cls(url, token=os.environ.get("AFBENCH_SEARXNG_TOKEN") or None)

    async def search(self, request: SearchRequest) -> SearchResult:
        query = validate_request(request)
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else None
        body = await get_json(
            f"{self.base_url}/search",
            {"q": query, "format": "json", "language": "en", "safesearch": 1, "pageno": 1},
            service="SearXNG",
            policy=self.policy,
            headers=headers,
        )
        results = body.get("results") if isinstance(body, dict) else None
        if not isinstance(results, list):
            raise ToolError(ErrorCode.UPSTREAM_ERROR, "SearXNG answer has no 'results' list")
        hits = [self._hit(rank, item) for rank, item in enumerate(_valid(results)[: request.k], start=1)]
        return SearchResult(query=query, provider=self.name, hits=hits)

    @staticmethod
    def _hit(rank: int, item: dict[str, Any]) -> SearchHit:
        snippet = str(item.get("content") or "")
        if len(snippet) > SNIPPET_CHARS:
            snippet = snippet[: SNIPPET_CHARS - 1].rstrip() + "…"
        return SearchHit(
            rank=rank,
            title=str(item.get("title") or item["url"]),
            source=str(item.get("engine") or "searxng"),
            url=str(item["url"]),
            snippet=snippet,
            score=float(item.get("score") or 0.0),
        )


def _valid(results: list[Any]) -> list[dict[str, Any]]:
    return [r for r in results if isinstance(r, dict) and isinstance(r.get("url"), str)]
