"""The randwire space against independent references: networkx itself and the graphs whose
shape is known in closed form (ring lattices, complete and empty graphs, Barabasi-Albert edge
counts), hand-written strings, hand-counted parameters and a hand-wired stage."""

from __future__ import annotations

import json
from pathlib import Path

import networkx as nx
import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

from gtnas.errors import ConfigError, GenotypeError
from gtnas.learners.layers import init_learner
from gtnas.reports.graphs import draw_genotype
from gtnas.seeding import derive_seed
from gtnas.spaces import SEARCH_SPACES, create_space, genotype_from_json, parse_genotype
from gtnas.spaces.randwire import (
    RandWireConfig,
    RandWireGenotype,
    RandWireSpace,
    StageGraph,
)
from pictures import assert_picture

# A hand-written 2-stage genotype of 4-node graphs: stage 0 has input nodes 0 and 1 (no
# predecessors) and output node 3; stage 1 has input node 0 and output node 3.
SMALL = "custom#0:4:0-2,1-2,2-3|ws(2,0.5)#1:4:0-1,0-3,1-2,2-3"
SMALL_OPTIONS = {"nodes": 4, "stages": 2, "ws_neighbours": [2]}  # K = 4 needs 5+ nodes


@pytest.fixture
def space() -> RandWireSpace:
    return RandWireSpace()


@pytest.fixture
def small() -> RandWireSpace:
    return create_space("randwire", SMALL_OPTIONS)


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _parameters(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# ----- generators and decisions --------------------------------------------------------------


def test_decisions_are_a_setting_and_a_seed_per_stage(space: RandWireSpace) -> None:
    decisions = space.decisions()
    assert [d.name for d in decisions] == [
        "stage0.generator", "stage0.seed", "stage1.generator", "stage1.seed",
        "stage2.generator", "stage2.seed",
    ]  # fmt: skip
    assert decisions[0].options == (
        "er(0.2)", "er(0.4)", "er(0.6)", "ba(1)", "ba(2)", "ba(3)",
        "ws(2,0.25)", "ws(2,0.5)", "ws(2,0.75)", "ws(4,0.25)", "ws(4,0.5)", "ws(4,0.75)",
    )  # fmt: skip
    assert decisions[1].options == tuple(range(16))
    assert space.describe()["decisions"] == 6


# The default grid, each setting with the networkx generator and arguments it stands for.
GRID = [
    ("er(0.2)", nx.erdos_renyi_graph, (0.2,)),
    ("er(0.4)", nx.erdos_renyi_graph, (0.4,)),
    ("er(0.6)", nx.erdos_renyi_graph, (0.6,)),
    ("ba(1)", nx.barabasi_albert_graph, (1,)),
    ("ba(2)", nx.barabasi_albert_graph, (2,)),
    ("ba(3)", nx.barabasi_albert_graph, (3,)),
    *((f"ws({k},{p})", nx.watts_strogatz_graph, (k, p)) for k in (2, 4) for p in (0.25, 0.5, 0.75)),
]


@pytest.mark.parametrize(("setting", "make", "arguments"), GRID)
def test_every_setting_gives_the_networkx_graph_as_a_dag(
    space: RandWireSpace, setting: str, make: object, arguments: tuple
) -> None:
    index = space.config.settings().index(setting)
    graphs = set()
    for seed in (0, 5, 15):
        genotype = space.from_decisions([index, seed] * 3)
        for stage_index, stage in enumerate(genotype.stages):
            assert (stage.generator, stage.seed, stage.nodes) == (setting, seed, 8)
            assert all(u < v for u, v in stage.edges)  # oriented low -> high: acyclic
            assert list(stage.edges) == sorted(set(stage.edges))
            # the same graph straight from networkx, as undirected edges
            graph_seed = derive_seed(seed, "randwire", f"stage{stage_index}", setting)
            graph = make(8, *arguments, seed=graph_seed)
            assert {frozenset(e) for e in graph.edges()} == {frozenset(e) for e in stage.edges}
            if setting.startswith("ba"):  # a star of M + 1 nodes, then M edges per further node
                m = arguments[0]
                assert len(stage.edges) == m + m * (8 - m - 1)
            if setting.startswith("ws"):  # rewiring moves edges but keeps N * K / 2 of them
                assert len(stage.edges) == 8 * arguments[0] // 2
            graphs.add(stage.edges)
    # seed and stage both enter the graph seed: 9 (seed, stage) pairs, several graphs
    assert len(graphs) > 1


def test_graphs_known_in_closed_form() -> None:
    space = RandWireSpace(
        RandWireConfig(
            nodes=6,
            stages=1,
            er_probabilities=(0.0, 1.0),
            ba_attachments=(),
            ws_neighbours=(2, 4),
            ws_probabilities=(0.0,),
            seeds=2,
        )
    )
    assert space.config.settings() == ("er(0.0)", "er(1.0)", "ws(2,0.0)", "ws(4,0.0)")
    graphs = [space.from_decisions([i, 1]).stages[0].edges for i in range(4)]
    assert graphs[0] == ()  # P = 0: no edges
    assert graphs[1] == tuple((u, v) for u in range(6) for v in range(u + 1, 6))  # P = 1: all
    # unrewired ring lattices, oriented low -> high: the ring's closing edge becomes 0-5
    assert graphs[2] == ((0, 1), (0, 5), (1, 2), (2, 3), (3, 4), (4, 5))
    assert graphs[3] == (
        (0, 1), (0, 2), (0, 4), (0, 5), (1, 2), (1, 3), (1, 5),
        (2, 3), (2, 4), (3, 4), (3, 5), (4, 5),
    )  # fmt: skip


def test_sample_is_seeded_and_valid(space: RandWireSpace) -> None:
    first = [space.sample(_generator(seed)) for seed in range(20)]
    assert first == [space.sample(_generator(seed)) for seed in range(20)]
    assert len(set(first)) == 20
    for genotype in first:
        space.validate(genotype)
        assert space.parse(space.to_string(genotype)) == genotype
        assert space.from_decisions(space.to_decisions(genotype)) == genotype
    generators = {stage.generator for genotype in first for stage in genotype.stages}
    assert {g[:2] for g in generators} == {"er", "ba", "ws"}


def test_mutate_changes_exactly_one_decision(space: RandWireSpace) -> None:
    for seed in range(100):
        generator = _generator(seed)
        parent = space.sample(generator)
        child = space.mutate(parent, generator)
        space.validate(child)
        assert child != parent
        before, after = space.to_decisions(parent), space.to_decisions(child)
        assert sum(a != b for a, b in zip(before, after, strict=True)) == 1


def test_decisions_refuse_what_is_not_on_the_grid(
    space: RandWireSpace, small: RandWireSpace
) -> None:
    with pytest.raises(GenotypeError, match="'custom' is not one of this space's settings"):
        small.to_decisions(small.parse(SMALL))
    off_grid = small.parse(SMALL.replace("custom#0", "er(0.9)#0"))
    with pytest.raises(GenotypeError, match=r"'er\(0.9\)' is not one of"):
        small.to_decisions(off_grid)
    with pytest.raises(GenotypeError, match=r"seed 99 is outside this space's seeds \[0, 16\)"):
        small.to_decisions(small.parse("er(0.2)#99:4:|er(0.2)#0:4:"))
    with pytest.raises(GenotypeError, match="6 decisions"):
        space.from_decisions([0, 0])
    with pytest.raises(GenotypeError, match=r"stage1.seed index 16 is out of range \[0, 16\)"):
        space.from_decisions([0, 0, 0, 16, 0, 0])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"ba_attachments": [8]}, r"BA M must be in \[1, nodes=8\)"),
        ({"ws_neighbours": [3]}, "WS K must be even"),
        ({"nodes": 4}, r"ws_neighbours: WS K must be even and in \[2, nodes=4\), got 4"),
        ({"er_probabilities": [1.5]}, r"probabilities must lie in \[0, 1\]"),
        ({"er_probabilities": [0.2, 0.2]}, "repeated values"),
        ({"seeds": 0}, "seeds must be >= 1"),
        ({"er_probabilities": [], "ba_attachments": [], "ws_neighbours": []}, "at least one"),
        ({"edges": 3}, "unknown config key"),
    ],
)
def test_bad_options_are_refused(options: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        create_space("randwire", options)


# ----- strings and envelopes -----------------------------------------------------------------


def test_hand_written_string_round_trips(small: RandWireSpace) -> None:
    genotype = small.parse(SMALL)
    assert genotype == RandWireGenotype(
        (
            StageGraph("custom", 0, 4, ((0, 2), (1, 2), (2, 3))),
            StageGraph("ws(2,0.5)", 1, 4, ((0, 1), (0, 3), (1, 2), (2, 3))),
        )
    )
    assert small.to_string(genotype) == SMALL
    # unsorted edges and loose setting text are read into the canonical form
    loose = " custom#0:4:2-3,0-2,1-2| ws( 2, .50 )#1:4:2-3,1-2,0-3,0-1\n"
    assert small.parse(loose) == genotype
    assert small.parse("er(0.2)#0:4:|ba(1)#2:4:0-1").stages[0].edges == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("custom#0:4:0-4|custom#0:4:", "bad node index 4, nodes are 0..3"),
        ("custom#0:4:|custom#0:4:2-1", "edge 2-1 must go from the lower to the higher"),
        ("custom#0:4:1-1|custom#0:4:", "edge 1-1 must go from the lower"),
        ("custom#0:4:0-1,1-2,0-1|custom#0:4:", "duplicate edge 0-1"),
        ("custom#0:5:0-1|custom#0:4:", "stage 0 has 5 nodes, the space has 4"),
        ("custom#0:4:0-1", "1 stages, the space has 2"),
        ("custom#0:4:|custom#0:4:|custom#0:4:", "3 stages, the space has 2"),
        ("gnp(0.2)#0:4:|custom#0:4:", r"unknown generator 'gnp\(0.2\)'"),
        ("ws(2)#0:4:|custom#0:4:", r"generator 'ws\(2\)' is malformed; write ws\(K,P\)"),
        ("ba(0.5)#0:4:|custom#0:4:", r"write ba\(M\)"),
        ("er(1.5)#0:4:|custom#0:4:", r"'er\(1.5\)' is out of range"),
        ("ba(0)#0:4:|custom#0:4:", r"'ba\(0\)' is out of range"),
        ("custom:0:4:0-1|custom#0:4:", "stage 0 'custom:0:4:0-1' is malformed"),
        ("custom#0:4|custom#0:4:", "malformed"),
        ("custom#0:4:0-1:2|custom#0:4:", "malformed"),
        ("custom#x:4:|custom#0:4:", "must be non-negative integers"),
        ("custom#0:-4:|custom#0:4:", "must be non-negative integers"),
        ("custom#0:4:0_1|custom#0:4:", "edge '0_1' is malformed"),
        ("custom#0:4:0-|custom#0:4:", "edge '0-' is malformed"),
        ("", "malformed"),
    ],
)
def test_bad_strings_name_the_problem(small: RandWireSpace, text: str, message: str) -> None:
    with pytest.raises(GenotypeError, match=message):
        small.parse(text)


def test_validate_refuses_non_canonical_genotypes(small: RandWireSpace) -> None:
    with pytest.raises(GenotypeError, match="edges must be sorted"):
        small.validate(RandWireGenotype((StageGraph("custom", 0, 4, ((1, 2), (0, 1))),) * 2))
    with pytest.raises(GenotypeError, match=r"not in canonical form 'er\(0.5\)'"):
        small.validate(RandWireGenotype((StageGraph("er(.5)", 0, 4, ()),) * 2))


def test_json_envelope_and_prefixed_string(space: RandWireSpace, tmp_path: Path) -> None:
    assert "randwire" in SEARCH_SPACES and isinstance(create_space("randwire"), RandWireSpace)
    genotype = space.sample(_generator(3))
    envelope = json.loads(json.dumps(space.to_json(genotype)))
    assert envelope["space"] == "randwire" and envelope["options"]["nodes"] == 8
    assert genotype_from_json(envelope)[1] == genotype
    assert parse_genotype(space.format(genotype))[1] == genotype
    assert space.format(genotype).startswith("randwire:")
    path = tmp_path / "genotype.json"
    path.write_text(json.dumps(envelope))
    assert parse_genotype(str(path))[1] == genotype

    # non-default options travel in the envelope and give back the same space and genotype
    options = {**SMALL_OPTIONS, "seeds": 3, "ba_attachments": [1, 2], "ws_neighbours": [2]}
    custom = create_space("randwire", options)
    sampled = custom.sample(_generator(0))
    loaded_space, loaded = genotype_from_json(json.loads(json.dumps(custom.to_json(sampled))))
    assert loaded_space.config == custom.config and loaded == sampled
    with pytest.raises(GenotypeError, match="2 stages, the space has 3"):
        parse_genotype(custom.format(sampled))


# ----- networks ------------------------------------------------------------------------------


@pytest.mark.parametrize("norm", ["bn", "wn"])
@pytest.mark.parametrize("image_shape", [(1, 28, 28), (3, 32, 32)])
def test_forward_backward_is_finite(
    space: RandWireSpace, norm: str, image_shape: tuple[int, int, int]
) -> None:
    net = space.build(space.sample(_generator(1)), image_shape, 10, norm=norm, blueprint="tiny")
    init_learner(net, _generator(0))
    batch = 4 if image_shape[0] == 1 else 2
    logits = net(torch.randn(batch, *image_shape, generator=_generator(1)))
    assert logits.shape == (batch, 10) and torch.isfinite(logits).all()
    F.cross_entropy(logits, torch.arange(batch)).backward()
    for name, parameter in net.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), name
    # every stage halves H and W (rounding up) and doubles the channels (4 -> 8 -> 16 -> 32):
    # 28 -> 14 -> 7 -> 4 and 32 -> 16 -> 8 -> 4
    features = net.stages(net.stem(torch.randn(batch, *image_shape)))
    assert features.shape == (batch, 32, 4, 4)


def test_init_learner_is_seeded_and_keeps_edge_weights_at_one_half(space: RandWireSpace) -> None:
    genotype = space.sample(_generator(2))
    for norm in ("bn", "wn"):
        nets = [space.build(genotype, (1, 28, 28), 10, norm=norm, blueprint="tiny") for _ in "ab"]
        a, b = (init_learner(net, _generator(7)) for net in nets)
        for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
            assert torch.equal(x, y), name
        logits = [p for n, p in a.named_parameters() if n.endswith("edge_logits")]
        assert logits and all(torch.equal(p, torch.zeros_like(p)) for p in logits)
        other = init_learner(nets[0], _generator(8))  # a different seed, other weights
        stem_weight = next(other.stem[0].parameters())
        assert not torch.equal(stem_weight, next(b.stem[0].parameters()))


def test_stored_edges_rebuild_the_same_network(
    space: RandWireSpace, monkeypatch: pytest.MonkeyPatch
) -> None:
    genotype = space.sample(_generator(4))
    text = space.to_string(genotype)

    def no_generator(*args: object, **kwargs: object) -> None:
        raise AssertionError("the genotype's graphs must not be generated again")

    for name in ("erdos_renyi_graph", "barabasi_albert_graph", "watts_strogatz_graph"):
        monkeypatch.setattr(nx, name, no_generator)
    rebuilt = space.parse(text)
    assert rebuilt == genotype
    images = torch.randn(4, 1, 28, 28, generator=_generator(5))
    for norm in ("bn", "wn"):
        a = init_learner(
            space.build(genotype, (1, 28, 28), 10, norm=norm, blueprint="tiny"), _generator(3)
        )
        b = init_learner(
            space.build(rebuilt, (1, 28, 28), 10, norm=norm, blueprint="tiny"), _generator(3)
        )
        assert {k: v.shape for k, v in a.state_dict().items()} == {
            k: v.shape for k, v in b.state_dict().items()
        }
        assert torch.equal(a(images), b(images))


def test_bn_parameter_count_by_hand(small: RandWireSpace) -> None:
    """SMALL at the tiny blueprint (C = 8), a 1-channel image and 10 classes, counted from the
    layer shapes: convs have no bias, a BatchNorm has a weight and a bias, and every edge into a
    node has one aggregation logit."""

    def node(c_in: int, c_out: int, in_degree: int) -> int:
        depthwise, pointwise, norm = c_in * 3 * 3, c_in * c_out, 2 * c_out
        return in_degree + depthwise + pointwise + norm

    stem = 1 * 4 * 3 * 3 + 2 * 4  # 3x3 conv to C/2 = 4 channels, BatchNorm
    # stage 0 (4 -> 8 channels): input nodes 0 and 1, node 2 <- 0, 1, node 3 <- 2
    stage0 = node(4, 8, 0) + node(4, 8, 0) + node(8, 8, 2) + node(8, 8, 1)
    # stage 1 (8 -> 16): input node 0, node 1 <- 0, node 2 <- 1, node 3 <- 0, 2
    stage1 = node(8, 16, 0) + node(16, 16, 1) + node(16, 16, 1) + node(16, 16, 2)
    head = 16 * 10 + 10
    expected = stem + stage0 + stage1 + head
    assert expected == 2221
    net = small.build(small.parse(SMALL), (1, 28, 28), 10, norm="bn", blueprint="tiny")
    assert _parameters(net) == expected


def test_stage_is_wired_as_in_the_paper() -> None:
    """Stage 0 of a 3-node graph with edges 0-2 and 1-2: nodes 0 and 1 read the stage input,
    node 2 = op(sigmoid(w0) * node0 + sigmoid(w1) * node1) is the only output. With the edge
    1-2 alone, node 0 is isolated (an input and an output), so the stage output is the plain
    mean of node 0 and node 2."""
    space = create_space(
        "randwire", {"nodes": 3, "stages": 1, "ba_attachments": [1, 2], "ws_neighbours": [2]}
    )
    x = torch.randn(2, 4, 9, 9, generator=_generator(6))
    for norm in ("bn", "wn"):
        net = space.build(
            space.parse("custom#0:3:0-2,1-2"), (1, 9, 9), 10, norm=norm, blueprint="tiny"
        )
        init_learner(net, _generator(0))
        stage = net.stages[0]
        with torch.no_grad():
            stage.nodes[2].edge_logits.copy_(torch.tensor([0.3, -1.2]))
        node0, node1 = stage.nodes[0].op(x), stage.nodes[1].op(x)
        assert node0.shape == (2, 8, 5, 5)  # input nodes: stride 2, C/2 -> C
        expected = stage.nodes[2].op(
            torch.sigmoid(torch.tensor(0.3)) * node0 + torch.sigmoid(torch.tensor(-1.2)) * node1
        )
        torch.testing.assert_close(stage(x), expected)

        net = space.build(space.parse("custom#0:3:1-2"), (1, 9, 9), 10, norm=norm, blueprint="tiny")
        init_learner(net, _generator(0))
        stage = net.stages[0]
        node0, node1 = stage.nodes[0].op(x), stage.nodes[1].op(x)
        expected = (node0 + stage.nodes[2].op(0.5 * node1)) / 2
        torch.testing.assert_close(stage(x), expected)


def test_functional_call_with_a_parameter_dict(space: RandWireSpace) -> None:
    net = space.build(space.sample(_generator(9)), (1, 28, 28), 10, norm="wn", blueprint="tiny")
    init_learner(net, _generator(0))
    images = torch.randn(4, 1, 28, 28, generator=_generator(1))
    params = {name: p.detach().clone().requires_grad_() for name, p in net.named_parameters()}
    logits = functional_call(net, params, (images,))
    torch.testing.assert_close(logits, net(images))
    edge_names = [name for name in params if name.endswith("edge_logits")]
    gradients = torch.autograd.grad(F.cross_entropy(logits, torch.arange(4)), list(params.values()))
    assert all(torch.isfinite(g).all() for g in gradients)
    assert any(gradients[list(params).index(name)].abs().sum() > 0 for name in edge_names)
    # the dict, not the module's own tensors, is what the network computes with
    shifted = {**params, edge_names[0]: params[edge_names[0]] + 3.0}
    assert not torch.allclose(functional_call(net, shifted, (images,)), logits)


def test_draw_writes_a_png(small: RandWireSpace, tmp_path: Path) -> None:
    path = draw_genotype(small, small.parse(SMALL), tmp_path / "wiring.png")
    assert_picture(path)
