"""The statistics of the reports: Wilson score intervals, pass^k, percentiles, ranks from intervals."""

from __future__ import annotations

import math
from collections.abc import Sequence

Z95 = 1.959963984540054  # two-sided 95 %


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval for a success rate; (0, 1) when there are no trials.

    Unlike the normal approximation it stays inside [0, 1] and is not zero-width at 0 or n successes.
    """
    if n < 0 or successes < 0 or successes > n:
        raise ValueError(f"need 0 <= successes <= n, got {successes} of {n}")
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    z2 = z * z
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denominator
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)  # exact at the ends, whatever the rounding
    return low, high


def pass_hat_k(n: int, c: int, k: int) -> float:
    """pass^k of one task: the chance that k trials drawn without replacement from its n (c passed) all pass.

    C(c, k) / C(n, k), the unbiased estimator of τ-bench; with k == n it is 1 when every trial passed, else 0.
    """
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"need 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    return math.comb(c, k) / math.comb(n, k)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100) with linear interpolation between order statistics; None when empty."""
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0-100, got {q}")
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def median(values: Sequence[float]) -> float | None:
    return percentile(values, 50)


def interval_ranks(intervals: Sequence[tuple[float, float]]) -> list[int]:
    """A rank for each (low, high) interval: 1 + the number of others lying wholly above it (low > its high).

    Intervals that overlap share a rank, so two results a sample cannot tell apart are never put in order; the
    rule needs no transitivity (A may tie with B and B with C while A ranks above C), as in Chatbot Arena.
    """
    return [1 + sum(1 for low, _ in intervals if low > high) for _, high in intervals]
