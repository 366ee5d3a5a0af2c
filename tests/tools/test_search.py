"""Search: BM25 over a corpus with snippets and categories, and SearXNG over a real loopback socket."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from tests.loopback import serve_in_thread
from tools._http import RetryPolicy
from tools.corpus import load_corpus, read_markdown
from tools.errors import ErrorCode, ToolError
from tools.search import SearchRequest, make_provider, search
from tools.search.offline import OfflineSearch, make_snippet
from tools.search.searxng import SearxngSearch

DOCS = {
    "legal/legal-notice.md": (
        "legal-notice",
        "Termination for convenience",
        "Either party may end the agreement on 90 days' written notice. Notice must be sent by email.",
    ),
    "legal/legal-liability.md": (
        "legal-liability",
        "Limitation of liability",
        "Total liability is capped at the fees paid in the 12 months before the claim.",
    ),
    "operational/ops-rotate.md": (
        "ops-rotate",
        "Rotating an API key",
        "Open Settings, choose API keys, press Rotate. The old key keeps working for 24 hours.",
    ),
    "operational/ops-git-undo.md": (
        "ops-git-undo",
        "Undo the last git commit",
        "Run git reset --soft HEAD~1 to undo the last commit and keep its changes staged.",
    ),
}


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    for name, (doc_id, title, body) in DOCS.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        category = name.split("/")[0]
        path.write_text(
            f'---\nid: {doc_id}\ntitle: "{title}"\nsource: "Handbook, {title}"\ncategory: {category}\n---\n'
            f"# {title}\n\n{body}\n",
            encoding="utf-8",
        )
    return tmp_path


@pytest.fixture
def engine(corpus: Path) -> OfflineSearch:
    return OfflineSearch(load_corpus(corpus))


async def test_best_match_comes_first_with_citation_fields(engine: OfflineSearch) -> None:
    result = await engine.search(SearchRequest(query="how do I undo my last commit in git?", k=3))
    top = result.hits[0]
    assert (top.doc_id, top.rank, top.category) == ("ops-git-undo", 1, "operational")
    assert top.source == "Handbook, Undo the last git commit"
    assert "git reset --soft HEAD~1" in top.snippet
    assert top.score > 0
    assert [h.rank for h in result.hits] == list(range(1, len(result.hits) + 1))


async def test_stemming_matches_word_forms(engine: OfflineSearch) -> None:
    result = await engine.search(SearchRequest(query="terminating the contract conveniently"))
    assert result.hits[0].doc_id == "legal-notice"


async def test_category_filter(engine: OfflineSearch) -> None:
    result = await engine.search(SearchRequest(query="key notice commit liability", category="legal", k=10))
    assert {h.doc_id for h in result.hits} == {"legal-notice", "legal-liability"}


async def test_no_match_gives_empty_list_not_error(engine: OfflineSearch) -> None:
    result = await engine.search(SearchRequest(query="zebra xylophone"))
    assert result.hits == []


async def test_deterministic(engine: OfflineSearch) -> None:
    first = await engine.search(SearchRequest(query="api key rotation"))
    second = await engine.search(SearchRequest(query="api key rotation"))
    assert first == second


@pytest.mark.parametrize(
    ("query", "k", "code"),
    [
        ("", 5, ErrorCode.EMPTY_INPUT),
        ("  \t\n\x00 ", 5, ErrorCode.EMPTY_INPUT),
        ("x" * 1001, 5, ErrorCode.INPUT_TOO_LARGE),
        ("git", 0, ErrorCode.INVALID_ARGUMENT),
        ("git", 21, ErrorCode.INVALID_ARGUMENT),
    ],
)
async def test_bad_requests(engine: OfflineSearch, query: str, k: int, code: ErrorCode) -> None:
    with pytest.raises(ToolError) as caught:
        await engine.search(SearchRequest(query=query, k=k))
    assert caught.value.code == code


async def test_injection_and_unicode_are_plain_text(engine: OfflineSearch) -> None:
    for query in ["'; DROP TABLE docs; --", "<script>alert(1)</script>", "Kündigung 解約 🚀", "OR 1=1 /*"]:
        result = await engine.search(SearchRequest(query=query))
        assert result.provider == "offline"


def test_wrong_types_are_rejected() -> None:
    with pytest.raises(ValidationError):
        SearchRequest(query=["a"])  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        SearchRequest(query="a", category="medical")  # type: ignore[arg-type]


def test_snippet_prefers_the_matching_sentence() -> None:
    body = "Intro text about nothing. The refund window is 30 days. Unrelated closing remark."
    assert make_snippet(body, "refund window").startswith("The refund window is 30 days.")
    assert len(make_snippet("word " * 500, "word", limit=100)) <= 100


def test_front_matter_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "broken.md"
    bad.write_text("---\ntitle: [unclosed\n---\nbody\n", encoding="utf-8")
    with pytest.raises(ToolError) as caught:
        read_markdown(bad)
    assert "broken.md" in caught.value.message


def test_unknown_provider_lists_known_ones() -> None:
    with pytest.raises(ToolError) as caught:
        make_provider("bing")
    assert caught.value.code == ErrorCode.INVALID_ARGUMENT
    assert "offline" in caught.value.message and "searxng" in caught.value.message


def test_searxng_without_url_is_not_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AFBENCH_SEARXNG_URL", raising=False)
    with pytest.raises(ToolError) as caught:
        make_provider("searxng")
    assert caught.value.code == ErrorCode.NOT_CONFIGURED


@pytest.mark.skipif(not load_corpus(), reason="bundled corpus not present")
async def test_bundled_corpus_is_searchable() -> None:
    documents = load_corpus()
    assert len(documents) >= 150
    assert {d.category for d in documents} == {"legal", "operational"}
    assert len({d.id for d in documents}) == len(documents)
    result = await search(SearchRequest(query="GDPR personal data breach notification 72 hours", category="legal"))
    assert result.hits and result.hits[0].category == "legal"


# --- SearXNG over a real socket -------------------------------------------------------------------------


class FakeSearxng:
    """Answers like SearXNG's /search?format=json; scripted failures come first."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.failures: list[Response] = []

    async def handle(self, request: Request) -> Response:
        self.requests.append(request)
        if self.failures:
            return self.failures.pop(0)
        if request.query_params.get("format") != "json":
            return PlainTextResponse("Forbidden", status_code=403)
        results: list[dict[str, Any]] = [
            {
                "url": f"https://example.org/{i}",
                "title": f"Result {i} for {request.query_params['q']}",
                "content": "A long snippet " * (40 if i == 1 else 1),
                "engine": "duckduckgo",
                "score": 3.0 - i,
                "category": "general",
            }
            for i in range(1, 8)
        ]
        results.insert(2, {"title": "no url here"})
        return JSONResponse({"query": request.query_params["q"], "number_of_results": 7, "results": results})


@pytest.fixture
def searxng() -> Iterator[tuple[FakeSearxng, SearxngSearch]]:
    fake = FakeSearxng()
    app = Starlette(routes=[Route("/search", fake.handle)])
    with serve_in_thread(app) as url:
        yield fake, SearxngSearch(url, token="s3cret", policy=RetryPolicy(attempts=3, backoff_s=0.01, timeout_s=2))


async def test_searxng_maps_results(searxng: tuple[FakeSearxng, SearxngSearch]) -> None:
    fake, provider = searxng
    result = await provider.search(SearchRequest(query="python asyncio gather", k=3))
    assert result.provider == "searxng"
    assert [h.url for h in result.hits] == ["https://example.org/1", "https://example.org/2", "https://example.org/3"]
    assert result.hits[0].title == "Result 1 for python asyncio gather"
    assert len(result.hits[0].snippet) <= 320
    sent = fake.requests[0]
    assert sent.query_params["format"] == "json"
    assert sent.headers["authorization"] == "Bearer s3cret"
    assert sent.headers["user-agent"].startswith("afbench/")


async def test_searxng_retries_transient_errors_honouring_retry_after(
    searxng: tuple[FakeSearxng, SearxngSearch],
) -> None:
    fake, provider = searxng
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    provider.policy = RetryPolicy(attempts=3, backoff_s=0.01, max_backoff_s=5, timeout_s=2, sleep=record)
    fake.failures = [Response(status_code=503), Response(status_code=429, headers={"Retry-After": "3"})]
    result = await provider.search(SearchRequest(query="retry me"))
    assert len(result.hits) == 5
    assert len(fake.requests) == 3
    assert waits == [0.01, 3.0]  # exponential backoff first, then what the server asked for


async def test_retry_after_is_capped_and_garbage_ignored(searxng: tuple[FakeSearxng, SearxngSearch]) -> None:
    fake, provider = searxng
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    provider.policy = RetryPolicy(attempts=3, backoff_s=0.5, max_backoff_s=8, timeout_s=2, sleep=record)
    fake.failures = [
        Response(status_code=429, headers={"Retry-After": "3600"}),
        Response(status_code=429, headers={"Retry-After": "soon"}),
    ]
    await provider.search(SearchRequest(query="x"))
    assert waits == [8, 1.0]


async def test_searxng_gives_up_with_upstream_error(searxng: tuple[FakeSearxng, SearxngSearch]) -> None:
    fake, provider = searxng
    fake.failures = [Response(status_code=502)] * 3
    with pytest.raises(ToolError) as caught:
        await provider.search(SearchRequest(query="down"))
    assert caught.value.code == ErrorCode.UPSTREAM_ERROR
    assert "HTTP 502" in caught.value.message and "after 3 attempts" in caught.value.message


async def test_searxng_json_disabled_is_explained(searxng: tuple[FakeSearxng, SearxngSearch]) -> None:
    fake, provider = searxng
    fake.failures = [PlainTextResponse("Forbidden", status_code=403)]
    with pytest.raises(ToolError) as caught:
        await provider.search(SearchRequest(query="x"))
    assert caught.value.code == ErrorCode.UPSTREAM_ERROR
    assert "HTTP 403" in caught.value.message
    assert len(fake.requests) == 1  # a 403 is not retried


async def test_searxng_unreachable() -> None:
    from tests.loopback import free_port

    provider = SearxngSearch(f"http://127.0.0.1:{free_port()}", policy=RetryPolicy(attempts=2, backoff_s=0.01))
    with pytest.raises(ToolError) as caught:
        await provider.search(SearchRequest(query="x"))
    assert caught.value.code == ErrorCode.UPSTREAM_ERROR
    assert "connection failed" in caught.value.message


def test_snippet_turns_markdown_into_readable_text() -> None:
    body = (
        "# Retention\n\n- **Starter:** 30 days\n- **Team:** 13 months\n\n| Plan | Seats |\n|---|---|\n| Team | 25 |\n"
    )
    snippet = make_snippet(body, "starter retention")
    assert "Starter: 30 days; Team: 13 months" in snippet
    assert "**" not in snippet and "|" not in snippet and "---" not in snippet
    assert "Team, 25" in make_snippet(body, "team seats")
