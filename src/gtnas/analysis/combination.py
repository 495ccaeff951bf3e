"""A combination of proxies fitted on calibration architectures: the weights of a weighted rank
average (``rankavg:W1*A+W2*B``) that order the calibration architectures best.

Why ranks and a grid: proxies live on unrelated scales (accuracies, log-synflow, parameter
counts), and a handful of calibration architectures cannot support a regression; a weighted
mean of ranks is scale-free, and the weights are searched on a coarse simplex grid (multiples
of ``step`` summing to 1), scored by Spearman with the calibration architectures' accuracy.
Ties go to the weights nearest equal ones (the least fitted). Fit on validation accuracy and
judge on other architectures: weights chosen on the architectures they are judged on would
flatter the combination.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from gtnas.analysis.rank import spearman
from gtnas.ranks import rank_average


def simplex_grid(count: int, step: float) -> list[tuple[float, ...]]:
    """Every weight vector of ``count`` non-negative multiples of ``step`` summing to 1."""
    units = round(1 / step)
    if count < 1 or units < 1 or abs(units * step - 1) > 1e-9:
        raise ValueError(f"need count >= 1 and a step dividing 1, got {count}, {step}")
    grid = []
    for cuts in itertools.combinations_with_replacement(range(units + 1), count - 1):
        bounds = (0, *cuts, units)
        grid.append(tuple((b - a) / units for a, b in itertools.pairwise(bounds)))
    return grid


def fit_rank_weights(
    columns: Sequence[Sequence[float]], target: Sequence[float], step: float = 0.1
) -> tuple[tuple[float, ...], float]:
    """(weights, Spearman): the grid's weights whose rank average of ``columns`` (one per
    proxy, each a score per calibration architecture) correlates best with ``target``."""
    if len(target) < 3 or any(len(c) != len(target) for c in columns):
        raise ValueError("fit_rank_weights needs 3+ architectures and one score each")
    equal = np.full(len(columns), 1 / len(columns))
    best: tuple[float, float, tuple[float, ...]] | None = None
    for weights in simplex_grid(len(columns), step):
        value = spearman(rank_average(columns, weights), target)
        if not np.isfinite(value):
            continue
        key = (value, -float(np.sum((np.asarray(weights) - equal) ** 2)))
        if best is None or key > best[:2]:
            best = (*key, weights)
    if best is None:
        raise ValueError("no weights give a finite correlation (constant columns?)")
    return best[2], best[0]
