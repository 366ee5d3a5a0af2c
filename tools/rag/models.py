"""Input and output models of the RAG tool: search requests, cited hits, ingest requests and results."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Strategy = Literal["hybrid", "similarity", "mmr", "dartboard", "bm25"]
STRATEGIES: tuple[Strategy, ...] = ("hybrid", "similarity", "mmr", "dartboard", "bm25")
DENSE_STRATEGIES: frozenset[str] = frozenset({"hybrid", "similarity", "mmr", "dartboard"})


class RagSearchRequest(BaseModel):
    query: str = Field(
        description="A question or topic in plain words, e.g. 'How much notice must an employee give to resign?'. "
        "At most 2000 characters."
    )
    k: int = Field(default=5, description="How many passages to return (1-50).")
    strategy: Strategy | None = Field(
        default=None,
        description="How to rank passages. 'hybrid' (default when the embedding model is installed): keyword "
        "BM25 and semantic similarity fused, the best all-rounder. 'similarity': semantic only. 'mmr' and "
        "'dartboard': relevant but mutually different passages, for broad questions. 'bm25': keywords only, "
        "works without the embedding model (the default when it is missing).",
    )
    lambda_mult: float | None = Field(
        default=None, description="mmr only: 1 = pure relevance, 0 = pure diversity (default 0.5)."
    )
    fetch_k: int | None = Field(
        default=None, description="mmr and dartboard only: how many top candidates to choose from (default 20)."
    )
    relevance_weight: float | None = Field(
        default=None, description="dartboard only: weight of closeness to the query (default 1.0)."
    )
    diversity_weight: float | None = Field(
        default=None, description="dartboard only: weight of covering new ground (default 1.0; 0 = similarity)."
    )

    def strategy_params(self) -> dict[str, float | int]:
        """The strategy parameters that were set, as keyword arguments for :meth:`RagIndex.search`."""
        names = ("lambda_mult", "fetch_k", "relevance_weight", "diversity_weight")
        return {name: value for name in names if (value := getattr(self, name)) is not None}


class RagHit(BaseModel):
    rank: int = Field(description="1 for the best passage.")
    doc_id: str = Field(description="Id of the source document.")
    title: str = Field(description="Title of the source document.")
    source: str = Field(description="Reference of the source document (citation, file name or URL).")
    path: str = Field(description="File the document was read from.")
    section: str = Field(description="Heading path of the passage, e.g. 'Termination > Notice', or 'Page 3'.")
    page: int | None = Field(default=None, description="1-based page number, for PDF documents.")
    chunk_id: str = Field(description="Stable passage id, '<doc_id>#<n>'.")
    text: str = Field(description="The passage text.")
    score: float = Field(
        description="Ranking score; its scale depends on the strategy (cosine similarity for similarity and "
        "dartboard, MMR objective, RRF value for hybrid, BM25 for bm25): compare only within one result list."
    )
    strategy: Strategy
    citation: str = Field(description="Ready-to-quote reference: 'Title, Section (source)'.")


class RagResult(BaseModel):
    query: str
    strategy: Strategy = Field(description="The strategy actually used.")
    k: int
    hits: list[RagHit]
    note: str | None = Field(default=None, description="Set when the strategy was chosen for the caller.")


class DocumentInfo(BaseModel):
    doc_id: str
    title: str
    source: str
    path: str
    chunks: int = Field(description="How many passages the document was split into.")


class RagIngestRequest(BaseModel):
    paths: list[str] = Field(
        description="Files (.md, .txt, .pdf) or folders on the server's file system to add to the index."
    )


class IngestResult(BaseModel):
    documents: list[DocumentInfo] = Field(description="The documents read from the given paths.")
    chunks_added: int = Field(description="Passages that were not in the index before.")
    chunks_embedded: int = Field(description="Passages that had to be embedded (new or changed text).")
    total_documents: int
    total_chunks: int
