"""Everything registered in SEARCH_SPACES passes the same smoke test (timm-style)."""

from __future__ import annotations

import pytest
import torch

from gtnas.learners.layers import init_learner
from gtnas.seeding import make_generator
from gtnas.spaces import SEARCH_SPACES, create_space, genotype_from_json, parse_genotype
from gtnas.spaces.sampler import SpaceLearnerSampler

# One torch thread: tiny networks, where threads only add overhead (see conftest.one_thread).
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("name", SEARCH_SPACES.names())
def test_space_smoke(name: str) -> None:
    space = create_space(name)
    genotype = space.sample(make_generator(0))
    space.validate(genotype)
    assert space.sample(make_generator(0)) == genotype
    assert hash(genotype) == hash(space.parse(space.to_string(genotype)))
    assert parse_genotype(space.format(genotype))[1] == genotype
    assert genotype_from_json(space.to_json(genotype))[1] == genotype
    child = space.mutate(genotype, make_generator(1))
    space.validate(child)
    assert child != genotype
    assert space.encode(genotype).numel() == sum(len(d) for d in space.decisions())
    for norm in ("wn", "bn"):
        net = init_learner(
            space.build(genotype, (1, 28, 28), 10, norm=norm, blueprint="tiny"),
            make_generator(2),
        )
        logits = net(torch.randn(4, 1, 28, 28, generator=make_generator(3)))
        assert logits.shape == (4, 10) and torch.isfinite(logits).all()
        logits.logsumexp(1).mean().backward()
        grads = [p.grad for p in net.parameters() if p.grad is not None]
        assert grads and all(torch.isfinite(g).all() for g in grads)
    assert {"search", "final"} <= set(space.blueprints)


@pytest.mark.parametrize("name", SEARCH_SPACES.names())
def test_space_learner_sampler_draws_different_architectures(name: str) -> None:
    sampler = SpaceLearnerSampler(create_space(name), (1, 28, 28), 10, "tiny")
    generator = make_generator(0)
    drawn = set()
    for _ in range(4):
        sampler.sample(generator)
        drawn.add(sampler.space.format(sampler.last_genotype))
    assert len(drawn) > 1
    assert sampler.default(make_generator(5)) is not None


def test_inner_step_gives_zero_gradient_to_weights_off_every_path() -> None:
    from gtnas.meta.unroll import LearnerState, inner_step

    space = create_space("nb201")
    # node 1's conv feeds nothing: both edges leaving node 1 are 'none'
    genotype = space.parse(
        "|nor_conv_3x3~0|+|skip_connect~0|none~1|+|skip_connect~0|none~1|nor_conv_1x1~2|"
    )
    net = init_learner(
        space.build(genotype, (1, 28, 28), 10, norm="wn", blueprint="tiny"), make_generator(0)
    )
    state = LearnerState.from_module(net)
    x, y = torch.randn(8, 1, 28, 28), torch.randint(0, 10, (8,))
    params = tuple(p.requires_grad_() for p in state.params)
    new, _, loss = inner_step(
        net,
        state.names,
        params,
        state.velocity,
        x,
        y,
        torch.tensor(0.1),
        torch.tensor(0.9),
        create_graph=True,
    )
    moved = [n for n, a, b in zip(state.names, params, new, strict=True) if not torch.equal(a, b)]
    still = [n for n, a, b in zip(state.names, params, new, strict=True) if torch.equal(a, b)]
    assert torch.isfinite(loss) and moved and still
    # node 1's weights get no gradient; nor do WN gains in front of a batch norm (the norm
    # removes their scale)
    assert any("node1" in name and not name.endswith(".g") for name in still), still
    assert all("node1" in name or name.endswith(".g") for name in still), still
