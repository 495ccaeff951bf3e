"""The network of a randomly wired genotype (Xie, Kirillov, Girshick & He 2019, "Exploring
Randomly Wired Neural Networks for Image Recognition", section 3).

Each stage is a DAG over ``nodes`` nodes, its edges oriented from the lower to the higher node
index. A node

- aggregates its inputs by a weighted sum whose weights are positive, ``sigmoid(w)`` of one
  learned scalar per incoming edge (paper: "aggregation");
- transforms the sum by ReLU -> 3x3 separable convolution -> norm (paper: "transformation");
- sends the same copy of its output along every outgoing edge ("distribution").

Nodes without predecessors ("input nodes") read the stage input through the paper's implicit
extra input node; their convolutions have stride 2 and change the width, so each stage halves
H and W and doubles the channels. Nodes without successors ("output nodes") are averaged,
without weights, to give the stage output (the paper's extra output node). A node with neither
is both, so a graph of several components (an Erdos-Renyi graph can have isolated nodes) still
yields a well-defined network.

A stem (3x3 conv -> norm, C/2 channels) comes before the stages and a ReLU -> global average
pool -> linear head after them. The paper's head adds a 1x1 conv to 1280 channels, which we
leave out: it would dominate the cost of the small networks a GTN search trains.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from gtnas.spaces.ops import ClassifierHead, conv2d, norm2d


@dataclass(frozen=True)
class RandWireBlueprint:
    """The sizes a genotype is built at: ``channels`` is the first stage's width C (C/2 in the
    stem; C, 2C, 4C, ... in the stages, as in the paper); ``stem_stride`` 1 keeps 28x28 and
    32x32 inputs at full resolution into the first stage, which then halves them."""

    channels: int
    stem_stride: int = 1

    def __post_init__(self) -> None:
        if self.channels < 2:
            raise ValueError(f"blueprint channels must be >= 2, got {self.channels}")
        if self.stem_stride < 1:
            raise ValueError(f"blueprint stem_stride must be >= 1, got {self.stem_stride}")


class SeparableConv(nn.Module):
    """Depthwise 3x3 (at ``stride``) then pointwise 1x1 (c_in -> c_out), as in Xception and
    MobileNet: (B, c_in, H, W) -> (B, c_out, ceil(H/stride), ceil(W/stride))."""

    def __init__(self, c_in: int, c_out: int, *, norm: str, stride: int = 1) -> None:
        super().__init__()
        self.depthwise = conv2d(c_in, c_in, 3, norm=norm, stride=stride, padding=1, groups=c_in)
        self.pointwise = conv2d(c_in, c_out, 1, norm=norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class RandWireNode(nn.Module):
    """One node: weighted sum of its predecessors' outputs -> ReLU -> separable conv -> norm.

    ``edge_logits`` holds one learned scalar per incoming edge; the aggregation weight is its
    sigmoid. They start at 0 (weight 0.5) in ``__init__``, deterministically; the module has no
    ``reset_parameters``, so :func:`gtnas.learners.layers.init_learner` initialises the
    convolutions and norms inside and leaves the logits as built.
    """

    def __init__(
        self, c_in: int, c_out: int, predecessors: Sequence[int], *, norm: str, stride: int
    ) -> None:
        super().__init__()
        self.predecessors = tuple(predecessors)
        if self.predecessors:
            self.edge_logits = nn.Parameter(torch.zeros(len(self.predecessors)))
        self.op = nn.Sequential(
            nn.ReLU(),
            SeparableConv(c_in, c_out, norm=norm, stride=stride),
            norm2d(c_out, norm=norm),
        )

    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        # inputs: one (B, c_in, H, W) tensor per predecessor, or the stage input for an input node
        if not self.predecessors:
            return self.op(inputs[0])
        weights = torch.sigmoid(self.edge_logits)  # (in-degree,), each in (0, 1)
        total = weights[0] * inputs[0]
        for weight, x in zip(weights[1:], inputs[1:], strict=True):
            total = total + weight * x
        return self.op(total)


class RandWireStage(nn.Module):
    """A stage DAG: (B, c_in, H, W) -> (B, c_out, ceil(H/2), ceil(W/2))."""

    def __init__(
        self, c_in: int, c_out: int, nodes: int, edges: Sequence[tuple[int, int]], *, norm: str
    ) -> None:
        super().__init__()
        predecessors: list[list[int]] = [[] for _ in range(nodes)]
        has_successor = [False] * nodes
        for u, v in sorted(edges):
            predecessors[v].append(u)
            has_successor[u] = True
        self.output_nodes = tuple(i for i in range(nodes) if not has_successor[i])
        self.nodes = nn.ModuleList(
            RandWireNode(c_in, c_out, [], norm=norm, stride=2)
            if not preds
            else RandWireNode(c_out, c_out, preds, norm=norm, stride=1)
            for preds in predecessors
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs: list[torch.Tensor] = []
        # edges go from lower to higher index, so node order is a topological order
        for node in self.nodes:
            if node.predecessors:
                outputs.append(node([outputs[p] for p in node.predecessors]))
            else:
                outputs.append(node([x]))
        total = outputs[self.output_nodes[0]]
        for i in self.output_nodes[1:]:
            total = total + outputs[i]
        return total / len(self.output_nodes)


class RandWireNetwork(nn.Module):
    """Stem -> one :class:`RandWireStage` per stage graph -> ReLU -> pool -> linear.

    ``stages`` holds (node count, edges) per stage. Input (B, C, H, W) -> (B, num_classes).
    """

    def __init__(
        self,
        stages: Sequence[tuple[int, Sequence[tuple[int, int]]]],
        image_shape: tuple[int, int, int],
        num_classes: int,
        blueprint: RandWireBlueprint,
        *,
        norm: str,
    ) -> None:
        super().__init__()
        width = blueprint.channels
        c_in = width // 2
        self.stem = nn.Sequential(
            conv2d(image_shape[0], c_in, 3, norm=norm, stride=blueprint.stem_stride, padding=1),
            norm2d(c_in, norm=norm),
        )
        blocks = []
        for index, (nodes, edges) in enumerate(stages):
            c_out = width * 2**index
            blocks.append(RandWireStage(c_in, c_out, nodes, edges, norm=norm))
            c_in = c_out
        self.stages = nn.Sequential(*blocks)
        self.relu = nn.ReLU()
        self.head = ClassifierHead(c_in, num_classes, norm=norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, C, H, W). channels_last: oneDNN's convolutions are faster in that layout on CPU.
        x = x.contiguous(memory_format=torch.channels_last)
        x = self.stem(x)  # (B, C/2, H/s, W/s)
        x = self.stages(x)  # (B, C * 2^(stages-1), H/(s * 2^stages), W/(s * 2^stages))
        return self.head(self.relu(x))  # (B, num_classes)
