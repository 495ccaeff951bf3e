"""Weighted rank averages (``rankavg:W*A+W*B``) and the weights fitted on calibration
architectures (gtnas.analysis.combination), against hand computations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gtnas.analysis.combination import fit_rank_weights, simplex_grid
from gtnas.errors import ConfigError
from gtnas.ranks import rank_average
from gtnas.search.proxies import create_proxy


def test_a_weighted_rank_average_by_hand() -> None:
    a, b = [10.0, 30.0, 20.0], [3.0, 1.0, 2.0]  # ranks 1 3 2 and 3 1 2
    assert rank_average([a, b], [0.75, 0.25]).tolist() == [1.5, 2.5, 2.0]
    assert rank_average([a, b], [1, 1]).tolist() == rank_average([a, b]).tolist()
    with pytest.raises(ValueError, match="one weight >= 0 per column"):
        rank_average([a, b], [1.0, -1.0])


def test_the_weighted_proxy_parses_names_and_combines() -> None:
    proxy = create_proxy("rankavg:0.75*params+0.25*synflow")
    assert proxy.components == ("params", "synflow") and proxy.weights == (0.75, 0.25)
    assert proxy.name == "rankavg:0.75*params+0.25*synflow"
    assert proxy.combine([[10.0, 30.0, 20.0], [3.0, 1.0, 2.0]]) == [1.5, 2.5, 2.0]
    assert create_proxy("rankavg:params+synflow").weights is None
    for bad, message in (("rankavg:0.5*params+synflow", "weight every proxy or none"),
                         ("rankavg:x*params+1*synflow", "'x' is not a weight"),
                         ("rankavg:0*params+0*synflow", "not all zero")):  # fmt: skip
        with pytest.raises(ConfigError, match=message):
            create_proxy(bad)


def test_the_simplex_grid_is_every_split_of_one() -> None:
    grid = simplex_grid(3, 0.25)
    assert len(grid) == math.comb(4 + 2, 2)  # 4 units over 3 parts
    assert all(min(w) >= 0 and sum(w) == pytest.approx(1) for w in grid)
    assert len(set(grid)) == len(grid) and (1 / 3, 1 / 3, 1 / 3) not in grid


def test_the_fit_finds_the_column_that_orders_the_target() -> None:
    rng = np.random.default_rng(0)
    target = rng.normal(size=12)
    good = target + 0.01 * rng.normal(size=12)
    noise = rng.normal(size=12)
    weights, value = fit_rank_weights([noise, good], target, step=0.1)
    assert value == pytest.approx(1.0)
    assert weights[1] > weights[0]
    # the tie-break prefers weights nearest equal ones among those that order it perfectly
    best = [w for w in simplex_grid(2, 0.1) if w[1] > w[0]]
    perfect = [w for w in best if rank_average([noise, good], w).argsort().tolist()
               == target.argsort().tolist()]  # fmt: skip
    assert weights == min(perfect, key=lambda w: abs(w[0] - 0.5))
