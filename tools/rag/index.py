"""``RagIndex``: an index of documents to search with cited results, and the bundled legal corpus index.

Searching validates its input up front (exact error codes), then runs query embedding and the numpy work in
a worker thread so the event loop stays free. The index state is immutable and swapped whole on ingest, so
searches running during an ingest see the old or the new index, never a mix.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from tools import _paths
from tools._text import checked_text
from tools.embeddings import dense_available, get_embedder
from tools.errors import ErrorCode, ToolError
from tools.lexical import LexicalIndex
from tools.rag import retrieval
from tools.rag.chunking import DEFAULT_CHUNK_TOKENS, DEFAULT_OVERLAP_TOKENS, ChunkingParams
from tools.rag.loaders import SUPPORTED_SUFFIXES, expand_sources
from tools.rag.models import (
    DENSE_STRATEGIES,
    STRATEGIES,
    DocumentInfo,
    IngestResult,
    RagHit,
    RagResult,
    Strategy,
)
from tools.rag.store import IndexData, TextEmbedder, build_index, build_or_load

MAX_QUERY_CHARS = 2000
MAX_K = 50
MAX_INGEST_PATHS = 100
MAX_FETCH_K = 1000


@dataclass(frozen=True)
class _Param:
    kind: type
    low: float
    high: float
    low_open: bool = False


# Valid keyword parameters per strategy, with their accepted ranges.
STRATEGY_PARAMS: dict[str, dict[str, _Param]] = {
    "similarity": {},
    "bm25": {},
    "mmr": {"lambda_mult": _Param(float, 0.0, 1.0), "fetch_k": _Param(int, 1, MAX_FETCH_K)},
    "hybrid": {
        "rrf_k": _Param(int, 1, 10_000),
        "dense_weight": _Param(float, 0.0, 100.0),
        "lexical_weight": _Param(float, 0.0, 100.0),
    },
    "dartboard": {
        "relevance_weight": _Param(float, 0.0, 100.0),
        "diversity_weight": _Param(float, 0.0, 100.0),
        "sigma": _Param(float, 0.0, 10.0, low_open=True),
        "fetch_k": _Param(int, 1, MAX_FETCH_K),
    },
}


@dataclass(frozen=True)
class _State:
    data: IndexData
    lexical: LexicalIndex
    sources: tuple[Path, ...]


def _clean_query(query: object) -> str:
    return checked_text(query, "query", MAX_QUERY_CHARS, collapse=True)


def _check_k(k: object) -> int:
    if not isinstance(k, int) or isinstance(k, bool):
        raise ToolError(ErrorCode.INVALID_ARGUMENT, f"k must be a whole number, got {k!r}")
    if not 1 <= k <= MAX_K:
        raise ToolError(ErrorCode.INVALID_ARGUMENT, f"k must be between 1 and {MAX_K}, got {k}", limit=MAX_K)
    return k


def _check_params(strategy: str, params: dict[str, Any]) -> dict[str, Any]:
    allowed = STRATEGY_PARAMS[strategy]
    checked: dict[str, Any] = {}
    for name, value in params.items():
        spec = allowed.get(name)
        if spec is None:
            valid = ", ".join(sorted(allowed)) or "none"
            raise ToolError(
                ErrorCode.INVALID_ARGUMENT,
                f"parameter {name!r} does not apply to strategy {strategy!r}; its parameters: {valid}",
                parameter=name,
                valid=sorted(allowed),
            )
        numeric = isinstance(value, int | float) and not isinstance(value, bool)
        if not numeric or (spec.kind is int and not isinstance(value, int)):
            expected = "a whole number" if spec.kind is int else "a number"
            raise ToolError(ErrorCode.INVALID_ARGUMENT, f"{name} must be {expected}, got {value!r}", parameter=name)
        too_low = value <= spec.low if spec.low_open else value < spec.low
        if too_low or value > spec.high or value != value:  # value != value: NaN
            bracket = "(" if spec.low_open else "["
            raise ToolError(
                ErrorCode.INVALID_ARGUMENT,
                f"{name} must be in {bracket}{spec.kind(spec.low)}, {spec.kind(spec.high)}], got {value!r}",
                parameter=name,
            )
        checked[name] = spec.kind(value)
    if strategy == "hybrid" and checked.get("dense_weight", 1.0) == 0 and checked.get("lexical_weight", 1.0) == 0:
        raise ToolError(ErrorCode.INVALID_ARGUMENT, "dense_weight and lexical_weight cannot both be 0")
    return checked


def _resolve_embedder(embedder: TextEmbedder | Literal["auto"] | None) -> TextEmbedder | None:
    if embedder == "auto":
        return get_embedder() if dense_available() else None
    return embedder


def _citation(title: str, section: str, source: str) -> str:
    where = f"{title}, {section}" if section else title
    return f"{where} ({source})" if source and source != title else where


class RagIndex:
    """Documents split into passages, searchable by meaning and keywords, each hit citing its source.

    Open one with :meth:`open` (or :func:`default_index` for the bundled legal corpus). With ``index_dir``
    the index persists there and is rebuilt only when the source files or settings change.
    """

    def __init__(
        self,
        state: _State,
        *,
        index_dir: Path | None,
        embedder: TextEmbedder | None,
        params: ChunkingParams,
    ) -> None:
        self._state = state
        self._index_dir = index_dir
        self._embedder = embedder
        self._params = params
        self._write_lock = threading.Lock()

    @classmethod
    def open(
        cls,
        sources: Iterable[str | Path],
        index_dir: str | Path | None = None,
        *,
        embedder: TextEmbedder | Literal["auto"] | None = "auto",
        chunk_tokens: int = DEFAULT_CHUNK_TOKENS,
        overlap_tokens: int = DEFAULT_OVERLAP_TOKENS,
    ) -> RagIndex:
        """Build (or load from ``index_dir``) an index over files and folders; blocking, see :meth:`aopen`.

        ``embedder="auto"`` uses the MiniLM model when the embedding stack is installed and builds a
        lexical-only (BM25) index otherwise; ``None`` forces lexical-only.
        """
        params = ChunkingParams(chunk_tokens, overlap_tokens)
        if isinstance(sources, str | Path):
            sources = [sources]
        paths = tuple(Path(s).expanduser().resolve() for s in sources)
        resolved = _resolve_embedder(embedder)
        folder = Path(index_dir).expanduser() if index_dir is not None else None
        if folder is not None:
            data = build_or_load(paths, folder, embedder=resolved, params=params)
        else:
            data = build_index(paths, embedder=resolved, params=params)
        return cls(_make_state(data, paths), index_dir=folder, embedder=resolved, params=params)

    @classmethod
    async def aopen(
        cls,
        sources: Iterable[str | Path],
        index_dir: str | Path | None = None,
        *,
        embedder: TextEmbedder | Literal["auto"] | None = "auto",
        chunk_tokens: int = DEFAULT_CHUNK_TOKENS,
        overlap_tokens: int = DEFAULT_OVERLAP_TOKENS,
    ) -> RagIndex:
        """:meth:`open` in a worker thread."""
        sources = [sources] if isinstance(sources, str | Path) else list(sources)
        return await asyncio.to_thread(
            cls.open,
            sources,
            index_dir,
            embedder=embedder,
            chunk_tokens=chunk_tokens,
            overlap_tokens=overlap_tokens,
        )

    @property
    def dense(self) -> bool:
        """Whether semantic strategies are available (vectors built and the model loaded)."""
        return self._embedder is not None and self._state.data.vectors is not None

    @property
    def rebuilt(self) -> bool:
        """Whether opening (or the last ingest) re-indexed instead of loading a stored build."""
        return self._state.data.rebuilt

    @property
    def chunk_count(self) -> int:
        return len(self._state.data.chunks)

    @property
    def index_dir(self) -> Path | None:
        return self._index_dir

    @property
    def params(self) -> ChunkingParams:
        return self._params

    def documents(self) -> list[DocumentInfo]:
        """The indexed documents, in index order."""
        return [
            DocumentInfo(doc_id=d.doc_id, title=d.title, source=d.source, path=d.path, chunks=d.chunks)
            for d in self._state.data.documents
        ]

    async def search(
        self,
        query: str,
        k: int = 5,
        strategy: Strategy | None = None,
        **params: Any,
    ) -> RagResult:
        """The ``k`` passages that best answer ``query``, best first, each citing document and section.

        ``strategy``: ``hybrid`` (BM25 + dense fused by reciprocal rank; params ``rrf_k``, ``dense_weight``,
        ``lexical_weight``), ``similarity`` (cosine), ``mmr`` (``lambda_mult``, ``fetch_k``), ``dartboard``
        (``relevance_weight``, ``diversity_weight``, ``sigma``, ``fetch_k``) or ``bm25`` (keywords, no model
        needed). ``None`` means ``hybrid``, or ``bm25`` when dense retrieval is unavailable.
        """
        cleaned = _clean_query(query)
        k = _check_k(k)
        note = None
        if strategy is None:
            strategy = "hybrid" if self.dense else "bm25"
            if strategy == "bm25":
                note = "dense retrieval is unavailable, so the keyword (bm25) strategy was used"
        elif not isinstance(strategy, str) or strategy not in STRATEGIES:
            raise ToolError(
                ErrorCode.INVALID_ARGUMENT,
                f"unknown strategy {strategy!r}; valid strategies: {', '.join(STRATEGIES)}",
                valid=list(STRATEGIES),
            )
        checked = _check_params(strategy, params)
        if strategy in DENSE_STRATEGIES:
            self._require_dense(strategy)
        state = self._state
        ranked = await asyncio.to_thread(self._rank, state, cleaned, k, strategy, checked)
        hits = []
        for rank, (row, score) in enumerate(ranked, 1):
            chunk = state.data.chunks[row]
            document = state.data.by_id[chunk.doc_id]
            hits.append(
                RagHit(
                    rank=rank,
                    doc_id=chunk.doc_id,
                    title=document.title,
                    source=document.source,
                    path=document.path,
                    section=chunk.section,
                    page=chunk.page,
                    chunk_id=chunk.chunk_id,
                    text=chunk.text,
                    score=round(score, 6),
                    strategy=strategy,
                    citation=_citation(document.title, chunk.section, document.source),
                )
            )
        return RagResult(query=cleaned, strategy=strategy, k=k, hits=hits, note=note)

    def _require_dense(self, strategy: str) -> None:
        if self.dense:
            return
        if not dense_available():
            get_embedder()  # raises DEPENDENCY_MISSING naming the missing module
            # Reached only if a model was loaded before the stack went missing: still the same answer.
            raise ToolError(
                ErrorCode.DEPENDENCY_MISSING,
                f"strategy {strategy!r} needs the embedding stack: pip install 'afbench[rag]'",
                strategy=strategy,
            )
        raise ToolError(
            ErrorCode.NOT_CONFIGURED,
            f"strategy {strategy!r} needs dense vectors but this index was built without an embedding model; "
            "use strategy 'bm25' or rebuild the index with the model",
            strategy=strategy,
        )

    def _rank(self, state: _State, query: str, k: int, strategy: str, params: dict[str, Any]) -> retrieval.Ranked:
        if strategy == "bm25":
            return retrieval.bm25(state.lexical.scores(query), k)
        assert self._embedder is not None and state.data.vectors is not None  # checked by _require_dense
        vector = self._embedder.encode([query])[0]
        matrix = state.data.vectors
        if strategy == "similarity":
            return retrieval.similarity(vector, matrix, k)
        if strategy == "mmr":
            return retrieval.mmr(vector, matrix, k, **params)
        if strategy == "dartboard":
            return retrieval.dartboard(vector, matrix, k, **params)
        dense_scores = retrieval.cosine_scores(vector, matrix)
        return retrieval.hybrid(dense_scores, state.lexical.scores(query), k, **params)

    async def ingest(self, paths: Sequence[str | Path]) -> IngestResult:
        """Add files (``.md``, ``.txt``, ``.pdf``) or folders of them to the index, persisting it if it has a folder.

        Only new or changed passages are embedded. On any error (missing, unsupported, empty or unreadable
        file, or a document id already used by another file) the index is left as it was.
        """
        if isinstance(paths, str | Path) or not isinstance(paths, Sequence):
            raise ToolError(ErrorCode.INVALID_ARGUMENT, "paths must be a list of file or folder paths")
        if not paths:
            raise ToolError(ErrorCode.EMPTY_INPUT, "no paths given to ingest")
        if len(paths) > MAX_INGEST_PATHS:
            raise ToolError(
                ErrorCode.INPUT_TOO_LARGE,
                f"{len(paths)} paths given; the limit is {MAX_INGEST_PATHS} per call",
                limit=MAX_INGEST_PATHS,
            )
        for path in paths:
            if not isinstance(path, str | Path) or not str(path).strip():
                raise ToolError(ErrorCode.INVALID_ARGUMENT, f"invalid path {path!r}")
        return await asyncio.to_thread(self._ingest, [Path(p) for p in paths])

    def _ingest(self, given: list[Path]) -> IngestResult:
        paths = [p.expanduser().resolve() for p in given]
        files = expand_sources(paths)
        if not files:
            raise ToolError(
                ErrorCode.EMPTY_INPUT,
                f"no {', '.join(SUPPORTED_SUFFIXES)} files found in {', '.join(p.name for p in paths)}",
            )
        with self._write_lock:
            before = self._state
            sources = tuple(dict.fromkeys((*before.sources, *paths)))
            if self._index_dir is not None:
                data = build_or_load(sources, self._index_dir, embedder=self._embedder, params=self._params)
            else:
                data = build_index(sources, embedder=self._embedder, params=self._params, previous=before.data)
            self._state = _make_state(data, sources)
        known = {(c.chunk_id, c.embed_text) for c in before.data.chunks}
        wanted = {str(f) for f in files}
        return IngestResult(
            documents=[
                DocumentInfo(doc_id=d.doc_id, title=d.title, source=d.source, path=d.path, chunks=d.chunks)
                for d in data.documents
                if d.path in wanted
            ],
            chunks_added=sum((c.chunk_id, c.embed_text) not in known for c in data.chunks),
            chunks_embedded=data.embedded,
            total_documents=len(data.documents),
            total_chunks=len(data.chunks),
        )


def _make_state(data: IndexData, sources: tuple[Path, ...]) -> _State:
    return _State(data=data, lexical=LexicalIndex([c.embed_text for c in data.chunks]), sources=sources)


_defaults: dict[tuple[Path, Path], RagIndex] = {}
_defaults_lock = threading.Lock()


def default_paths() -> tuple[Path, Path]:
    """``(corpus folder, index folder)`` of the bundled index: the legal half of the corpus, in the cache."""
    return _paths.CORPUS_DIR / "legal", _paths.cache_dir() / "rag-index"


def open_default_index() -> RagIndex:
    """The bundled legal-corpus index, built on first use and re-indexed only when its files change (blocking)."""
    corpus, index_dir = default_paths()
    with _defaults_lock:
        index = _defaults.get((corpus, index_dir))
        if index is None:
            index = _defaults[(corpus, index_dir)] = RagIndex.open([corpus], index_dir)
        return index


async def default_index() -> RagIndex:
    """:func:`open_default_index` in a worker thread; one index per process."""
    return await asyncio.to_thread(open_default_index)
