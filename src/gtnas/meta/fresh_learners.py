"""Evaluating a teacher: train fresh learners on it and measure them on held-out real data.

The figures the paper reports: test accuracy of never-seen learners after the teacher's T
steps (mean, std, min over learners), the same for real data at the same T with a tuned
learning rate, and the number of real-data steps needed to match the teacher.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from gtnas.learners import LearnerSampler
from gtnas.meta.unroll import LearnerState, evaluate_accuracy, train_learner
from gtnas.seeding import derive_seed, make_generator
from gtnas.teachers import Teacher, TeacherConfig, create_teacher


@dataclass
class LearnerResult:
    architecture: str  # "default" or "sampled"
    seed: int
    accuracy: float
    train_seconds: float
    curve: dict[int, float] = field(default_factory=dict)  # inner step -> accuracy


@dataclass
class Summary:
    mean: float
    std: float
    min: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Summary:
        values = list(values)
        std = statistics.stdev(values) if len(values) > 1 else 0.0
        return cls(statistics.fmean(values), std, min(values), len(values))


def _learner_seed(seed: int, architecture: str, index: int) -> int:
    # Evaluation seeds are derived from a separate stream from meta-training's, so evaluated
    # learners are never ones the teacher was trained with.
    return derive_seed(seed, "evaluate", architecture, index)


def train_and_score(
    teacher: Teacher,
    learner: nn.Module,
    episode: torch.Generator,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    curve_steps: Sequence[int] = (),
    curve_examples: int = 2000,
) -> tuple[float, float, dict[int, float]]:
    """Train ``learner`` on ``teacher`` and return (accuracy, train seconds, curve).

    ``curve`` holds the accuracy on the first ``curve_examples`` examples after each step in
    ``curve_steps`` (its evaluation time is excluded from the training seconds).
    """
    teacher.begin_episode(episode)
    curve: dict[int, float] = {}
    wanted = set(curve_steps)
    paused = 0.0

    def record(step: int, state: LearnerState, loss: float) -> None:
        nonlocal paused
        if step in wanted:
            start = time.perf_counter()
            curve[step] = evaluate_accuracy(
                learner, state, images[:curve_examples], labels[:curve_examples]
            )
            paused += time.perf_counter() - start

    start = time.perf_counter()
    state = train_learner(learner, teacher, on_step=record if wanted else None)
    seconds = time.perf_counter() - start - paused
    return evaluate_accuracy(learner, state, images, labels), seconds, curve


def evaluate_teacher(
    teacher: Teacher,
    sampler: LearnerSampler,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    learners: int,
    seed: int,
    sampled: bool = True,
    curve_steps: Sequence[int] = (),
    curve_examples: int = 2000,
    device: torch.device | str = "cpu",
    on_result: Callable[[LearnerResult], None] | None = None,
) -> list[LearnerResult]:
    """``learners`` fresh learners of the sampler's reference architecture, and as many
    sampled architectures when ``sampled``; each trained on the teacher and scored on
    (images, labels)."""
    teacher.eval()
    results = []
    kinds = ["default", "sampled"] if sampled else ["default"]
    for kind in kinds:
        for index in range(learners):
            learner_seed = _learner_seed(seed, kind, index)
            generator = make_generator(learner_seed)
            build = sampler.default if kind == "default" else sampler.sample
            learner = build(generator).to(device)
            accuracy, seconds, curve = train_and_score(
                teacher,
                learner,
                generator,
                images,
                labels,
                curve_steps=curve_steps,
                curve_examples=curve_examples,
            )
            results.append(LearnerResult(kind, learner_seed, accuracy, seconds, curve))
            if on_result is not None:
                on_result(results[-1])
    return results


def real_teacher(
    train_images: torch.Tensor,
    train_labels: torch.Tensor,
    steps: int,
    lr: float,
    momentum: float,
    *,
    batch_size: int,
) -> Teacher:
    """A real-data teacher with a fixed (not meta-learned) learning rate and momentum."""
    config = TeacherConfig(
        inner_steps=steps, batch_size=batch_size, lr=lr, momentum=momentum, learn_schedule=False
    )
    return create_teacher(
        "real",
        config,
        tuple(train_images.shape[1:]),
        int(train_labels.max()) + 1,
        real_images=train_images,
        real_labels=train_labels,
    )


@dataclass
class TunedBaseline:
    lr: float
    momentum: float
    val_accuracy: dict[float, float]  # lr -> mean validation accuracy


def tune_real_lr(
    sampler: LearnerSampler,
    train: tuple[torch.Tensor, torch.Tensor],
    val: tuple[torch.Tensor, torch.Tensor],
    *,
    steps: int,
    batch_size: int,
    lrs: Sequence[float] = (0.01, 0.02, 0.05, 0.1, 0.2),
    momentum: float = 0.9,
    learners: int = 2,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> TunedBaseline:
    """Pick the real-data learning rate for ``steps`` SGD steps on the VALIDATION split."""
    scores = {}
    for lr in lrs:
        teacher = real_teacher(*train, steps, lr, momentum, batch_size=batch_size)
        results = evaluate_teacher(
            teacher,
            sampler,
            *val,
            learners=learners,
            seed=derive_seed(seed, "tune"),
            sampled=False,
            device=device,
        )
        scores[lr] = Summary.of([r.accuracy for r in results]).mean
    best = max(scores, key=lambda lr: scores[lr])
    return TunedBaseline(best, momentum, scores)


def real_steps_to_match(
    target: float,
    sampler: LearnerSampler,
    train: tuple[torch.Tensor, torch.Tensor],
    evaluation: tuple[torch.Tensor, torch.Tensor],
    *,
    lr: float,
    momentum: float,
    batch_size: int,
    checkpoints: Sequence[int] = (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024),
    learners: int = 2,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> tuple[int | None, dict[int, float]]:
    """Fewest real-data SGD steps (among ``checkpoints``) at which the mean accuracy of fresh
    learners reaches ``target``; ``None`` if not reached by the last checkpoint. Returns the
    curve up to that point too. One constant learning rate per run (the one tuned at the
    teacher's T). The learners advance together from checkpoint to checkpoint and stop at
    the first match, so a teacher that is matched early costs little to assess."""
    horizon = max(checkpoints)
    runs = []
    for index in range(learners):
        generator = make_generator(_learner_seed(derive_seed(seed, "match"), "default", index))
        learner = sampler.default(generator).to(device)
        teacher = real_teacher(*train, horizon, lr, momentum, batch_size=batch_size)
        teacher.begin_episode(generator)
        runs.append([learner, teacher, LearnerState.from_module(learner)])
    curve: dict[int, float] = {}
    done = 0
    for checkpoint in sorted(checkpoints):
        accuracies = []
        for run in runs:
            learner, teacher, state = run
            run[2] = train_learner(learner, teacher, steps=checkpoint, start=done, state=state)
            accuracies.append(evaluate_accuracy(learner, run[2], *evaluation))
        done = checkpoint
        curve[checkpoint] = statistics.fmean(accuracies)
        if curve[checkpoint] >= target:
            return checkpoint, curve
    return None, curve
