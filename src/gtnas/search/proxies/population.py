"""Any proxy, set proxies included, over a population of evaluations: what a search ranks by.

A plain proxy scores one architecture alone, so an evaluation that ran it carries its score. A
set proxy (``rankavg:gtn:64+synflow``) has no score for one architecture: an evaluation runs its
components, and the set proxy's score of an architecture is its standing among a population
(the architectures a search has scored so far, or a rung's). :func:`population_scores` gives
that standing as the set proxy's combination divided by the population's size, in (0, 1]
(for a rank average: the mean rank as a fraction, 1 for the best under every component), so
values from populations of different sizes read on one scale.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

from gtnas.search.proxies.base import SetProxy, create_proxy


def plain_proxies(specs: Iterable[str]) -> tuple[str, ...]:
    """The proxies an evaluation runs for ``specs``: each set proxy replaced by its components,
    every proxy once, in order. ``("rankavg:gtn:64+synflow", "params", "synflow")`` ->
    ``("gtn:64", "synflow", "params")``. An unknown proxy is a ConfigError naming the known."""

    plain: list[str] = []
    for spec in specs:
        proxy = create_proxy(spec)
        for part in proxy.components if isinstance(proxy, SetProxy) else (spec,):
            if part not in plain:
                plain.append(part)
    return tuple(plain)


def is_set_proxy(spec: str) -> bool:
    return isinstance(create_proxy(spec), SetProxy)


def finite_parts(spec: str, scores: Mapping[str, float]) -> str | None:
    """None when ``scores`` (one evaluation's, proxy -> score) holds a finite score for every
    proxy ``spec`` needs; else the first missing or non-finite one, as an error message."""

    for part in plain_proxies((spec,)):
        value = scores.get(part)
        if value is None or not math.isfinite(value):
            return f"non-finite {part} score {value}"
    return None


def population_scores(spec: str, population: Sequence[Mapping[str, float]]) -> list[float]:
    """``spec``'s score of each evaluation in ``population`` (each a mapping proxy -> score, as
    a study records them, every proxy ``spec`` needs finite): a plain proxy's own score; a set
    proxy's combination of its components' columns over this population, divided by the
    population's size."""

    proxy = create_proxy(spec)
    if not isinstance(proxy, SetProxy):
        return [float(scores[spec]) for scores in population]
    if not population:
        return []
    columns = [[float(scores[part]) for scores in population] for part in proxy.components]
    size = len(population)
    return [float(value) / size for value in proxy.combine(columns)]


def standings(spec: str, evaluated: Sequence[tuple[str, Mapping[str, float]]]) -> dict[str, float]:
    """Each of ``evaluated`` (genotype text, its scores) scored by ``spec`` among them all: for
    a set proxy the standings a strategy is re-told as its population grows
    (:meth:`gtnas.search.strategies.Strategy.restand`). A genotype listed twice keeps the
    later's."""

    values = population_scores(spec, [scores for _, scores in evaluated])
    return {text: value for (text, _), value in zip(evaluated, values, strict=True)}
