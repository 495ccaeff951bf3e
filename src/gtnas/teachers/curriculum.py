"""Generative Teaching Network teachers: a generator with and without a learned curriculum."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import torch
from torch import nn

from gtnas.teachers.base import TEACHERS, Teacher, TeacherConfig
from gtnas.teachers.generator import Generator
from gtnas.teachers.warm_start import glo_fit, real_targets

# The generator learns at 1/30 of the meta-lr. Adam moves each parameter by about its lr per
# step whatever the gradient, and the generator's weight-normalised directions are small (std
# ~0.04): at the curriculum's 0.03 a step turns them by a large angle, and from a warm start a
# few such steps undo the fit. At the paper's MNIST size the slower generator meta-learned to
# a lower loss and kept a warm start (`benchmarks.probes --set paper`;
# benchmarks/results/README.md).
GENERATOR_LR_SCALE = {"generator": 1 / 30}


@TEACHERS.register("gtn")
class CurriculumTeacher(Teacher):
    """Generator + learned curriculum (the paper's best variant).

    The curriculum is one learned noise vector per sample per inner step, a (T, B, noise_dim)
    parameter, with fixed class-balanced labels: the generator turns step t's noise into step
    t's batch, so the order of what the learner sees is learned too.
    """

    name = "gtn"
    default_lr_scale = GENERATOR_LR_SCALE

    def __init__(
        self,
        config: TeacherConfig,
        image_shape: tuple[int, int, int],
        num_classes: int,
        **_: object,
    ) -> None:
        super().__init__(config, image_shape, num_classes)
        steps, batch = config.inner_steps, config.batch_size
        self.generator = Generator(self.image_shape, num_classes, config.generator)
        self.curriculum = nn.Parameter(torch.randn(steps, batch, config.generator.noise_dim))
        self._use_fixed_labels()  # labels (T, B), class-balanced

    def reset_parameters(self, generator: torch.Generator) -> None:
        self.generator.reset_parameters(generator)
        with torch.no_grad():
            self.curriculum.normal_(generator=generator)

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.generator(self.curriculum[step], self.labels[step])  # (B, C, H, W)
        return x, self._targets(step)

    def warm_start(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        *,
        epochs: int,
        generator: torch.Generator,
        on_epoch: Callable[[int, float], None] | None = None,
    ) -> float:
        targets = real_targets(self.labels, images, labels, generator)  # (T, B, C, H, W)
        return glo_fit(
            self.generator,
            self.curriculum,
            self.labels,
            targets,
            epochs=epochs,
            generator=generator,
            on_epoch=on_epoch,
        )


@TEACHERS.register("gtn-nocurriculum")
class NoCurriculumTeacher(Teacher):
    """The same generator fed fresh random noise and random labels at every step (the paper's
    "no curriculum" ablation): only the generator and the schedule are learned."""

    name = "gtn-nocurriculum"
    # The generator at the full meta-lr: it is all this teacher learns besides the schedule
    # (no curriculum to carry the fast changes); at the curriculum teacher's 1/30 it learned
    # far less (benchmarks.teach --preset quick; benchmarks/results/README.md).
    default_lr_scale: ClassVar[dict[str, float]] = {}

    def __init__(
        self,
        config: TeacherConfig,
        image_shape: tuple[int, int, int],
        num_classes: int,
        **_: object,
    ) -> None:
        super().__init__(config, image_shape, num_classes)
        self.generator = Generator(self.image_shape, num_classes, config.generator)
        self._noise: torch.Tensor | None = None  # (T, B, noise_dim), drawn per episode
        self._labels: torch.Tensor | None = None  # (T, B)

    def reset_parameters(self, generator: torch.Generator) -> None:
        self.generator.reset_parameters(generator)

    def begin_episode(self, generator: torch.Generator) -> None:
        cfg = self.config
        reference = self.optimizer.log_lr
        shape = (cfg.inner_steps, cfg.batch_size)
        noise = torch.randn(*shape, cfg.generator.noise_dim, generator=generator)
        labels = torch.randint(0, self.num_classes, shape, generator=generator)
        self._noise = noise.to(reference.device, reference.dtype)
        self._labels = labels.to(reference.device)

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self._noise is None or self._labels is None:
            raise RuntimeError("call begin_episode(generator) before batch()")
        labels = self._labels[step]
        return self.generator(self._noise[step], labels), labels
