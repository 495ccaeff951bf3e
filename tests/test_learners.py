"""Learners: weight normalisation, the paper's learner, and every registered sampler."""

import pytest
import torch
import torch.nn.functional as F

from gtnas.learners import (
    LEARNER_SAMPLERS,
    ConvLearner,
    ConvLearnerConfig,
    MeanOnlyBatchNorm,
    WNConv2d,
    WNLinear,
    create_learner_sampler,
    init_learner,
)


def test_weight_norm_layers_match_torch_reference():
    # torch.nn.utils.parametrizations.weight_norm is an independent implementation of the
    # same reparameterisation: w = g * v / ||v|| per output unit.
    g = torch.Generator().manual_seed(0)
    conv = WNConv2d(3, 5, 3, padding=1)
    conv.reset_parameters(g)
    with torch.no_grad():
        conv.g.mul_(torch.linspace(0.5, 2.0, 5))
    reference = torch.nn.Conv2d(3, 5, 3, padding=1)
    with torch.no_grad():
        reference.weight.copy_(conv.v)
        reference.bias.copy_(conv.bias)
    reference = torch.nn.utils.parametrizations.weight_norm(reference)
    with torch.no_grad():
        reference.parametrizations.weight.original0.copy_(conv.g.view(5, 1, 1, 1))
    x = torch.randn(2, 3, 8, 8, generator=g)
    torch.testing.assert_close(conv(x), reference(x))

    linear = WNLinear(4, 3)
    linear.reset_parameters(g)
    w = linear.g[:, None] * linear.v / linear.v.norm(dim=1, keepdim=True)
    x = torch.randn(5, 4, generator=g)
    torch.testing.assert_close(linear(x), F.linear(x, w, linear.bias))


def test_weight_norm_starts_as_kaiming_init():
    layer = WNLinear(1000, 50)
    layer.reset_parameters(torch.Generator().manual_seed(0))
    torch.testing.assert_close(layer.g, layer.v.norm(dim=1))  # so w == v at initialisation
    assert layer.v.std().item() == pytest.approx((2 / 1.01 / 1000) ** 0.5, rel=0.05)


def test_mean_only_batch_norm_removes_the_batch_mean():
    bn = MeanOnlyBatchNorm(4)
    with torch.no_grad():
        bn.bias.copy_(torch.arange(4.0))
    x = torch.randn(16, 4, 5, 5) * 3 + 7
    y = bn(x)
    torch.testing.assert_close(y.mean(dim=(0, 2, 3)), torch.arange(4.0), atol=1e-5, rtol=0)
    centred = lambda t: t - t.mean(dim=(0, 2, 3), keepdim=True)  # noqa: E731
    torch.testing.assert_close(centred(y), centred(x), atol=1e-5, rtol=1e-5)  # only a shift


def test_paper_learner_parameter_count_matches_hand_count():
    model = ConvLearner((1, 28, 28), 10)  # conv 64, conv 128, fc 256, mean-only BN
    conv1 = 64 * 1 * 9 + 64 + 64  # v, g, BN bias (no conv bias with BN)
    conv2 = 128 * 64 * 9 + 128 + 128
    fc1 = 256 * 128 * 7 * 7 + 256 + 256  # 28 -> 14 -> 7
    fc2 = 10 * 256 + 10 + 10  # v, g, bias
    assert sum(p.numel() for p in model.parameters()) == conv1 + conv2 + fc1 + fc2


@pytest.mark.parametrize("name", LEARNER_SAMPLERS.names())
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_every_sampler_builds_runs_and_backpropagates(name, shape):
    config = ConvLearnerConfig(channels=(8, 16), fc=32)
    sampler = create_learner_sampler(name, shape, 10, config)
    g = torch.Generator().manual_seed(0)
    for model in (sampler.default(g), sampler.sample(g)):
        x = torch.randn(6, *shape, generator=g)
        logits = model(x)
        assert logits.shape == (6, 10) and torch.isfinite(logits).all()
        F.cross_entropy(logits, torch.arange(6) % 10).backward()
        for pname, p in model.named_parameters():
            assert p.grad is not None and torch.isfinite(p.grad).all(), pname


def test_sampling_is_seeded_and_random_width_varies_depth_and_width():
    sampler = create_learner_sampler("random-width", (1, 28, 28), 10)
    a = sampler.sample(torch.Generator().manual_seed(5))
    b = sampler.sample(torch.Generator().manual_seed(5))
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)
    g = torch.Generator().manual_seed(0)
    configs = {sampler.sample(g).config for _ in range(20)}
    assert {len(c.channels) for c in configs} == {2, 3}
    assert len({c.channels[0] for c in configs}) > 5
    for c in configs:
        assert 32 <= c.channels[0] < 128 and 64 <= c.fc < 256


def test_init_learner_refuses_layers_it_cannot_seed():
    with pytest.raises(TypeError, match="explicit generator"):
        init_learner(torch.nn.Sequential(torch.nn.LSTM(2, 2)), torch.Generator())


def test_init_learner_seeds_standard_layers_from_the_generator():
    def build(seed: int) -> torch.nn.Module:
        net = torch.nn.Sequential(
            torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Linear(4, 2)
        )
        return init_learner(net, torch.Generator().manual_seed(seed))

    a, b, c = build(0), build(0), build(1)
    assert torch.equal(a[0].weight, b[0].weight) and torch.equal(a[2].weight, b[2].weight)
    assert not torch.equal(a[0].weight, c[0].weight)
    # Kaiming fan-in: std ~ sqrt(2 / 9) for a 1x3x3 kernel
    big = init_learner(torch.nn.Conv2d(1, 4096, 3), torch.Generator().manual_seed(0))
    assert abs(big.weight.std().item() - (2 / 9) ** 0.5) < 0.01


def test_bad_widths_are_rejected():
    with pytest.raises(ValueError, match="positive"):
        ConvLearnerConfig(channels=(0, 4))


@pytest.mark.parametrize("size", [6, 7])
def test_strided_1x1_convs_match_torch_and_survive_double_backward_on_one_thread(size):
    # torch 2.13's own 1x1 stride-2 conv corrupts the heap in this double backward (even-sized
    # channels_last input, one thread) and aborts the process, so run it in a child process.
    import subprocess
    import sys

    script = f"""
import torch, torch.nn.functional as F
from gtnas.learners.layers import WNConv2d
from gtnas.spaces.ops import Conv2d
torch.set_num_threads(1)
torch.manual_seed(0)
for conv in (WNConv2d(4, 6, 1, stride=2), Conv2d(4, 6, 1, 2, bias=False)):
    x = torch.randn(3, 4, {size}, {size}, requires_grad=True)
    if isinstance(conv, torch.nn.Conv2d):
        weight = conv.weight
    else:  # weight normalisation by hand: w = g * v / ||v|| per output channel
        weight = conv.v * (conv.g / conv.v.flatten(1).norm(dim=1)).view(-1, 1, 1, 1)
    y = conv(x.contiguous(memory_format=torch.channels_last))
    assert y.shape == (3, 6, {(size + 1) // 2}, {(size + 1) // 2}), y.shape
    torch.testing.assert_close(y, F.conv2d(x, weight, conv.bias, stride=2))
    grads = torch.autograd.grad((y ** 2).sum(), [x, *conv.parameters()], create_graph=True)
    sum((g ** 2).sum() for g in grads).backward()
    assert torch.isfinite(x.grad).all()
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
