"""``rankavg:A+B[+C...]``: architectures ranked by each component proxy (higher score, higher
rank; ties share their mean rank), scored by the mean of their ranks. A set proxy: it scores the
architectures of a truth set (``gtnas rank-corr``, ``speedup``, ``simulate``) from the columns
its components scored, never one architecture alone."""

from __future__ import annotations

from collections.abc import Sequence

from gtnas.errors import ConfigError
from gtnas.ranks import rank_average
from gtnas.search.proxies.base import PROXIES, SetProxy, create_proxy


@PROXIES.register(
    "rankavg", help="the mean rank of two or more proxies, e.g. rankavg:gtn:128+params"
)
class RankAverageProxy(SetProxy):
    def __init__(self, components: Sequence[str]) -> None:
        self.components = tuple(components)
        self.name = "rankavg:" + "+".join(self.components)
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
        return cls(parts)  # creating the components names an unknown one

    def combine(self, columns: Sequence[Sequence[float]]) -> list[float]:
        return [float(v) for v in rank_average(columns)]
