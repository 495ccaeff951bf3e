"""The GTN paper's cell search space ("gtn-cell"): a normal and a reduction cell in the style
of ENAS / NAO, searched by the paper with random search on GTN-trained learners.

Each cell has ``nodes`` nodes (5 in the paper), numbered 2, 3, ... after the two cell inputs
(0: the output of the cell before the previous one, 1: the previous cell's output). Node k
takes two inputs from 0..k-1, applies an operation to each and sums the results; the nodes no
other node uses are concatenated as the cell output (see :mod:`gtnas.spaces.gtn_cell_net`).

Canonical string: the normal cell, then the reduction cell, one node per comma-separated
group, node 2 first; a node is ``<input>:<op>+<input>:<op>``::

    normal=0:conv_3x3+1:identity,1:max_pool_3x3+2:conv_1x1,...;reduce=0:avg_pool_3x3+1:...

A node sums its two (input, op) pairs, so their order carries no meaning. The genotype keeps
them sorted - by input, then by the op's position in :data:`OPS` - so that equal architectures
have equal genotypes, strings and hashes. :meth:`GtnCellSpace.parse` accepts either order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import torch
from torch import nn

from gtnas.errors import ConfigError, GenotypeError
from gtnas.spaces.base import (
    SEARCH_SPACES,
    DagDrawing,
    Decision,
    GenotypePicture,
    Norm,
    SearchSpace,
)
from gtnas.spaces.gtn_cell_net import OPS, GtnCellBlueprint, GtnCellNetwork, output_nodes

CELLS: tuple[str, ...] = ("normal", "reduce")
FIRST_NODE = 2  # nodes are numbered after the two cell inputs 0 and 1


class NodeSpec(NamedTuple):
    """One node: ``op_a(input_a) + op_b(input_b)``; inputs are 0, 1 (cell inputs) or nodes."""

    input_a: int
    op_a: str
    input_b: int
    op_b: str


def _pair_order(pair: tuple[int, str]) -> tuple[int, int, str]:
    index, op = pair
    # unknown ops (rejected later by validate) sort after the known ones, by name
    return (index, OPS.index(op) if op in OPS else len(OPS), op)


def _canonical_cell(cell_name: str, nodes: Any) -> tuple[NodeSpec, ...]:
    if isinstance(nodes, str) or not isinstance(nodes, Sequence):
        raise GenotypeError(f"{cell_name} cell must be a sequence of nodes, got {nodes!r}")
    canonical = []
    for position, node in enumerate(nodes):
        where = f"{cell_name} cell node {FIRST_NODE + position}"
        if isinstance(node, str) or not isinstance(node, Sequence) or len(node) != 4:
            raise GenotypeError(f"{where}: expected (input_a, op_a, input_b, op_b), got {node!r}")
        pairs = [(node[0], node[1]), (node[2], node[3])]
        for index, op in pairs:
            if isinstance(index, bool) or not isinstance(index, int) or not isinstance(op, str):
                raise GenotypeError(f"{where}: inputs must be integers and ops strings, got {node}")
        first, second = sorted(pairs, key=_pair_order)
        canonical.append(NodeSpec(*first, *second))
    return tuple(canonical)


@dataclass(frozen=True)
class GtnCellGenotype:
    """A normal and a reduction cell. The constructor turns the nodes into :class:`NodeSpec`
    tuples with each node's two (input, op) pairs sorted (see the module docstring), so
    ``GtnCellGenotype(((1, "identity", 0, "conv_3x3"),), ...)`` equals the genotype with the
    pairs swapped. Node counts, input ranges and op names are checked by
    :meth:`GtnCellSpace.validate`, which knows the space's node count."""

    normal: tuple[NodeSpec, ...]
    reduce: tuple[NodeSpec, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "normal", _canonical_cell("normal", self.normal))
        object.__setattr__(self, "reduce", _canonical_cell("reduce", self.reduce))


@dataclass(frozen=True)
class GtnCellConfig:
    """Options of the gtn-cell space."""

    nodes: int = 5  # nodes per cell (the paper: 5)

    def __post_init__(self) -> None:
        if isinstance(self.nodes, bool) or not isinstance(self.nodes, int) or self.nodes < 1:
            raise ConfigError(f"gtn-cell option nodes must be a positive integer, got {self.nodes}")


@SEARCH_SPACES.register("gtn-cell")
class GtnCellSpace(SearchSpace[GtnCellGenotype]):
    """The GTN paper's ENAS/NAO-style normal + reduction cell space (5 nodes, 11 ops)."""

    name = "gtn-cell"
    Config = GtnCellConfig
    Blueprint = GtnCellBlueprint
    ops = OPS
    # Forward + backward of one batch of 128 MNIST images (BatchNorm network, median over three
    # random genotypes; torch 2.13 on this project's shared 2-core CPU):
    #   preset        parameters   1 thread, CPU time   2 threads, wall, machine busy (load 4-7)
    #   tiny          55k-98k      0.46 s               4.8 s
    #   search        0.22M-0.39M  0.87 s               4.6 s
    #   final         0.29M-0.55M  1.13 s               7.1 s
    #   paper-search  1.5M-2.9M    4.0 s                -
    # An MNIST epoch (391 batches) of "final" is about 7 minutes of one core; C=24 would take
    # about 14 and C=32 about 21. On a busy machine two threads were SLOWER than one (the
    # threads wait for each other). A weight-normalised learner's unrolled inner step
    # (create_graph, plus its share of the meta-backward) costs 1.3-1.9 s (tiny), 2.7-4.3 s
    # (search).
    blueprints: ClassVar[dict[str, GtnCellBlueprint]] = {
        "tiny": GtnCellBlueprint(channels=8, cells_per_stage=1),  # for tests
        "search": GtnCellBlueprint(channels=16, cells_per_stage=1),  # GTN learners, search
        "paper-search": GtnCellBlueprint(channels=32, cells_per_stage=3),  # the paper's search
        "final": GtnCellBlueprint(channels=16, cells_per_stage=2),  # final training
    }

    config: GtnCellConfig

    # -- the decision view --------------------------------------------------------------------
    def decisions(self) -> list[Decision]:
        """Per cell, per node k: input_a (0..k-1), op_a, input_b, op_b, named like
        ``normal.node2.input_a``."""
        decisions = []
        for cell_name in CELLS:
            for node in range(FIRST_NODE, FIRST_NODE + self.config.nodes):
                inputs = tuple(range(node))
                for part in ("a", "b"):
                    decisions.append(Decision(f"{cell_name}.node{node}.input_{part}", inputs))
                    decisions.append(Decision(f"{cell_name}.node{node}.op_{part}", OPS))
        return decisions

    def from_decisions(self, indices: Sequence[int]) -> GtnCellGenotype:
        """The genotype of these decision indices; a node's pairs come out sorted, so
        ``to_decisions(from_decisions(x))`` may swap a node's a and b pairs."""
        decisions = self.decisions()
        if len(indices) != len(decisions):
            raise GenotypeError(
                f"gtn-cell takes {len(decisions)} decisions, got {len(indices)} indices"
            )
        values = []
        for decision, index in zip(decisions, indices, strict=True):
            if not 0 <= index < len(decision):
                raise GenotypeError(
                    f"decision {decision.name}: index {index} out of range 0..{len(decision) - 1}"
                )
            values.append(decision.options[index])
        nodes = [tuple(values[i : i + 4]) for i in range(0, len(values), 4)]  # normal, reduce
        count = self.config.nodes
        return GtnCellGenotype(normal=tuple(nodes[:count]), reduce=tuple(nodes[count:]))

    def to_decisions(self, genotype: GtnCellGenotype) -> list[int]:
        self.validate(genotype)
        indices = []
        for nodes in (genotype.normal, genotype.reduce):
            for input_a, op_a, input_b, op_b in nodes:
                indices += [input_a, OPS.index(op_a), input_b, OPS.index(op_b)]
        return indices

    def mutate(self, genotype: GtnCellGenotype, generator: torch.Generator) -> GtnCellGenotype:
        """A valid genotype differing from ``genotype`` in one decision.

        Changing one pair of a node changes the node's set of pairs, so sorting the pairs
        cannot undo a mutation and the first try always differs; the retry only guards the
        "always different" contract that searches rely on against future changes.
        """
        for _ in range(100):
            mutant = super().mutate(genotype, generator)
            if mutant != genotype:
                return mutant
        raise GenotypeError("gtn-cell: 100 mutations in a row gave back the same genotype")

    # -- text and JSON ------------------------------------------------------------------------
    def to_string(self, genotype: GtnCellGenotype) -> str:
        self.validate(genotype)
        cells = []
        for cell_name, nodes in zip(CELLS, (genotype.normal, genotype.reduce), strict=True):
            groups = ",".join(f"{n.input_a}:{n.op_a}+{n.input_b}:{n.op_b}" for n in nodes)
            cells.append(f"{cell_name}={groups}")
        return ";".join(cells)

    def parse(self, text: str) -> GtnCellGenotype:
        """Parse ``normal=...;reduce=...`` (whitespace ignored; a node's pairs in any order)."""
        parts = "".join(text.split()).split(";")
        cells: dict[str, tuple[NodeSpec, ...]] = {}
        for part in parts:
            cell_name, sep, body = part.partition("=")
            if not sep or cell_name not in CELLS:
                raise GenotypeError(
                    f"gtn-cell genotype part {part[:40]!r} should start with 'normal=' or "
                    "'reduce=' (the form is 'normal=<nodes>;reduce=<nodes>')"
                )
            if cell_name in cells:
                raise GenotypeError(f"gtn-cell genotype gives the {cell_name} cell twice")
            cells[cell_name] = self._parse_cell(cell_name, body)
        missing = [c for c in CELLS if c not in cells]
        if missing:
            raise GenotypeError(
                f"gtn-cell genotype has no {missing[0]} cell; the form is "
                "'normal=<nodes>;reduce=<nodes>'"
            )
        genotype = GtnCellGenotype(normal=cells["normal"], reduce=cells["reduce"])
        self.validate(genotype)
        return genotype

    @staticmethod
    def _parse_cell(cell_name: str, body: str) -> tuple[NodeSpec, ...]:
        nodes = []
        for position, group in enumerate(body.split(",") if body else []):
            where = f"{cell_name} cell node {FIRST_NODE + position}"
            pairs = group.split("+")
            if len(pairs) != 2 or any(pair.count(":") != 1 for pair in pairs):
                raise GenotypeError(f"{where}: expected '<input>:<op>+<input>:<op>', got {group!r}")
            node: list[int | str] = []
            for pair in pairs:
                index, op = pair.split(":")
                if not index.isdigit():
                    raise GenotypeError(f"{where}: input {index!r} is not a non-negative integer")
                node += [int(index), op]
            nodes.append(tuple(node))
        return _canonical_cell(cell_name, nodes)

    def validate(self, genotype: GtnCellGenotype) -> None:
        if not isinstance(genotype, GtnCellGenotype):
            raise GenotypeError(
                f"gtn-cell expects a GtnCellGenotype, got {type(genotype).__name__}"
            )
        for cell_name, nodes in zip(CELLS, (genotype.normal, genotype.reduce), strict=True):
            if len(nodes) != self.config.nodes:
                raise GenotypeError(
                    f"{cell_name} cell has {len(nodes)} nodes; the space has {self.config.nodes}"
                )
            for node, spec in enumerate(nodes, start=FIRST_NODE):
                where = f"{cell_name} cell node {node}"
                for index in (spec.input_a, spec.input_b):
                    if not 0 <= index < node:
                        raise GenotypeError(
                            f"{where}: input {index} out of range "
                            f"(node {node} can take inputs 0..{node - 1})"
                        )
                for op in (spec.op_a, spec.op_b):
                    if op not in OPS:
                        raise GenotypeError(
                            f"{where}: unknown op {op!r}; choose one of: {', '.join(OPS)}"
                        )

    # -- networks -----------------------------------------------------------------------------
    def _network(
        self,
        genotype: GtnCellGenotype,
        image_shape: tuple[int, int, int],
        num_classes: int,
        blueprint: GtnCellBlueprint,
        norm: Norm,
    ) -> nn.Module:
        return GtnCellNetwork(
            genotype.normal, genotype.reduce, image_shape, num_classes, blueprint, norm=norm
        )

    def picture(self, genotype: GtnCellGenotype) -> GenotypePicture:
        """Both cells as DAGs: the cell inputs "in 0" and "in 1", nodes 2, 3, ... (numbered as in
        the string) with op-labelled edges, and dashed edges from the unused nodes, which are
        concatenated, to "out". A node that applies two ops to the same input gets one edge
        labelled with both."""
        self.validate(genotype)
        drawings = []
        for cell_name, nodes in zip(CELLS, (genotype.normal, genotype.reduce), strict=True):
            labels = ("in 0", "in 1", *(str(k) for k in range(2, 2 + len(nodes))), "out")
            output = len(labels) - 1
            edge_ops: dict[tuple[int, int], list[str]] = {}
            for node, spec in enumerate(nodes, start=FIRST_NODE):
                edge_ops.setdefault((spec.input_a, node), []).append(spec.op_a)
                edge_ops.setdefault((spec.input_b, node), []).append(spec.op_b)
            edges = [(source, target, "\n".join(ops)) for (source, target), ops in edge_ops.items()]
            concatenated = [(k, output) for k in output_nodes(nodes)]
            edges += [(source, target, "") for source, target in concatenated]
            drawings.append(
                DagDrawing(f"{cell_name} cell", labels, tuple(edges), frozenset(concatenated))
            )
        normal, reduce = self.to_string(genotype).split(";")
        return GenotypePicture(f"{self.name}\n{normal}\n{reduce}", tuple(drawings))
