"""2-D convolution whose derivatives, of every order, run on the native convolution kernels.

Meta-training differentiates each inner step's backward pass. A convolution ``y = conv(x, W)``
has a backward of two products, each linear in the incoming gradient ``gy``:

    dgrad(gy, W) = dL/dx   (shaped like x: a transposed convolution)
    wgrad(gy, x) = dL/dW   (shaped like W: a correlation of gy with x)

and the derivatives of those are the same three operations again (``h`` is the gradient
arriving at a dgrad output, shaped like x; ``H`` at a wgrad output, shaped like W):

    conv(x, W):    d/dx = dgrad(g, W)     d/dW = wgrad(g, x)
    dgrad(gy, W):  d/dgy = conv(h, W)     d/dW = wgrad(gy, h)
    wgrad(gy, x):  d/dgy = conv(x, H)     d/dx = dgrad(gy, H)

(all three are bilinear: ``<h, dgrad(gy, W)> = <conv(h, W), gy> = <H, wgrad(gy, x)>`` with
``H = W``, ``h = x``). torch's own double backward of a convolution computes the wgrad term as
a convolution of transposed tensors (batch and channels swapped: at the paper's MNIST size a
(64, 128, 14, 14) input against a (128, 128, 14, 14) "kernel"), which oneDNN runs several
times slower than its weight-gradient kernel, after copying both tensors into that layout.
Here every term is ``aten.convolution`` or ``aten.convolution_backward`` with one output
selected: the kernels that the first-order backward of a plain training step uses, in the
tensors' own memory format.

Inside :func:`compute_dtype` every one of those kernels computes in another dtype (bfloat16
on CPUs with AMX or AVX512-BF16 units): operands are cast in and results cast back, so the
learner, its optimiser state and the meta-parameters stay float32.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch.autograd import Function

_DILATION = (1, 1)
# private, but what torch.utils.checkpoint relies on; without it every required grad is computed
_WILL_EXECUTE = getattr(torch._C, "_will_engine_execute_node", None)
_NO_OUTPUT_PADDING = (0, 0)
# The dtype the kernels compute in; None: their operands' own (see compute_dtype).
_compute_dtype: torch.dtype | None = None


@contextlib.contextmanager
def compute_dtype(dtype: torch.dtype | None) -> Iterator[None]:
    """Within this block (process-wide), the convolutions of :func:`conv2d_any_order` and all
    their derivatives compute in ``dtype``, their results cast back to the operands' dtype;
    ``None`` leaves them alone. On the paper learner's sizes bfloat16 convolutions on an Intel
    Xeon's AMX units run 2.5-4.4x faster than float32 ones (a whole GTN meta-gradient 1.42x)."""
    global _compute_dtype
    previous, _compute_dtype = _compute_dtype, dtype
    try:
        yield
    finally:
        _compute_dtype = previous


def _cast(t: torch.Tensor | None, dtype: torch.dtype | None) -> torch.Tensor | None:
    return t if t is None or dtype is None else t.to(dtype)


@dataclass(frozen=True)
class ConvGeometry:
    """Stride, padding and groups of a 2-D convolution (dilation 1)."""

    stride: tuple[int, int]
    padding: tuple[int, int]
    groups: int

    @classmethod
    def of(
        cls, stride: int | tuple[int, int], padding: int | tuple[int, int], groups: int
    ) -> ConvGeometry:
        def pair(value: int | tuple[int, int]) -> tuple[int, int]:
            return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))

        return cls(pair(stride), pair(padding), groups)


def _conv(
    x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None, geo: ConvGeometry
) -> torch.Tensor:
    dtype = _compute_dtype if _compute_dtype != x.dtype else None
    y = torch.ops.aten.convolution(
        _cast(x, dtype), _cast(w, dtype), _cast(b, dtype),
        geo.stride, geo.padding, _DILATION, False, _NO_OUTPUT_PADDING, geo.groups,
    )  # fmt: skip
    return y if dtype is None else y.to(x.dtype)


def _conv_backward(
    gy: torch.Tensor, x: torch.Tensor, w: torch.Tensor, geo: ConvGeometry, mask: list[bool]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    # x and w give the shapes (and the suggested memory format) of what is not computed
    dtype = _compute_dtype if _compute_dtype != gy.dtype else None
    grads = torch.ops.aten.convolution_backward(
        _cast(gy, dtype), _cast(x, dtype), _cast(w, dtype), None,
        geo.stride, geo.padding, _DILATION, False, _NO_OUTPUT_PADDING, geo.groups, mask,
    )  # fmt: skip
    if dtype is None:
        return grads
    gx, gw, gb = grads  # the masked-out ones are undefined (None)
    return _cast(gx, x.dtype), _cast(gw, w.dtype), _cast(gb, gy.dtype)


def _needs(ctx: Any) -> list[bool]:
    """Which of a backward's inputs this backward pass needs a gradient for.

    ``ctx.needs_input_grad`` only says which inputs required grad in the forward; the engine
    drops what its graph task does not use, but a Python backward would compute it first. A
    learner's first-order step asks for the weights' gradients only, while its input (the
    pixels teacher's images, a generator's output) requires grad too: computing that dgrad
    anyway would cost a transposed convolution of the first layer every step. So ask the
    engine, as ``torch.utils.checkpoint`` does; it cannot tell for a leaf under
    ``autograd.grad`` (it raises), and then the gradient is computed.
    """
    # next_functions holds one edge per tensor argument of forward (None arguments have none)
    edges = iter(ctx.next_functions)
    needs = []
    for required, is_tensor in zip(ctx.needs_input_grad, ctx.tensor_args, strict=True):
        node = next(edges)[0] if is_tensor else None
        if not required or node is None:
            needs.append(False)
            continue
        try:
            needs.append(bool(_WILL_EXECUTE(node)) if _WILL_EXECUTE else True)
        except RuntimeError:
            needs.append(True)
    return needs


def _remember(ctx: Any, geo: ConvGeometry, *args: torch.Tensor | None) -> None:
    ctx.geo = geo
    ctx.tensor_args = (*(isinstance(a, torch.Tensor) for a in args), False)  # geo last


class _Conv(Function):
    """y = conv(x, W) + b."""

    @staticmethod
    def forward(ctx: Any, x, w, b, geo: ConvGeometry):  # type: ignore[override]
        ctx.save_for_backward(x, w)
        _remember(ctx, geo, x, w, b)
        return _conv(x, w, b, geo)

    @staticmethod
    def backward(ctx: Any, gy):  # type: ignore[override]
        x, w = ctx.saved_tensors
        geo, need = ctx.geo, _needs(ctx)
        gb = gy.sum(dim=(0, 2, 3)) if need[2] else None
        if not torch.is_grad_enabled():
            # a plain backward (no graph of it is kept): both products in one native call
            if not (need[0] or need[1]):
                return None, None, gb, None
            gx, gw, _ = _conv_backward(gy, x, w, geo, [need[0], need[1], False])
            return gx, gw, gb, None  # what the mask leaves out comes back as None
        gx = _DGrad.apply(gy, x.detach(), w, geo) if need[0] else None
        gw = _WGrad.apply(gy, x, w.detach(), geo) if need[1] else None
        return gx, gw, gb, None


class _DGrad(Function):
    """dgrad(gy, W): the gradient of conv(x, W) with respect to x (``x_like`` gives its shape)."""

    @staticmethod
    def forward(ctx: Any, gy, x_like, w, geo: ConvGeometry):  # type: ignore[override]
        ctx.save_for_backward(gy, w)
        _remember(ctx, geo, gy, x_like, w)
        return _conv_backward(gy, x_like, w, geo, [True, False, False])[0]

    @staticmethod
    def backward(ctx: Any, h):  # type: ignore[override]
        gy, w = ctx.saved_tensors
        geo, need = ctx.geo, _needs(ctx)
        g_gy = _Conv.apply(h, w, None, geo) if need[0] else None
        g_w = _WGrad.apply(gy, h, w.detach(), geo) if need[2] else None
        return g_gy, None, g_w, None


class _WGrad(Function):
    """wgrad(gy, x): the gradient of conv(x, W) with respect to W (``w_like`` gives its shape)."""

    @staticmethod
    def forward(ctx: Any, gy, x, w_like, geo: ConvGeometry):  # type: ignore[override]
        ctx.save_for_backward(gy, x)
        _remember(ctx, geo, gy, x, w_like)
        return _conv_backward(gy, x, w_like, geo, [False, True, False])[1]

    @staticmethod
    def backward(ctx: Any, big_h):  # type: ignore[override]
        gy, x = ctx.saved_tensors
        geo, need = ctx.geo, _needs(ctx)
        g_gy = _Conv.apply(x, big_h, None, geo) if need[0] else None
        g_x = _DGrad.apply(gy, x.detach(), big_h, geo) if need[1] else None
        return g_gy, g_x, None, None


def conv2d_any_order(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    stride: int | tuple[int, int],
    padding: int | tuple[int, int],
    groups: int = 1,
) -> torch.Tensor:
    """``F.conv2d`` (dilation 1) with derivatives of every order on the native kernels.

    x: (B, C_in, H, W), weight: (C_out, C_in / groups, kh, kw), bias: (C_out,) or None ->
    (B, C_out, H', W'), the same numbers as ``F.conv2d``.
    """
    return _Conv.apply(x, weight, bias, ConvGeometry.of(stride, padding, groups))
