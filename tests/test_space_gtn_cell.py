"""The gtn-cell search space: genotypes, strings, decisions, mutation and the built networks."""

from __future__ import annotations

import json
from collections import Counter

import pytest
import torch
from torch.func import functional_call

from gtnas.errors import ConfigError, GenotypeError
from gtnas.learners.layers import init_learner
from gtnas.reports.graphs import draw_genotype
from gtnas.spaces import create_space, genotype_from_json, parse_genotype
from gtnas.spaces.gtn_cell import GtnCellConfig, GtnCellGenotype, GtnCellSpace, NodeSpec
from gtnas.spaces.gtn_cell_net import OPS, GtnCellBlueprint
from pictures import assert_picture

# A fixed genotype used throughout; its normal cell leaves nodes 5 and 6 unused (two output
# nodes), its reduction cell only node 6.
NORMAL = (
    (0, "conv_3x3", 1, "identity"),
    (1, "max_pool_3x3", 2, "conv_1x1"),
    (2, "avg_pool_2x2", 3, "conv_1x3_3x1"),
    (0, "identity", 4, "max_pool_5x5"),
    (3, "avg_pool_3x3", 4, "conv_1x7_7x1"),
)
REDUCE = (
    (0, "identity", 1, "conv_1x1"),
    (0, "max_pool_2x2", 2, "conv_3x3"),
    (1, "conv_1x7_7x1", 3, "identity"),
    (2, "avg_pool_5x5", 4, "identity"),
    (1, "identity", 5, "conv_1x3_3x1"),
)
FIXED_STRING = (
    "normal=0:conv_3x3+1:identity,1:max_pool_3x3+2:conv_1x1,2:avg_pool_2x2+3:conv_1x3_3x1,"
    "0:identity+4:max_pool_5x5,3:avg_pool_3x3+4:conv_1x7_7x1;"
    "reduce=0:identity+1:conv_1x1,0:max_pool_2x2+2:conv_3x3,1:conv_1x7_7x1+3:identity,"
    "2:avg_pool_5x5+4:identity,1:identity+5:conv_1x3_3x1"
)


@pytest.fixture
def space() -> GtnCellSpace:
    return GtnCellSpace()


@pytest.fixture
def fixed() -> GtnCellGenotype:
    return GtnCellGenotype(normal=NORMAL, reduce=REDUCE)


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_registered_with_the_paper_op_set(space: GtnCellSpace) -> None:
    assert create_space("gtn-cell").name == "gtn-cell"
    assert len(OPS) == 11 and OPS[0] == "identity" and OPS[-1] == "avg_pool_5x5"
    assert {"tiny", "search", "final", "paper-search"} <= set(space.blueprints)
    assert space.blueprints["paper-search"] == GtnCellBlueprint(channels=32, cells_per_stage=3)


def test_fixed_genotype_has_the_documented_string(space, fixed) -> None:
    assert space.to_string(fixed) == FIXED_STRING
    assert space.parse(FIXED_STRING) == fixed


def test_swapped_pairs_give_the_same_genotype_string_and_hash(space, fixed) -> None:
    swapped_normal = tuple((b, op_b, a, op_a) for a, op_a, b, op_b in NORMAL)
    swapped = GtnCellGenotype(normal=swapped_normal, reduce=REDUCE)
    assert swapped == fixed and hash(swapped) == hash(fixed)
    assert space.to_string(swapped) == FIXED_STRING
    # parse accepts either order, and same-input pairs are ordered by the op's place in OPS
    assert space.parse(FIXED_STRING.replace("0:conv_3x3+1:identity", "1:identity+0:conv_3x3"))
    node = GtnCellGenotype(normal=((0, "max_pool_3x3", 0, "conv_1x1"),), reduce=()).normal[0]
    assert node == NodeSpec(0, "conv_1x1", 0, "max_pool_3x3")


def test_seeded_sampling_is_deterministic_and_valid(space) -> None:
    first = [space.sample(generator(seed)) for seed in range(20)]
    again = [space.sample(generator(seed)) for seed in range(20)]
    assert first == again
    assert len(set(first)) == 20
    for genotype in first:
        space.validate(genotype)
        assert len(genotype.normal) == len(genotype.reduce) == 5


def test_string_and_json_round_trips(space) -> None:
    for seed in range(30):
        genotype = space.sample(generator(seed))
        text = space.to_string(genotype)
        assert space.parse(text) == genotype
        envelope = json.loads(json.dumps(space.to_json(genotype)))
        assert envelope == {"space": "gtn-cell", "genotype": text, "options": {"nodes": 5}}
        parsed_space, parsed = genotype_from_json(envelope)
        assert parsed_space.name == "gtn-cell" and parsed == genotype
        parsed_space, parsed = parse_genotype(f"gtn-cell:{text}")
        assert parsed == genotype
        assert space.format(genotype) == f"gtn-cell:{text}"


def test_genotype_file_round_trip(space, fixed, tmp_path) -> None:
    path = tmp_path / "genotype.json"
    path.write_text(json.dumps(space.to_json(fixed)))
    assert parse_genotype(str(path))[1] == fixed


def test_decisions_round_trip_and_names(space, fixed) -> None:
    decisions = space.decisions()
    assert len(decisions) == 2 * 5 * 4
    assert decisions[0].name == "normal.node2.input_a" and decisions[0].options == (0, 1)
    assert decisions[1].name == "normal.node2.op_a" and decisions[1].options == OPS
    assert decisions[-1].name == "reduce.node6.op_b"
    assert decisions[-2].options == (0, 1, 2, 3, 4, 5)
    assert space.from_decisions(space.to_decisions(fixed)) == fixed
    # node 2 of the normal cell is (0, conv_3x3, 1, identity): decision indices 0, 2, 1, 0
    assert space.to_decisions(fixed)[:4] == [0, 2, 1, 0]
    # unsorted decision values give the sorted genotype; going back gives the sorted indices
    unsorted = space.to_decisions(fixed)
    unsorted[:4] = [1, 0, 0, 2]
    assert space.from_decisions(unsorted) == fixed


def test_encode_length_is_the_sum_of_option_counts(space, fixed) -> None:
    # per cell: node k has 2 input decisions of k options and 2 op decisions of 11
    per_cell = sum(2 * k + 2 * 11 for k in range(2, 7))
    encoding = space.encode(fixed)
    assert encoding.shape == (2 * per_cell,) == (300,)
    assert encoding.sum() == 40  # one hot per decision


def test_mutate_always_gives_a_valid_different_genotype(space) -> None:
    for seed in range(200):
        gen = generator(seed)
        parent = space.sample(gen)
        child = space.mutate(parent, gen)
        space.validate(child)
        assert child != parent and space.to_string(child) != space.to_string(parent)
        # exactly one node of one cell changes, and in it exactly one (input, op) pair
        changed = [
            (old, new)
            for cell in ("normal", "reduce")
            for old, new in zip(getattr(parent, cell), getattr(child, cell), strict=True)
            if old != new
        ]
        assert len(changed) == 1
        old, new = changed[0]
        old_pairs = Counter([(old.input_a, old.op_a), (old.input_b, old.op_b)])
        new_pairs = Counter([(new.input_a, new.op_a), (new.input_b, new.op_b)])
        assert sum((old_pairs & new_pairs).values()) == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            FIXED_STRING.replace("0:max_pool_2x2+2:conv_3x3", "0:max_pool_2x2+6:conv_3x3"),
            "reduce cell node 3: input 6 out of range (node 3 can take inputs 0..2)",
        ),
        (
            FIXED_STRING.replace("0:conv_3x3", "0:conv_5x5"),
            "normal cell node 2: unknown op 'conv_5x5'; choose one of: identity, conv_1x1,",
        ),
        (
            FIXED_STRING.replace(",3:avg_pool_3x3+4:conv_1x7_7x1;", ";"),
            "normal cell has 4 nodes; the space has 5",
        ),
        (
            FIXED_STRING.replace("1:max_pool_3x3+2:conv_1x1", "1:max_pool_3x3"),
            "normal cell node 3: expected '<input>:<op>+<input>:<op>', got '1:max_pool_3x3'",
        ),
        (
            FIXED_STRING.replace("2:avg_pool_5x5", "x:avg_pool_5x5"),
            "reduce cell node 5: input 'x' is not a non-negative integer",
        ),
        (FIXED_STRING.split(";")[0], "gtn-cell genotype has no reduce cell"),
        (FIXED_STRING.replace("reduce=", "reduction="), "should start with 'normal=' or"),
        (FIXED_STRING + ";" + FIXED_STRING.split(";")[0], "gives the normal cell twice"),
    ],
)
def test_invalid_strings_name_the_bad_field(space, text: str, message: str) -> None:
    with pytest.raises(GenotypeError) as info:
        space.parse(text)
    assert message in str(info.value)


def test_invalid_genotypes_and_decisions_are_rejected(space, fixed) -> None:
    with pytest.raises(GenotypeError, match="reduce cell node 2: input 2 out of range"):
        space.validate(GtnCellGenotype(NORMAL, ((2, "identity", 0, "identity"), *REDUCE[1:])))
    with pytest.raises(GenotypeError, match="normal cell node 2: inputs must be integers"):
        GtnCellGenotype(normal=(("0", "identity", 1, "identity"),), reduce=REDUCE)
    with pytest.raises(GenotypeError, match="takes 40 decisions, got 3"):
        space.from_decisions([0, 0, 0])
    indices = space.to_decisions(fixed)
    indices[1] = 11
    with pytest.raises(GenotypeError, match=r"decision normal.node2.op_a: index 11 out of range"):
        space.from_decisions(indices)
    with pytest.raises(GenotypeError, match="must start with its space"):
        parse_genotype("gtn_cell:" + FIXED_STRING)
    with pytest.raises(ConfigError, match="nodes must be a positive integer"):
        create_space("gtn-cell", {"nodes": 0})


def test_node_count_is_a_space_option(fixed) -> None:
    space = create_space("gtn-cell", {"nodes": 2})
    assert space.config == GtnCellConfig(nodes=2)
    genotype = space.sample(generator(0))
    assert len(genotype.normal) == 2 and len(space.decisions()) == 16
    text = space.format(genotype)
    assert parse_genotype(text, {"nodes": 2})[1] == genotype
    assert genotype_from_json(space.to_json(genotype))[1] == genotype
    with pytest.raises(GenotypeError, match="normal cell has 5 nodes; the space has 2"):
        space.validate(fixed)


def _forward_backward(network: torch.nn.Module, images: torch.Tensor) -> None:
    logits = network(images)
    assert logits.shape == (images.shape[0], 10)
    assert torch.isfinite(logits).all()
    logits.logsumexp(dim=1).mean().backward()
    grads = [p.grad for p in network.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("norm", ["bn", "wn"])
@pytest.mark.parametrize("shape", [(4, 1, 28, 28), (2, 3, 32, 32)])
def test_tiny_networks_run_forward_and_backward(space, norm, shape) -> None:
    genotype = space.sample(generator(shape[1]))
    network = init_learner(
        space.build(genotype, shape[1:], 10, norm=norm, blueprint="tiny"), generator(0)
    )
    _forward_backward(network, torch.randn(shape, generator=generator(1)))


def test_cells_halve_the_size_and_double_the_channels(space, fixed) -> None:
    # four stages on 28x28: 28 -> 14 -> 7 -> 4 (odd sizes round up on every path)
    blueprint = {"channels": 4, "cells_per_stage": 1, "stages": 4, "stem_multiplier": 1}
    network = space.build(fixed, (1, 28, 28), 10, norm="bn", blueprint=blueprint)
    shapes = []
    for cell in network.cells:
        cell.register_forward_hook(lambda module, inputs, output: shapes.append(output.shape))
    network(torch.randn(2, 1, 28, 28))
    assert [tuple(s[1:]) for s in shapes] == [
        (4, 28, 28),
        (8, 14, 14),
        (8, 14, 14),
        (16, 7, 7),
        (16, 7, 7),
        (32, 4, 4),
        (32, 4, 4),
    ]


def test_parameter_count_by_hand(space, fixed) -> None:
    def conv(c_in: int, c_out: int, kh: int, kw: int) -> int:  # no bias: a norm follows
        return c_in * c_out * kh * kw

    def bn(c: int) -> int:  # weight + bias
        return 2 * c

    def normal_ops(c: int) -> int:  # the parametrised ops of NORMAL, in node order
        return (
            conv(c, c, 3, 3) + bn(c)  # node 2: conv_3x3 (identity has none)
            + conv(c, c, 1, 1) + bn(c)  # node 3: conv_1x1
            + conv(c, c, 1, 3) + conv(c, c, 3, 1) + bn(c)  # node 4: conv_1x3_3x1
            + conv(c, c, 1, 7) + conv(c, c, 7, 1) + bn(c)  # node 6: conv_1x7_7x1
            + conv(2 * c, c, 1, 1) + bn(c)  # output: nodes 5 and 6 concatenated -> c
        )  # fmt: skip

    def reduce_ops(c: int) -> int:  # REDUCE: identity on inputs 0/1 is a factorised reduction
        factorized_reduce = conv(c, c // 2, 1, 1) + conv(c, c - c // 2, 1, 1) + bn(c)
        return (
            factorized_reduce + conv(c, c, 1, 1) + bn(c)  # node 2
            + conv(c, c, 3, 3) + bn(c)  # node 3
            + conv(c, c, 1, 7) + conv(c, c, 7, 1) + bn(c)  # node 4
            + factorized_reduce + conv(c, c, 1, 3) + conv(c, c, 3, 1) + bn(c)  # node 6
            + conv(c, c, 1, 1) + bn(c)  # output: node 6 alone
        )  # fmt: skip

    def preprocess(c_prev_prev: int, c_prev: int, c: int) -> int:
        # ReLU-1x1 conv-BN for both inputs (a factorised reduction has as many weights)
        return conv(c_prev_prev, c, 1, 1) + bn(c) + conv(c_prev, c, 1, 1) + bn(c)

    # channels 4, one normal cell per stage, two stages, stem 2 * 4 = 8 channels
    expected = (
        conv(1, 8, 3, 3) + bn(8)  # stem
        + preprocess(8, 8, 4) + normal_ops(4)  # stage 1 normal cell, C = 4
        + preprocess(8, 4, 8) + reduce_ops(8)  # reduction cell, C = 8
        + preprocess(4, 8, 8) + normal_ops(8)  # stage 2 normal cell, C = 8
        + 8 * 10 + 10  # linear head
    )  # fmt: skip
    assert expected == 5418
    blueprint = GtnCellBlueprint(channels=4, cells_per_stage=1, stages=2, stem_multiplier=2)
    network = space.build(fixed, (1, 28, 28), 10, norm="bn", blueprint=blueprint)
    assert sum(p.numel() for p in network.parameters()) == expected


def test_weight_normalised_network_trains_under_functional_call(space, fixed) -> None:
    # As a teacher's inner loop does: one SGD step on a parameter dict, then a loss whose
    # gradient reaches the (synthetic) training images through the step.
    blueprint = {"channels": 4, "cells_per_stage": 1, "stages": 2, "stem_multiplier": 1}
    network = init_learner(
        space.build(fixed, (1, 12, 12), 10, norm="wn", blueprint=blueprint), generator(0)
    )
    params = dict(network.named_parameters())
    images = torch.randn(4, 1, 12, 12, generator=generator(1), requires_grad=True)
    labels = torch.arange(4)
    assert torch.allclose(functional_call(network, params, (images,)), network(images))

    loss = torch.nn.functional.cross_entropy(functional_call(network, params, (images,)), labels)
    grads = torch.autograd.grad(loss, list(params.values()), create_graph=True)
    stepped = {name: p - 0.1 * g for (name, p), g in zip(params.items(), grads, strict=True)}
    real = torch.randn(4, 1, 12, 12, generator=generator(2))
    meta_loss = torch.nn.functional.cross_entropy(
        functional_call(network, stepped, (real,)), labels
    )
    (image_grad,) = torch.autograd.grad(meta_loss, images)
    assert torch.isfinite(image_grad).all() and image_grad.abs().sum() > 0


def test_build_rejects_bad_arguments(space, fixed) -> None:
    with pytest.raises(ConfigError, match="unknown blueprint 'huge'"):
        space.build(fixed, (1, 28, 28), 10, blueprint="huge")
    with pytest.raises(ConfigError, match=r"blueprint\.channels must be a positive integer"):
        space.build(fixed, (1, 28, 28), 10, blueprint={"channels": 0, "cells_per_stage": 1})
    with pytest.raises(ConfigError, match="norm must be one of"):
        space.build(fixed, (1, 28, 28), 10, norm="ln")  # type: ignore[arg-type]


def test_draw_writes_a_png_of_both_cells(space, fixed, tmp_path, monkeypatch) -> None:
    import gtnas.reports.graphs as graphs

    drawn = {}
    original = graphs.draw_dags

    def spy(path, drawings, *, title=""):
        drawn["drawings"], drawn["title"] = drawings, title
        return original(path, drawings, title=title)

    monkeypatch.setattr(graphs, "draw_dags", spy)
    path = draw_genotype(space, fixed, tmp_path / "cells.png")
    assert_picture(path)
    normal, reduce = drawn["drawings"]
    assert normal.nodes == ("in 0", "in 1", "2", "3", "4", "5", "6", "out")
    assert (0, 2, "conv_3x3") in normal.edges and (4, 6, "conv_1x7_7x1") in normal.edges
    # nodes 5 and 6 are concatenated as the normal cell's output, node 6 alone in the reduce cell
    assert normal.dashed == {(5, 7), (6, 7)} and reduce.dashed == {(6, 7)}
    assert len(normal.edges) == 10 + 2
    assert FIXED_STRING.split(";")[1] in drawn["title"]
    # two ops on one input share an edge labelled with both
    twice = GtnCellGenotype(((0, "identity", 0, "conv_1x1"), *NORMAL[1:]), REDUCE)
    draw_genotype(space, twice, tmp_path / "twice.png")
    assert (0, 2, "identity\nconv_1x1") in drawn["drawings"][0].edges
