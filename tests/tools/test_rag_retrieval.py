"""Retrieval strategies on tiny hand-made vectors where the right answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from tools.rag import retrieval


def unit(*values: float) -> np.ndarray:
    vector = np.asarray(values, dtype=np.float32)
    return (vector / np.linalg.norm(vector)).astype(np.float32)


def at(degrees: float) -> np.ndarray:
    """A unit vector in the x-y plane, ``degrees`` away from the query."""
    return unit(np.cos(np.radians(degrees)), np.sin(np.radians(degrees)), 0.0)


# The query points along x. Row 0 (5°) answers it best, row 1 (6°) is a near-duplicate of row 0, row 2
# (-20°) is relevant from another side, row 3 (the z axis) is unrelated.
QUERY = at(0)
MATRIX = np.stack([at(5), at(6), at(-20), unit(0.0, 0.0, 1.0)])


def rows(ranked: retrieval.Ranked) -> list[int]:
    return [row for row, _ in ranked]


def test_similarity_is_cosine_order() -> None:
    ranked = retrieval.similarity(QUERY, MATRIX, 4)
    assert rows(ranked) == [0, 1, 2, 3]
    assert ranked[0][1] == pytest.approx(float(MATRIX[0] @ QUERY))
    assert rows(retrieval.similarity(QUERY, MATRIX, 2)) == [0, 1]


def test_similarity_on_empty_matrix() -> None:
    assert retrieval.similarity(QUERY, np.zeros((0, 3), dtype=np.float32), 5) == []


def test_mmr_prefers_a_diverse_second_item_over_a_near_duplicate() -> None:
    assert rows(retrieval.mmr(QUERY, MATRIX, 2, lambda_mult=0.5)) == [0, 2]
    # λ = 1 is plain relevance, so the duplicate comes back.
    assert rows(retrieval.mmr(QUERY, MATRIX, 2, lambda_mult=1.0)) == [0, 1]


def test_mmr_scores_and_pool() -> None:
    ranked = retrieval.mmr(QUERY, MATRIX, 2, lambda_mult=0.5)
    assert ranked[0][1] == pytest.approx(0.5 * float(MATRIX[0] @ QUERY))
    expected = 0.5 * float(MATRIX[2] @ QUERY) - 0.5 * float(MATRIX[2] @ MATRIX[0])
    assert ranked[1][1] == pytest.approx(expected, abs=1e-6)
    # fetch_k smaller than k is widened to k; never more results than rows.
    assert len(retrieval.mmr(QUERY, MATRIX, 3, fetch_k=1)) == 3
    assert len(retrieval.mmr(QUERY, MATRIX, 10)) == 4


def test_dartboard_prefers_a_diverse_second_item_over_a_near_duplicate() -> None:
    assert rows(retrieval.dartboard(QUERY, MATRIX, 2, sigma=0.1)) == [0, 2]


def test_dartboard_without_diversity_is_similarity_order() -> None:
    assert rows(retrieval.dartboard(QUERY, MATRIX, 4, diversity_weight=0.0)) == [0, 1, 2, 3]


def test_dartboard_relevance_weight_keeps_irrelevant_rows_out() -> None:
    # Coverage alone (no relevance weight) wants the far-away row 3 early; relevance keeps it last.
    assert rows(retrieval.dartboard(QUERY, MATRIX, 3, relevance_weight=0.0))[1] == 3
    assert 3 not in rows(retrieval.dartboard(QUERY, MATRIX, 3, relevance_weight=1.0))


def test_dartboard_scores_are_cosine_and_results_unique() -> None:
    ranked = retrieval.dartboard(QUERY, MATRIX, 4)
    assert sorted(rows(ranked)) == [0, 1, 2, 3]
    for row, score in ranked:
        assert score == pytest.approx(float(MATRIX[row] @ QUERY))


def test_bm25_strategy_drops_non_matching_rows() -> None:
    scores = np.asarray([0.0, 2.5, 0.7, 0.0], dtype=np.float32)
    assert retrieval.bm25(scores, 5) == [(1, 2.5), (2, pytest.approx(0.7))]


def test_rrf_formula() -> None:
    fused = retrieval.rrf([([3, 1], 1.0), ([1, 2], 2.0)], k=5, rrf_k=60)
    assert dict(fused) == pytest.approx({1: 1 / 62 + 2 / 61, 3: 1 / 61, 2: 2 / 62})
    assert rows(fused) == [1, 2, 3]


def test_hybrid_rescues_an_exact_keyword_match_that_dense_ranks_low() -> None:
    dense = np.asarray([0.9, 0.8, 0.7, 0.1], dtype=np.float32)
    lexical = np.asarray([0.0, 0.0, 0.0, 9.0], dtype=np.float32)
    # Row 3 is last by meaning but the only keyword match: 1/64 + 1/61 beats row 0's 1/61.
    assert rows(retrieval.hybrid(dense, lexical, 4)) == [3, 0, 1, 2]
    # Weights move the balance: dense only gives the dense order.
    assert rows(retrieval.hybrid(dense, lexical, 4, lexical_weight=0.0)) == [0, 1, 2, 3]
    assert rows(retrieval.hybrid(dense, lexical, 1, dense_weight=0.0)) == [3]


def test_ties_break_on_lower_row() -> None:
    tied = np.stack([unit(1, 0, 0)] * 3)
    assert rows(retrieval.similarity(unit(1, 0, 0), tied, 3)) == [0, 1, 2]
