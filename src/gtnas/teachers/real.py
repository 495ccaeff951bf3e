"""Real training batches: the baseline every teacher is measured against. Its only
meta-parameters are the inner learning rates and momenta."""

from __future__ import annotations

import torch

from gtnas.teachers.base import TEACHERS, Teacher, TeacherConfig


@TEACHERS.register("real")
class RealDataTeacher(Teacher):
    name = "real"

    def __init__(
        self,
        config: TeacherConfig,
        image_shape: tuple[int, int, int],
        num_classes: int,
        *,
        real_images: torch.Tensor | None = None,
        real_labels: torch.Tensor | None = None,
        **_: object,
    ) -> None:
        super().__init__(config, image_shape, num_classes)
        if real_images is None or real_labels is None:
            raise ValueError("the real teacher needs the training split (real_images, real_labels)")
        # Plain attributes, not buffers: the data set is not part of the teacher's state.
        self.real_images, self.real_labels = real_images, real_labels  # (N, C, H, W), (N,)
        self._indices: torch.Tensor | None = None  # (T, B)

    def begin_episode(self, generator: torch.Generator) -> None:
        # T batches without replacement within the episode (wrapping around for long runs).
        cfg = self.config
        needed = cfg.inner_steps * cfg.batch_size
        n = self.real_labels.numel()
        order = torch.cat([torch.randperm(n, generator=generator) for _ in range(-(-needed // n))])
        self._indices = order[:needed].view(cfg.inner_steps, cfg.batch_size)

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self._indices is None:
            raise RuntimeError("call begin_episode(generator) before batch()")
        index = self._indices[step]
        device = self.optimizer.log_lr.device
        return self.real_images[index].to(device), self.real_labels[index].to(device)
