"""Starting a teacher from real data instead of from random (a warm start).

A randomly initialised teacher first has to learn what real data already gives a learner: at
the paper's MNIST size a GTN needs about 40 meta-iterations (20 minutes on 2 CPU cores)
before fresh learners trained on it reach the accuracy of 32 steps of real data. A warm start
skips that phase. Before meta-training, one real training image of the slot's class is chosen
for every synthetic slot (t, b) of the curriculum (:func:`real_targets`), and the teacher is
fitted so that ``batch(t)`` reproduces those images (``Teacher.warm_start``):

- ``gtn``: the generator's weights and the curriculum's noise vectors are regressed onto the
  images (:func:`glo_fit`: mean squared error, Adam), one inner step's batch at a time so that
  the generator's batch norm sees the batches it will see in meta-training. This is GLO
  (Bojanowski et al. 2018, "Optimizing the latent space of generative networks"): no encoder
  and no meta-gradients, a few meta-iterations' worth of time.
- ``pixels``: the images are copied (the usual start of dataset distillation).

Meta-training then starts where real data stands and only has to improve on it. The fit uses
the training split only.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from gtnas.errors import ConfigError


def real_targets(
    slot_labels: torch.Tensor,
    images: torch.Tensor,
    labels: torch.Tensor,
    generator: torch.Generator,
) -> torch.Tensor:
    """One real image of the slot's class per slot, none used twice while the class has
    images left: slot_labels (T, B) -> (T, B, C, H, W) on the slot labels' device."""
    flat, labels = slot_labels.flatten().cpu(), labels.cpu()
    chosen = torch.empty(flat.numel(), dtype=torch.long)
    for cls in flat.unique().tolist():
        slots = (flat == cls).nonzero().flatten()
        pool = (labels == cls).nonzero().flatten()
        if pool.numel() == 0:
            raise ConfigError(
                f"cannot start the teacher from real data: the training split has no image of "
                f"class {cls}; use teacher_options.init=random"
            )
        repeats = -(-slots.numel() // pool.numel())
        order = torch.cat(
            [torch.randperm(pool.numel(), generator=generator) for _ in range(repeats)]
        )
        chosen[slots] = pool[order[: slots.numel()]]
    picked = images[chosen.to(images.device)].to(slot_labels.device)
    return picked.reshape(*slot_labels.shape, *images.shape[1:])


def glo_fit(
    decoder: nn.Module,
    noise: nn.Parameter,
    labels: torch.Tensor,
    targets: torch.Tensor,
    *,
    epochs: int,
    generator: torch.Generator,
    lr: float = 1e-3,
    on_epoch: Callable[[int, float], None] | None = None,
) -> float:
    """Fit ``decoder(noise[t], labels[t]) ~ targets[t]`` in both the decoder's weights and the
    noise: noise (T, B, D), labels (T, B), targets (T, B, C, H, W). One Adam step per t, the T
    batches in a new random order each epoch; returns the last epoch's mean squared error."""
    params = [*decoder.parameters(), noise]
    optimizer = torch.optim.Adam(params, lr=lr)
    mse = float("nan")
    for epoch in range(1, epochs + 1):
        total = 0.0
        for t in torch.randperm(noise.shape[0], generator=generator).tolist():
            loss = F.mse_loss(decoder(noise[t], labels[t]), targets[t])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(loss.detach())
        mse = total / noise.shape[0]
        if on_epoch is not None:
            on_epoch(epoch, mse)
    for p in params:
        p.grad = None
    return mse
