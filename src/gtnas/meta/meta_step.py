"""Meta-training of a teacher (paper section 2, algorithm 1).

Each outer iteration: sample a fresh learner (new weights, and a new architecture when the
sampler draws one), let it train on the teacher's batches for T inner steps, score it on real
TRAINING batches (after every ``meta_loss_every``-th step and after the last), and move the
teacher's meta-parameters along the meta-gradient with Adam (cosine-decayed learning rate,
gradient-norm clipping). Non-finite meta-losses or meta-gradients are skipped and counted; a
run of them stops the job with a message.

With ``learners_per_step`` L > 1 the meta-gradient is the mean over L such learners, each with
its own architecture, weights, episode and real batches, computed one after another (the
memory of one learner) and, in a run of several processes
(:mod:`gtnas.runtime.distributed`), shared out among them and all-reduced. Learner j of
iteration i then draws from its own stream, seeded by (seed, i, j): N processes of L/N
learners compute what one process of L learners does, and a run resumes with another number of
processes. A run of one learner per step keeps the single stream it always had.

The validation split only feeds the progress bar and the metrics log; the test split is never
touched here.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch

from gtnas.errors import ConfigError
from gtnas.learners import LearnerSampler
from gtnas.meta.ranking import concordance, ranking_loss
from gtnas.meta.unroll import (
    META_LOSS_WEIGHTINGS,
    evaluate_accuracy,
    learner_loss,
    meta_gradient,
    train_learner,
)
from gtnas.runtime.distributed import World
from gtnas.runtime.nonfinite import SkipGuard
from gtnas.seeding import derive_seed, make_generator
from gtnas.teachers import Teacher

CONV_DTYPES = {"float32": None, "bfloat16": torch.bfloat16}  # meta.conv_dtype -> compute dtype


@dataclass(frozen=True)
class MetaTrainConfig:
    iterations: int = 400  # outer iterations
    # Adam learning rate of the meta-parameters: 0.03 beat 0.01 on MNIST (the `defaults`
    # probes, benchmarks/results/README.md); the public code used 0.02.
    meta_lr: float = 0.03
    betas: tuple[float, float] = (0.9, 0.999)
    final_lr_fraction: float = 0.1  # cosine decay of meta_lr down to this fraction
    # Linear warm-up of meta_lr over the first k iterations (then the cosine decay over the
    # rest). Adam's first steps move every meta-parameter by about meta_lr whatever its
    # gradient; a warm-started teacher (teacher_options.init=real) loses much of its start
    # to them without a warm-up.
    warmup_iterations: int = 0
    # Multipliers of meta_lr per group of meta-parameters (generator, curriculum, images,
    # soft_labels, schedule; Teacher.meta_parameter_groups), on top of the teacher's own
    # defaults (GTN teachers: the generator at 1/30, see gtnas.teachers.curriculum).
    lr_scale: dict[str, float] = field(default_factory=dict)
    real_batch_size: int = 128  # real training examples per scored inner step
    # Mirror each real meta-batch image left-right with probability 1/2: the teacher is then
    # judged by learners that must also classify mirrored images. Only for data sets whose
    # classes are mirror-symmetric (Fashion-MNIST's clothes, not MNIST's digits).
    real_flip: bool = False
    # Score the learner on real data after every k-th inner step as well as after the last
    # (the public code does so at every step for MNIST); 0 scores the last step only.
    meta_loss_every: int = 1
    # How the scored steps' losses are weighted into the meta-loss: uniform (their mean),
    # linear (by step) or inverse-loss (by 1/loss: the mean of log-losses); see
    # gtnas.meta.unroll.META_LOSS_WEIGHTINGS.
    meta_loss_weighting: str = "uniform"
    # The dtype the learners' and generator's convolutions compute in while meta-training
    # (CPU only; gtnas.learners.conv_grad.compute_dtype): bfloat16 on CPUs with AMX or
    # AVX512-BF16 units made a paper-size GTN meta-gradient faster on an Intel Xeon at about
    # the same teacher accuracy (configs/README.md, benchmarks/results/teach.md). Everything
    # else, and the learners that assess the finished teacher, stay float32.
    conv_dtype: str = "float32"
    grad_clip: float = 10.0  # max global norm of the meta-gradient (0: no clipping)
    gradient_checkpointing: bool = False  # rebuild one inner step at a time in the backward
    # Learners whose meta-gradients are averaged per meta-step, over all processes together
    # (each its own architecture, weights, episode and real batches; see the module).
    learners_per_step: int = 1
    # Back-propagate through the last W inner steps only (0: all T; gtnas.meta.unroll): a
    # cheaper, biased meta-gradient for long horizons.
    truncation: int = 0
    # A ranking-aware meta-objective (gtnas.meta.ranking; beyond the paper): with weight > 0,
    # the meta-step's learners come from the run's calibration architectures and the teacher
    # is also asked to order them by their real-trained accuracy (a pairwise logistic loss on
    # their real losses after T steps, at this temperature). Needs learners_per_step >= 2.
    rank_weight: float = 0.0
    rank_temperature: float = 0.1
    max_nonfinite: int = 10  # consecutive non-finite meta-steps tolerated before stopping
    eval_every: int = 25  # validate a fresh learner every k iterations (0: never)
    eval_examples: int = 2000  # validation examples used for that check

    def __post_init__(self) -> None:
        if self.iterations < 0:
            raise ValueError("iterations must be >= 0")
        if self.meta_lr <= 0 or not 0 < self.final_lr_fraction <= 1:
            raise ValueError("meta_lr must be > 0 and final_lr_fraction in (0, 1]")
        if self.warmup_iterations < 0:
            raise ValueError("warmup_iterations must be >= 0")
        if any(not scale > 0 for scale in self.lr_scale.values()):
            raise ValueError(f"lr_scale multipliers must be positive, got {self.lr_scale}")
        if self.meta_loss_every < 0 or self.real_batch_size < 1 or self.max_nonfinite < 1:
            raise ValueError("meta_loss_every >= 0, real_batch_size >= 1, max_nonfinite >= 1")
        if self.learners_per_step < 1 or self.truncation < 0:
            raise ValueError(
                f"learners_per_step must be >= 1 and truncation >= 0 (0: all steps), got "
                f"{self.learners_per_step} and {self.truncation}"
            )
        if self.rank_weight < 0 or self.rank_temperature <= 0:
            raise ValueError(
                f"rank_weight must be >= 0 and rank_temperature > 0, got {self.rank_weight} "
                f"and {self.rank_temperature}"
            )
        if self.rank_weight > 0 and self.learners_per_step < 2:
            raise ValueError(
                "rank_weight > 0 orders the learners of a meta-step: learners_per_step must be "
                f"at least 2, got {self.learners_per_step}"
            )
        if self.conv_dtype not in CONV_DTYPES:
            raise ValueError(
                f"conv_dtype must be one of {', '.join(CONV_DTYPES)}, got {self.conv_dtype!r}"
            )
        if self.meta_loss_weighting not in META_LOSS_WEIGHTINGS:
            raise ValueError(
                f"meta_loss_weighting must be one of {', '.join(META_LOSS_WEIGHTINGS)}, "
                f"got {self.meta_loss_weighting!r}"
            )

    def scored_steps(self, inner_steps: int) -> list[int]:
        every = self.meta_loss_every
        steps = set(range(every, inner_steps + 1, every)) if every else set()
        return sorted(steps | {inner_steps})


def make_meta_optimizer(
    teacher: Teacher, config: MetaTrainConfig
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    groups = teacher.meta_parameter_groups()
    unknown = sorted(set(config.lr_scale) - set(groups))
    if unknown:
        raise ConfigError(
            f"meta.lr_scale names {', '.join(unknown)}, which teacher {teacher.name!r} does not "
            f"have; its meta-parameter groups are {', '.join(groups)}"
        )
    scale = {**teacher.default_lr_scale, **config.lr_scale}
    optimizer = torch.optim.Adam(
        [
            {"params": params, "lr": config.meta_lr * scale.get(name, 1.0)}
            for name, params in groups.items()
        ],
        lr=config.meta_lr,
        betas=config.betas,
    )
    floor, warmup = config.final_lr_fraction, config.warmup_iterations
    decay = max(1, config.iterations - warmup)

    def cosine(iteration: int) -> float:  # (linear warm-up to 1, then) 1 -> floor
        if iteration < warmup:
            return (iteration + 1) / (warmup + 1)
        progress = min(iteration - warmup, decay) / decay
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, cosine)


def sample_real_batches(
    images: torch.Tensor,
    labels: torch.Tensor,
    steps: list[int],
    batch_size: int,
    generator: torch.Generator,
    device: torch.device,
    flip: bool = False,
) -> dict[int, tuple[torch.Tensor, torch.Tensor]]:
    """One independent real batch per scored step: {step: (x (B, C, H, W), y (B,))}; with
    ``flip`` each image mirrored left-right with probability 1/2 (one more draw per batch, so
    runs without it draw the same batches as before the option existed)."""
    batches = {}
    for step in steps:
        index = torch.randint(0, labels.numel(), (batch_size,), generator=generator)
        x = images[index]  # (B, C, H, W), a copy: flipping it leaves the data set alone
        if flip:
            mirrored = torch.rand(batch_size, generator=generator) < 0.5  # (B,)
            x[mirrored] = x[mirrored].flip(-1)
        batches[step] = (x.to(device), labels[index].to(device))
    return batches


@dataclass
class MetaStepResult:
    meta_loss: float
    final_loss: float
    grad_norm: float
    skipped: bool
    seconds: float
    rank_loss: float | None = None  # the ranking objective R (meta.rank_weight > 0)
    rank_tau: float | None = None  # how well this step's learners were ordered (tau-a)


def learner_streams(
    config: MetaTrainConfig,
    generator: torch.Generator,
    seed: int,
    iteration: int,
    world: World | None = None,
) -> list[tuple[int, torch.Generator]]:
    """(learner index, the generator it draws from) for this process's learners of
    ``iteration``: the run's own ``generator`` for a run of one learner per step in one
    process (as before multi-learner steps existed), else a stream per global index."""
    world = world or World()
    if config.learners_per_step == 1 and not world.distributed:
        return [(0, generator)]
    return [
        (j, make_generator(derive_seed(seed, "meta-step", iteration, j)))
        for j in world.shares(config.learners_per_step)
    ]


@dataclass
class MeanMetaGradient:
    grads: list[torch.Tensor]  # the mean over all learners of every process, per meta-parameter
    meta_loss: float  # mean over the learners
    final_loss: float
    rank_loss: float | None = None  # R of gtnas.meta.ranking, when the objective includes it
    rank_tau: float | None = None


def _draw_learner(
    teacher: Teacher,
    sampler: LearnerSampler,
    train_images: torch.Tensor,
    train_labels: torch.Tensor,
    config: MetaTrainConfig,
    stream: torch.Generator,
    device: torch.device,
) -> tuple[torch.nn.Module, dict[int, tuple[torch.Tensor, torch.Tensor]]]:
    """One learner's draws from its stream, in their fixed order: architecture and weights,
    the teacher's episode, the real batches it is scored on."""
    learner = sampler.sample(stream).to(device)
    teacher.begin_episode(stream)
    real = sample_real_batches(
        train_images,
        train_labels,
        config.scored_steps(teacher.inner_steps),
        config.real_batch_size,
        stream,
        device,
        flip=config.real_flip,
    )
    return learner, real


def _ranking_weights(
    teacher: Teacher,
    sampler: LearnerSampler,
    train_images: torch.Tensor,
    train_labels: torch.Tensor,
    config: MetaTrainConfig,
    streams: list[tuple[int, torch.Generator]],
    device: torch.device,
    world: World,
) -> tuple[dict[int, float], float, float | None]:
    """The extra weight of each learner's last-step loss under the ranking objective, with R
    and the step's concordance: every learner's real loss after T steps is read without a graph
    (the streams are rewound, so the meta-gradients draw the same), summed over processes."""
    if not hasattr(sampler, "last_accuracy"):
        raise ConfigError(
            "meta.rank_weight > 0 needs calibration architectures with known accuracies "
            "(TeachRunConfig.calibration; gtnas teach train --calibration TRUTH.json)"
        )
    count = config.learners_per_step
    values = torch.zeros(2, count, dtype=torch.float64, device=device)  # (loss, accuracy) x L
    for j, stream in streams:
        rewind = stream.get_state()
        learner, real = _draw_learner(
            teacher, sampler, train_images, train_labels, config, stream, device
        )
        accuracy = float(sampler.last_accuracy)  # type: ignore[attr-defined]
        state = train_learner(learner, teacher)
        with torch.no_grad():
            loss = learner_loss(learner, state.names, state.params, *real[teacher.inner_steps])
        values[0, j], values[1, j] = float(loss), accuracy
        stream.set_state(rewind)
        del learner, state
    (values,) = world.sum([values])
    losses, accuracies = values[0].tolist(), values[1].tolist()
    rank_loss, slopes = ranking_loss(losses, accuracies, config.rank_temperature)
    # the mean over the L learners divides each learner's gradient by L again
    weights = {j: config.rank_weight * count * slopes[j] for j, _ in streams}
    return weights, rank_loss, concordance(losses, accuracies)


def mean_meta_gradient(
    teacher: Teacher,
    sampler: LearnerSampler,
    train_images: torch.Tensor,
    train_labels: torch.Tensor,
    config: MetaTrainConfig,
    streams: list[tuple[int, torch.Generator]],
    device: torch.device,
    world: World | None = None,
) -> MeanMetaGradient:
    """The meta-gradient averaged over ``config.learners_per_step`` learners: this process's
    drawn from ``streams`` (a fresh architecture and weights, an episode, real batches each),
    one after another with one learner's graph in memory at a time, then summed over the
    processes of ``world``."""
    mode = "checkpoint" if config.gradient_checkpointing else "unroll"
    world = world or World()
    final_weights: dict[int, float] = {}
    rank_loss = rank_tau = None
    if config.rank_weight > 0:
        final_weights, rank_loss, rank_tau = _ranking_weights(
            teacher, sampler, train_images, train_labels, config, streams, device, world
        )
    sums = [torch.zeros_like(p) for p in teacher.meta_parameters()]
    losses = torch.zeros(2, dtype=torch.float64, device=device)  # meta-loss, final loss sums
    for j, stream in streams:
        learner, real = _draw_learner(
            teacher, sampler, train_images, train_labels, config, stream, device
        )
        result = meta_gradient(
            learner,
            teacher,
            real,
            mode=mode,
            weighting=config.meta_loss_weighting,
            truncation=config.truncation,
            final_weight=final_weights.get(j, 0.0),
        )
        for total, g in zip(sums, result.grads, strict=True):
            total.add_(g)
        losses += torch.tensor([result.meta_loss, result.final_loss], dtype=losses.dtype,
                               device=device)  # fmt: skip
        del result, learner  # one learner's graph at a time
    *sums, losses = world.sum([*sums, losses])
    count = config.learners_per_step
    meta_loss, final_loss = (float(v) / count for v in losses.tolist())
    grads = [total / count for total in sums]
    return MeanMetaGradient(grads, meta_loss, final_loss, rank_loss, rank_tau)


def meta_train_step(
    teacher: Teacher,
    sampler: LearnerSampler,
    train_images: torch.Tensor,
    train_labels: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    config: MetaTrainConfig,
    generator: torch.Generator,
    device: torch.device,
    *,
    streams: list[tuple[int, torch.Generator]] | None = None,
    world: World | None = None,
) -> MetaStepResult:
    """One outer iteration: :func:`mean_meta_gradient` (default: one learner drawn from
    ``generator``), then one optimiser step, the same in every process; skipped (and counted)
    when the meta-loss or the meta-gradient is not finite. All randomness comes from the
    streams, so a run resumed from a checkpoint repeats the same iterations."""
    start = time.perf_counter()
    streams = streams if streams is not None else [(0, generator)]
    mean = mean_meta_gradient(
        teacher, sampler, train_images, train_labels, config, streams, device, world
    )
    params = teacher.meta_parameters()
    grad_norm = torch.linalg.vector_norm(torch.stack([g.norm() for g in mean.grads]))
    finite = math.isfinite(mean.meta_loss) and bool(torch.isfinite(grad_norm))
    if finite:
        for p, g in zip(params, mean.grads, strict=True):
            p.grad = g
        if config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
        optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return MetaStepResult(
        mean.meta_loss,
        mean.final_loss,
        float(grad_norm),
        not finite,
        time.perf_counter() - start,
        mean.rank_loss,
        mean.rank_tau,
    )


def validate_teacher(
    teacher: Teacher,
    sampler: LearnerSampler,
    images: torch.Tensor,
    labels: torch.Tensor,
    seed: int,
    device: torch.device,
) -> float:
    """Accuracy of one fresh learner (the sampler's reference architecture, weights from
    ``seed``) trained on the teacher, on (images, labels)."""
    generator = make_generator(seed)
    learner = sampler.default(generator).to(device)
    teacher.begin_episode(generator)
    state = train_learner(learner, teacher)
    return evaluate_accuracy(learner, state, images, labels)


class NonFiniteGuard(SkipGuard):
    """Counts consecutive skipped meta-steps and stops the run when there are too many."""

    def message(self, iteration: int) -> str:  # type: ignore[override]
        return (
            f"{self.consecutive} consecutive meta-steps had a non-finite meta-loss or "
            f"meta-gradient (last at iteration {iteration}); lower --meta-lr or the initial "
            "inner lr, or enable clipping, and resume from the last checkpoint"
        )


def validation_seed(seed: int, iteration: int) -> int:
    """Seed of the fresh learner validated at ``iteration``: independent of the training
    stream, so how often we validate never changes what is learned."""
    return derive_seed(seed, "validate", iteration)
