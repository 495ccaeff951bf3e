"""Ranks with ties: what rank correlations (:mod:`gtnas.analysis.rank`) and the rank-average
proxy (``rankavg:A+B``) are built on. Pure numpy, below every other package."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def average_ranks(values: np.ndarray) -> np.ndarray:
    """Average ranks (1-based); tied values share the mean of their positions (NaN ties with
    nothing, as NaN != NaN; it sorts last)."""
    values = np.asarray(values)
    n = len(values)
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    starts_group = np.empty(n, dtype=bool)  # where a run of equal values begins, in order
    starts_group[:1] = True
    starts_group[1:] = ordered[1:] != ordered[:-1]
    first = np.flatnonzero(starts_group)  # (groups,) first position of each run
    last = np.append(first[1:], n) - 1  # (groups,) its last position
    ranks = np.empty(n, dtype=np.float64)
    ranks[order] = ((first + last) / 2 + 1)[np.cumsum(starts_group) - 1]
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
