"""Where bundled data lives (inside the package) and where derived artefacts are cached."""

from __future__ import annotations

import os
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"
CORPUS_DIR = DATA_DIR / "corpus"


def cache_dir() -> Path:
    """Derived, rebuildable artefacts (sample database, vector index): ``$AFBENCH_CACHE_DIR`` or ~/.cache."""
    configured = os.environ.get("AFBENCH_CACHE_DIR")
    base = Path(configured) if configured else Path.home() / ".cache" / "afbench"
    base.mkdir(parents=True, exist_ok=True)
    return base
