"""Rank correlation between a proxy's scores and ground truth (the paper's measure of a proxy).

``spearman``: Pearson correlation of the average ranks (ties share their mean rank).
``kendall_tau``: Kendall's tau-b, which corrects for ties in either variable.
``rank_correlations``: both, over all architectures and over the proxy's top fraction (the GTN
paper reports Spearman on the top 50% by proxy, since a search only cares about the top).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from gtnas.ranks import average_ranks as _ranks


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    a, b = _checked(x, y)
    ra, rb = _ranks(a), _ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denominator = math.sqrt(float((ra * ra).sum() * (rb * rb).sum()))
    return float((ra * rb).sum() / denominator) if denominator > 0 else float("nan")


def kendall_tau(x: Sequence[float], y: Sequence[float]) -> float:
    """Kendall's tau-b: (concordant - discordant) / sqrt((n0 - n1)(n0 - n2))."""
    a, b = _checked(x, y)
    # all pairs i < j at once: (n, n) sign matrices; O(n^2) memory is fine for NAS-sized sets
    da = np.sign(a[:, None] - a[None, :])
    db = np.sign(b[:, None] - b[None, :])
    upper = np.triu(np.ones_like(da, dtype=bool), k=1)
    s = float((da * db)[upper].sum())
    pairs_a = float((da[upper] != 0).sum())  # pairs not tied in x
    pairs_b = float((db[upper] != 0).sum())
    denominator = math.sqrt(pairs_a * pairs_b)
    return s / denominator if denominator > 0 else float("nan")


def _checked(x: Sequence[float], y: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"need two equal-length 1-D sequences, got {a.shape} and {b.shape}")
    if len(a) < 2:
        raise ValueError("rank correlation needs at least 2 points")
    return a, b


def bootstrap_ci(
    x: Sequence[float],
    y: Sequence[float],
    statistic: Callable[[np.ndarray, np.ndarray], float],
    *,
    resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic`` over resampled (x, y) pairs."""
    a, b = _checked(x, y)
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(resamples):
        index = rng.integers(0, len(a), len(a))
        value = statistic(a[index], b[index])
        if not math.isnan(value):
            values.append(value)
    if not values:
        return float("nan"), float("nan")
    low, high = np.quantile(values, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(low), float(high)


@dataclass(frozen=True)
class RankCorrelation:
    n: int
    spearman_all: float
    kendall_all: float
    n_top: int
    spearman_top: float
    kendall_top: float
    ci95_top: tuple[float, float]  # bootstrap interval of spearman_top
    ci95_all: tuple[float, float]


def rank_correlations(
    proxy: Sequence[float],
    truth: Sequence[float],
    *,
    top_fraction: float = 0.5,
    resamples: int = 1000,
    seed: int = 0,
) -> RankCorrelation:
    """Correlations over all points and over the proxy's top ``top_fraction``."""
    a, b = _checked(proxy, truth)
    order = np.argsort(-a, kind="mergesort")
    top = order[: max(2, math.ceil(top_fraction * len(a)))]
    return RankCorrelation(
        n=len(a),
        spearman_all=spearman(a, b),
        kendall_all=kendall_tau(a, b),
        n_top=len(top),
        spearman_top=spearman(a[top], b[top]),
        kendall_top=kendall_tau(a[top], b[top]),
        ci95_top=bootstrap_ci(a[top], b[top], spearman, resamples=resamples, seed=seed),
        ci95_all=bootstrap_ci(a, b, spearman, resamples=resamples, seed=seed),
    )
