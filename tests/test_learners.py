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
from gtnas.learners.layers import max_pool2d


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


@pytest.mark.parametrize("channels_last", [True, False])
@pytest.mark.parametrize(("kernel", "stride", "padding"), [(3, 2, 1), (2, 2, 0), (3, 1, 1)])
def test_max_pool_matches_torch_in_values_gradients_and_second_order(
    channels_last, kernel, stride, padding
):
    # F.max_pool2d is the reference; ties (LeakyReLU-like repeated values) must route the
    # gradient to the same input as torch does, and the meta-gradient (a gradient of a
    # gradient) must agree too.
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 5, 9, 8, generator=g).round(decimals=1)  # many ties
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    ours = x.clone().requires_grad_()
    reference = x.clone().requires_grad_()
    weight = torch.randn(5, 5, 1, 1, generator=g, requires_grad=True)  # a "learner" weight

    def second_order(inp, pool):
        out = F.conv2d(pool(inp), weight)
        (grad,) = torch.autograd.grad((out**2).sum(), inp, create_graph=True)
        return out, grad, torch.autograd.grad((grad * grad.detach().sign()).sum(), weight)[0]

    a = second_order(ours, lambda t: max_pool2d(t, kernel, stride, padding))
    b = second_order(reference, lambda t: F.max_pool2d(t, kernel, stride, padding))
    for mine, theirs in zip(a[:2], b[:2], strict=True):
        torch.testing.assert_close(mine, theirs)  # values and gradients: the same elements
    # the meta-gradient of the weight sums about 10^3 float32 products, in an order that
    # depends on the thread count (on one thread it differed by 8.5e-6 relative); a tie routed
    # to another input would differ by whole terms
    torch.testing.assert_close(a[2], b[2], rtol=1e-4, atol=1e-5)
    # no gradient wanted: torch's own pool, same numbers
    with torch.no_grad():
        pooled = max_pool2d(x, kernel, stride, padding)
    torch.testing.assert_close(pooled, F.max_pool2d(x, kernel, stride, padding))


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 16, 16)])
def test_paper_learner_matches_a_plain_nchw_reference(shape):
    # The learner's layout tricks (channels_last strides for 1-channel input, the gather
    # max-pool) must not change what it computes: compare with the same layers written with
    # torch's own ops on NCHW tensors, including the gradient of a gradient.
    model = init_learner(ConvLearner(shape, 10), torch.Generator().manual_seed(1))
    x = torch.randn(6, *shape, generator=torch.Generator().manual_seed(2))
    params = dict(model.named_parameters())

    def reference(x):
        def wn(v, g):
            return v * (g / v.flatten(1).norm(dim=1)).view(-1, *([1] * (v.dim() - 1)))

        for block in (0, 4):
            conv = f"features.{block}."
            x = F.conv2d(x, wn(params[conv + "v"], params[conv + "g"]), padding=1)
            x = F.max_pool2d(x, 3, 2, 1)
            x = x - x.mean(dim=(0, 2, 3), keepdim=True)
            x = F.leaky_relu(x + params[f"features.{block + 2}.bias"].view(1, -1, 1, 1), 0.1)
        x = F.linear(x.flatten(1), wn(params["classifier.0.v"], params["classifier.0.g"]))
        x = F.leaky_relu(x - x.mean(0) + params["classifier.1.bias"], 0.1)
        return F.linear(
            x, wn(params["classifier.3.v"], params["classifier.3.g"]), params["classifier.3.bias"]
        )

    targets = torch.arange(6) % 10
    results = []
    for forward in (model, reference):
        logits = forward(x)
        grads = torch.autograd.grad(
            F.cross_entropy(logits, targets), list(params.values()), create_graph=True
        )
        meta = torch.autograd.grad(sum((g**2).sum() for g in grads), params["features.0.v"])
        results.append((logits, *grads, *meta))
    for mine, theirs in zip(*results, strict=True):
        torch.testing.assert_close(mine, theirs, atol=1e-5, rtol=1e-4)


def test_shared_weight_norm_computes_a_layers_weight_once_with_the_same_gradients(monkeypatch):
    from gtnas.learners import layers
    from gtnas.learners.layers import WNLinear, shared_weight_norm

    calls = []
    normalise = layers._weight_norm
    monkeypatch.setattr(layers, "_weight_norm", lambda v, g: calls.append(1) or normalise(v, g))
    torch.manual_seed(0)
    layer, x1, x2 = WNLinear(5, 3), torch.randn(4, 5), torch.randn(4, 5)

    def grads(shared: bool) -> tuple[torch.Tensor, ...]:
        layer.zero_grad()
        calls.clear()
        if shared:
            with shared_weight_norm():
                y1, y2 = layer(x1), layer(x2)
        else:
            y1, y2 = layer(x1), layer(x2)
        assert len(calls) == (1 if shared else 2)
        (y1.square().sum() + y2.sin().sum()).backward()
        return layer.v.grad.clone(), layer.g.grad.clone(), layer.bias.grad.clone()

    for shared, plain in zip(grads(True), grads(False), strict=True):
        torch.testing.assert_close(shared, plain)
    with shared_weight_norm():  # a weight changed in place is normalised afresh
        before = layer(x1)
        with torch.no_grad():
            layer.g.mul_(2.0)
        torch.testing.assert_close(layer(x1), 2.0 * before - layer.bias)
