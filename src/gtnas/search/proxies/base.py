"""What every proxy is: :class:`Proxy` (``score(genotype, context, seed)``), the context it
scores in, the registry ``PROXIES`` and :func:`create_proxy`, which turns a name such as
``gtn:128``, ``gtn:32x2`` or ``rankavg:gtn:128+synflow`` into a proxy (see
:mod:`gtnas.search.proxies`)."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from gtnas.errors import ConfigError
from gtnas.learners.layers import init_learner
from gtnas.registry import Registry
from gtnas.seeding import derive_seed
from gtnas.spaces.base import SearchSpace
from gtnas.teachers.base import Teacher


@dataclass(frozen=True)
class ProxyResult:
    score: float  # higher is better
    seconds: float  # wall time of this evaluation
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class ProxyContext:
    """What proxies need, built once per worker: the space, data, and (for ``gtn:K``) the
    teacher. ``val`` is the validation split (never the test split)."""

    space: SearchSpace
    blueprint: str | dict[str, Any]
    image_shape: tuple[int, int, int]
    num_classes: int
    train: tuple[torch.Tensor, torch.Tensor]  # (N, C, H, W) normalised, (N,)
    val: tuple[torch.Tensor, torch.Tensor]
    teacher: Teacher | None = None
    real_lr: float = 0.05  # the real:K learning rate (tuned once per search)
    real_momentum: float = 0.9
    real_batch_size: int = 128
    eval_examples: int = 2000  # validation images a trained proxy learner is scored on
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    dataset: Any = None  # the loaded gtnas.data.Dataset, for proxies that train in full (train:E)
    extra: dict[str, Any] = field(default_factory=dict)  # ContextSpec.extra (train:E's recipe)

    def learner(self, genotype: Any, generator: torch.Generator) -> nn.Module:
        """The weight-normalised learner of ``genotype`` (what a teacher trains)."""
        network = self.space.build(
            genotype, self.image_shape, self.num_classes, norm="wn", blueprint=self.blueprint
        )
        return init_learner(network, generator).to(self.device)

    def network(self, genotype: Any, generator: torch.Generator) -> nn.Module:
        """The ordinary BatchNorm network of ``genotype`` (what final training trains)."""
        network = self.space.build(
            genotype, self.image_shape, self.num_classes, norm="bn", blueprint=self.blueprint
        )
        return init_learner(network, generator).to(self.device)

    def validation_subset(self) -> tuple[torch.Tensor, torch.Tensor]:
        images, labels = self.val
        n = min(self.eval_examples, labels.numel())
        return images[:n], labels[:n]


class Proxy(ABC):
    name: str
    # Scores with a trained teacher's data or schedule (``--teacher RUN``); decides whether a
    # search or a rank-corr run loads one and whether its score cache is keyed by it.
    needs_teacher: ClassVar[bool] = False

    @abstractmethod
    def _score(self, genotype: Any, context: ProxyContext, seed: int) -> tuple[float, dict]:
        """(score, details)"""

    def score(self, genotype: Any, context: ProxyContext, seed: int) -> ProxyResult:
        start = time.perf_counter()
        value, details = self._score(genotype, context, self._seed(seed, genotype, context))
        return ProxyResult(float(value), time.perf_counter() - start, details)

    def _seed(self, seed: int, genotype: Any, context: ProxyContext) -> int:
        # The same (seed, architecture) gives the same learner weights and data in every worker.
        return derive_seed(seed, self.name, context.space.format(genotype))

    def __repr__(self) -> str:
        return f"Proxy({self.name})"


class SetProxy(Proxy):
    """A proxy that scores architectures only as a set, from its component proxies' scores
    (``rankavg:A+B``): a truth set's or a rung's architectures are scored by the components,
    then :meth:`combine` turns those columns into one. It has no score for one architecture
    alone."""

    components: tuple[str, ...]

    @classmethod
    @abstractmethod
    def from_argument(cls, argument: str) -> SetProxy:
        """The proxy of ``kind:argument``."""

    @abstractmethod
    def combine(self, columns: Sequence[Sequence[float]]) -> list[float]:
        """One score per architecture from each component's scores (one column each, in
        :attr:`components` order, every column in the same architecture order)."""

    def _score(self, genotype: Any, context: ProxyContext, seed: int) -> tuple[float, dict]:
        raise ConfigError(
            f"proxy {self.name!r} scores a set of architectures from its components' scores, "
            "not one architecture: evaluate its components (gtnas.search.proxies.population)"
        )


PROXIES: Registry[Proxy] = Registry("proxy")


def proxy_needs_teacher(spec: str) -> bool:
    """Whether the proxy ``spec`` (``"gtn:32x4"``, ``"synflow"``, ``"rankavg:gtn:128+params"``)
    scores with a trained teacher; an unknown proxy is a :class:`ConfigError` naming the known
    ones."""
    return bool(create_proxy(spec).needs_teacher)


def create_proxy(spec: str) -> Proxy:
    """``"gtn:128"`` -> the gtn proxy with K=128; ``"gtn:32x2"`` -> K=32 repeated twice;
    ``"synflow"`` -> synflow."""
    kind, _, argument = spec.strip().partition(":")
    factory = PROXIES.get(kind)
    if isinstance(factory, type) and issubclass(factory, SetProxy):
        return factory.from_argument(argument)
    if not argument:
        return factory()
    steps_text, times, repeats_text = argument.partition("x")
    try:
        steps = int(steps_text)
        repeats = int(repeats_text) if times else 1
    except ValueError:
        raise ConfigError(
            f"proxy {spec!r}: write K or KxR with integers, e.g. {kind}:128 or {kind}:32x2"
        ) from None
    if steps < 1 or repeats < 1:
        raise ConfigError(f"proxy {spec!r}: K and R must be at least 1")
    if times:
        if not getattr(factory, "takes_repeats", False):
            raise ConfigError(
                f"proxy {spec!r}: only the gtn, gtn-schedule and real proxies take repeats (KxR)"
            )
        return factory(steps, repeats)
    return factory(steps)
