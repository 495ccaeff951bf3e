"""The standard recipe for training a found architecture from scratch on real data.

One frozen dataclass, :class:`FinalTrainConfig`, holds everything a final-training run depends
on; it is written to the run's ``config.json`` and read back to resume. The defaults follow the
usual NAS final-training recipe (NAS-Bench-201, DARTS): SGD with Nesterov momentum 0.9, cosine
learning-rate decay to zero, weight decay on convolution and linear weights only, gradient
clipping at norm 5 and the data set's customary light augmentation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FinalTrainConfig:
    dataset: str = "mnist"  # a name load_dataset knows: mnist, fashion-mnist, cifar10, idx:DIR
    seed: int = 0  # seeds weights, data order and augmentation (see gtnas.seeding)
    # The network size: a blueprint preset of the genotype's space ("final", "search", "tiny")
    # or a dict of the space's Blueprint fields.
    blueprint: str | dict[str, Any] = "final"
    epochs: int = 10
    batch_size: int = 128
    # 0.05 at batch 128 is NAS-Bench-201's 0.1 at batch 256 under the linear scaling rule.
    lr: float = 0.05
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4  # NAS-Bench-201's; not applied to BatchNorm weights or biases
    warmup_epochs: float = 0.0  # linear warm-up from 0 over this many epochs, then cosine to 0
    label_smoothing: float = 0.0
    grad_clip: float = 5.0  # max global gradient norm (0: no clipping)
    # "auto": the data set's customary policy (see gtnas.training.augment); "none" disables;
    # or any registered policy name.
    augmentation: str = "auto"
    train_subset: int | None = None  # train on the first N training images only (quick runs)
    val_subset: int | None = None  # validate on the first N validation images only
    eval_every_epochs: int = 1  # validation accuracy every k epochs (and always after the last)
    eval_batch_size: int = 256  # larger batches were slower per image on the CPU
    checkpoint_every_steps: int = 200  # also at every epoch end; a kill loses at most this many
    log_every_steps: int = 50  # a per-step record in metrics.jsonl every k steps (0: none)
    max_nonfinite: int = 5  # consecutive non-finite steps tolerated before stopping the run
    device: str = "auto"  # auto, cpu, cuda, cuda:N or mps

    def __post_init__(self) -> None:
        if not isinstance(self.blueprint, str | dict):
            raise ValueError(f"blueprint must be a preset name or a dict, got {self.blueprint!r}")
        positive = {
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "eval_every_epochs": self.eval_every_epochs,
            "eval_batch_size": self.eval_batch_size,
            "checkpoint_every_steps": self.checkpoint_every_steps,
            "max_nonfinite": self.max_nonfinite,
        }
        for name, value in positive.items():
            if value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}")
        for name in ("train_subset", "val_subset"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1 (or null for all), got {value}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a positive number, got {self.lr}")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum}")
        if self.nesterov and self.momentum == 0:
            raise ValueError("nesterov needs momentum > 0")
        if self.weight_decay < 0 or self.grad_clip < 0 or self.log_every_steps < 0:
            raise ValueError("weight_decay, grad_clip and log_every_steps must be >= 0")
        if not 0 <= self.label_smoothing < 1:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if not 0 <= self.warmup_epochs <= self.epochs:
            raise ValueError(
                f"warmup_epochs must be between 0 and epochs ({self.epochs}), "
                f"got {self.warmup_epochs}"
            )


def learning_rate_factor(step: int, total_steps: int, warmup_steps: int) -> float:
    """Multiplier of the base learning rate at optimiser step ``step`` (0-based).

    Linear warm-up over the first ``warmup_steps`` steps (1/w, 2/w, ..., 1), then a cosine from
    1 down to 0 over the remaining steps (Loshchilov & Hutter 2017, SGDR without restarts): the
    last step trains at a small positive rate and the schedule would reach 0 one step later.
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    decay_steps = max(1, total_steps - warmup_steps)
    progress = min(step - warmup_steps, decay_steps) / decay_steps
    return 0.5 * (1.0 + math.cos(math.pi * progress))
