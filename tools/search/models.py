"""Input and output models of the search tool."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

SearchCategory = Literal["all", "legal", "operational"]


class SearchRequest(BaseModel):
    query: str = Field(description="What to look for, in plain words, e.g. 'rotate the Kestrel Cloud API key'.")
    k: int = Field(default=5, description="How many results to return (1-20).")
    category: SearchCategory = Field(
        default="all",
        description="Offline corpus only: 'legal' (contracts, data protection, employment, law summaries), "
        "'operational' (product FAQs, runbooks, programming how-tos) or 'all'.",
    )


class SearchHit(BaseModel):
    rank: int = Field(description="1 for the best match.")
    title: str
    source: str = Field(description="Where the text comes from: a document reference or a URL.")
    url: str | None = Field(default=None, description="Web address, for web results.")
    doc_id: str | None = Field(default=None, description="Corpus document id, for offline results.")
    category: str | None = None
    snippet: str = Field(description="The passage that best matches the query.")
    score: float = Field(description="Relevance score; comparable only within one result list.")


class SearchResult(BaseModel):
    query: str
    provider: str
    hits: list[SearchHit]
