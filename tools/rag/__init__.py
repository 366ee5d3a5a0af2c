"""RAG: search documents by meaning and keywords, with every passage citing its document and section.

Documents (Markdown with YAML front matter, plain text, PDF) are split into heading-aware token chunks,
embedded with the offline MiniLM model and stored in a persistent index folder. Five strategies rank them:
``hybrid`` (BM25 + dense, reciprocal-rank fusion; the default), ``similarity``, ``mmr``, ``dartboard`` and
``bm25`` (keywords only; works without the embedding stack). The bundled index covers the legal half of the
Kestrel Systems corpus (contracts, data protection, employment policies, law summaries).
"""

from __future__ import annotations

from tools.rag.chunking import ChunkingParams
from tools.rag.index import (
    MAX_K,
    MAX_QUERY_CHARS,
    STRATEGY_PARAMS,
    RagIndex,
    default_index,
    default_paths,
    open_default_index,
)
from tools.rag.models import (
    STRATEGIES,
    DocumentInfo,
    IngestResult,
    RagHit,
    RagIngestRequest,
    RagResult,
    RagSearchRequest,
    Strategy,
)

__all__ = [
    "MAX_K",
    "MAX_QUERY_CHARS",
    "STRATEGIES",
    "STRATEGY_PARAMS",
    "ChunkingParams",
    "DocumentInfo",
    "IngestResult",
    "RagHit",
    "RagIndex",
    "RagIngestRequest",
    "RagResult",
    "RagSearchRequest",
    "Strategy",
    "default_index",
    "default_paths",
    "open_default_index",
    "rag_ingest",
    "rag_search",
]


async def rag_search(request: RagSearchRequest, index: RagIndex | None = None) -> RagResult:
    """Find the passages of Kestrel Systems' legal documents that answer a question, with citations.

    Covers contracts (services, licences, NDAs, suppliers), data-protection and privacy policies, employment
    policies and summaries of the relevant laws. Each hit gives the passage text, its document (id, title,
    source) and section heading path, so answers can quote and cite it: use ``citation`` as the reference.
    Ask in plain words; the default ``hybrid`` strategy matches both meaning and exact terms.
    """
    index = index or await default_index()
    return await index.search(request.query, request.k, request.strategy, **request.strategy_params())


async def rag_ingest(request: RagIngestRequest, index: RagIndex | None = None) -> IngestResult:
    """Add local files (.md, .txt, .pdf) or folders to the searchable index, so later searches find them.

    Reads files from the server's own file system. Unchanged passages are not re-embedded. A missing,
    unsupported, empty or unreadable file fails the whole call with a specific error and changes nothing.
    """
    index = index or await default_index()
    return await index.ingest(request.paths)
