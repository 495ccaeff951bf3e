"""What a truth set lets a proxy reach, and what costs nothing: the noise ceiling and the floor.

The noise ceiling is how well two trainings of the same networks agree: each architecture's
accuracy after its first training seed, used as if it were a proxy, correlated with its
accuracy after the second (over the architectures trained with both; the "top" measures over
the first seed's top fraction, as for a proxy). No proxy can be expected to rank a set better
than another full training of every network does.

Proxies are correlated with the seed mean, which is less noisy than one seed, so the seed-vs-seed
figure understates what a proxy can reach against it (proxies were seen above it). The ceiling
for the mean (:func:`for_the_mean`) is what a perfect proxy, each network's expected accuracy,
would reach against the mean of k seeds under the classical test model (each training = the
network's expected accuracy + independent noise of one spread, normal scores): the seed-vs-seed
rank correlation turned into a Pearson one (Spearman rho -> 2 sin(pi rho / 6), Kendall tau ->
sin(pi tau / 2)), the Spearman-Brown reliability of a k-seed mean r_k = k r / (1 + (k - 1) r),
its square root (the correlation of the expected accuracy with the mean), and back to the rank
measure. A proxy's fraction of the ceiling is taken against this one; it is an estimate (its
interval is the seed-vs-seed interval carried through the same map), and on a top half, a
restricted range, a rougher one.

The floor is the best of the free proxies, ``params`` and ``flops``, which need no training
and no data: a proxy that does not beat it on a measure is not worth its seconds there.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gtnas.analysis.rankcorr import MEASURES, ProxyCorrelation, ProxyScores, correlate
from gtnas.analysis.truthset import TruthSet

FLOOR_PROXIES = ("params", "flops")  # free: no training, no data


@dataclass(frozen=True)
class NoiseCeiling:
    """Seed-vs-seed agreement of a truth set (see the module docstring)."""

    seeds: tuple[int, int]  # (the seed used as the "proxy", the seed it is scored against)
    correlation: ProxyCorrelation  # its Spearman / Kendall, all and top, with intervals
    averaged: int = 2  # training seeds in the mean that proxies are correlated with

    @property
    def n(self) -> int:
        return self.correlation.correlation.n

    def measure(self, name: str) -> float:
        """The seed-vs-seed value of a measure."""
        return self.correlation.measure(name)

    def for_mean(self, name: str) -> float | None:
        """The ceiling for the seed mean of a measure (:func:`for_the_mean`)."""
        return for_the_mean(self.measure(name), name, self.averaged)

    def for_mean_interval(self, name: str) -> tuple[float | None, float | None]:
        low, high = self.correlation.interval(name)
        return for_the_mean(low, name, self.averaged), for_the_mean(high, name, self.averaged)

    def to_json(self) -> dict[str, Any]:
        document = self.correlation.to_json()
        document.update(
            proxy=f"seed {self.seeds[0]} vs seed {self.seeds[1]}", seeds=list(self.seeds)
        )
        for key in ("seconds_per_evaluation", "steps", "missing"):
            document.pop(key)
        document["for_the_seed_mean"] = {
            "seeds_averaged": self.averaged,
            **{name: self.for_mean(name) for name in MEASURES},
            **{f"{name}_ci95": list(self.for_mean_interval(name)) for name in MEASURES},
        }
        return document


def for_the_mean(value: float, measure: str, seeds: int = 2) -> float | None:
    """What a perfect proxy would reach against the mean of ``seeds`` trainings, from the
    seed-vs-seed ``value`` of ``measure`` (``spearman_*`` or ``kendall_*``); the module
    docstring gives the model. None where the seeds do not agree at all (value <= 0)."""
    if not value > 0:
        return None
    kendall = measure.startswith("kendall")
    # the rank measure's Pearson equivalent for normal scores (Kendall 1948; Pearson 1907)
    r = math.sin(math.pi * value / 2) if kendall else 2 * math.sin(math.pi * value / 6)
    r = min(r, 1.0)
    reliability = seeds * r / (1 + (seeds - 1) * r)  # Spearman-Brown
    pearson = math.sqrt(reliability)
    return 2 / math.pi * math.asin(pearson) if kendall else 6 / math.pi * math.asin(pearson / 2)


def noise_ceiling(
    truth: TruthSet,
    *,
    truth_metric: str = "test",
    top_fraction: float = 0.5,
    resamples: int = 1000,
    seed: int = 0,
) -> NoiseCeiling | None:
    """The set's seed-vs-seed correlations; None when fewer than 3 architectures have two
    seeds (format-1 sets have one)."""
    indices, first, second = truth.seed_pairs(truth_metric)
    if len(indices) < 3:
        return None
    seeds = truth.training_seeds()[:2]
    scores = ProxyScores(proxy=f"seed{seeds[0]}", scores=[float(v) for v in first],
                         seconds=None, steps=None)  # fmt: skip
    correlation = correlate(
        scores,
        [float(v) for v in second],
        truth_metric=truth_metric,
        top_fraction=top_fraction,
        resamples=resamples,
        seed=seed,
    )
    return NoiseCeiling((seeds[0], seeds[1]), correlation)


def fraction_of_ceiling(
    correlation: ProxyCorrelation, ceiling: NoiseCeiling | None
) -> dict[str, float | None]:
    """Each measure of the proxy divided by the ceiling's for the seed mean (None without a
    ceiling, or where the seeds do not agree at all)."""
    out: dict[str, float | None] = {}
    for name in MEASURES:
        limit = None if ceiling is None else ceiling.for_mean(name)
        out[name] = None if limit is None else correlation.measure(name) / limit
    return out


def floor_of(correlations: Iterable[ProxyCorrelation]) -> dict[str, float]:
    """The best free proxy's value of each measure (an empty dict when none was measured)."""
    free = [c for c in correlations if c.proxy in FLOOR_PROXIES]
    if not free:
        return {}
    return {name: max(c.measure(name) for c in free) for name in MEASURES}


def beats_floor(correlation: ProxyCorrelation, floor: Mapping[str, float]) -> dict[str, bool]:
    """Per measure: does the proxy rank strictly better than the best free proxy?"""
    return {name: correlation.measure(name) > value for name, value in floor.items()}


def with_floor(proxies: Iterable[str]) -> list[str]:
    """``proxies`` with the free floor added where missing (a table never shows a proxy
    without it)."""
    asked = [p.strip() for p in proxies]
    return asked + [p for p in FLOOR_PROXIES if p not in asked]


def yardstick_json(
    correlations: Iterable[ProxyCorrelation], ceiling: NoiseCeiling | None
) -> dict[str, Any]:
    """What a rank-correlation record carries beside its proxies: the ceiling, the floor, and
    each proxy's fraction of the one and whether it beats the other."""
    correlations = list(correlations)
    floor = floor_of(correlations)
    return {
        "ceiling": None if ceiling is None else ceiling.to_json(),
        "floor": floor,
        "of_ceiling": {c.proxy: fraction_of_ceiling(c, ceiling) for c in correlations},
        "beats_floor": {c.proxy: beats_floor(c, floor) for c in correlations},
    }
