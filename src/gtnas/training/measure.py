"""How big and how costly a network is: trainable parameters and FLOPs per image.

FLOPs are counted the way ``torch.utils.flop_counter.FlopCounterMode`` counts them: 2 per
multiply-accumulate of the convolutions, linear layers and matrix products, on the operations
that actually run (so every convolution inside every cell counts, and unused nodes do not).
Normalisation, activations, pooling and additions are not counted; a bias adds nothing. NAS
papers that quote "FLOPs" in the mobile setting usually mean multiply-accumulates, which is
``count_flops(...) // 2``.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters (shared tensors counted once; BN buffers excluded)."""
    unique = {id(p): p for p in module.parameters() if p.requires_grad}
    return sum(p.numel() for p in unique.values())


def count_flops(module: nn.Module, input_shape: tuple[int, int, int]) -> int:
    """FLOPs of one forward pass on one (C, H, W) image, 2 per multiply-accumulate.

    The module runs once in evaluation mode on a zero image on its own device, so BatchNorm
    running statistics are left untouched; its train/eval flags are restored afterwards.
    """
    parameter = next(module.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    modes = {m: m.training for m in module.modules()}
    module.eval()
    try:
        counter = FlopCounterMode(display=False)
        with torch.no_grad(), counter:
            module(torch.zeros(1, *input_shape, device=device))  # (1, C, H, W)
    finally:
        for submodule, training in modes.items():
            submodule.training = training
    return int(counter.get_total_flops())
