"""The NAS-Bench-201 space against the benchmark itself: its published genotype strings, its
published parameter counts, hand-counted layer shapes and a hand-wired cell."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from gtnas.errors import ConfigError, GenotypeError
from gtnas.learners.layers import init_learner
from gtnas.reports.graphs import draw_genotype
from gtnas.spaces import SEARCH_SPACES, create_space, genotype_from_json, parse_genotype
from gtnas.spaces.nb201 import OPS, NB201Blueprint, NB201Genotype, NB201Space
from pictures import assert_picture

# Strings as the benchmark prints them: its best CIFAR-10 cell, its ResNet-like cell, and the
# two degenerate corners.
PUBLISHED = [
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
    "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|none~2|",
    "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
    "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|",
]
# Every op once or more: conv3x3 on (1<-0) and (3<-2), conv1x1 on (2<-0), pool on (2<-1),
# skip on (3<-0), none on (3<-1).
MIXED = "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"
ALL_CONV = (
    "|nor_conv_3x3~0|+"
    "|nor_conv_3x3~0|nor_conv_3x3~1|+"
    "|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
)


@pytest.fixture
def space() -> NB201Space:
    return NB201Space()


def _parameters(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# ----- strings -------------------------------------------------------------------------------


@pytest.mark.parametrize("text", PUBLISHED)
def test_published_strings_round_trip(space: NB201Space, text: str) -> None:
    genotype = space.parse(text)
    assert space.to_string(genotype) == text
    assert space.parse(f"  {text}\n") == genotype  # surrounding whitespace only


def test_edge_order_is_the_benchmark_order(space: NB201Space) -> None:
    genotype = space.parse(MIXED)
    assert genotype == NB201Genotype(
        ("nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3", "skip_connect", "none", "nor_conv_3x3")
    )
    assert genotype.op(2, 1) == "avg_pool_3x3" and genotype.op(3, 1) == "none"
    assert [d.name for d in space.decisions()] == [
        "edge(1<-0)", "edge(2<-0)", "edge(2<-1)", "edge(3<-0)", "edge(3<-1)", "edge(3<-2)"
    ]  # fmt: skip
    assert all(d.options == OPS for d in space.decisions())
    assert OPS == NB201Space.ops == (
        "none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"
    )  # fmt: skip


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("|nor_conv_5x5~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown op 'nor_conv_5x5'"),
        ("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|", "valid ops: none, skip_connect"),
        ("|none~0|+|none~0|none~2|+|none~0|none~1|none~2|", "node 2 cannot take input ~2"),
        ("|none~1|+|none~0|none~1|+|none~0|none~1|none~2|", "node 1 cannot take input ~1"),
        ("|none~0|+|none~1|none~0|+|none~0|none~1|none~2|", "must be ~0"),
        ("|none~0|+|none~0|none~1|", "2 node"),
        ("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|+|none~0|", "4 node"),
        ("|none~0|+|none~0|+|none~0|none~1|none~2|", "1 edge(s), needs 2"),
        ("|none~0|none~0|+|none~0|none~1|+|none~0|none~1|none~2|", "2 edge(s), needs 1"),
        ("none~0|+|none~0|none~1|+|none~0|none~1|none~2|", "malformed"),
        ("|none~0|+|none~0|none~1|+|none~0|none~1|none~2", "malformed"),
        ("|none-0|+|none~0|none~1|+|none~0|none~1|none~2|", "malformed"),
        ("|none~|+|none~0|none~1|+|none~0|none~1|none~2|", "malformed"),
        ("|none~0|+|none~0| none~1|+|none~0|none~1|none~2|", "malformed"),
        ("|none~0|+|none~0||+|none~0|none~1|none~2|", "malformed"),
    ],
)
def test_bad_strings_name_the_problem(space: NB201Space, text: str, message: str) -> None:
    with pytest.raises(GenotypeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        space.parse(text)


def test_validate_and_decisions_refuse_bad_values(space: NB201Space) -> None:
    with pytest.raises(GenotypeError, match="unknown op 'conv'"):
        space.validate(NB201Genotype(("conv",) + ("none",) * 5))
    with pytest.raises(GenotypeError, match="6 ops"):
        space.validate(NB201Genotype(("none",) * 5))
    with pytest.raises(GenotypeError, match="out of range"):
        space.from_decisions([0, 0, 0, 0, 0, 5])
    with pytest.raises(GenotypeError, match="6 decisions"):
        space.from_decisions([0, 0])


# ----- search operations ---------------------------------------------------------------------


def test_decisions_round_trip_and_encoding(space: NB201Space) -> None:
    genotype = space.parse(MIXED)
    indices = space.to_decisions(genotype)
    assert indices == [3, 2, 4, 1, 0, 3]
    assert space.from_decisions(indices) == genotype
    code = space.encode(genotype)
    assert code.shape == (30,) and code.sum() == 6
    assert code.nonzero().flatten().tolist() == [5 * i + k for i, k in enumerate(indices)]


def test_sample_is_seeded_and_valid(space: NB201Space) -> None:
    first = [space.sample(torch.Generator().manual_seed(seed)) for seed in range(40)]
    again = [space.sample(torch.Generator().manual_seed(seed)) for seed in range(40)]
    assert first == again
    assert len(set(first)) > 30  # 15,625 cells: 40 seeds rarely collide
    for genotype in first:
        space.validate(genotype)
        assert space.parse(space.to_string(genotype)) == genotype


def test_mutate_changes_exactly_one_edge(space: NB201Space) -> None:
    for seed in range(100):
        generator = torch.Generator().manual_seed(seed)
        parent = space.sample(generator)
        child = space.mutate(parent, generator)
        space.validate(child)
        changed = [i for i, (a, b) in enumerate(zip(parent.ops, child.ops, strict=True)) if a != b]
        assert len(changed) == 1, (parent, child)


# ----- envelopes -----------------------------------------------------------------------------


def test_json_envelope_and_prefixed_string(space: NB201Space, tmp_path: Path) -> None:
    assert "nb201" in SEARCH_SPACES and isinstance(create_space("nb201"), NB201Space)
    genotype = space.parse(PUBLISHED[1])
    envelope = json.loads(json.dumps(space.to_json(genotype)))
    assert envelope == {"space": "nb201", "genotype": PUBLISHED[1], "options": {}}
    loaded_space, loaded = genotype_from_json(envelope)
    assert isinstance(loaded_space, NB201Space) and loaded == genotype

    assert space.format(genotype) == f"nb201:{PUBLISHED[1]}"
    assert parse_genotype(f"nb201:{PUBLISHED[1]}")[1] == genotype
    path = tmp_path / "genotype.json"
    path.write_text(json.dumps(envelope))
    assert parse_genotype(str(path))[1] == genotype
    with pytest.raises(GenotypeError, match="unknown op"):
        parse_genotype("nb201:|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    with pytest.raises(ConfigError, match="unknown config key"):
        create_space("nb201", {"channels": 3})


# ----- networks ------------------------------------------------------------------------------


@pytest.mark.parametrize("norm", ["bn", "wn"])
@pytest.mark.parametrize("image_shape", [(1, 28, 28), (3, 32, 32)])
def test_forward_backward_is_finite(
    space: NB201Space, norm: str, image_shape: tuple[int, int, int]
) -> None:
    net = space.build(space.parse(MIXED), image_shape, 10, norm=norm, blueprint="tiny")
    init_learner(net, torch.Generator().manual_seed(0))
    batch = 4 if image_shape[0] == 1 else 2
    images = torch.randn(batch, *image_shape, generator=torch.Generator().manual_seed(1))
    logits = net(images)
    assert logits.shape == (batch, 10) and torch.isfinite(logits).all()
    F.cross_entropy(logits, torch.arange(batch)).backward()
    for name, parameter in net.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), name
    assert any(p.grad.abs().sum() > 0 for p in net.stem.parameters())


def test_odd_image_sizes_reduce_by_rounding_up(space: NB201Space) -> None:
    # 27 x 29 -> 14 x 15 -> 7 x 8: the stride-2 conv and the pooled shortcut must agree
    net = space.build(space.parse(MIXED), (1, 27, 29), 10, norm="bn", blueprint="tiny")
    features = net.cells(net.stem(torch.randn(2, 1, 27, 29)))
    assert features.shape == (2, 16, 7, 8)
    assert net(torch.randn(2, 1, 27, 29)).shape == (2, 10)


def test_all_none_cells_still_train_the_rest(space: NB201Space) -> None:
    net = space.build(space.parse(PUBLISHED[2]), (1, 28, 28), 10, norm="bn", blueprint="tiny")
    init_learner(net, torch.Generator().manual_seed(0))
    logits = net(torch.randn(4, 1, 28, 28, generator=torch.Generator().manual_seed(1)))
    F.cross_entropy(logits, torch.arange(4)).backward()
    assert torch.isfinite(logits).all()
    assert all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)


def test_bn_parameter_count_by_hand(space: NB201Space) -> None:
    """MIXED with channels 4, one cell per stage, a 1-channel image and 10 classes, counted
    from the layer shapes: convs have no bias, a BatchNorm has weight and bias."""

    def conv(c_in: int, c_out: int, k: int) -> int:
        return c_in * c_out * k * k

    def bn(c: int) -> int:
        return 2 * c

    def cell(c: int) -> int:  # two conv3x3 and one conv1x1 (each ReLU-conv-BN); pool/skip/none
        return 2 * (conv(c, c, 3) + bn(c)) + conv(c, c, 1) + bn(c)

    def reduction(c_in: int, c_out: int) -> int:  # conv_a (s2), conv_b, shortcut 1x1 conv
        return (
            conv(c_in, c_out, 3)
            + bn(c_out)
            + conv(c_out, c_out, 3)
            + bn(c_out)
            + conv(c_in, c_out, 1)
        )

    stem = conv(1, 4, 3) + bn(4)
    head = bn(16) + 16 * 10 + 10  # last norm, linear with bias
    expected = stem + cell(4) + reduction(4, 8) + cell(8) + reduction(8, 16) + cell(16) + head
    assert expected == 11_374
    net = space.build(space.parse(MIXED), (1, 28, 28), 10, norm="bn", blueprint="tiny")
    assert _parameters(net) == expected


def test_final_network_matches_published_parameter_counts(space: NB201Space) -> None:
    # NAS-Bench-201 reports 0.073306 to 1.531546 M parameters on CIFAR-10 (all-conv3x3 cell the
    # largest, a cell without convs the smallest) and 1.537396 M for the largest on CIFAR-100.
    largest = space.parse(ALL_CONV)
    assert _parameters(space.build(largest, (3, 32, 32), 10, blueprint="final")) == 1_531_546
    assert _parameters(space.build(largest, (3, 32, 32), 100, blueprint="final")) == 1_537_396
    smallest = space.parse(PUBLISHED[3])  # all skip: no parameters in the cells
    assert _parameters(space.build(smallest, (3, 32, 32), 10, blueprint="final")) == 73_306


def test_cell_is_wired_as_published(space: NB201Space) -> None:
    """node1 = conv3(x); node2 = conv1(x) + pool(node1); node3 = x + conv3'(node2), using the
    cell's own conv modules and torch's average pooling without padded pixels."""
    net = space.build(space.parse(MIXED), (1, 28, 28), 10, norm="wn", blueprint="tiny")
    init_learner(net, torch.Generator().manual_seed(0))
    cell = net.cells[0]
    edges = cell.edges
    assert sorted(edges.keys()) == sorted(
        ["node1_from0", "node2_from0", "node2_from1", "node3_from0", "node3_from2"]
    )
    x = torch.randn(3, 4, 7, 7, generator=torch.Generator().manual_seed(2))
    node1 = edges["node1_from0"](x)
    pooled = F.avg_pool2d(node1, 3, stride=1, padding=1, count_include_pad=False)
    node2 = edges["node2_from0"](x) + pooled
    node3 = x + edges["node3_from2"](node2)
    torch.testing.assert_close(cell(x), node3)


def test_blueprints(space: NB201Space) -> None:
    assert space.resolve_blueprint("final") == NB201Blueprint(16, 5)
    assert space.resolve_blueprint("tiny") == NB201Blueprint(4, 1)
    assert "search" in space.blueprints
    custom = space.resolve_blueprint({"channels": 8, "cells_per_stage": 2})
    assert custom == NB201Blueprint(8, 2)
    with pytest.raises(ConfigError, match="unknown config key"):
        space.resolve_blueprint({"width": 8})
    with pytest.raises(ConfigError, match="channels and head_pool must be >= 1"):
        space.resolve_blueprint({"channels": 0})
    with pytest.raises(ConfigError, match="head_pool must be >= 1"):
        space.resolve_blueprint({"channels": 8, "head_pool": 0})
    with pytest.raises(ConfigError, match="unknown blueprint"):
        space.resolve_blueprint("huge")


@pytest.mark.parametrize("norm", ["wn", "bn"])
def test_search_fc_head_flattens_the_last_feature_map(space: NB201Space, norm: str) -> None:
    """`search-fc` is `search` with a 7x7-pooled head: on 28x28 images the last map is 7x7,
    so the head is a linear layer on the flattened map (the GTN learner's head); everything
    before the head is the same network as `search`."""
    assert space.resolve_blueprint("search-fc") == NB201Blueprint(16, 1, head_pool=7)
    genotype = space.sample(torch.Generator().manual_seed(3))
    fc = space.build(genotype, (1, 28, 28), 10, norm=norm, blueprint="search-fc")
    pooled = space.build(genotype, (1, 28, 28), 10, norm=norm, blueprint="search")
    init_learner(fc, torch.Generator().manual_seed(0))
    fc.eval()
    x = torch.randn(4, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    features = fc.last_activation(fc.cells(fc.stem(x)))  # (4, 64, 7, 7)
    assert features.shape == (4, 64, 7, 7)
    torch.testing.assert_close(fc(x), fc.head.linear(features.flatten(1)))
    # the same layers up to the head: only the linear layer's input width differs (64 x 49)
    before = {k: v.shape for k, v in pooled.state_dict().items() if not k.startswith("head")}
    assert before == {k: v.shape for k, v in fc.state_dict().items() if not k.startswith("head")}
    extra = sum(p.numel() for p in fc.parameters()) - sum(p.numel() for p in pooled.parameters())
    assert extra == 10 * 64 * 48  # 10 outputs, each with 64 x 49 inputs instead of 64
    out = space.build(genotype, (3, 32, 32), 10, norm=norm, blueprint="search-fc")(
        torch.randn(2, 3, 32, 32)
    )  # 8x8 maps pooled to 7x7
    assert out.shape == (2, 10)


def test_search_head3_pools_the_last_map_to_3x3_before_its_linear_layer(space: NB201Space) -> None:
    net = space.build(space.sample(torch.Generator().manual_seed(3)), (1, 28, 28), 10, norm="wn",
                      blueprint="search-head3")  # fmt: skip
    init_learner(net, torch.Generator().manual_seed(0))
    x = torch.randn(4, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    features = net.last_activation(net.cells(net.stem(x)))  # (4, 64, 7, 7)
    # 7x7 -> 3x3 adaptive average pooling: windows [0:3), [2:5), [4:7) along each axis
    rows = [
        torch.stack([features[:, :, i : i + 3, j : j + 3].mean(dim=(2, 3)) for j in (0, 2, 4)], -1)
        for i in (0, 2, 4)
    ]
    pooled = torch.stack(rows, dim=-2)  # (4, 64, 3, 3)
    torch.testing.assert_close(net(x), net.head.linear(pooled.flatten(1)))


def test_draw_writes_a_png(space: NB201Space, tmp_path: Path) -> None:
    path = draw_genotype(space, space.parse(PUBLISHED[1]), tmp_path / "cells" / "resnet.png")
    assert_picture(path)
