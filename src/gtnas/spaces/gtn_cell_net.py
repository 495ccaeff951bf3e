"""The networks of the GTN cell space: its 11 operations, the cell and the stacked network.

The GTN paper searched an ENAS / NAO-style space (see :mod:`gtnas.spaces.gtn_cell` for the
genotype). A cell has two inputs - the outputs of the cell before the previous one (input 0)
and of the previous cell (input 1) - and ``nodes`` nodes numbered 2, 3, ...; node k sums two
operations, each applied to input 0, input 1 or an earlier node. The nodes that no other node
uses are concatenated and mapped back to the cell's C channels, so every cell outputs C
channels. A reduction cell halves H and W (its operations on the cell inputs have stride 2)
and doubles C.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from gtnas.errors import ConfigError
from gtnas.spaces.ops import ClassifierHead, FactorizedReduce, Pool, ReLUConvNorm, conv2d, norm2d

# The public GTN code's operation set, in its order (the decision indices follow it).
OPS: tuple[str, ...] = (
    "identity",
    "conv_1x1",
    "conv_3x3",
    "conv_1x3_3x1",
    "conv_1x7_7x1",
    "max_pool_2x2",
    "max_pool_3x3",
    "max_pool_5x5",
    "avg_pool_2x2",
    "avg_pool_3x3",
    "avg_pool_5x5",
)

# A node as the network needs it: (input_a, op_a, input_b, op_b); the genotype's NodeSpec is one.
Node = tuple[int, str, int, str]


@dataclass(frozen=True)
class GtnCellBlueprint:
    """How the cells are stacked: a 3x3 stem conv to ``stem_multiplier * channels`` channels,
    then ``stages`` stages of ``cells_per_stage`` normal cells with a reduction cell (which
    doubles the channels and halves H and W) between consecutive stages, then global average
    pooling and a linear classifier. The paper searched with channels=32, cells_per_stage=3."""

    channels: int  # C of the first stage
    cells_per_stage: int  # N normal cells per stage
    stages: int = 3
    stem_multiplier: int = 3

    def __post_init__(self) -> None:
        for field in ("channels", "cells_per_stage", "stages", "stem_multiplier"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"blueprint.{field} must be a positive integer, got {value!r}")


class FactorizedConv(nn.Sequential):
    """ReLU -> conv (1 x k) -> conv (k x 1) -> norm: a k x k receptive field with 2k instead of
    k^2 weights per channel pair. At stride 2 the first conv strides, which halves H and W
    (rounding up) as every other operation does."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int, *, norm: str, stride: int = 1):
        pad = kernel_size // 2
        super().__init__(
            nn.ReLU(),
            conv2d(c_in, c_out, (1, kernel_size), norm=norm, stride=stride, padding=(0, pad)),
            conv2d(c_out, c_out, (kernel_size, 1), norm=norm, padding=(pad, 0)),
            norm2d(c_out, norm=norm),
        )


def build_operation(name: str, channels: int, *, stride: int, norm: str) -> nn.Module:
    """Operation ``name`` on a (B, channels, H, W) tensor; stride 2 gives (B, channels, ceil(H/2),
    ceil(W/2)). Identity at stride 2 becomes a factorised reduction (ENAS / DARTS)."""
    if name == "identity":
        return nn.Identity() if stride == 1 else FactorizedReduce(channels, channels, norm=norm)
    if name in ("conv_1x1", "conv_3x3"):
        kernel_size = int(name[-1])  # "conv_3x3" -> 3
        return ReLUConvNorm(channels, channels, kernel_size, norm=norm, stride=stride)
    if name in ("conv_1x3_3x1", "conv_1x7_7x1"):
        kernel_size = int(name[-3])  # "conv_1x7_7x1" -> 7
        return FactorizedConv(channels, channels, kernel_size, norm=norm, stride=stride)
    kind, _, size = name.partition("_pool_")  # "max_pool_3x3" -> "max", "3x3"
    if kind in ("max", "avg") and size in ("2x2", "3x3", "5x5"):
        return Pool(kind, int(size[0]), stride=stride)
    raise ValueError(f"unknown operation {name!r}; choose one of: {', '.join(OPS)}")


def output_nodes(nodes: Sequence[Node]) -> list[int]:
    """The nodes (numbered from 2) that no node of the cell takes as input: the cell output."""
    used = {index for node in nodes for index in (node[0], node[2])}
    return [k for k in range(2, 2 + len(nodes)) if k not in used]


class Cell(nn.Module):
    """One normal or reduction cell: (s0, s1) -> (B, channels, H', W'), where H' = H (normal)
    or ceil(H/2) (reduction) and H is the size of s1."""

    def __init__(
        self,
        nodes: Sequence[Node],
        c_prev_prev: int,
        c_prev: int,
        channels: int,
        *,
        reduction: bool,
        previous_was_reduction: bool,
        norm: str,
    ) -> None:
        super().__init__()
        # Map both cell inputs to `channels`; after a reduction cell, input 0 has twice the
        # size of input 1, and a factorised reduction brings it to the same size.
        if previous_was_reduction:
            self.preprocess0: nn.Module = FactorizedReduce(c_prev_prev, channels, norm=norm)
        else:
            self.preprocess0 = ReLUConvNorm(c_prev_prev, channels, 1, norm=norm)
        self.preprocess1 = ReLUConvNorm(c_prev, channels, 1, norm=norm)
        self.inputs = [(node[0], node[2]) for node in nodes]
        operations = []
        for input_a, op_a, input_b, op_b in nodes:
            for index, op in ((input_a, op_a), (input_b, op_b)):
                stride = 2 if reduction and index < 2 else 1
                operations.append(build_operation(op, channels, stride=stride, norm=norm))
        self.operations = nn.ModuleList(operations)  # two per node: node k's at 2(k-2), +1
        self.outputs = output_nodes(nodes)
        self.combine = ReLUConvNorm(len(self.outputs) * channels, channels, 1, norm=norm)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]  # each (B, channels, H, W)
        for position, (input_a, input_b) in enumerate(self.inputs):
            op_a, op_b = self.operations[2 * position], self.operations[2 * position + 1]
            states.append(op_a(states[input_a]) + op_b(states[input_b]))  # (B, channels, H', W')
        # (B, len(outputs) * channels, H', W') -> (B, channels, H', W')
        return self.combine(torch.cat([states[k] for k in self.outputs], dim=1))


class GtnCellNetwork(nn.Module):
    """The cells of a genotype stacked by a blueprint: (B, C, H, W) -> logits (B, classes)."""

    def __init__(
        self,
        normal: Sequence[Node],
        reduce: Sequence[Node],
        image_shape: tuple[int, int, int],
        num_classes: int,
        blueprint: GtnCellBlueprint,
        *,
        norm: str,
    ) -> None:
        super().__init__()
        c_stem = blueprint.stem_multiplier * blueprint.channels
        self.stem = nn.Sequential(
            conv2d(image_shape[0], c_stem, 3, norm=norm, padding=1), norm2d(c_stem, norm=norm)
        )
        c_prev_prev, c_prev, channels = c_stem, c_stem, blueprint.channels
        previous_was_reduction = False
        cells = []
        for stage in range(blueprint.stages):
            kinds = [True] * (stage > 0) + [False] * blueprint.cells_per_stage  # reduction first
            for reduction in kinds:
                if reduction:
                    channels *= 2
                cells.append(
                    Cell(
                        reduce if reduction else normal,
                        c_prev_prev,
                        c_prev,
                        channels,
                        reduction=reduction,
                        previous_was_reduction=previous_was_reduction,
                        norm=norm,
                    )
                )
                c_prev_prev, c_prev, previous_was_reduction = c_prev, channels, reduction
        self.cells = nn.ModuleList(cells)
        self.head = ClassifierHead(c_prev, num_classes, norm=norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # channels_last: oneDNN's convolution and pooling kernels are several times faster in
        # that layout on CPU (max pooling about 5x). A one-channel image has the same strides in
        # both layouts and the stem conv would then answer in NCHW, so its output is converted
        # as well (a no-op when the input already set the layout).
        x = x.contiguous(memory_format=torch.channels_last)  # (B, C, H, W)
        s0 = s1 = self.stem(x).contiguous(memory_format=torch.channels_last)  # (B, stem C, H, W)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1)
        return self.head(s1)  # (B, num_classes)
