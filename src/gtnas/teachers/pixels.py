"""Directly optimised synthetic pixels: the dataset-distillation baseline (Maclaurin et al.
2015; Wang et al. 2018) the GTN paper compares against. One learned batch per inner step."""

from __future__ import annotations

import torch
from torch import nn

from gtnas.teachers.base import TEACHERS, Teacher, TeacherConfig
from gtnas.teachers.warm_start import real_targets


@TEACHERS.register("pixels")
class PixelTeacher(Teacher):
    name = "pixels"

    def __init__(
        self,
        config: TeacherConfig,
        image_shape: tuple[int, int, int],
        num_classes: int,
        **_: object,
    ) -> None:
        super().__init__(config, image_shape, num_classes)
        steps, batch = config.inner_steps, config.batch_size
        self.images = nn.Parameter(torch.randn(steps, batch, *self.image_shape))  # (T, B, C, H, W)
        self._use_fixed_labels()  # labels (T, B), class-balanced
        self._batches: tuple[tuple[torch.Tensor, ...], int, int] | None = None  # see begin_episode

    def reset_parameters(self, generator: torch.Generator) -> None:
        # Standard-normal pixels: the scale of normalised real data.
        with torch.no_grad():
            self.images.normal_(generator=generator)

    def warm_start(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        *,
        generator: torch.Generator,
        **_: object,
    ) -> float:
        # Dataset distillation's usual start: the synthetic images are real ones.
        with torch.no_grad():
            self.images.copy_(real_targets(self.labels, images, labels, generator))
        return 0.0

    def begin_episode(self, generator: torch.Generator) -> None:
        # One unbind per episode instead of an index per step: its backward stacks the T batch
        # gradients into one (T, B, C, H, W) tensor, where T indexings would each zero-fill a
        # full-size gradient and the T of them be summed.
        # Valid while the images are the same memory, unchanged (a meta-optimiser step, a
        # load or a move to another device ends it, and batch() falls back to indexing).
        images = self.images
        self._batches = (images.unbind(0), images._version, images.data_ptr())

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        batches, images = self._batches, self.images
        if batches is None or batches[1:] != (images._version, images.data_ptr()):
            return images[step], self._targets(step)
        return batches[0][step], self._targets(step)

    def __getstate__(self) -> dict[str, object]:
        # the episode's views hold autograd history, which cannot be pickled or deep-copied
        return {**self.__dict__, "_batches": None}
