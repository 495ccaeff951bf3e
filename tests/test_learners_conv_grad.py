"""The any-order convolution (gtnas.learners.conv_grad) against torch's own F.conv2d: values,
first, second and third derivatives, in float64 (finite differences too) and float32
channels_last (the layout the learners run in)."""

import pytest
import torch
import torch.nn.functional as F
from torch.autograd import gradcheck, gradgradcheck

from gtnas.learners.conv_grad import compute_dtype, conv2d_any_order
from gtnas.learners.layers import WNConv2d, conv2d

# (C_in, C_out, kernel, stride, padding, groups, bias)
GEOMETRIES = [
    (3, 4, 3, 1, 1, 1, True),
    (4, 4, 3, 2, 1, 4, False),  # depthwise, strided
    (2, 6, (1, 3), 2, (0, 1), 2, True),  # grouped, non-square kernel (the GTN cell's 1xk)
    (1, 3, 3, 1, 0, 1, False),  # one input channel, no padding
]


def _inputs(c_in, c_out, kernel, groups, bias, dtype, generator):
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    x = torch.randn(2, c_in, 7, 6, dtype=dtype, generator=generator).requires_grad_()
    w = torch.randn(c_out, c_in // groups, kh, kw, dtype=dtype, generator=generator)
    b = torch.randn(c_out, dtype=dtype, generator=generator) if bias else None
    return x, w.requires_grad_(), None if b is None else b.requires_grad_()


def _derivatives(conv, x, w, b):
    """First, second and third derivatives of scalar functions of conv(x, w, b), each with
    respect to every input (nonlinear outer functions, so every term of the algebra is used)."""
    inputs = [t for t in (x, w, b) if t is not None]
    y = conv(x, w, b)
    first = torch.autograd.grad((y**2).sum(), inputs, create_graph=True)
    second = torch.autograd.grad(sum(g.sin().sum() for g in first), inputs, create_graph=True)
    third = torch.autograd.grad(sum((g**2).sum() for g in second), inputs)
    return [y, *first, *second, *third]


@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_any_order_conv_passes_finite_difference_checks_to_second_order(geometry):
    c_in, c_out, kernel, stride, padding, groups, bias = geometry
    x, w, b = _inputs(
        c_in, c_out, kernel, groups, bias, torch.float64, torch.Generator().manual_seed(0)
    )
    inputs = (x, w, b) if bias else (x, w)

    def conv(*tensors):
        return conv2d_any_order(*tensors[:2], tensors[2] if bias else None, stride, padding, groups)

    assert gradcheck(conv, inputs)
    assert gradgradcheck(conv, inputs)


@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_any_order_conv_matches_torch_to_third_order(geometry):
    c_in, c_out, kernel, stride, padding, groups, bias = geometry
    x, w, b = _inputs(
        c_in, c_out, kernel, groups, bias, torch.float64, torch.Generator().manual_seed(1)
    )
    ours = _derivatives(lambda *t: conv2d_any_order(*t, stride, padding, groups), x, w, b)
    theirs = _derivatives(lambda *t: F.conv2d(*t, stride, padding, 1, groups), x, w, b)
    for a, r in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, r, rtol=1e-10, atol=1e-10)


def test_any_order_conv_keeps_channels_last_and_matches_torch_in_float32():
    # the paper learner's second convolution, small: (B, 64, 14, 14)-like channels_last input
    g = torch.Generator().manual_seed(2)
    x = torch.randn(8, 16, 10, 10, generator=g).contiguous(memory_format=torch.channels_last)
    w = torch.randn(32, 16, 3, 3, generator=g) * 0.1
    x.requires_grad_(), w.requires_grad_()
    y = conv2d_any_order(x, w, None, 1, 1)
    assert y.is_contiguous(memory_format=torch.channels_last)
    ours = _derivatives(lambda x, w, b: conv2d_any_order(x, w, b, 1, 1), x, w, None)
    theirs = _derivatives(lambda x, w, b: F.conv2d(x, w, b, 1, 1), x, w, None)
    for a, r in zip(ours, theirs, strict=True):  # float32 rounding, summed differently
        assert float((a - r).detach().norm() / r.detach().norm()) < 1e-5
    # [y, dx, dw, ddx, ddw, dddx, dddw]: the input-shaped derivatives stay channels_last
    # (no layout conversions between the kernels)
    for dx in ours[1::2]:
        assert dx.is_contiguous(memory_format=torch.channels_last)


def test_conv2d_uses_the_any_order_conv_only_where_it_is_differentiated_on_cpu():
    layer = WNConv2d(2, 3, 3, padding=1)
    x = torch.randn(1, 2, 5, 5)
    assert type(layer(x).grad_fn).__name__ == "_ConvBackward"
    with torch.no_grad():
        assert layer(x).grad_fn is None
    plain = conv2d(x, layer.v.detach(), None, 1, 1)  # nothing to differentiate: torch's own
    torch.testing.assert_close(plain, F.conv2d(x, layer.v.detach(), None, 1, 1))


@pytest.mark.parametrize("create_graph", [False, True])
def test_only_the_gradients_the_backward_pass_asks_for_are_computed(monkeypatch, create_graph):
    # A learner's inner step asks for its weights' gradients; its input (the pixels teacher's
    # images: a view of a parameter) requires grad too, but its dgrad must not be computed.
    from gtnas.learners import conv_grad

    masks = []

    def spy(gy, x, w, geo, mask):
        masks.append(list(mask))
        return real(gy, x, w, geo, mask)

    real = conv_grad._conv_backward
    monkeypatch.setattr(conv_grad, "_conv_backward", spy)
    images = torch.randn(2, 1, 3, 8, 8, requires_grad=True)  # (T, B, C, H, W)
    w = torch.randn(4, 3, 3, 3, requires_grad=True)
    x = images.unbind(0)[0]
    y = conv2d_any_order(x, w, None, 1, 1)
    (gw,) = torch.autograd.grad(y.square().sum(), [w], create_graph=create_graph)
    assert masks == [[False, True, False]]
    torch.testing.assert_close(
        gw, torch.autograd.grad(F.conv2d(x, w, None, 1, 1).square().sum(), [w])[0]
    )
    masks.clear()
    torch.autograd.grad(conv2d_any_order(x, w, None, 1, 1).square().sum(), [images])
    assert masks == [[True, False, False]]


# ----- compute_dtype: the kernels in bfloat16, the tensors around them in float32 -----------


def _bf16_reference(x, w, b, gy, stride, padding, groups):
    """F.conv2d on bfloat16 copies of the operands and its first derivatives, cast to float32:
    what every kernel of conv2d_any_order computes inside compute_dtype(torch.bfloat16)
    (the bias gradient, a sum, is not a kernel's)."""
    xb, wb = (t.detach().bfloat16().requires_grad_() for t in (x, w))
    bb = None if b is None else b.detach().bfloat16().requires_grad_()
    y = F.conv2d(xb, wb, bb, stride, padding, 1, groups)
    inputs = [t for t in (xb, wb, bb) if t is not None]
    grads = torch.autograd.grad(y, inputs, gy.bfloat16())
    return [y.float(), *(g.float() for g in grads)]


@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_compute_dtype_runs_every_kernel_in_bfloat16_and_returns_float32(geometry):
    c_in, c_out, kernel, stride, padding, groups, bias = geometry
    x, w, b = _inputs(
        c_in, c_out, kernel, groups, bias, torch.float32, torch.Generator().manual_seed(3)
    )
    y32 = conv2d_any_order(x, w, b, stride, padding, groups)
    gy = torch.randn(y32.shape, generator=torch.Generator().manual_seed(4))
    inputs = [t for t in (x, w, b) if t is not None]
    with compute_dtype(torch.bfloat16):
        y = conv2d_any_order(x, w, b, stride, padding, groups)
        grads = torch.autograd.grad(y, inputs, gy)
    assert all(t.dtype == torch.float32 for t in (y, *grads))
    # the same kernels on the same bfloat16 operands: the same numbers, to the bit, for the
    # output and the input and weight gradients (the bias gradient is gy summed in float32, as
    # without compute_dtype) ...
    reference = _bf16_reference(x, w, b, gy, stride, padding, groups)
    for mine, theirs in zip((y, *grads[:2]), reference[:3], strict=True):
        assert torch.equal(mine, theirs)
    # ... which are not the float32 numbers
    exact = [y32, *torch.autograd.grad(y32, inputs, gy)]
    assert not any(torch.equal(m, e) for m, e in zip((y, *grads[:2]), exact[:3], strict=True))
    if bias:
        assert torch.equal(grads[2], exact[3])


def _first_and_second(x, w, b):
    """conv2d_any_order's value and first and second derivatives of smooth scalar functions of
    it (every term of the algebra, without _derivatives' sin, which amplifies rounding)."""
    inputs = [t for t in (x, w, b) if t is not None]
    y = conv2d_any_order(x, w, b, 1, 1)
    first = torch.autograd.grad((y**2).sum(), inputs, create_graph=True)
    second = torch.autograd.grad(sum((g**2).sum() for g in first), inputs)
    return [y, *first, *second]


def test_compute_dtype_reaches_second_derivatives_and_is_restored_after_the_block():
    x, w, b = _inputs(3, 4, 3, 1, True, torch.float32, torch.Generator().manual_seed(5))
    exact = _first_and_second(x, w, b)
    try:
        with compute_dtype(torch.bfloat16):
            approx = _first_and_second(x, w, b)
            raise RuntimeError("leaving the block by an exception")
    except RuntimeError:
        pass
    for a, e in zip(approx, exact, strict=True):
        assert a.dtype == torch.float32
        # bfloat16 keeps 8 bits of mantissa: within a few per cent of the float32 numbers
        assert (a - e).norm() <= 0.05 * e.norm()
    assert any(not torch.equal(a, e) for a, e in zip(approx, exact, strict=True))
    again = _first_and_second(x, w, b)
    assert all(torch.equal(a, e) for a, e in zip(again, exact, strict=True))  # float32 again
