"""Statistics of eval results, checked against hand-computed values."""

from __future__ import annotations

import math

import pytest

from llamatouch.runner.stats import flip_rate, pass_at_k, pass_hat_k, wilson_interval


def test_wilson_interval_known_values() -> None:
    # 8/10 successes: the Wilson 95% interval is [0.4902, 0.9433] (standard tables)
    lo, hi = wilson_interval(8, 10)
    assert lo == pytest.approx(0.4902, abs=1e-4)
    assert hi == pytest.approx(0.9433, abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    lo0, hi0 = wilson_interval(0, 15)
    assert lo0 == 0.0 and 0.2 < hi0 < 0.21


def test_pass_at_k_and_pass_hat_k() -> None:
    assert pass_at_k(5, 0, 3) == 0.0
    assert pass_at_k(5, 5, 3) == 1.0
    assert pass_at_k(4, 1, 2) == pytest.approx(1 - math.comb(3, 2) / math.comb(4, 2))
    assert pass_hat_k(4, 2, 2) == pytest.approx(1 / 6)
    assert pass_hat_k(3, 3, 3) == 1.0
    with pytest.raises(ValueError):
        pass_at_k(2, 1, 3)


def test_flip_rate() -> None:
    assert flip_rate([True]) == 0.0
    assert flip_rate([True, True, True]) == 0.0
    assert flip_rate([True, False, True]) == 1.0
    assert flip_rate([True, True, False, False]) == pytest.approx(1 / 3)
