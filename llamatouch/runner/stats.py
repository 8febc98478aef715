"""Statistics for eval results: Wilson intervals, pass@k, pass^k, flip rate."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

#: z for a two-sided 95% interval.
Z95 = 1.959963984540054


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (``(0, 1)`` when ``n == 0``).

    Wilson (1927); preferred to the normal approximation for small ``n`` and rates near 0 or 1.
    """
    if n <= 0:
        return (0.0, 1.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def pass_at_k(n: int, c: int, k: int) -> float:
    """Probability that at least one of ``k`` trials drawn from ``n`` (``c`` successful)
    succeeds: ``1 - C(n-c, k) / C(n, k)`` (the unbiased estimator of Chen et al., 2021)."""
    if not 0 < k <= n:
        raise ValueError(f"need 0 < k <= n, got k={k}, n={n}")
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def pass_hat_k(n: int, c: int, k: int) -> float:
    """Probability that all of ``k`` trials drawn from ``n`` (``c`` successful) succeed:
    ``C(c, k) / C(n, k)`` (pass^k, the reliability measure of tau-bench, Yao et al., 2024)."""
    if not 0 < k <= n:
        raise ValueError(f"need 0 < k <= n, got k={k}, n={n}")
    return math.comb(c, k) / math.comb(n, k)


def flip_rate(outcomes: Sequence[bool]) -> float:
    """Fraction of consecutive trial pairs whose outcomes differ (0.0 with fewer than 2 trials).

    0 means the agent is consistent on this task; 1 means every trial flips the outcome.
    """
    if len(outcomes) < 2:
        return 0.0
    flips = sum(1 for a, b in itertools.pairwise(outcomes) if a != b)
    return flips / (len(outcomes) - 1)
