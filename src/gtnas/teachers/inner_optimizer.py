"""The inner optimiser's meta-learned schedule: one learning rate and one momentum per step.

Kept in unconstrained form (log learning rate, logit momentum) as in the public GTN code, so
gradient steps on them never produce a negative rate or a momentum outside (0, 1).
"""

from __future__ import annotations

import math

import torch
from torch import nn


class InnerOptimizer(nn.Module):
    """SGD with momentum, ``v <- mu_t v + g;  w <- w - lr_t v`` (PyTorch's convention)."""

    def __init__(self, steps: int, lr: float = 0.02, momentum: float = 0.5) -> None:
        super().__init__()
        if not 0.0 < momentum < 1.0:
            raise ValueError(f"initial momentum must be in (0, 1), got {momentum}")
        if lr <= 0:
            raise ValueError(f"initial learning rate must be positive, got {lr}")
        self.log_lr = nn.Parameter(torch.full((steps,), math.log(lr)))
        self.momentum_logit = nn.Parameter(
            torch.full((steps,), math.log(momentum / (1 - momentum)))
        )

    @property
    def steps(self) -> int:
        return self.log_lr.numel()

    def lr(self, step: int) -> torch.Tensor:
        return self.log_lr[step].exp()

    def momentum(self, step: int) -> torch.Tensor:
        return torch.sigmoid(self.momentum_logit[step])

    def schedule(self) -> tuple[list[float], list[float]]:
        """The learning rates and momenta as plain numbers (for logs and plots)."""
        with torch.no_grad():
            return self.log_lr.exp().tolist(), torch.sigmoid(self.momentum_logit).tolist()
