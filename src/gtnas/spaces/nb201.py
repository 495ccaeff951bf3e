"""The NAS-Bench-201 search space (Dong & Yang, ICLR 2020).

A cell is a DAG of 4 nodes: node 0 is the cell's input, node 3 its output, and node j is the sum
of op_{j<-i}(node i) over i < j. Each of the 6 edges takes one of 5 operations, 5^6 = 15,625
cells. The network stacks one cell everywhere (the published ``TinyNetwork`` of AutoDL-Projects):

    stem: 3x3 conv (C) + norm
    stage 1: N cells at C channels
    residual reduction block (ResNet basic block, stride 2) to 2C
    stage 2: N cells at 2C channels
    residual reduction block to 4C
    stage 3: N cells at 4C channels
    norm + ReLU, global average pool, linear classifier

A genotype prints as the benchmark's own string, one ``|op~input|`` per edge, nodes joined by
``+``::

    |nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from gtnas.errors import GenotypeError
from gtnas.spaces.base import (
    SEARCH_SPACES,
    DagDrawing,
    Decision,
    GenotypePicture,
    Norm,
    SearchSpace,
)
from gtnas.spaces.ops import ClassifierHead, ReLUConvNorm, conv2d, norm2d

# The official op names, in the benchmark's order.
OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
NODES = 4  # input node 0, intermediate nodes 1 and 2, output node 3
# The 6 edges (target, source) in the order of the official string.
EDGES: tuple[tuple[int, int], ...] = tuple(
    (target, source) for target in range(1, NODES) for source in range(target)
)

_EDGE_TEXT = re.compile(r"([A-Za-z0-9_]+)~([0-9]+)")


@dataclass(frozen=True)
class NB201Genotype:
    """The op on each edge, in :data:`EDGES` order: (1<-0), (2<-0), (2<-1), (3<-0), (3<-1),
    (3<-2)."""

    ops: tuple[str, ...]

    def op(self, target: int, source: int) -> str:
        return self.ops[EDGES.index((target, source))]


@dataclass(frozen=True)
class NB201Config:
    """NAS-Bench-201 has no space options: the cell topology and op set are fixed."""


@dataclass(frozen=True)
class NB201Blueprint:
    """Network size: ``channels`` of the first stage (doubled at each reduction),
    ``cells_per_stage`` (the paper's N), and ``head_pool``: the classifier's average pooling
    to head_pool x head_pool before its linear layer (1: global, the benchmark's)."""

    channels: int = 16
    cells_per_stage: int = 5
    head_pool: int = 1

    def __post_init__(self) -> None:
        if self.channels < 1 or self.cells_per_stage < 0 or self.head_pool < 1:
            raise ValueError(
                f"channels and head_pool must be >= 1 and cells_per_stage >= 0, got "
                f"{self.channels}, {self.head_pool} and {self.cells_per_stage}"
            )


def _edge_name(target: int, source: int) -> str:
    return f"edge({target}<-{source})"


class NB201Cell(nn.Module):
    """One NAS-Bench-201 cell at a fixed width (the benchmark's ``InferCell``):
    node j = sum_{i<j} op_{j<-i}(node i).

    'none' edges are left out, as they only add zeros; a node with no other input is zero.
    Edges out of such a zero node are still computed, as in the benchmark: a conv edge's norm
    turns zeros into its learned bias.
    """

    def __init__(self, genotype: NB201Genotype, channels: int, *, norm: str) -> None:
        super().__init__()
        self.edges = nn.ModuleDict()
        self.inputs: list[list[tuple[int, str]]] = [[] for _ in range(NODES)]  # (source, key)
        for (target, source), op in zip(EDGES, genotype.ops, strict=True):
            if op == "none":
                continue
            key = f"node{target}_from{source}"
            self.edges[key] = _make_op(op, channels, norm=norm)
            self.inputs[target].append((source, key))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, C, H, W) -> (B, C, H, W); every op keeps the shape
        nodes = [x]
        for target in range(1, NODES):
            outputs = [self.edges[key](nodes[source]) for source, key in self.inputs[target]]
            nodes.append(sum(outputs[1:], outputs[0]) if outputs else torch.zeros_like(x))
        return nodes[-1]


def _make_op(op: str, channels: int, *, norm: str) -> nn.Module:
    if op == "skip_connect":
        return nn.Identity()
    if op == "nor_conv_1x1":
        return ReLUConvNorm(channels, channels, 1, norm=norm)
    if op == "nor_conv_3x3":
        return ReLUConvNorm(channels, channels, 3, norm=norm)
    if op == "avg_pool_3x3":
        # the benchmark's POOLING: padding is left out of the average
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    raise ValueError(f"no module for NAS-Bench-201 op {op!r}")


class ResidualReduction(nn.Module):
    """The benchmark's ``ResNetBasicblock`` at stride 2, between stages: ReLU-conv3x3(s2)-norm ->
    ReLU-conv3x3-norm, plus a shortcut of 2x2 average pooling then a 1x1 conv (no norm)."""

    def __init__(self, c_in: int, c_out: int, *, norm: str) -> None:
        super().__init__()
        self.conv_a = ReLUConvNorm(c_in, c_out, 3, norm=norm, stride=2)
        self.conv_b = ReLUConvNorm(c_out, c_out, 3, norm=norm)
        # ceil_mode: an odd size H gives ceil(H/2) like the stride-2 conv, averaging the real
        # pixels of the last window; for even sizes it is the official AvgPool2d(2, 2)
        self.shortcut = nn.Sequential(
            nn.AvgPool2d(2, stride=2, ceil_mode=True), conv2d(c_in, c_out, 1, norm=norm)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, c_in, H, W) -> (B, c_out, ceil(H/2), ceil(W/2))
        return self.shortcut(x) + self.conv_b(self.conv_a(x))


class NB201Network(nn.Module):
    """The NAS-Bench-201 macro skeleton around one genotype (AutoDL-Projects ``TinyNetwork``)."""

    def __init__(
        self,
        genotype: NB201Genotype,
        image_shape: tuple[int, int, int],
        num_classes: int,
        blueprint: NB201Blueprint,
        *,
        norm: str,
    ) -> None:
        super().__init__()
        channels = blueprint.channels
        self.stem = nn.Sequential(
            conv2d(image_shape[0], channels, 3, norm=norm, padding=1), norm2d(channels, norm=norm)
        )
        cells: list[nn.Module] = []
        for stage in range(3):
            width = channels * 2**stage
            if stage > 0:
                cells.append(ResidualReduction(width // 2, width, norm=norm))
            cells.extend(
                NB201Cell(genotype, width, norm=norm) for _ in range(blueprint.cells_per_stage)
            )
        self.cells = nn.Sequential(*cells)
        self.last_activation = nn.Sequential(norm2d(channels * 4, norm=norm), nn.ReLU())
        self.head = ClassifierHead(channels * 4, num_classes, norm=norm, pool=blueprint.head_pool)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, C_img, H, W). channels_last makes these small convs 1.3-2x faster on CPU. A
        # 1-channel image is both layouts at once, so torch keeps the stem's output NCHW: convert
        # again after the stem (a no-op when the layout already holds).
        x = x.contiguous(memory_format=torch.channels_last)
        x = self.stem(x).contiguous(memory_format=torch.channels_last)  # (B, C, H, W)
        x = self.cells(x)  # (B, 4C, ceil(H/4), ceil(W/4))
        return self.head(self.last_activation(x))  # (B, num_classes)


@SEARCH_SPACES.register("nb201", help="NAS-Bench-201: a 4-node cell, 6 edges x 5 ops")
class NB201Space(SearchSpace[NB201Genotype]):
    """NAS-Bench-201: 15,625 cells of 6 edges, each one of 5 operations."""

    name: ClassVar[str] = "nb201"
    Config: ClassVar[type] = NB201Config
    Blueprint: ClassVar[type] = NB201Blueprint
    blueprints: ClassVar[dict[str, NB201Blueprint]] = {
        "final": NB201Blueprint(channels=16, cells_per_stage=5),  # the benchmark's network
        # a CPU-sized learner: 0.35-0.6 s forward + backward at batch 128 of 28x28x1 on one
        # busy CPU thread, about the cost of the GTN paper's default conv learner
        "search": NB201Blueprint(channels=16, cells_per_stage=1),
        # the search size with a 7x7-pooled (on 28x28 images: flattened) classifier head, for
        # teaching: global pooling stalls a GTN's meta-training on NB-201 cells and a spatial
        # head unblocks it, while this preset itself overshoots at 16 steps of 32, so a
        # head_pool of 3 is the safer start at this width (`python -m benchmarks.probes --set
        # nb201`; benchmarks/results/README.md).
        "search-fc": NB201Blueprint(channels=16, cells_per_stage=1, head_pool=7),
        # the search size with a 3x3-pooled classifier head: the blueprint to meta-train a
        # teacher on (and so to score gtn:K at) for NB-201 cells, see search-fc above; and the
        # network the long-horizon truth sets train, so proxies, teachers and the truth score
        # one network (why this width and not 8 channels: truth/README.md)
        "search-head3": NB201Blueprint(channels=16, cells_per_stage=1, head_pool=3),
        "tiny": NB201Blueprint(channels=4, cells_per_stage=1),  # for tests
    }
    ops: ClassVar[tuple[str, ...]] = OPS

    # -- the decision view --------------------------------------------------------------------
    def decisions(self) -> list[Decision]:
        return [Decision(_edge_name(target, source), OPS) for target, source in EDGES]

    def from_decisions(self, indices: Sequence[int]) -> NB201Genotype:
        if len(indices) != len(EDGES):
            raise GenotypeError(f"nb201 needs {len(EDGES)} decisions, got {len(indices)}")
        for (target, source), index in zip(EDGES, indices, strict=True):
            if not 0 <= index < len(OPS):
                raise GenotypeError(
                    f"nb201 decision {_edge_name(target, source)} = {index} is out of range "
                    f"0..{len(OPS) - 1}"
                )
        return NB201Genotype(tuple(OPS[index] for index in indices))

    def to_decisions(self, genotype: NB201Genotype) -> list[int]:
        self.validate(genotype)
        return [OPS.index(op) for op in genotype.ops]

    # -- text ---------------------------------------------------------------------------------
    def to_string(self, genotype: NB201Genotype) -> str:
        self.validate(genotype)
        nodes = []
        for target in range(1, NODES):
            nodes.append(
                "|" + "|".join(f"{genotype.op(target, i)}~{i}" for i in range(target)) + "|"
            )
        return "+".join(nodes)

    def parse(self, text: str) -> NB201Genotype:
        text = text.strip()
        example = "e.g. '|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|...~0|...~1|...~2|'"
        if not text:
            raise GenotypeError(f"nb201 genotype is empty; {example}")
        parts = text.split("+")
        if len(parts) != NODES - 1:
            raise GenotypeError(
                f"nb201 genotype {text!r} has {len(parts)} node(s) separated by '+', "
                f"needs {NODES - 1}; {example}"
            )
        ops: list[str] = []
        for target, part in enumerate(parts, start=1):
            if len(part) < 2 or not (part.startswith("|") and part.endswith("|")):
                raise GenotypeError(
                    f"nb201 node {target} {part!r} is malformed: it must start and end with '|', "
                    f"like '|op~0|' ({example})"
                )
            entries = part[1:-1].split("|")
            if len(entries) != target:
                raise GenotypeError(
                    f"nb201 node {target} {part!r} has {len(entries)} edge(s), needs {target} "
                    f"(inputs {', '.join(f'~{i}' for i in range(target))})"
                )
            for position, entry in enumerate(entries):
                match = _EDGE_TEXT.fullmatch(entry)
                if match is None:
                    raise GenotypeError(
                        f"nb201 edge {entry!r} on node {target} is malformed; expected "
                        f"'op~input' such as 'nor_conv_3x3~{position}'"
                    )
                op, source = match.group(1), int(match.group(2))
                if op not in OPS:
                    raise GenotypeError(
                        f"nb201 edge {entry!r} on node {target} has unknown op {op!r}; "
                        f"valid ops: {', '.join(OPS)}"
                    )
                if source >= target:
                    raise GenotypeError(
                        f"nb201 edge {entry!r}: node {target} cannot take input ~{source}, only "
                        f"earlier nodes ~0..~{target - 1}"
                    )
                if source != position:
                    raise GenotypeError(
                        f"nb201 edge {entry!r} is edge {position + 1} of node {target}, which "
                        f"must be ~{position}: list the inputs in order "
                        f"{', '.join(f'~{i}' for i in range(target))}"
                    )
                ops.append(op)
        return NB201Genotype(tuple(ops))

    def validate(self, genotype: NB201Genotype) -> None:
        if not isinstance(genotype, NB201Genotype):
            raise GenotypeError(f"not an nb201 genotype: {genotype!r}")
        if not isinstance(genotype.ops, tuple) or len(genotype.ops) != len(EDGES):
            raise GenotypeError(
                f"nb201 genotype needs a tuple of {len(EDGES)} ops, got {genotype.ops!r}"
            )
        for (target, source), op in zip(EDGES, genotype.ops, strict=True):
            if op not in OPS:
                raise GenotypeError(
                    f"nb201 {_edge_name(target, source)} has unknown op {op!r}; "
                    f"valid ops: {', '.join(OPS)}"
                )

    # -- networks -----------------------------------------------------------------------------
    def _network(
        self,
        genotype: NB201Genotype,
        image_shape: tuple[int, int, int],
        num_classes: int,
        blueprint: NB201Blueprint,
        norm: Norm,
    ) -> nn.Module:
        return NB201Network(genotype, image_shape, num_classes, blueprint, norm=norm)

    def picture(self, genotype: NB201Genotype) -> GenotypePicture:
        """The cell as a 4-node DAG, each edge labelled with its op; 'none' edges dashed."""
        self.validate(genotype)
        edges = tuple(
            (source, target, op) for (target, source), op in zip(EDGES, genotype.ops, strict=True)
        )
        dashed = frozenset((source, target) for source, target, op in edges if op == "none")
        drawing = DagDrawing("NAS-Bench-201 cell", ("in", "1", "2", "out"), edges, dashed)
        return GenotypePicture(self.to_string(genotype), (drawing,))
