"""``rankavg:A+B[+C...]``: architectures ranked by each component proxy (higher score, higher
rank; ties share their mean rank), scored by the mean of their ranks. A set proxy: it scores the
architectures of a truth set (``gtnas rank-corr``, ``speedup``, ``simulate``) or of a search
(``gtnas search``: those scored so far, or a rung's; :mod:`.population`) from the columns its
components scored, never one architecture alone.

A component may carry a weight, ``W*proxy`` (``rankavg:0.7*gtn:32+0.3*params``): the weighted
mean of the ranks, e.g. weights fitted on calibration architectures
(:func:`gtnas.analysis.combination.fit_rank_weights`)."""

from __future__ import annotations

from collections.abc import Sequence

from gtnas.errors import ConfigError
from gtnas.ranks import rank_average
from gtnas.search.proxies.base import PROXIES, SetProxy, create_proxy


@PROXIES.register(
    "rankavg",
    help="the mean rank of two or more proxies, e.g. rankavg:gtn:128+params, or a weighted "
    "mean: rankavg:0.7*gtn:32+0.3*params",
)
class RankAverageProxy(SetProxy):
    def __init__(self, components: Sequence[str], weights: Sequence[float] | None = None) -> None:
        self.components = tuple(components)
        self.weights = None if weights is None else tuple(float(w) for w in weights)
        if self.weights is not None and (
            len(self.weights) != len(self.components)
            or min(self.weights) < 0
            or not sum(self.weights) > 0
        ):
            raise ConfigError(
                f"rankavg weights {self.weights} for {self.components}: one weight >= 0 per "
                "proxy, not all zero"
            )
        terms = (
            self.components
            if self.weights is None
            else [f"{w:g}*{c}" for w, c in zip(self.weights, self.components, strict=True)]
        )
        self.name = "rankavg:" + "+".join(terms)
        # a teacher is loaded where any component needs one
        self.needs_teacher = any(create_proxy(c).needs_teacher for c in self.components)

    @classmethod
    def from_argument(cls, argument: str) -> RankAverageProxy:
        parts = [p.strip() for p in argument.split("+")]
        if len(parts) < 2 or not all(parts):
            raise ConfigError(
                f"proxy 'rankavg:{argument}': a combination needs two or more proxies joined "
                "by +, e.g. rankavg:gtn:128+synflow"
            )
        weighted = ["*" in part for part in parts]
        if not any(weighted):
            return cls(parts)  # creating the components names an unknown one
        if not all(weighted):
            raise ConfigError(
                f"proxy 'rankavg:{argument}': weight every proxy or none, e.g. "
                "rankavg:0.7*gtn:32+0.3*params"
            )
        weights, components = [], []
        for part in parts:
            weight, _, component = part.partition("*")
            try:
                weights.append(float(weight))
            except ValueError:
                raise ConfigError(
                    f"proxy 'rankavg:{argument}': {weight!r} is not a weight (a number >= 0)"
                ) from None
            components.append(component.strip())
        return cls(components, weights)

    def combine(self, columns: Sequence[Sequence[float]]) -> list[float]:
        return [float(v) for v in rank_average(columns, self.weights)]
