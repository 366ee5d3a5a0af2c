"""End to end with the real MiniLM model: index fixture documents, answer paraphrased questions, cite them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.tools.rag_fixtures import hit_docs, write_fixture_corpus
from tools.embeddings import DIMENSIONS, MODEL_NAME, dense_available, get_embedder
from tools.rag import RagIndex

pytestmark = [
    pytest.mark.dense,
    pytest.mark.skipif(not dense_available(), reason="needs the embedding stack (extra 'rag')"),
]

# Paraphrases that share few words with the documents: dense retrieval has to match on meaning.
QUESTIONS = {
    "How long before quitting must I hand in my resignation to my boss?": "fx-notice",
    "What is the most money either side can be made to pay if something goes wrong under the contract?": (
        "fx-liability"
    ),
    "Someone lost a laptop with customer records on it. How fast must this be escalated?": "fx-breach",
    "Can I keep vacation days I did not use for next year?": "fx-leave",
}


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("rag-dense") / "index"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("rag-dense-corpus")
    write_fixture_corpus(folder)
    return folder


@pytest.fixture(scope="module")
def index(corpus: Path, index_dir: Path) -> RagIndex:
    return RagIndex.open([corpus], index_dir, embedder=get_embedder())


def test_vectors_are_minilm(index: RagIndex, index_dir: Path) -> None:
    assert index.dense
    (build,) = [p for p in index_dir.iterdir() if p.name.startswith("build-")]
    vectors = np.load(build / "vectors.npy")
    assert vectors.shape == (index.chunk_count, DIMENSIONS)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert f'"model": "{MODEL_NAME}"' in (index_dir / "manifest.json").read_text()


@pytest.mark.parametrize("strategy", ["similarity", "mmr", "hybrid", "dartboard"])
@pytest.mark.parametrize(("question", "expected"), QUESTIONS.items(), ids=list(QUESTIONS.values()))
async def test_paraphrased_question_finds_the_right_document(
    index: RagIndex, strategy: str, question: str, expected: str
) -> None:
    result = await index.search(question, k=3, strategy=strategy)
    assert hit_docs(result)[0] == expected, [(h.chunk_id, h.score) for h in result.hits]
    assert result.hits[0].citation.startswith(result.hits[0].title)


async def test_bm25_finds_keyword_questions(index: RagIndex) -> None:
    result = await index.search("personal data breach register", k=3, strategy="bm25")
    assert hit_docs(result)[0] == "fx-breach"


async def test_reopening_loads_the_stored_index_with_identical_results(
    index: RagIndex, corpus: Path, index_dir: Path
) -> None:
    reopened = await RagIndex.aopen([corpus], index_dir, embedder=get_embedder())
    assert not reopened.rebuilt
    question = next(iter(QUESTIONS))
    for strategy in ("hybrid", "dartboard"):
        first = await index.search(question, strategy=strategy)
        second = await reopened.search(question, strategy=strategy)
        assert [(h.chunk_id, h.score) for h in first.hits] == [(h.chunk_id, h.score) for h in second.hits]
