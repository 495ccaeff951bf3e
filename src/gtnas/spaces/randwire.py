"""Randomly wired networks (Xie, Kirillov, Girshick & He 2019) as a search space: "randwire".

Xie et al. draw each stage's wiring from a classical random graph model and do no search; here
the model setting and the seed of every stage are the decisions, so a search (or a GTN proxy)
can rank wirings. The models, in the paper's notation:

- ``er(P)``: Erdos-Renyi, each of the N(N-1)/2 possible edges present with probability P;
- ``ba(M)``: Barabasi-Albert, each new node attaches to M existing nodes (preferential
  attachment), M < N;
- ``ws(K,P)``: Watts-Strogatz, a ring where each node joins its K nearest neighbours (K even),
  each edge then rewired with probability P (``networkx.watts_strogatz_graph``: the result
  need not be connected, which the network handles; see :mod:`gtnas.spaces.randwire_net`).

The undirected graph becomes a DAG by orienting every edge from the lower to the higher node
index, as in the paper. A genotype STORES those edges, so a network is rebuilt exactly from its
string without running networkx again (whose generators may change between versions); the
(setting, seed) pair is provenance, and what the search decisions map to.

Canonical string: stage graphs joined by ``|``, each ``<setting>#<seed>:<nodes>:<edges>``
with edges ``u-v`` (u < v) sorted and joined by ``,``, e.g. for two 4-node stages::

    ws(2,0.5)#3:4:0-1,0-3,1-2,2-3|er(0.4)#0:4:1-3

A hand-written graph uses the setting ``custom`` (its seed is then just a label); it is a valid
genotype for building, but not a point of the decision grid.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import product
from typing import ClassVar

from torch import nn

from gtnas.errors import GenotypeError
from gtnas.seeding import derive_seed
from gtnas.spaces.base import (
    SEARCH_SPACES,
    DagDrawing,
    Decision,
    GenotypePicture,
    Norm,
    SearchSpace,
)
from gtnas.spaces.randwire_net import RandWireBlueprint, RandWireNetwork

CUSTOM = "custom"  # the setting of a hand-written graph


@dataclass(frozen=True)
class RandWireConfig:
    """Options of the randwire space: graph size and the grid of generator settings.

    Xie et al. use N=32 nodes and found WS(4, 0.75), ER(0.2) and BA(5) best (mean degree about
    4-10). With our default N=8 (cheap on CPUs) the grids are scaled to give mean degrees from
    about 1.4 (ER 0.2, a sparse forest) to 4.2 (ER 0.6) and 4 (WS K=4): ER P in (0.2, 0.4,
    0.6), BA M in (1, 2, 3), WS K in (2, 4) x P in (0.25, 0.5, 0.75) - 12 settings.
    """

    nodes: int = 8  # nodes per stage graph (the paper's N)
    stages: int = 3  # random-graph stages; each halves H and W and doubles the channels
    er_probabilities: tuple[float, ...] = (0.2, 0.4, 0.6)  # ER: edge probability P
    ba_attachments: tuple[int, ...] = (1, 2, 3)  # BA: edges M from each new node
    ws_neighbours: tuple[int, ...] = (2, 4)  # WS: ring neighbours K (even)
    ws_probabilities: tuple[float, ...] = (0.25, 0.5, 0.75)  # WS: rewiring probability P
    seeds: int = 16  # graph seeds per setting offered as a decision

    def __post_init__(self) -> None:
        if self.nodes < 2:
            raise ValueError(f"randwire nodes must be >= 2, got {self.nodes}")
        if self.stages < 1:
            raise ValueError(f"randwire stages must be >= 1, got {self.stages}")
        if self.seeds < 1:
            raise ValueError(f"randwire seeds must be >= 1, got {self.seeds}")
        for name in ("er_probabilities", "ba_attachments", "ws_neighbours", "ws_probabilities"):
            values = getattr(self, name)
            if len(set(values)) != len(values):
                raise ValueError(f"randwire {name} has repeated values: {values}")
        for p in (*self.er_probabilities, *self.ws_probabilities):
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"randwire probabilities must lie in [0, 1], got {p}")
        for m in self.ba_attachments:
            if not 1 <= m < self.nodes:
                raise ValueError(
                    f"randwire ba_attachments: BA M must be in [1, nodes={self.nodes}), got {m}"
                )
        for k in self.ws_neighbours:
            if k % 2 or not 2 <= k < self.nodes:
                raise ValueError(
                    f"randwire ws_neighbours: WS K must be even and in [2, nodes={self.nodes}), "
                    f"got {k}"
                )
        if not self.settings():
            raise ValueError("randwire needs at least one generator setting (all grids empty)")

    def settings(self) -> tuple[str, ...]:
        """Every generator setting of the grid as a canonical string, ER then BA then WS."""
        return (
            *(format_setting("er", p) for p in self.er_probabilities),
            *(format_setting("ba", m) for m in self.ba_attachments),
            *(
                format_setting("ws", k, p)
                for k, p in product(self.ws_neighbours, self.ws_probabilities)
            ),
        )


@dataclass(frozen=True)
class StageGraph:
    """One stage's wiring: the DAG ``edges`` (u, v), u < v, sorted, over ``nodes`` nodes, and
    the generator ``setting`` (e.g. "ws(4,0.75)", or "custom") and ``seed`` it came from."""

    generator: str
    seed: int
    nodes: int
    edges: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class RandWireGenotype:
    """A randomly wired network's architecture: one graph per stage, in order."""

    stages: tuple[StageGraph, ...]


# -- generator settings ----------------------------------------------------------------------

_SETTING = re.compile(r"(er|ba|ws)\(([^()]*)\)")


def format_setting(family: str, *parameters: float) -> str:
    """The canonical text of a setting: integers for BA M and WS K, ``repr`` for probabilities
    (``format_setting("ws", 4, 0.75) == "ws(4,0.75)"``)."""
    kinds = {"er": (float,), "ba": (int,), "ws": (int, float)}[family]
    return f"{family}({','.join(repr(kind(v)) for kind, v in zip(kinds, parameters, strict=True))})"


def parse_setting(text: str) -> tuple[str, tuple[float, ...]]:
    """``"ws(4,0.75)"`` -> ("ws", (4, 0.75)); :class:`GenotypeError` for anything else."""
    match = _SETTING.fullmatch(text.replace(" ", ""))
    if match is None:
        raise GenotypeError(f"unknown generator {text!r}; write er(P), ba(M), ws(K,P) or {CUSTOM}")
    family, arguments = match.group(1), match.group(2).split(",")
    form = {"er": "er(P)", "ba": "ba(M)", "ws": "ws(K,P)"}[family]
    kinds = {"er": (float,), "ba": (int,), "ws": (int, float)}[family]
    try:
        if len(arguments) != len(kinds):
            raise ValueError
        values = tuple(kind(argument) for kind, argument in zip(kinds, arguments, strict=True))
    except ValueError:
        raise GenotypeError(f"generator {text!r} is malformed; write {form}") from None
    probability = values[-1] if family in ("er", "ws") else 0.0
    count = values[0] if family in ("ba", "ws") else 1
    if not 0.0 <= probability <= 1.0 or count < 1:
        raise GenotypeError(
            f"generator {text!r} is out of range: {form} needs 0 <= P <= 1 and integers M, K >= 1"
        )
    return family, values


def _is_count(text: str) -> bool:
    return re.fullmatch(r"[0-9]+", text) is not None


def canonical_setting(text: str) -> str:
    """``"ws( 4, .75)"`` -> ``"ws(4,0.75)"``; :class:`GenotypeError` if it is no setting."""
    family, values = parse_setting(text)
    return format_setting(family, *values)


def generate_edges(setting: str, seed: int, nodes: int, stage: int) -> tuple[tuple[int, int], ...]:
    """Run networkx for ``setting`` and return the DAG's sorted (u, v), u < v, edges.

    The networkx seed is derived from (setting, seed, stage), so the same decision in two
    stages gives two different graphs, and a genotype's graphs do not depend on the process.
    """
    import networkx as nx

    family, values = parse_setting(setting)
    graph_seed = derive_seed(seed, "randwire", f"stage{stage}", format_setting(family, *values))
    if family == "er":
        graph = nx.erdos_renyi_graph(nodes, values[0], seed=graph_seed)
    elif family == "ba":
        graph = nx.barabasi_albert_graph(nodes, int(values[0]), seed=graph_seed)
    else:
        graph = nx.watts_strogatz_graph(nodes, int(values[0]), values[1], seed=graph_seed)
    return tuple(sorted({(min(u, v), max(u, v)) for u, v in graph.edges() if u != v}))


# -- the space --------------------------------------------------------------------------------


@SEARCH_SPACES.register("randwire", help="randomly wired networks (Xie et al. 2019): ER/BA/WS")
class RandWireSpace(SearchSpace[RandWireGenotype]):
    """Per stage two decisions, ``stage{i}.generator`` (a setting of the grid) and
    ``stage{i}.seed``; the genotype stores the graphs those give."""

    name: ClassVar[str] = "randwire"
    Config: ClassVar[type] = RandWireConfig
    Blueprint: ClassVar[type] = RandWireBlueprint
    # Forward + backward of a batch of 128 1x28x28 images, 3 stages of 8 nodes wired ws(4,0.75),
    # weight-normalised, one busy CPU thread (2 threads were unusable on the shared 2-core
    # machine): C=8 0.22 s (14k parameters, 0.5 M multiply-adds per image), C=16 0.34 s (46k,
    # 1.5 M), C=24 0.48 s (96k, 3.2 M), C=32 0.59 s (164k, 5.3 M), C=48 0.86 s (354k, 11 M).
    # The GTN paper's conv learner (64, 128) took 0.52 s and NAS-Bench-201's "search" 0.57-0.70 s
    # in the same conditions, so "search" (C=24) costs about as much as they do; "final" doubles
    # the width (about 4x the multiply-adds) for training on real data.
    blueprints: ClassVar[dict[str, RandWireBlueprint]] = {
        "tiny": RandWireBlueprint(channels=8),  # for tests
        "search": RandWireBlueprint(channels=24),
        "final": RandWireBlueprint(channels=48),
    }
    ops: ClassVar[tuple[str, ...]] = ("sep_conv_3x3",)
    config: RandWireConfig

    def decisions(self) -> list[Decision]:
        settings = self.config.settings()
        seeds = tuple(range(self.config.seeds))
        decisions = []
        for i in range(self.config.stages):
            decisions += [
                Decision(f"stage{i}.generator", settings),
                Decision(f"stage{i}.seed", seeds),
            ]
        return decisions

    def from_decisions(self, indices: Sequence[int]) -> RandWireGenotype:
        decisions = self.decisions()
        if len(indices) != len(decisions):
            raise GenotypeError(f"randwire needs {len(decisions)} decisions, got {len(indices)}")
        stages = []
        for i in range(self.config.stages):
            setting_index, seed_index = indices[2 * i], indices[2 * i + 1]
            for decision, index in (
                (decisions[2 * i], setting_index),
                (decisions[2 * i + 1], seed_index),
            ):
                if not 0 <= index < len(decision):
                    raise GenotypeError(
                        f"decision {decision.name} index {index} is out of range "
                        f"[0, {len(decision)})"
                    )
            setting = decisions[2 * i].options[setting_index]
            seed = decisions[2 * i + 1].options[seed_index]
            edges = generate_edges(setting, seed, self.config.nodes, stage=i)
            stages.append(StageGraph(setting, seed, self.config.nodes, edges))
        genotype = RandWireGenotype(tuple(stages))
        self.validate(genotype)
        return genotype

    def to_decisions(self, genotype: RandWireGenotype) -> list[int]:
        self.validate(genotype)
        settings = self.config.settings()
        indices = []
        for i, stage in enumerate(genotype.stages):
            if stage.generator not in settings:
                raise GenotypeError(
                    f"stage {i} generator {stage.generator!r} is not one of this space's "
                    f"settings ({', '.join(settings)}), so it has no decisions"
                )
            if not 0 <= stage.seed < self.config.seeds:
                raise GenotypeError(
                    f"stage {i} seed {stage.seed} is outside this space's seeds "
                    f"[0, {self.config.seeds})"
                )
            indices += [settings.index(stage.generator), stage.seed]
        return indices

    # -- text -------------------------------------------------------------------------------
    def to_string(self, genotype: RandWireGenotype) -> str:
        return "|".join(
            f"{s.generator}#{s.seed}:{s.nodes}:{','.join(f'{u}-{v}' for u, v in s.edges)}"
            for s in genotype.stages
        )

    def parse(self, text: str) -> RandWireGenotype:
        stages = []
        for i, part in enumerate(text.strip().split("|")):
            setting, hash_sign, rest = part.partition("#")
            setting = setting.strip()
            fields = rest.split(":")
            if not hash_sign or len(fields) != 3:
                raise GenotypeError(
                    f"randwire stage {i} {part!r} is malformed; write "
                    "<setting>#<seed>:<nodes>:<u-v,...>, e.g. ws(4,0.75)#3:8:0-1,1-2"
                )
            seed_text, nodes_text, edges_text = fields
            if not (_is_count(seed_text) and _is_count(nodes_text)):
                raise GenotypeError(
                    f"randwire stage {i}: seed {seed_text!r} and node count {nodes_text!r} "
                    "must be non-negative integers"
                )
            edges = []
            for edge in filter(None, edges_text.split(",")):
                u, dash, v = edge.partition("-")
                if not (dash and _is_count(u) and _is_count(v)):
                    raise GenotypeError(
                        f"randwire stage {i}: edge {edge!r} is malformed; write u-v, e.g. 0-3"
                    )
                edges.append((int(u), int(v)))
            if setting != CUSTOM:
                setting = canonical_setting(setting)
            # the canonical form lists edges sorted; duplicates are kept for validate to name
            stages.append(
                StageGraph(setting, int(seed_text), int(nodes_text), tuple(sorted(edges)))
            )
        genotype = RandWireGenotype(tuple(stages))
        self.validate(genotype)
        return genotype

    def validate(self, genotype: RandWireGenotype) -> None:
        """Structure only: stage count, node counts, edge indices and order, known setting
        syntax. Edges need not be what the setting's generator gives (hand-written graphs)."""
        if not isinstance(genotype, RandWireGenotype):
            raise GenotypeError(f"not a randwire genotype: {genotype!r}")
        if len(genotype.stages) != self.config.stages:
            raise GenotypeError(
                f"randwire genotype has {len(genotype.stages)} stages, the space has "
                f"{self.config.stages} (set the option stages={len(genotype.stages)} to use it)"
            )
        for i, stage in enumerate(genotype.stages):
            if stage.generator != CUSTOM and canonical_setting(stage.generator) != stage.generator:
                raise GenotypeError(
                    f"stage {i} generator {stage.generator!r} is not in canonical form "
                    f"{canonical_setting(stage.generator)!r}"
                )
            if stage.seed < 0:
                raise GenotypeError(f"stage {i} seed must be >= 0, got {stage.seed}")
            if stage.nodes != self.config.nodes:
                raise GenotypeError(
                    f"stage {i} has {stage.nodes} nodes, the space has {self.config.nodes} "
                    f"(set the option nodes={stage.nodes} to use it)"
                )
            for u, v in stage.edges:
                for node in (u, v):
                    if not 0 <= node < stage.nodes:
                        raise GenotypeError(
                            f"stage {i} edge {u}-{v}: bad node index {node}, nodes are "
                            f"0..{stage.nodes - 1}"
                        )
                if u >= v:
                    raise GenotypeError(
                        f"stage {i} edge {u}-{v} must go from the lower to the higher node "
                        "index (u < v), which is what makes the graph acyclic"
                    )
            for a, b in zip(stage.edges, stage.edges[1:], strict=False):
                if a == b:
                    raise GenotypeError(f"stage {i} has the duplicate edge {a[0]}-{a[1]}")
                if a > b:
                    raise GenotypeError(f"stage {i} edges must be sorted; {a} comes after {b}")

    # -- networks ---------------------------------------------------------------------------
    def _network(
        self,
        genotype: RandWireGenotype,
        image_shape: tuple[int, int, int],
        num_classes: int,
        blueprint: RandWireBlueprint,
        norm: Norm,
    ) -> nn.Module:
        stages = [(stage.nodes, stage.edges) for stage in genotype.stages]
        return RandWireNetwork(stages, image_shape, num_classes, blueprint, norm=norm)

    def picture(self, genotype: RandWireGenotype) -> GenotypePicture:
        """One DAG per stage, with the paper's implicit input and output nodes drawn as "in"
        and "out": dashed edges feed the input nodes from the stage input and average the
        output nodes into the stage output."""
        self.validate(genotype)
        drawings = []
        for i, stage in enumerate(genotype.stages):
            # drawing node 0 is "in", graph node k is drawing node k + 1, the last is "out"
            out = stage.nodes + 1
            has_predecessor = {v for _, v in stage.edges}
            has_successor = {u for u, _ in stage.edges}
            feeds = [(0, k + 1, "") for k in range(stage.nodes) if k not in has_predecessor]
            averaged = [(k + 1, out, "") for k in range(stage.nodes) if k not in has_successor]
            wiring = [(u + 1, v + 1, "") for u, v in stage.edges]
            drawings.append(
                DagDrawing(
                    title=f"stage {i}: {stage.generator} seed {stage.seed}",
                    nodes=("in", *map(str, range(stage.nodes)), "out"),
                    edges=(*feeds, *wiring, *averaged),
                    dashed=frozenset((u, v) for u, v, _ in (*feeds, *averaged)),
                )
            )
        return GenotypePicture(f"randwire, {len(drawings)} stages", tuple(drawings))
