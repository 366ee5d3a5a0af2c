"""BM25 keyword ranking (``bm25s`` with an English Snowball stemmer), shared by search and hybrid RAG."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import bm25s
import numpy as np
import numpy.typing as npt
import Stemmer

_STEMMER = Stemmer.Stemmer("english")
# bm25s logs every index build at DEBUG on its own logger; keep server and benchmark logs readable.
logging.getLogger("bm25s").setLevel(logging.WARNING)


def _tokenize(texts: Sequence[str]) -> bm25s.tokenization.Tokenized:
    return bm25s.tokenize(list(texts), stopwords="en", stemmer=_STEMMER, show_progress=False)


class LexicalIndex:
    """An in-memory BM25 index over a fixed list of texts; positions in the list are the ids."""

    def __init__(self, texts: Sequence[str]) -> None:
        self.size = len(texts)
        self._retriever = bm25s.BM25()
        if self.size:
            self._retriever.index(_tokenize(texts), show_progress=False)

    def scores(self, query: str) -> npt.NDArray[np.float32]:
        """BM25 score of every text for ``query`` (zeros when no query term is in the vocabulary)."""
        if not self.size:
            return np.zeros(0, dtype=np.float32)
        tokens = bm25s.tokenize([query], stopwords="en", stemmer=_STEMMER, show_progress=False, return_ids=False)
        terms = [t for t in tokens[0] if t in self._retriever.vocab_dict]
        if not terms:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self._retriever.get_scores(terms), dtype=np.float32)

    def top(self, query: str, k: int) -> list[tuple[int, float]]:
        """The ``k`` best (position, score) pairs with a positive score, best first."""
        scores = self.scores(query)
        order = np.argsort(-scores, kind="stable")[:k]
        return [(int(i), float(scores[i])) for i in order if scores[i] > 0]
