"""The persistent vector index: one folder holding a manifest and immutable builds.

Layout of ``index_dir``::

    manifest.json            format version, embedding model, chunking params, sha256 of every source file,
                             and the name of the current build
    build-<id>/vectors.npy   float32 matrix, one L2-normalised row per chunk (absent for a lexical-only build)
    build-<id>/chunks.sqlite documents and chunks (row number = vector row), plus the build id

Writes are atomic: a build is written under ``build-<id>.partial``, renamed when complete, and only then
does ``manifest.json`` (replaced with ``os.replace``) point at it, so a reader or a crash never sees half a
build. A file lock serialises builders sharing a folder. :func:`build_or_load` reuses the current build when
the manifest still matches the sources and settings; otherwise it rebuilds, embedding only chunk texts the
previous build did not already have vectors for.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
import sys
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from tools.errors import ErrorCode, ToolError
from tools.rag.chunking import Chunk, ChunkingParams, chunk_document
from tools.rag.loaders import SourceDocument, expand_sources, file_sha256, load_documents

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
VECTORS = "vectors.npy"
CHUNKS_DB = "chunks.sqlite"

log = logging.getLogger(__name__)


class TextEmbedder(Protocol):
    """What the index needs from an embedding model (:class:`tools.embeddings.Embedder` fits)."""

    name: str
    dimensions: int

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> npt.NDArray[np.float32]: ...


@dataclass(frozen=True)
class StoredDocument:
    doc_id: str
    title: str
    source: str
    path: str
    category: str
    topic: str
    format: str
    sha256: str
    chunks: int


@dataclass(frozen=True)
class IndexData:
    """Everything a search needs, in memory. ``vectors`` is ``None`` for a lexical-only index."""

    documents: tuple[StoredDocument, ...]
    chunks: tuple[Chunk, ...]
    vectors: npt.NDArray[np.float32] | None
    model: str | None
    params: ChunkingParams
    files: dict[str, str]
    rebuilt: bool = False
    embedded: int = 0
    by_id: dict[str, StoredDocument] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_id", {d.doc_id: d for d in self.documents})


def _fingerprint(files: dict[str, str], params: ChunkingParams, model: str | None) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "model": model,
        "chunk_tokens": params.chunk_tokens,
        "overlap_tokens": params.overlap_tokens,
        "files": files,
    }


def hash_sources(sources: Iterable[str | Path]) -> dict[str, str]:
    """``{absolute file path: sha256}`` of every indexable file in ``sources`` (files and folders)."""
    return {str(path): file_sha256(path) for path in expand_sources(sources)}


def build_index(
    sources: Sequence[str | Path],
    *,
    embedder: TextEmbedder | None,
    params: ChunkingParams,
    previous: IndexData | None = None,
) -> IndexData:
    """Load, chunk and embed ``sources`` in memory; vectors of chunk texts ``previous`` already has are reused."""
    paths = expand_sources(sources)
    documents = load_documents(paths)
    chunks: list[Chunk] = []
    stored: list[StoredDocument] = []
    for document in documents:
        document_chunks = chunk_document(document, params)
        chunks.extend(document_chunks)
        stored.append(_stored(document, len(document_chunks)))
    vectors, embedded = _embed(chunks, embedder, previous)
    return IndexData(
        documents=tuple(stored),
        chunks=tuple(chunks),
        vectors=vectors,
        model=embedder.name if embedder else None,
        params=params,
        files={str(d.path): d.sha256 for d in documents},
        rebuilt=True,
        embedded=embedded,
    )


def _stored(document: SourceDocument, chunk_count: int) -> StoredDocument:
    return StoredDocument(
        doc_id=document.id,
        title=document.title,
        source=document.source,
        path=str(document.path),
        category=document.category,
        topic=document.topic,
        format=document.format,
        sha256=document.sha256,
        chunks=chunk_count,
    )


def _embed(
    chunks: Sequence[Chunk], embedder: TextEmbedder | None, previous: IndexData | None
) -> tuple[npt.NDArray[np.float32] | None, int]:
    if embedder is None:
        return None, 0
    known: dict[str, npt.NDArray[np.float32]] = {}
    if previous is not None and previous.vectors is not None and previous.model == embedder.name:
        known = {chunk.embed_text: previous.vectors[row] for row, chunk in enumerate(previous.chunks)}
    missing = sorted({c.embed_text for c in chunks if c.embed_text not in known})
    if missing:
        fresh = embedder.encode(missing)
        known.update(zip(missing, np.asarray(fresh, dtype=np.float32), strict=True))
    if not chunks:
        return np.zeros((0, embedder.dimensions), dtype=np.float32), 0
    return np.stack([known[c.embed_text] for c in chunks]).astype(np.float32), len(missing)


@contextmanager
def _locked(index_dir: Path) -> Iterator[None]:
    with (index_dir / ".lock").open("a+") as handle:
        if sys.platform != "win32":
            import fcntl

            fcntl.flock(handle, fcntl.LOCK_EX)  # released when the handle closes
        yield


def _read_manifest(index_dir: Path) -> dict[str, Any] | None:
    try:
        manifest = json.loads((index_dir / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def _load_build(index_dir: Path, manifest: dict[str, Any]) -> IndexData | None:
    """The build the manifest names, or ``None`` when it is missing or inconsistent (then we rebuild)."""
    build = manifest.get("build")
    if not isinstance(build, str) or not build.startswith("build-"):
        return None
    folder = index_dir / build
    try:
        with closing(sqlite3.connect(f"file:{folder / CHUNKS_DB}?mode=ro", uri=True)) as db:
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
            documents = tuple(
                StoredDocument(*row)
                for row in db.execute(
                    "SELECT doc_id, title, source, path, category, topic, format, sha256, chunks "
                    "FROM documents ORDER BY position"
                )
            )
            chunks = tuple(
                Chunk(*row)
                for row in db.execute(
                    "SELECT chunk_id, doc_id, n, section, page, text, embed_text, tokens FROM chunks ORDER BY row"
                )
            )
        vectors = np.load(folder / VECTORS) if manifest.get("model") else None
    except (OSError, ValueError, sqlite3.Error) as exc:
        log.warning("RAG index build %s is unreadable (%s); rebuilding", folder, exc)
        return None
    if meta.get("build") != build:
        return None
    if vectors is not None and (vectors.dtype != np.float32 or vectors.ndim != 2 or vectors.shape[0] != len(chunks)):
        return None
    return IndexData(
        documents=documents,
        chunks=chunks,
        vectors=vectors,
        model=manifest.get("model"),
        params=ChunkingParams(int(manifest["chunk_tokens"]), int(manifest["overlap_tokens"])),
        files=dict(manifest["files"]),
    )


def _write_build(index_dir: Path, data: IndexData) -> str:
    build = f"build-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
    partial = index_dir / f"{build}.partial"
    partial.mkdir()
    if data.vectors is not None:
        with (partial / VECTORS).open("wb") as handle:
            np.save(handle, data.vectors)
            handle.flush()
            os.fsync(handle.fileno())
    with closing(sqlite3.connect(partial / CHUNKS_DB)) as db, db:
        db.executescript(
            """
            CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            CREATE TABLE documents (
                position INTEGER PRIMARY KEY, doc_id TEXT UNIQUE NOT NULL, title TEXT NOT NULL,
                source TEXT NOT NULL, path TEXT NOT NULL, category TEXT NOT NULL, topic TEXT NOT NULL,
                format TEXT NOT NULL, sha256 TEXT NOT NULL, chunks INTEGER NOT NULL);
            CREATE TABLE chunks (
                row INTEGER PRIMARY KEY, chunk_id TEXT UNIQUE NOT NULL, doc_id TEXT NOT NULL, n INTEGER NOT NULL,
                section TEXT NOT NULL, page INTEGER, text TEXT NOT NULL, embed_text TEXT NOT NULL,
                tokens INTEGER NOT NULL);
            """
        )
        db.execute("INSERT INTO meta VALUES ('build', ?), ('format_version', ?)", (build, str(FORMAT_VERSION)))
        db.executemany(
            "INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (i, d.doc_id, d.title, d.source, d.path, d.category, d.topic, d.format, d.sha256, d.chunks)
                for i, d in enumerate(data.documents)
            ],
        )
        db.executemany(
            "INSERT INTO chunks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (row, c.chunk_id, c.doc_id, c.n, c.section, c.page, c.text, c.embed_text, c.tokens)
                for row, c in enumerate(data.chunks)
            ],
        )
    partial.rename(index_dir / build)
    return build


def _write_manifest(index_dir: Path, data: IndexData, build: str) -> None:
    manifest = _fingerprint(data.files, data.params, data.model) | {
        "build": build,
        "dimensions": None if data.vectors is None else int(data.vectors.shape[1]),
        "documents": len(data.documents),
        "chunks": len(data.chunks),
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    tmp = index_dir / f"{MANIFEST}.{uuid.uuid4().hex[:8]}.tmp"
    with tmp.open("w", encoding="utf-8") as handle:
        json.dump(manifest, handle, indent=1, sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, index_dir / MANIFEST)


def _remove_stale(index_dir: Path, keep: str) -> None:
    for entry in index_dir.iterdir():
        stale_build = entry.is_dir() and entry.name.startswith("build-") and entry.name != keep
        if stale_build or (entry.name.startswith(f"{MANIFEST}.") and entry.name.endswith(".tmp")):
            shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(missing_ok=True)


def _matches(manifest: dict[str, Any], files: dict[str, str], params: ChunkingParams, model: str | None) -> bool:
    """Whether the stored build fits; a lexical-only request accepts a build that also has vectors."""
    wanted = _fingerprint(files, params, model)
    stored = {key: manifest.get(key) for key in wanted}
    if model is None:
        stored["model"] = None
    return stored == wanted


def build_or_load(
    sources: Sequence[str | Path],
    index_dir: str | Path,
    *,
    embedder: TextEmbedder | None,
    params: ChunkingParams | None = None,
) -> IndexData:
    """Load the index in ``index_dir`` if it was built from exactly these files and settings, else rebuild it.

    "Exactly" means: the same set of files with the same sha256, the same chunking parameters, format version
    and embedding model (``embedder=None`` builds or accepts a lexical-only index). ``rebuilt`` and
    ``embedded`` on the result say what happened.
    """
    params = params or ChunkingParams()
    index_dir = Path(index_dir).expanduser()
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ToolError(
            ErrorCode.NOT_CONFIGURED, f"cannot create the RAG index folder {index_dir}: {exc}", path=str(index_dir)
        ) from None
    model = embedder.name if embedder else None
    with _locked(index_dir):
        files = hash_sources(sources)
        manifest = _read_manifest(index_dir)
        current = _load_build(index_dir, manifest) if manifest else None
        if manifest and current is not None and _matches(manifest, files, params, model):
            return current
        data = build_index(sources, embedder=embedder, params=params, previous=current)
        try:
            build = _write_build(index_dir, data)
            _write_manifest(index_dir, data, build)
        except (OSError, sqlite3.Error) as exc:
            raise ToolError(
                ErrorCode.NOT_CONFIGURED, f"cannot write the RAG index in {index_dir}: {exc}", path=str(index_dir)
            ) from None
        _remove_stale(index_dir, keep=build)
        return data
