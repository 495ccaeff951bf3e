"""Proxies that train: ``gtn:K`` (the paper's: K steps on a trained teacher's data),
``real:K`` (K SGD steps on real batches) and ``gtn-schedule:K`` (real batches, the teacher's
schedule), each scored by a fresh learner's validation accuracy; ``KxR`` averages R repeats."""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

import torch

from gtnas.errors import ConfigError
from gtnas.meta.fresh_learners import real_teacher
from gtnas.meta.unroll import LearnerState, evaluate_accuracy, train_learner
from gtnas.search.proxies.base import PROXIES, Proxy, ProxyContext
from gtnas.seeding import derive_seed, make_generator
from gtnas.teachers.base import Teacher


class _TrainedProxy(Proxy):
    """Train a fresh WN learner K steps on a teacher, score it on validation images; with R
    repeats, the mean over R learners of their own initial weights and data order."""

    kind: str
    default_steps: int
    takes_repeats = True  # KxR

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
