"""The retrieval strategies as pure functions over vectors and scores, so each is testable with tiny inputs.

Vectors are rows of an L2-normalised float32 matrix, so a dot product is the cosine similarity. Every
function returns ``[(row, score), ...]`` best first, at most ``k`` long; ties keep the lower row first so
results are deterministic. What ``score`` means depends on the strategy and is said in each docstring.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Vector = npt.NDArray[np.float32]
Matrix = npt.NDArray[np.float32]
Ranked = list[tuple[int, float]]

RRF_K = 60
MMR_LAMBDA = 0.5
DARTBOARD_SIGMA = 0.1


def _top(scores: npt.NDArray[np.floating], k: int) -> npt.NDArray[np.intp]:
    """Indices of the ``k`` largest scores, best first, lower index first among equals."""
    return np.argsort(-scores, kind="stable")[:k]


def cosine_scores(query: Vector, matrix: Matrix) -> npt.NDArray[np.float32]:
    if matrix.shape[0] == 0:
        return np.zeros(0, dtype=np.float32)
    return np.asarray(matrix @ query, dtype=np.float32)


def similarity(query: Vector, matrix: Matrix, k: int) -> Ranked:
    """Plain dense retrieval: the ``k`` rows closest to the query; score is the cosine similarity."""
    scores = cosine_scores(query, matrix)
    return [(int(i), float(scores[i])) for i in _top(scores, k)]


def bm25(lexical_scores: npt.NDArray[np.floating], k: int) -> Ranked:
    """Lexical-only retrieval (no embedding model needed): rows with a positive BM25 score, best first."""
    return [(int(i), float(lexical_scores[i])) for i in _top(lexical_scores, k) if lexical_scores[i] > 0]


def mmr(query: Vector, matrix: Matrix, k: int, lambda_mult: float = MMR_LAMBDA, fetch_k: int = 20) -> Ranked:
    """Maximal marginal relevance over the ``fetch_k`` rows most similar to the query.

    Greedily picks ``argmax_c  λ·cos(q, c) − (1 − λ)·max_{s ∈ selected} cos(c, s)``; λ = 1 is plain
    similarity, λ = 0 pure diversity. Score is that objective at the moment the row was picked.
    """
    relevance = cosine_scores(query, matrix)
    pool = _top(relevance, max(fetch_k, k))
    if pool.size == 0:
        return []
    pair = matrix[pool] @ matrix[pool].T
    result: Ranked = []
    redundancy = np.full(pool.size, -np.inf)
    available = np.ones(pool.size, dtype=bool)
    for _ in range(min(k, pool.size)):
        penalty = np.where(np.isfinite(redundancy), redundancy, 0.0)
        objective = lambda_mult * relevance[pool] - (1.0 - lambda_mult) * penalty
        objective = np.where(available, objective, -np.inf)
        best = int(np.argmax(objective))
        available[best] = False
        redundancy = np.maximum(redundancy, pair[best])
        result.append((int(pool[best]), float(objective[best])))
    return result


def rrf(rankings: list[tuple[list[int], float]], k: int, rrf_k: int = RRF_K) -> Ranked:
    """Reciprocal-rank fusion: ``score(d) = Σ_i w_i / (rrf_k + rank_i(d))`` with 1-based ranks.

    ``rankings`` holds ``(rows best first, weight)`` pairs; a row missing from a ranking gets nothing from it.
    """
    fused: dict[int, float] = {}
    for rows, weight in rankings:
        for rank, row in enumerate(rows, 1):
            fused[row] = fused.get(row, 0.0) + weight / (rrf_k + rank)
    ordered = sorted(fused.items(), key=lambda item: (-item[1], item[0]))
    return [(row, score) for row, score in ordered[:k]]


def hybrid(
    dense_scores: npt.NDArray[np.floating],
    lexical_scores: npt.NDArray[np.floating],
    k: int,
    rrf_k: int = RRF_K,
    dense_weight: float = 1.0,
    lexical_weight: float = 1.0,
) -> Ranked:
    """Dense and BM25 rankings fused with weighted reciprocal-rank fusion; score is the fused RRF value.

    Every row is in the dense ranking; only rows sharing a term with the query (BM25 > 0) are in the
    lexical one, so a row is not rewarded for an arbitrary place among lexical non-matches.
    """
    dense_order = [int(i) for i in _top(dense_scores, dense_scores.size)]
    lexical_order = [int(i) for i in _top(lexical_scores, lexical_scores.size) if lexical_scores[i] > 0]
    return rrf([(dense_order, dense_weight), (lexical_order, lexical_weight)], k, rrf_k)


def _log_gaussian(distance: npt.NDArray[np.floating], sigma: float) -> npt.NDArray[np.float64]:
    return np.asarray(-np.log(sigma) - 0.5 * np.log(2 * np.pi) - distance.astype(np.float64) ** 2 / (2 * sigma**2))


def _logsumexp(values: npt.NDArray[np.float64], axis: int) -> npt.NDArray[np.float64]:
    peak = np.max(values, axis=axis, keepdims=True)
    peak = np.where(np.isfinite(peak), peak, 0.0)
    return np.asarray(np.squeeze(peak, axis=axis) + np.log(np.sum(np.exp(values - peak), axis=axis)))


def dartboard(
    query: Vector,
    matrix: Matrix,
    k: int,
    relevance_weight: float = 1.0,
    diversity_weight: float = 1.0,
    sigma: float = DARTBOARD_SIGMA,
    fetch_k: int | None = None,
) -> Ranked:
    """Dartboard selection (Pickett et al., 2024, "Better RAG using Relevant Information Gain").

    The candidate pool ``P`` is the ``fetch_k`` rows most similar to the query (default ``3·k``, at least
    20). Distances are cosine distances ``d(a, b) = 1 − cos(a, b)``, turned into log-likelihoods under a
    Gaussian of width ``σ``: ``ℓ(a, b) = −log σ − ½·log 2π − d(a, b)² / 2σ²``. The first pick is the row
    closest to the query; then, with ``G`` the rows chosen so far, each step adds the candidate ``c`` that
    maximises the weighted log-sum over the pool ("targets" ``t``)::

        score(c) = log Σ_{t ∈ P} exp( w_rel · ℓ(q, t) + w_div · max(max_{g ∈ G} ℓ(g, t), ℓ(c, t)) )

    i.e. how much of the query-relevant part of the pool the set ``G ∪ {c}`` covers. Redundancy is
    penalised through the ``max``: a near-duplicate of a chosen row covers no target better than that row
    already does, so it adds (almost) nothing, while a relevant row from an uncovered region raises the
    sum. ``w_rel`` (``relevance_weight``) scales how much targets matter by their closeness to the query,
    ``w_div`` (``diversity_weight``) how much new coverage matters; ``w_div = 0`` gives the similarity
    order. Score: the cosine similarity of the row to the query (the objective is a set value, so it
    rises with every pick and would read backwards as a per-hit score).
    """
    relevance = cosine_scores(query, matrix)
    pool = _top(relevance, max(fetch_k or max(3 * k, 20), k))
    if pool.size == 0:
        return []
    vectors = matrix[pool]
    query_ll = _log_gaussian(1.0 - relevance[pool], sigma)
    pair_ll = _log_gaussian(1.0 - vectors @ vectors.T, sigma)
    first = 0  # the pool is ordered by relevance, so row 0 is the closest to the query
    chosen = [first]
    coverage = pair_ll[first].copy()
    available = np.ones(pool.size, dtype=bool)
    available[first] = False
    while len(chosen) < min(k, pool.size):
        covered = np.maximum(coverage[None, :], pair_ll)  # [candidate, target]
        objective = _logsumexp(relevance_weight * query_ll[None, :] + diversity_weight * covered, axis=1)
        objective = np.where(available, objective, -np.inf)
        best = int(np.argmax(objective))
        chosen.append(best)
        available[best] = False
        coverage = covered[best]
    return [(int(pool[i]), float(relevance[pool[i]])) for i in chosen]
