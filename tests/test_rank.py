"""Rank correlations against SciPy's implementations (an independent reference)."""

from __future__ import annotations

import numpy as np
import pytest

from gtnas.analysis.rank import bootstrap_ci, kendall_tau, rank_correlations, spearman

stats = pytest.importorskip("scipy.stats")


@pytest.mark.parametrize("seed", range(5))
def test_spearman_and_kendall_match_scipy_with_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 8, 40).astype(float)  # many ties
    y = x + rng.normal(0, 3, 40)
    y[::5] = y[0]  # ties in y too
    assert spearman(x, y) == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-12)
    assert kendall_tau(x, y) == pytest.approx(stats.kendalltau(x, y).statistic, abs=1e-12)


def test_perfect_and_reversed_orders() -> None:
    x = [1.0, 2.0, 3.0, 4.0]
    assert spearman(x, [10, 20, 30, 40]) == pytest.approx(1.0)
    assert kendall_tau(x, [4, 3, 2, 1]) == pytest.approx(-1.0)


def test_top_fraction_is_the_proxys_top() -> None:
    proxy = np.arange(10.0)
    truth = np.array([9, 8, 7, 6, 5, 0, 1, 2, 3, 4], dtype=float)  # right on the top half only
    result = rank_correlations(proxy, truth, resamples=200)
    assert result.n_top == 5 and result.spearman_top == pytest.approx(1.0)
    assert result.spearman_all < 0
    low, high = result.ci95_top
    assert low <= result.spearman_top <= high


def test_bootstrap_interval_contains_the_estimate_and_narrows_with_n() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=400)
    y = x + rng.normal(size=400)
    wide = bootstrap_ci(x[:30], y[:30], spearman, resamples=300)
    narrow = bootstrap_ci(x, y, spearman, resamples=300)
    assert wide[0] < spearman(x[:30], y[:30]) < wide[1]
    assert narrow[1] - narrow[0] < wide[1] - wide[0]
    with pytest.raises(ValueError, match="equal-length"):
        spearman([1, 2], [1, 2, 3])


@pytest.mark.parametrize("seed", range(5))
def test_average_ranks_match_scipy_with_ties_and_infinities(seed: int) -> None:
    from gtnas.ranks import average_ranks

    rng = np.random.default_rng(seed)
    values = rng.integers(0, 7, size=60).astype(float)
    values[rng.integers(0, 60, size=3)] = -np.inf  # synflow's "no signal"
    values[rng.integers(0, 60, size=2)] = np.inf
    assert np.array_equal(average_ranks(values), stats.rankdata(values, method="average"))
    assert average_ranks(np.array([])).shape == (0,)
