"""The teacher interface, its config, and the teacher registry + factory."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from gtnas.errors import ConfigError
from gtnas.registry import Registry
from gtnas.teachers.generator import GeneratorConfig
from gtnas.teachers.inner_optimizer import InnerOptimizer


@dataclass(frozen=True)
class TeacherConfig:
    inner_steps: int = 32  # T: SGD steps a learner takes on the teacher's data
    batch_size: int = 128  # B: synthetic samples per inner step
    # Initial inner learning rate and momentum (all steps), meta-learned from there. The public
    # GTN code starts at 0.02 / 0.5; on MNIST, starting where real data trains best (0.05 /
    # 0.9) learned faster (the `defaults` probes, benchmarks/results/README.md).
    lr: float = 0.05
    momentum: float = 0.9
    learn_schedule: bool = True  # meta-learn the per-step lr and momentum
    soft_labels: bool = False  # learn a label distribution per synthetic sample
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    # Where meta-training starts: "random", or "real": the teacher is first fitted so that its
    # batches reproduce real training images of the right class (gtn: a GLO fit of generator and
    # curriculum, ``init_epochs`` passes over the T batches; pixels: a copy), which skips the
    # meta-iterations a random teacher spends learning what real data already gives
    # (gtnas.teachers.warm_start).
    init: str = "random"
    init_epochs: int = 20

    def __post_init__(self) -> None:
        if self.inner_steps < 1 or self.batch_size < 1:
            raise ValueError("inner_steps and batch_size must be positive")
        if self.init not in ("random", "real"):
            raise ValueError(f"init must be 'random' or 'real', got {self.init!r}")
        if self.init_epochs < 1:
            raise ValueError("init_epochs must be >= 1")


class Teacher(nn.Module):
    """Produces ``batch(step)`` for steps ``0 .. inner_steps - 1`` of a learner's training.

    ``parameters()`` are the meta-parameters (what meta-training optimises); ``optimizer``
    holds the meta-learned inner learning rates and momenta.
    """

    name: str = ""
    # Default multipliers of the meta-lr per meta-parameter group (meta.lr_scale overrides).
    default_lr_scale: ClassVar[dict[str, float]] = {}

    def __init__(
        self, config: TeacherConfig, image_shape: tuple[int, int, int], num_classes: int
    ) -> None:
        super().__init__()
        self.config, self.image_shape, self.num_classes = config, tuple(image_shape), num_classes
        self.optimizer = InnerOptimizer(config.inner_steps, config.lr, config.momentum)
        self.optimizer.requires_grad_(config.learn_schedule)

    @property
    def inner_steps(self) -> int:
        return self.config.inner_steps

    def begin_episode(self, generator: torch.Generator) -> None:
        """Draw the randomness of one inner training run (noise, labels, real indices)."""

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x, targets)`` for inner step ``step``: x (B, C, H, W); targets (B,) class
        indices or (B, K) probabilities. Deterministic between ``begin_episode`` calls."""
        raise NotImplementedError

    def _use_fixed_labels(self) -> None:
        """For teachers with one learned batch per step: fixed class-balanced labels (T, B),
        and a learned label distribution per sample when ``config.soft_labels``."""
        cfg = self.config
        self.register_buffer(
            "labels", balanced_labels(cfg.inner_steps, cfg.batch_size, self.num_classes)
        )
        self.soft_labels = LearnedLabels(self.labels, self.num_classes) if cfg.soft_labels else None

    def _targets(self, step: int) -> torch.Tensor:
        """Step ``step``'s targets: (B,) fixed labels or (B, K) learned soft labels."""
        return self.labels[step] if self.soft_labels is None else self.soft_labels(step)

    def meta_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.parameters() if p.requires_grad]

    def meta_parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """The meta-parameters by role, named after the part that owns them: ``generator``,
        ``curriculum``, ``images``, ``soft_labels`` and ``schedule`` (the inner lr and
        momentum), each present only where the teacher has it. Meta-training gives each its
        own learning rate: the meta-lr times ``default_lr_scale`` or ``meta.lr_scale``."""
        groups: dict[str, list[nn.Parameter]] = {}
        for name, param in self.named_parameters():
            if param.requires_grad:
                owner = name.split(".", 1)[0]
                groups.setdefault(_GROUP_NAMES.get(owner, owner), []).append(param)
        return groups

    def reset_parameters(self, generator: torch.Generator) -> None:
        """Initialise the meta-parameters (other than the schedule) from ``generator``."""

    def warm_start(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        *,
        epochs: int,
        generator: torch.Generator,
        on_epoch: Callable[[int, float], None] | None = None,
    ) -> float:
        """Fit the teacher so that its batches reproduce real training images (``images``
        (N, C, H, W), ``labels`` (N,): the training split) before meta-training; returns the
        last epoch's mean squared error. See :mod:`gtnas.teachers.warm_start`."""
        raise ConfigError(
            f"teacher {self.name!r} cannot start from real data; "
            "teacher_options.init=real works with the gtn and pixels teachers"
        )


# Parameter-name prefix -> group name where they differ (the schedule lives in `optimizer`).
_GROUP_NAMES = {"optimizer": "schedule"}


class LearnedLabels(nn.Module):
    """A learned label distribution per synthetic sample: targets = softmax(logits).

    Initialised close to the fixed one-hot labels (probability ~0.9 on the given class) so that
    the teacher starts as a hard-label teacher and learns how much to soften.
    """

    def __init__(self, labels: torch.Tensor, num_classes: int, confidence: float = 0.9) -> None:
        super().__init__()
        # logit gap so that softmax gives `confidence` to the labelled class
        gap = torch.log(torch.tensor(confidence * (num_classes - 1) / (1 - confidence)))
        self.logits = nn.Parameter(F.one_hot(labels, num_classes).float() * gap)  # (T, B, K)

    def forward(self, step: int) -> torch.Tensor:
        return self.logits[step].softmax(dim=-1)


def balanced_labels(steps: int, batch_size: int, num_classes: int) -> torch.Tensor:
    """(T, B) labels cycling through the classes, so every step is class-balanced."""
    return (torch.arange(batch_size) % num_classes).repeat(steps, 1)


TEACHERS: Registry[Teacher] = Registry("teacher")


def create_teacher(
    name: str,
    config: TeacherConfig,
    image_shape: tuple[int, int, int],
    num_classes: int,
    *,
    real_images: torch.Tensor | None = None,
    real_labels: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Teacher:
    """Build a registered teacher. ``real_*`` (the training split) is needed by ``real``;
    ``generator`` initialises the meta-parameters."""
    teacher = TEACHERS.create(
        name, config, image_shape, num_classes, real_images=real_images, real_labels=real_labels
    )
    if generator is not None:
        teacher.reset_parameters(generator)
    return teacher
