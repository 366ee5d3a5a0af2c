"""Offline search: BM25 over the bundled corpus, deterministic, with query-focused snippets."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

import Stemmer

from tools.corpus import Document, load_corpus
from tools.lexical import LexicalIndex
from tools.search.models import SearchHit, SearchRequest, SearchResult
from tools.search.provider import validate_request

SNIPPET_CHARS = 320
_STEM = Stemmer.Stemmer("english")
_WORD = re.compile(r"\w+", re.UNICODE)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_EMPHASIS = re.compile(r"\*\*|__")
_TABLE_RULE = re.compile(r"^\|?\s*:?-{3,}")
_LIST_MARK = re.compile(r"^(?:#+|[-*+]|\d+[.)])\s+")


def _stems(text: str) -> set[str]:
    return set(_STEM.stemWords([w.lower() for w in _WORD.findall(text)]))


def _plain_units(body: str) -> list[str]:
    """Markdown → short plain-text units: one per sentence, list item, heading or table row."""
    units: list[str] = []
    for raw in body.splitlines():
        line = _EMPHASIS.sub("", raw).strip()
        if not line or _TABLE_RULE.match(line):
            continue
        if line.startswith("|"):
            line = ", ".join(cell.strip() for cell in line.strip("|").split("|") if cell.strip())
        line = _LIST_MARK.sub("", line).strip()
        units += [part.strip() for part in _SENTENCE_END.split(line) if part.strip()]
    return units


def make_snippet(body: str, query: str, limit: int = SNIPPET_CHARS) -> str:
    """The run of units (sentences, list items, rows) sharing most stems with the query, within ``limit``."""
    units = _plain_units(body)
    if not units:
        return ""
    wanted = _stems(query)
    best = max(range(len(units)), key=lambda i: (len(_stems(units[i]) & wanted), -i))
    snippet = units[best]
    for extra in units[best + 1 :]:
        joiner = " " if snippet.endswith((".", "!", "?", ":")) else "; "
        if len(snippet) + len(joiner) + len(extra) > limit:
            break
        snippet = f"{snippet}{joiner}{extra}"
    return snippet if len(snippet) <= limit else snippet[: limit - 1].rstrip() + "…"


class OfflineSearch:
    """BM25 over a fixed set of documents (the bundled corpus by default)."""

    name = "offline"

    def __init__(self, documents: Sequence[Document]) -> None:
        self.documents = list(documents)
        # Title twice: a title match is the strongest signal a short document gives.
        self._index = LexicalIndex([f"{d.title}\n{d.title}\n{d.body}" for d in self.documents])

    @classmethod
    @lru_cache(maxsize=1)
    def default(cls) -> OfflineSearch:
        return cls(load_corpus())

    async def search(self, request: SearchRequest) -> SearchResult:
        query = validate_request(request)
        ranked = self._index.top(query, len(self.documents))
        hits: list[SearchHit] = []
        for position, score in ranked:
            document = self.documents[position]
            if request.category != "all" and document.category != request.category:
                continue
            hits.append(
                SearchHit(
                    rank=len(hits) + 1,
                    title=document.title,
                    source=document.source,
                    doc_id=document.id,
                    category=document.category,
                    snippet=make_snippet(document.body, query),
                    score=round(score, 4),
                )
            )
            if len(hits) == request.k:
                break
        return SearchResult(query=query, provider=self.name, hits=hits)
