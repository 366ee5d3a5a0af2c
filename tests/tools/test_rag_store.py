"""Index persistence: what is stored, when it is rebuilt, which texts get (re-)embedded, and atomicity."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import numpy as np
import pytest

from tests.tools.rag_fixtures import CountingEmbedder, write_fixture_corpus, write_markdown
from tools.errors import ErrorCode, ToolError
from tools.rag.chunking import ChunkingParams
from tools.rag.store import MANIFEST, build_or_load


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    write_fixture_corpus(folder)
    return folder


def builds(index_dir: Path) -> list[Path]:
    return sorted(p for p in index_dir.iterdir() if p.name.startswith("build-"))


def test_first_build_writes_manifest_vectors_and_chunks(corpus: Path, tmp_path: Path) -> None:
    embedder = CountingEmbedder()
    index_dir = tmp_path / "index"
    data = build_or_load([corpus], index_dir, embedder=embedder)
    assert data.rebuilt
    assert data.embedded == len(data.chunks) == embedder.texts_embedded
    assert len(embedder.calls) == 1, "one batch for the whole corpus"
    assert {d.doc_id for d in data.documents} == {"fx-notice", "fx-breach", "fx-liability", "fx-leave"}
    manifest = json.loads((index_dir / MANIFEST).read_text())
    assert manifest["model"] == "test/hashed-bow"
    assert (manifest["chunk_tokens"], manifest["overlap_tokens"]) == (200, 40)
    assert manifest["chunks"] == len(data.chunks)
    assert sorted(manifest["files"]) == sorted(str(p.resolve()) for p in corpus.glob("*.md"))
    (build,) = builds(index_dir)
    assert manifest["build"] == build.name
    vectors = np.load(build / "vectors.npy")
    assert vectors.shape == (len(data.chunks), 384) and vectors.dtype == np.float32
    assert (build / "chunks.sqlite").exists()


def test_unchanged_corpus_is_loaded_without_embedding(corpus: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    first = build_or_load([corpus], index_dir, embedder=CountingEmbedder())
    embedder = CountingEmbedder()
    os.utime(corpus / "fx-notice.md", (1, 1))  # a new mtime alone is not a change
    again = build_or_load([corpus], index_dir, embedder=embedder)
    assert not again.rebuilt
    assert embedder.calls == []
    assert again.chunks == first.chunks and again.documents == first.documents
    assert again.vectors is not None and first.vectors is not None
    np.testing.assert_array_equal(again.vectors, first.vectors)


def test_changed_file_re_embeds_only_its_changed_chunks(corpus: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    build_or_load([corpus], index_dir, embedder=CountingEmbedder())
    path = corpus / "fx-breach.md"
    path.write_text(path.read_text().replace("five years", "seven years"), encoding="utf-8")
    embedder = CountingEmbedder()
    data = build_or_load([corpus], index_dir, embedder=embedder)
    assert data.rebuilt
    assert embedder.texts_embedded == data.embedded == 1
    assert "seven years" in embedder.calls[0][0]
    assert any("seven years" in c.text for c in data.chunks)
    assert len(builds(index_dir)) == 1, "the previous build is cleaned up"


def test_added_and_removed_files_trigger_a_rebuild(corpus: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    before = build_or_load([corpus], index_dir, embedder=CountingEmbedder())
    write_markdown(corpus, "fx-gifts", "Gifts policy", "## Limit\nGifts above £50 must be declared.")
    embedder = CountingEmbedder()
    added = build_or_load([corpus], index_dir, embedder=embedder)
    assert added.rebuilt and "fx-gifts" in added.by_id
    assert embedder.texts_embedded == 1
    (corpus / "fx-leave.md").unlink()
    embedder = CountingEmbedder()
    removed = build_or_load([corpus], index_dir, embedder=embedder)
    assert removed.rebuilt and "fx-leave" not in removed.by_id
    assert embedder.calls == []
    assert len(removed.chunks) == len(before.chunks) + 1 - before.by_id["fx-leave"].chunks


def test_changed_chunking_or_model_rebuilds(corpus: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    build_or_load([corpus], index_dir, embedder=CountingEmbedder())
    embedder = CountingEmbedder()
    data = build_or_load([corpus], index_dir, embedder=embedder, params=ChunkingParams(32, 8))
    assert data.rebuilt and embedder.texts_embedded > 0
    assert all(c.tokens <= 32 for c in data.chunks)
    other_model = CountingEmbedder(name="test/other-model")
    data = build_or_load([corpus], index_dir, embedder=other_model, params=ChunkingParams(32, 8))
    assert data.rebuilt and other_model.texts_embedded == len(data.chunks)


def test_lexical_only_reuses_a_dense_build_and_dense_upgrades_a_lexical_one(corpus: Path, tmp_path: Path) -> None:
    dense_dir, lexical_dir = tmp_path / "dense", tmp_path / "lexical"
    build_or_load([corpus], dense_dir, embedder=CountingEmbedder())
    assert not build_or_load([corpus], dense_dir, embedder=None).rebuilt
    lexical = build_or_load([corpus], lexical_dir, embedder=None)
    assert lexical.vectors is None and lexical.model is None
    assert not (builds(lexical_dir)[0] / "vectors.npy").exists()
    upgraded = build_or_load([corpus], lexical_dir, embedder=CountingEmbedder())
    assert upgraded.rebuilt and upgraded.vectors is not None


@pytest.mark.parametrize("damage", ["vectors", "manifest", "database"])
def test_damaged_index_is_rebuilt(corpus: Path, tmp_path: Path, damage: str) -> None:
    index_dir = tmp_path / "index"
    build_or_load([corpus], index_dir, embedder=CountingEmbedder())
    (build,) = builds(index_dir)
    if damage == "vectors":
        np.save(build / "vectors.npy", np.zeros((1, 384), dtype=np.float32))
    elif damage == "manifest":
        (index_dir / MANIFEST).write_text("{not json", encoding="utf-8")
    else:
        (build / "chunks.sqlite").write_bytes(b"garbage")
    embedder = CountingEmbedder()
    data = build_or_load([corpus], index_dir, embedder=embedder)
    assert data.rebuilt and embedder.texts_embedded == len(data.chunks)
    assert not build_or_load([corpus], index_dir, embedder=CountingEmbedder()).rebuilt


def test_failed_rebuild_leaves_the_stored_index_intact(corpus: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    first = build_or_load([corpus], index_dir, embedder=CountingEmbedder())
    manifest = (index_dir / MANIFEST).read_bytes()
    (corpus / "empty.md").write_text("", encoding="utf-8")
    with pytest.raises(ToolError) as caught:
        build_or_load([corpus], index_dir, embedder=CountingEmbedder())
    assert caught.value.code == ErrorCode.EMPTY_INPUT and "empty.md" in caught.value.message
    assert (index_dir / MANIFEST).read_bytes() == manifest
    (corpus / "empty.md").unlink()
    embedder = CountingEmbedder()
    again = build_or_load([corpus], index_dir, embedder=embedder)
    assert not again.rebuilt and again.chunks == first.chunks and embedder.calls == []


def test_concurrent_builders_share_one_build(corpus: Path, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    embedders = [CountingEmbedder() for _ in range(4)]
    results: list[object] = []
    threads = [
        threading.Thread(target=lambda e=e: results.append(build_or_load([corpus], index_dir, embedder=e)))
        for e in embedders
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 4
    assert sum(bool(e.calls) for e in embedders) == 1, "only the first builder embeds; the rest load"
    assert len(builds(index_dir)) == 1
    assert not any(p.name.endswith((".partial", ".tmp")) for p in index_dir.iterdir())


def test_unwritable_index_folder(corpus: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    with pytest.raises(ToolError) as caught:
        build_or_load([corpus], blocker / "index", embedder=None)
    assert caught.value.code == ErrorCode.NOT_CONFIGURED
