"""Weight-normalised layers and mean-only batch norm, written to be used with
``torch.func.functional_call`` inside a differentiable inner loop.

Weight normalisation reparameterises each output unit's weight vector as
``w = g * v / ||v||`` (per output channel), so the scale ``g`` and direction ``v`` are learned
separately. We scale the weight rather than the output (the public GTN code scales the output):
a (C_out, C_in, k, k) weight is far smaller than a (B, C_out, H, W) activation, so it is
cheaper in both the forward pass and the double backward of meta-training.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from gtnas.learners.conv_grad import conv2d_any_order


def _weight_norm(v: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    # v: (C_out, ...), g: (C_out,) -> w with ||w[i]|| = g[i]
    norm = v.flatten(1).norm(dim=1).clamp_min(1e-12)
    return v * (g / norm).view(-1, *([1] * (v.dim() - 1)))


# layer -> (v, g, their versions, w) while shared_weight_norm() is active
_SHARED: ContextVar[dict[int, tuple[Any, ...]] | None] = ContextVar("shared_wn", default=None)


@contextmanager
def shared_weight_norm() -> Iterator[None]:
    """Within the block, a weight-normalised layer called again with the very same (v, g)
    tensors, unchanged, reuses the weight it computed (one graph node, so its backward runs
    once on the summed gradient). Meta-gradients use it: after inner step t the real-data loss
    and step t+1 run the learner on the same weights, and the GTN generator runs on the same
    weights at every step of an episode."""
    token = _SHARED.set({})
    try:
        yield
    finally:
        _SHARED.reset(token)


def _layer_weight(layer: nn.Module, v: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    cache = _SHARED.get()
    if cache is None:
        return _weight_norm(v, g)
    hit = cache.get(id(layer))
    if hit is not None and hit[0] is v and hit[1] is g and hit[2] == (v._version, g._version):
        return hit[3]
    weight = _weight_norm(v, g)
    cache[id(layer)] = (v, g, (v._version, g._version), weight)
    return weight


def conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    stride: int | tuple[int, int],
    padding: int | str | tuple[int, int],
    groups: int = 1,
) -> torch.Tensor:
    """``F.conv2d`` (dilation 1), with a 1x1 strided convolution done as a stride-1 one on every
    stride-th pixel: the same numbers, and it avoids a torch 2.13 CPU bug - the double
    backward of a 1x1 stride-2 convolution of an even-sized channels_last input corrupts the
    heap when torch runs on one thread (a search worker does), and the process aborts.

    Where it is differentiated on CPU it runs as :func:`~gtnas.learners.conv_grad.conv2d_any_order`
    (the same numbers; a meta-gradient's double backward on oneDNN's own kernels)."""
    if weight.shape[-2:] == (1, 1) and padding in (0, (0, 0)) and stride not in (1, (1, 1)):
        sh, sw = (stride, stride) if isinstance(stride, int) else stride
        x, stride = x[:, :, ::sh, ::sw], 1  # (B, C, ceil(H/sh), ceil(W/sw))
    differentiated = torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad)
    if (
        differentiated
        and x.device.type == "cpu"
        and not isinstance(padding, str)
        and not torch.onnx.is_in_onnx_export()
    ):
        return conv2d_any_order(x, weight, bias, stride, padding, groups)
    return F.conv2d(x, weight, bias, stride, padding, 1, groups)


def max_pool2d(x: torch.Tensor, kernel_size: int, stride: int, padding: int = 0) -> torch.Tensor:
    """``F.max_pool2d`` (the same numbers and the same gradients), written on CPU as a gather
    of the maxima that ``F.max_pool2d`` finds, so that its backward is a ``scatter_add`` and its
    double backward a ``gather`` on channels_last-ordered (B, H*W, C) buffers.

    Why: in meta-training every inner step's backward is itself differentiated, and on CPU
    torch's max-pool backward and its derivative convert channels_last tensors to NCHW and back
    (and feed NCHW gradients to the next convolution, which converts them again). At the paper's
    MNIST size (learner conv 64 -> conv 128, 32 steps of 128) this pool and the channels_last
    first convolution of :class:`~gtnas.learners.family.ConvLearner` together cut the
    meta-gradient's time by 6% (gtn), 8% (gtn-nocurriculum) and 12% (pixels) on 2 CPU cores,
    and the steps without meta-gradients by 3-6% (``python -m benchmarks.overhead``).
    Where no gradient is taken (evaluation), on CUDA and in ONNX export, torch's own max-pool
    is used.
    """
    plain = x.device.type != "cpu" or not (torch.is_grad_enabled() and x.requires_grad)
    if plain or torch.onnx.is_in_onnx_export():
        return F.max_pool2d(x, kernel_size, stride, padding)
    batch, channels, height, width = x.shape
    with torch.no_grad():  # where each window's maximum is; (B, C, H', W') flat H*W indices
        _, index = F.max_pool2d(x, kernel_size, stride, padding, return_indices=True)
    out_h, out_w = index.shape[-2:]
    # (B, C, H, W) -> (B, H*W, C): a view, no copy, for a channels_last x
    flat = x.permute(0, 2, 3, 1).reshape(batch, height * width, channels)
    index = index.permute(0, 2, 3, 1).reshape(batch, out_h * out_w, channels)
    pooled = flat.gather(1, index)  # (B, H'*W', C)
    return pooled.view(batch, out_h, out_w, channels).permute(0, 3, 1, 2)  # channels_last


class MaxPool2d(nn.Module):
    """``nn.MaxPool2d`` through :func:`max_pool2d` (faster to meta-train through on CPU)."""

    def __init__(self, kernel_size: int, stride: int, padding: int = 0) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return max_pool2d(x, self.kernel_size, self.stride, self.padding)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class WNConv2d(nn.Module):
    """2-D convolution with weight normalisation (one gain per output channel)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        *,
        stride: int = 1,
        padding: int | tuple[int, int] = 0,
        groups: int = 1,
        bias: bool = True,
    ) -> None:
        super().__init__()
        kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
        self.stride, self.padding, self.groups = stride, padding, groups
        self.v = nn.Parameter(torch.empty(out_channels, in_channels // groups, kh, kw))
        self.g = nn.Parameter(torch.empty(out_channels))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.reset_parameters(None)

    def reset_parameters(self, generator: torch.Generator | None) -> None:
        _kaiming_wn_init(self.v, self.g, self.bias, generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = _layer_weight(self, self.v, self.g)
        return conv2d(x, weight, self.bias, self.stride, self.padding, self.groups)


class WNLinear(nn.Module):
    """Linear layer with weight normalisation (one gain per output unit)."""

    def __init__(self, in_features: int, out_features: int, *, bias: bool = True) -> None:
        super().__init__()
        self.v = nn.Parameter(torch.empty(out_features, in_features))
        self.g = nn.Parameter(torch.empty(out_features))
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None
        self.reset_parameters(None)

    def reset_parameters(self, generator: torch.Generator | None) -> None:
        _kaiming_wn_init(self.v, self.g, self.bias, generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, _layer_weight(self, self.v, self.g), self.bias)


class MeanOnlyBatchNorm(nn.Module):
    """Subtract the per-channel batch mean and add a learned bias (Salimans & Kingma 2016).

    The GTN code pairs it with weight normalisation. It always uses the statistics of the batch
    it sees, in training and in evaluation: running statistics gathered on synthetic batches
    would not describe real data. Evaluation therefore runs on large batches (1,000 images),
    whose mean is a close estimate of the population mean.
    """

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(num_features))

    def reset_parameters(self, generator: torch.Generator | None) -> None:
        with torch.no_grad():
            self.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, C) or (B, C, H, W)
        dims = [0] if x.dim() == 2 else [0, 2, 3]
        shape = (1, -1) if x.dim() == 2 else (1, -1, 1, 1)
        # one pass over x: x - (mean - bias), not (x - mean) + bias
        return x - (x.mean(dim=dims, keepdim=True) - self.bias.view(shape))


class BatchStatNorm(nn.Module):
    """Batch normalisation that always uses the statistics of the batch it sees (mean AND
    variance), with a learned per-channel scale and shift, and no running buffers.

    The search spaces' weight-normalised learners use it instead of mean-only batch norm: cells
    that sum several branches (skip connections, parallel convolutions) grow the activations'
    scale layer after layer, which mean subtraction alone does not undo, and sampled
    architectures then diverge within a few inner steps. Like :class:`MeanOnlyBatchNorm` it
    carries no state through ``functional_call``, and evaluation runs on large batches.
    """

    def __init__(self, num_features: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))

    def reset_parameters(self, generator: torch.Generator | None) -> None:
        with torch.no_grad():
            self.weight.fill_(1.0)
            self.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, C) or (B, C, H, W); training=True: normalise with this batch's statistics
        return F.batch_norm(x, None, None, self.weight, self.bias, True, 0.0, self.eps)


def _kaiming_wn_init(
    v: torch.Tensor, g: torch.Tensor, bias: torch.Tensor | None, generator: torch.Generator | None
) -> None:
    # Kaiming-normal direction for leaky ReLU(0.1); gain g = ||v|| so that the layer starts out
    # as an ordinary Kaiming-initialised layer (what the public GTN code does).
    fan_in = v[0].numel()
    std = math.sqrt(2.0 / (1 + 0.1**2) / fan_in)
    with torch.no_grad():
        v.normal_(0.0, std, generator=generator)
        g.copy_(v.flatten(1).norm(dim=1))
        if bias is not None:
            bias.zero_()


def init_learner(module: nn.Module, generator: torch.Generator | None) -> nn.Module:
    """Re-initialise every layer of ``module`` from ``generator`` (in module order).

    Besides our weight-normalised layers this covers the ordinary layers of the BatchNorm
    networks built for final training (``nn.Conv2d``, ``nn.Linear``, ``nn.BatchNorm2d``), so
    every network gtnas builds is initialised from an explicit generator, not the global seed.
    """
    for layer in module.modules():
        if layer is module and not isinstance(layer, _STANDARD_LAYERS):
            continue
        if isinstance(layer, WNConv2d | WNLinear | MeanOnlyBatchNorm | BatchStatNorm):
            layer.reset_parameters(generator)
        elif isinstance(layer, _STANDARD_LAYERS):
            _init_standard(layer, generator)
        elif hasattr(layer, "reset_parameters") and layer is not module:
            raise TypeError(
                f"{type(layer).__name__} cannot be initialised from an explicit generator; "
                "build networks from gtnas.learners.layers and torch's Conv2d/Linear/BatchNorm2d"
            )
    return module


_STANDARD_LAYERS = (nn.Conv2d, nn.Linear, nn.BatchNorm1d, nn.BatchNorm2d)


def _init_standard(layer: nn.Module, generator: torch.Generator | None) -> None:
    with torch.no_grad():
        if isinstance(layer, nn.BatchNorm1d | nn.BatchNorm2d):
            layer.reset_running_stats()
            if layer.affine:
                layer.weight.fill_(1.0)
                layer.bias.zero_()
            return
        # Kaiming-normal (fan-in, ReLU), as torchvision's ResNets and the NAS codebases do.
        fan_in = layer.weight[0].numel()
        layer.weight.normal_(0.0, math.sqrt(2.0 / fan_in), generator=generator)
        if layer.bias is not None:
            layer.bias.zero_()
