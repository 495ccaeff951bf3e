"""Norm-aware building blocks shared by the search spaces.

Every space builds the same genotype two ways (see :meth:`SearchSpace.build`):

- ``norm="wn"``: a learner for a teacher's differentiable inner loop - weight-normalised
  convolutions (:class:`WNConv2d`) followed by :class:`BatchStatNorm`, which always uses the
  statistics of the batch it sees (no running buffers to carry through ``functional_call``);
- ``norm="bn"``: an ordinary network for final training - ``nn.Conv2d`` (as :class:`Conv2d`)
  + ``nn.BatchNorm2d``.

Both are initialised from an explicit generator by :func:`gtnas.learners.layers.init_learner`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from gtnas.learners.layers import BatchStatNorm, WNConv2d, WNLinear, max_pool2d
from gtnas.learners.layers import conv2d as layer_conv2d


def conv2d(
    c_in: int,
    c_out: int,
    kernel_size: int | tuple[int, int],
    *,
    norm: str,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    groups: int = 1,
    bias: bool = False,
) -> nn.Module:
    if norm == "wn":
        if not isinstance(stride, int):
            raise ValueError("weight-normalised convolutions take an integer stride")
        return WNConv2d(
            c_in, c_out, kernel_size, stride=stride, padding=padding, groups=groups, bias=bias
        )
    return Conv2d(c_in, c_out, kernel_size, stride, padding, groups=groups, bias=bias)


class Conv2d(nn.Conv2d):
    """``nn.Conv2d`` (same parameters and state dict) whose forward goes through
    ``gtnas.learners.layers.conv2d``, which works around a torch bug in 1x1 strided convs."""

    def _conv_forward(
        self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None
    ) -> torch.Tensor:
        if self.padding_mode != "zeros" or self.dilation != (1, 1):
            return super()._conv_forward(x, weight, bias)
        return layer_conv2d(x, weight, bias, self.stride, self.padding, self.groups)


def norm2d(channels: int, *, norm: str) -> nn.Module:
    # "wn": batch statistics only (no running buffers to thread through functional_call), and
    # the variance too - see BatchStatNorm for why mean-only batch norm is not enough here.
    return BatchStatNorm(channels) if norm == "wn" else nn.BatchNorm2d(channels)


def linear(in_features: int, out_features: int, *, norm: str) -> nn.Module:
    return (
        WNLinear(in_features, out_features)
        if norm == "wn"
        else nn.Linear(in_features, out_features)
    )


class ReLUConvNorm(nn.Sequential):
    """ReLU -> conv -> norm, the standard NAS operation (ENAS, DARTS, NAS-Bench-201).

    A tuple kernel such as (1, 7) pads (0, 3) so H and W keep their size (at stride 1).
    """

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel_size: int | tuple[int, int],
        *,
        norm: str,
        stride: int = 1,
    ) -> None:
        kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
        super().__init__(
            nn.ReLU(),
            conv2d(c_in, c_out, (kh, kw), norm=norm, stride=stride, padding=(kh // 2, kw // 2)),
            norm2d(c_out, norm=norm),
        )


class FactorizedReduce(nn.Module):
    """Halve H and W and map c_in -> c_out without losing every other pixel: two stride-2 1x1
    convolutions, the second on the input shifted by one pixel, concatenated (ENAS / DARTS)."""

    def __init__(self, c_in: int, c_out: int, *, norm: str) -> None:
        super().__init__()
        half = c_out // 2
        self.relu = nn.ReLU()
        self.conv_a = conv2d(c_in, half, 1, norm=norm, stride=2)
        self.conv_b = conv2d(c_in, c_out - half, 1, norm=norm, stride=2)
        self.norm = norm2d(c_out, norm=norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, c_in, H, W) -> (B, c_out, ceil(H/2), ceil(W/2))
        x = self.relu(x)
        shifted = nn.functional.pad(x[:, :, 1:, 1:], (0, 1, 0, 1))
        return self.norm(torch.cat([self.conv_a(x), self.conv_b(shifted)], dim=1))


class Pool(nn.Module):
    """Max or average pooling that keeps H and W at stride 1 and halves them (rounding up) at
    stride 2, for any kernel size - even ones (2x2) pad asymmetrically, as the GTN code's
    2x2 pools do in effect. Average pooling ignores the padding."""

    def __init__(self, kind: str, kernel_size: int, *, stride: int = 1) -> None:
        super().__init__()
        if kind not in ("max", "avg"):
            raise ValueError(f"pool kind must be 'max' or 'avg', got {kind!r}")
        self.kind, self.kernel_size, self.stride = kind, kernel_size, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, s = self.kernel_size, self.stride
        height, width = x.shape[-2:]
        # total padding so that out = ceil(in / s): (ceil(in/s) - 1) * s + k - in
        pad_h = max((-(-height // s) - 1) * s + k - height, 0)
        pad_w = max((-(-width // s) - 1) * s + k - width, 0)
        top, left = pad_h // 2, pad_w // 2
        padding = (left, pad_w - left, top, pad_h - top)
        if self.kind == "max":
            x = nn.functional.pad(x, padding, value=float("-inf"))
            return max_pool2d(x, k, s)
        # average over the real pixels only: sum of x over the window / count of real pixels
        ones = torch.ones_like(x[:1, :1])
        total = nn.functional.avg_pool2d(nn.functional.pad(x, padding), k, s)
        count = nn.functional.avg_pool2d(nn.functional.pad(ones, padding), k, s)
        return total / count

    def extra_repr(self) -> str:
        return f"{self.kind}, kernel_size={self.kernel_size}, stride={self.stride}"


class Zero(nn.Module):
    """The 'none' operation: an all-zero output of the right shape (NAS-Bench-201's ``none``)."""

    def __init__(self, stride: int = 1) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            return x * 0.0
        return x[:, :, :: self.stride, :: self.stride] * 0.0


class ClassifierHead(nn.Module):
    """Average pool to ``pool`` x ``pool`` -> flatten -> linear: (B, C, H, W) ->
    (B, num_classes). ``pool`` 1 is global average pooling (NAS-Bench-201's, DARTS', the
    paper cell space's head); a larger ``pool`` keeps where a feature was, like the GTN
    paper's learner, whose flatten -> linear head a teacher can instruct in a few steps: on
    sampled NB-201 cells meta-training stalls with global pooling and not with 7 x 7 (see
    `head_pool` in the spaces' blueprints)."""

    def __init__(self, channels: int, num_classes: int, *, norm: str, pool: int = 1) -> None:
        super().__init__()
        if pool < 1:  # blueprints check their head_pool; this guards direct use
            raise ValueError(f"pool must be a positive integer, got {pool}")
        self.pool = pool
        self.linear = linear(channels * pool * pool, num_classes, norm=norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pool == 1:
            return self.linear(x.mean(dim=(2, 3)))
        return self.linear(F.adaptive_avg_pool2d(x, self.pool).flatten(1))
