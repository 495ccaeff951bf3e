"""Proxies: cheap scores that stand in for an architecture's accuracy after full training.

A proxy is named ``kind``, ``kind:K`` or ``kind:KxR`` (``gtn:128``, ``gtn:32x2``, ``real:1200``,
``gtn-schedule:32``, ``synflow``, ``naswot``, ``params``) and is built by :func:`create_proxy`.
``proxy.score(genotype, context, seed)`` returns a :class:`ProxyResult` with the score (higher is
better) and its cost in seconds.

- ``gtn:K`` (the paper's): a fresh weight-normalised learner trained for K inner steps on a
  trained teacher's synthetic data with the teacher's learned learning rates and momenta;
  score = its accuracy on the VALIDATION split. When K exceeds the teacher's T steps the
  curriculum is replayed from its start (learning rates and momenta repeat with it).
- ``gtn:KxR`` (also ``real:KxR``, ``gtn-schedule:KxR``): R independent repeats of ``gtn:K``
  (fresh initial weights and data order each; repeat 0 is exactly ``gtn:K``), scored by their
  mean accuracy. One K-step run is a noisy measurement (on MNIST two seeds of gtn:32 agree
  only to Spearman 0.59), and averaging repeats buys ranking quality for R times the steps.
- ``real:K``: the same learner trained K steps on real training batches with SGD at a learning
  rate tuned once per search on the validation split (the paper's real-data proxy).
- ``gtn-schedule:K`` (a diagnostic): real training batches of the teacher's batch size, trained
  with the teacher's learned per-step learning rates and momenta. It differs from ``gtn:K`` only
  in the data and from ``real:K`` only in the schedule, so comparing the three rankings shows
  whether a teacher's ranking errors come from its synthetic images or from its schedule.
- ``synflow`` (Tanaka et al. 2020, as a zero-cost NAS proxy in Abdelfattah et al. 2021): with
  all weights made positive and norm layers removed, the sum over parameters of
  |theta * dR/dtheta| for R = sum of the outputs on an all-ones input; reported as log.
- ``naswot`` (Mellor et al. 2021): log |det K| of the Hamming-agreement kernel of the binary
  ReLU activation codes of one real minibatch.
- ``params``: the number of parameters of the final-training network (a trivial baseline).
- ``flops``: FLOPs of one forward pass of that network on one image (2 per multiply-accumulate,
  as :func:`gtnas.training.measure.count_flops` counts them): the other free floor. Both
  cost nothing, and on NAS-Bench-201 FLOPs alone rank cells at about 0.8, so a proxy is only
  worth its seconds where it beats them.
- ``train:E``: E epochs of the final-training recipe on real data -> validation accuracy, with
  the test accuracy as a detail; what ground-truth sets are built with (:mod:`gtnas.search.truth`).

Every proxy is deterministic for a seed: initial weights and data come from generators derived
from (seed, genotype), never from global state.
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from gtnas.errors import ConfigError
from gtnas.learners.layers import BatchStatNorm, MeanOnlyBatchNorm, init_learner
from gtnas.meta.unroll import LearnerState, evaluate_accuracy, train_learner
from gtnas.registry import Registry
from gtnas.seeding import derive_seed, make_generator
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


PROXIES: Registry[Proxy] = Registry("proxy")


def proxy_needs_teacher(spec: str) -> bool:
    """Whether the proxy ``spec`` (``"gtn:32x4"``, ``"synflow"``) scores with a trained
    teacher; an unknown proxy is a :class:`ConfigError` naming the known ones."""
    factory = PROXIES.get(spec.strip().partition(":")[0])
    return bool(getattr(factory, "needs_teacher", False))


def create_proxy(spec: str) -> Proxy:
    """``"gtn:128"`` -> the gtn proxy with K=128; ``"gtn:32x2"`` -> K=32 repeated twice;
    ``"synflow"`` -> synflow."""
    kind, _, argument = spec.strip().partition(":")
    factory = PROXIES.get(kind)
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
        if not (isinstance(factory, type) and issubclass(factory, _TrainedProxy)):
            raise ConfigError(
                f"proxy {spec!r}: only the gtn, gtn-schedule and real proxies take repeats (KxR)"
            )
        return factory(steps, repeats)
    return factory(steps)


class _TrainedProxy(Proxy):
    """Train a fresh WN learner K steps on a teacher, score it on validation images; with R
    repeats, the mean over R learners of their own initial weights and data order."""

    kind: str
    default_steps: int

    def __init__(self, steps: int | None = None, repeats: int = 1) -> None:
        self.steps = steps or self.default_steps  # K: inner steps of one learner
        self.repeats = repeats  # R: independent learners averaged
        self.single = f"{self.kind}:{self.steps}"
        self.name = self.single if repeats == 1 else f"{self.single}x{repeats}"

    @property
    def total_steps(self) -> int:
        """Training steps spent per architecture (K * R): the proxy's cost in steps."""
        return self.steps * self.repeats

    @abstractmethod
    def teacher(self, context: ProxyContext) -> Teacher: ...

    def _seed(self, seed: int, genotype: Any, context: ProxyContext) -> int:
        # Seeded by the single-run name, so repeat 0 of gtn:KxR is exactly gtn:K.
        return derive_seed(seed, self.single, context.space.format(genotype))

    def _score(self, genotype: Any, context: ProxyContext, seed: int) -> tuple[float, dict]:
        teacher = self.teacher(context)
        scores = []
        for repeat in range(self.repeats):
            repeat_seed = seed if repeat == 0 else derive_seed(seed, "repeat", repeat)
            scores.append(self._train_once(genotype, context, teacher, repeat_seed))
        diverged = sum(score is None for score in scores)
        accuracies = [score or 0.0 for score in scores]  # a learner that diverged is worth nothing
        details: dict[str, Any] = {"steps": self.steps}
        if self.repeats > 1:
            # numeric, so the study records each ("gtn:32x2/repeat1") next to the mean
            details.update(repeats=self.repeats)
            details.update({f"repeat{r}": accuracy for r, accuracy in enumerate(accuracies)})
        if diverged:
            details["diverged"] = diverged
        return sum(accuracies) / len(accuracies), details

    def _train_once(
        self, genotype: Any, context: ProxyContext, teacher: Teacher, seed: int
    ) -> float | None:
        """Validation accuracy of one fresh learner after K steps; None if it diverged."""
        learner = context.learner(genotype, make_generator(derive_seed(seed, "weights")))
        episode = make_generator(derive_seed(seed, "data"))
        state: LearnerState | None = None
        done = 0
        while done < self.steps:  # replay the teacher's T steps until K are done
            teacher.begin_episode(episode)
            segment = min(teacher.inner_steps, self.steps - done)
            state = train_learner(learner, teacher, steps=segment, state=state)
            done += segment
        assert state is not None
        if not all(torch.isfinite(p).all() for p in state.params):
            return None
        return evaluate_accuracy(learner, state, *context.validation_subset())


def _trained_teacher(context: ProxyContext, kind: str) -> Teacher:
    if context.teacher is None:
        raise ConfigError(f"the {kind} proxy needs a trained teacher (gtnas search --teacher RUN)")
    return context.teacher


@PROXIES.register("gtn", help="K inner steps on a trained teacher's data -> validation accuracy")
class GTNProxy(_TrainedProxy):
    kind, default_steps = "gtn", 128
    needs_teacher = True

    def teacher(self, context: ProxyContext) -> Teacher:
        return _trained_teacher(context, self.kind)


@PROXIES.register("real", help="K SGD steps on real batches (tuned lr) -> validation accuracy")
class RealProxy(_TrainedProxy):
    kind, default_steps = "real", 128

    def teacher(self, context: ProxyContext) -> Teacher:
        from gtnas.meta.evaluation import real_teacher

        # Batches are drawn per episode of K steps; one episode covers all K.
        teacher = real_teacher(
            *context.train,
            self.steps,
            context.real_lr,
            context.real_momentum,
            batch_size=context.real_batch_size,
        )
        return teacher.to(context.device)


@PROXIES.register(
    "gtn-schedule", help="K steps on real batches with a trained teacher's lr/momentum schedule"
)
class ScheduleProxy(_TrainedProxy):
    """Real training batches, the teacher's schedule: ``gtn:K`` with the synthetic data swapped
    for real data (the curriculum's batch size, its learned lr_t and mu_t, replayed past T)."""

    kind, default_steps = "gtn-schedule", 128
    needs_teacher = True

    def teacher(self, context: ProxyContext) -> Teacher:
        from gtnas.meta.evaluation import real_teacher

        trained = _trained_teacher(context, self.kind)
        config = trained.config
        teacher = real_teacher(
            *context.train,
            config.inner_steps,
            config.lr,
            config.momentum,
            batch_size=config.batch_size,
        )
        # (T,) log learning rates and momentum logits, copied from the trained teacher
        teacher.optimizer.load_state_dict(trained.optimizer.state_dict())
        return teacher.to(context.device)


@PROXIES.register("synflow", help="zero-cost: log sum |theta * dR/dtheta| with positive weights")
class SynflowProxy(Proxy):
    name = "synflow"

    def _score(self, genotype: Any, context: ProxyContext, seed: int) -> tuple[float, dict]:
        network = context.network(genotype, make_generator(seed)).double()
        _remove_norms(network)
        with torch.no_grad():  # linearise: |theta|, remembering nothing (the network is a copy)
            for p in network.parameters():
                p.abs_()
        network.train()
        ones = torch.ones(1, *context.image_shape, dtype=torch.float64, device=context.device)
        network.zero_grad()
        network(ones).sum().backward()
        saliences = [
            (p.detach() * p.grad).abs().sum() for p in network.parameters() if p.grad is not None
        ]
        total = float(sum(saliences))
        return (math.log(total) if total > 0 else -math.inf), {}


@PROXIES.register("naswot", help="zero-cost: log|det| of the ReLU-code kernel of one minibatch")
class NASWOTProxy(Proxy):
    name = "naswot"
    batch_size = 64

    def _score(self, genotype: Any, context: ProxyContext, seed: int) -> tuple[float, dict]:
        network = context.network(genotype, make_generator(seed))
        images, _ = context.train
        index = torch.randperm(images.shape[0], generator=make_generator(derive_seed(seed, "x")))
        x = images[index[: self.batch_size]].to(context.device)
        n = x.shape[0]
        kernel = torch.zeros(n, n, dtype=torch.float64, device=context.device)

        def record(_module: nn.Module, _inputs: Any, output: torch.Tensor) -> None:
            # binary code of each image at this ReLU: (n, units); agreement counts of 1s and 0s
            codes = (output.detach().reshape(n, -1) > 0).double()
            kernel.add_(codes @ codes.T + (1 - codes) @ (1 - codes).T)

        hooks = [m.register_forward_hook(record) for m in network.modules() if _is_relu(m)]
        try:
            network.train()
            with torch.no_grad():
                network(x)
        finally:
            for hook in hooks:
                hook.remove()
        sign, logdet = torch.linalg.slogdet(kernel)
        return (float(logdet) if sign > 0 else -math.inf), {"relus": len(hooks)}


@PROXIES.register("params", help="free floor: parameters of the final-training network")
class ParamsProxy(Proxy):
    name = "params"

    def _score(self, genotype: Any, context: ProxyContext, seed: int) -> tuple[float, dict]:
        network = _final_network(genotype, context)
        return float(sum(p.numel() for p in network.parameters())), {}


@PROXIES.register("flops", help="free floor: FLOPs of one forward pass of that network")
class FlopsProxy(Proxy):
    name = "flops"

    def _score(self, genotype: Any, context: ProxyContext, seed: int) -> tuple[float, dict]:
        from gtnas.training.measure import count_flops

        return float(count_flops(_final_network(genotype, context), context.image_shape)), {}


def _final_network(genotype: Any, context: ProxyContext) -> nn.Module:
    """The BatchNorm network at the context's blueprint, freshly built (weights unused)."""
    space, blueprint = context.space, context.blueprint
    return space.build(
        genotype, context.image_shape, context.num_classes, norm="bn", blueprint=blueprint
    )


def _is_relu(module: nn.Module) -> bool:
    return isinstance(module, nn.ReLU | nn.LeakyReLU)


def _remove_norms(network: nn.Module) -> None:
    """Replace every norm layer by identity (synflow is defined on the network without them)."""
    for name, child in list(network.named_children()):
        if isinstance(child, nn.BatchNorm2d | nn.BatchNorm1d | MeanOnlyBatchNorm | BatchStatNorm):
            setattr(network, name, nn.Identity())
        else:
            _remove_norms(child)


# Registers train:E (final training as a proxy: what ground-truth sets are built with). Imported
# last because it builds on the classes above; every worker that imports this module knows it.
from gtnas.search import truth as _truth  # noqa: E402, F401
