"""Build the derived data the tools use, ahead of time: ``python -m tools.prepare`` (``make data``).

The sample SQL database (deterministic) and the legal RAG index are otherwise built on first use; building
them here keeps the first tool call fast. Both are skipped when already up to date.
"""

from __future__ import annotations

import sys
import time

from tools.rag import open_default_index
from tools.sql import default_database_path


def main() -> int:
    started = time.perf_counter()
    database = default_database_path()
    print(f"sample database: {database}")
    index = open_default_index()
    state = "rebuilt" if index.rebuilt else "up to date"
    kind = "dense + BM25" if index.dense else "BM25 only (install the 'rag' extra for dense retrieval)"
    print(f"legal RAG index: {index.index_dir} ({index.chunk_count} chunks, {kind}, {state})")
    print(f"done in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
