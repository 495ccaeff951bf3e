"""Ranks with ties: what rank correlations (:mod:`gtnas.analysis.rank`) and the rank-average
proxy (``rankavg:A+B``) are built on. Pure numpy, below every other package."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def average_ranks(values: np.ndarray) -> np.ndarray:
    """Average ranks (1-based); tied values share the mean of their positions."""
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values), dtype=np.float64)
    sorted_values = values[order]
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and sorted_values[j + 1] == sorted_values[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def rank_average(
    columns: Sequence[Sequence[float]], weights: Sequence[float] | None = None
) -> np.ndarray:
    """Mean over columns of each item's average rank (1 = lowest score) in that column,
    weighted by ``weights`` (one per column, not all zero; default: equal)."""
    ranks = [average_ranks(np.asarray(column, dtype=np.float64)) for column in columns]
    if not ranks or len({len(r) for r in ranks}) != 1:
        raise ValueError("rank_average needs one or more columns of equal length")
    if weights is None:
        return np.mean(ranks, axis=0)
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (len(ranks),) or (w < 0).any() or not w.sum() > 0:
        raise ValueError("rank_average needs one weight >= 0 per column, not all zero")
    return np.average(ranks, axis=0, weights=w)
