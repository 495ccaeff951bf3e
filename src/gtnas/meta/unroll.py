"""The inner loop and its meta-gradient, written as plain functions (paper section 2).

A learner is trained for T steps of SGD with momentum on a teacher's batches:

    v_{t+1} = mu_t * v_t + grad_w L(w_t; teacher.batch(t))
    w_{t+1} = w_t - lr_t * v_{t+1}

and the meta-loss is the learner's loss on real training batches after selected steps
(always after the last), averaged with per-step weights (``META_LOSS_WEIGHTINGS``). Its
gradient with respect to the teacher's parameters flows back through every inner step
(second-order: the inner gradients are built with create_graph=True).

Two ways to compute the same meta-gradient:
- ``unroll``: keep the whole T-step graph in memory, one backward pass (fastest).
- ``checkpoint``: keep only each step's (w_t, v_t); walk the steps backwards, rebuilding one
  step's graph at a time and carrying the adjoints (dL/dw_t, dL/dv_t). Memory O(T * |w|)
  instead of O(T * activations), at the cost of one extra forward-backward per step; this is
  what lets 128-step unrolls fit.

Either can be *truncated* to the last W steps (``truncation=W``): steps 0..T-W-1 run without a
graph (w_{T-W} is then a constant of the meta-gradient), so only the losses after steps
T-W+1..T reach the teacher, through at most W steps each; the weights w_k still come from all
scored losses. W = T (or 0) is the full meta-gradient. A truncated meta-gradient is biased (it
ignores how the early batches shape the late weights) and cheaper: the first T-W steps cost a
plain training step each, and the unrolled graph holds W steps, not T.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from gtnas.learners.layers import shared_weight_norm
from gtnas.teachers.base import Teacher

Tensors = tuple[torch.Tensor, ...]
RealBatch = tuple[torch.Tensor, torch.Tensor]


@dataclass
class LearnerState:
    """Weights ``w`` and momentum buffers ``v`` of a learner, in ``names`` order."""

    names: tuple[str, ...]
    params: Tensors
    velocity: Tensors

    @classmethod
    def from_module(cls, learner: nn.Module) -> LearnerState:
        names, params = zip(*learner.named_parameters(), strict=True)
        params = tuple(p.detach().clone() for p in params)
        return cls(tuple(names), params, tuple(torch.zeros_like(p) for p in params))

    def as_dict(self) -> dict[str, torch.Tensor]:
        return dict(zip(self.names, self.params, strict=True))


def learner_loss(
    learner: nn.Module,
    names: Sequence[str],
    params: Tensors,
    x: torch.Tensor,
    targets: torch.Tensor,
) -> torch.Tensor:
    """Cross-entropy of the learner with weights ``params`` on (x, targets); targets are class
    indices (B,) or probabilities (B, K)."""
    logits = functional_call(learner, dict(zip(names, params, strict=True)), (x,))
    return F.cross_entropy(logits, targets)


def inner_step(
    learner: nn.Module,
    names: Sequence[str],
    params: Tensors,
    velocity: Tensors,
    x: torch.Tensor,
    targets: torch.Tensor,
    lr: torch.Tensor,
    momentum: torch.Tensor,
    *,
    create_graph: bool,
) -> tuple[Tensors, Tensors, torch.Tensor]:
    """One SGD-with-momentum step; differentiable in everything when ``create_graph``."""
    loss = learner_loss(learner, names, params, x, targets)
    # allow_unused: a sampled architecture may leave some weights off every path to the output
    # (e.g. an NB-201 node whose outgoing edges are all 'none'); their gradient is zero.
    grads = torch.autograd.grad(loss, params, create_graph=create_graph, allow_unused=True)
    grads = tuple(
        torch.zeros_like(p) if g is None else g for g, p in zip(grads, params, strict=True)
    )
    velocity = tuple(momentum * v + g for v, g in zip(velocity, grads, strict=True))
    params = tuple(p - lr * v for p, v in zip(params, velocity, strict=True))
    return params, velocity, loss


def train_learner(
    learner: nn.Module,
    teacher: Teacher,
    *,
    steps: int | None = None,
    start: int = 0,
    state: LearnerState | None = None,
    on_step: Callable[[int, LearnerState, float], None] | None = None,
) -> LearnerState:
    """Train ``learner`` on the teacher's batches without meta-gradients (the evaluation of a
    teacher). Call ``teacher.begin_episode`` first.

    Runs steps ``start .. steps - 1`` (default: all of the teacher's) from ``state`` (default:
    the learner's current weights, zero momentum), so a run can be continued in segments.
    ``on_step(t, state, loss)`` is called after each step (t counts from 1).
    """
    state = LearnerState.from_module(learner) if state is None else state
    steps = teacher.inner_steps if steps is None else steps
    for t in range(start, steps):
        with torch.no_grad():
            x, targets = teacher.batch(t)
            lr, momentum = teacher.optimizer.lr(t), teacher.optimizer.momentum(t)
        params = tuple(p.requires_grad_() for p in state.params)
        new_params, velocity, loss = inner_step(
            learner,
            state.names,
            params,
            state.velocity,
            x,
            targets,
            lr,
            momentum,
            create_graph=False,
        )
        state = LearnerState(state.names, tuple(p.detach() for p in new_params), velocity)
        if on_step is not None:
            on_step(t + 1, state, float(loss.detach()))
    return state


@torch.no_grad()
def evaluate_accuracy(
    learner: nn.Module,
    state: LearnerState,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    batch_size: int = 1000,
) -> float:
    """Accuracy (0..1) of the learner with weights ``state`` on (images, labels)."""
    weights = state.as_dict()
    device = state.params[0].device
    # Near-equal chunks of at most ``batch_size``: learners with batch-statistics norm layers
    # see no tiny last chunk with noisy statistics.
    chunks = max(1, -(-labels.numel() // batch_size))
    correct = 0
    for x, y in zip(images.tensor_split(chunks), labels.tensor_split(chunks), strict=True):
        logits = functional_call(learner, weights, (x.to(device),))
        correct += int((logits.argmax(1) == y.to(device)).sum())
    return correct / max(1, labels.numel())


# How the real-data losses L_k after the scored steps k are weighted into the meta-loss
# sum_k w_k L_k (weights sum to 1, held constant in the gradient):
# - uniform: w_k = 1/n, the mean (the public code's MNIST meta-loss). The first steps' large
#   losses and gradients dominate it, so it rewards fast early learning as much as the final
#   accuracy a teacher is judged by;
# - linear: w_k proportional to k, the last step weighing T times the first;
# - inverse-loss: w_k proportional to 1/L_k, i.e. the gradient of the mean of log L_k: every
#   step's relative improvement counts the same, so the late steps' small losses are heard.
META_LOSS_WEIGHTINGS = ("uniform", "linear", "inverse-loss")


def _check_weighting(weighting: str) -> None:
    if weighting not in META_LOSS_WEIGHTINGS:
        raise ValueError(
            f"unknown meta-loss weighting {weighting!r}; use {', '.join(META_LOSS_WEIGHTINGS)}"
        )


def step_weights(losses: dict[int, float], weighting: str) -> dict[int, float]:
    """The weights {k: w_k} (summing to 1) of the scored steps' losses {k: L_k}."""
    _check_weighting(weighting)
    if weighting == "uniform":
        raw = {k: 1.0 for k in losses}
    elif weighting == "linear":
        raw = {k: float(k) for k in losses}
    else:  # inverse-loss
        # A non-finite loss gives non-finite weights, and the step is skipped as non-finite.
        raw = {k: 1.0 / max(loss, 1e-12) for k, loss in losses.items()}
    total = sum(raw.values())
    return {k: w / total for k, w in raw.items()}


@dataclass
class MetaGradient:
    meta_loss: float  # mean real-data loss over the scored steps (whatever the weighting)
    final_loss: float  # real-data loss after the last step
    grads: Tensors  # d (sum_k w_k L_k) / d teacher.meta_parameters(), None replaced by zeros
    step_losses: dict[int, float]  # L_k after each scored step k
    weights: dict[int, float]  # w_k, from step_weights (the last plus any final_weight)


def meta_gradient(
    learner: nn.Module,
    teacher: Teacher,
    real_batches: dict[int, RealBatch],
    *,
    mode: str = "unroll",
    weighting: str = "uniform",
    truncation: int = 0,
    final_weight: float = 0.0,
) -> MetaGradient:
    """Meta-gradient of the weighted real-data loss after the steps in ``real_batches`` (keys
    in 1..T; T must be present) with respect to ``teacher.meta_parameters()``; with
    ``final_weight`` c, of that plus c times the last step's loss (a ranking objective's share,
    :mod:`gtnas.meta.ranking`).

    Train a fresh learner on the teacher (``begin_episode`` already called), differentiating
    through every inner step, or the last ``truncation`` ones (0: all; see the module).
    ``mode`` is ``"unroll"`` or ``"checkpoint"`` (same result); ``weighting`` one of
    ``META_LOSS_WEIGHTINGS``.
    """
    steps = teacher.inner_steps
    if steps not in real_batches or any(not 1 <= k <= steps for k in real_batches):
        raise ValueError(f"real_batches keys must lie in 1..{steps} and include {steps}")
    if truncation < 0:
        raise ValueError(f"truncation must be >= 0 (0: the full meta-gradient), got {truncation}")
    _check_weighting(weighting)  # before the unroll, not after it
    meta_params = tuple(teacher.meta_parameters())
    state = LearnerState.from_module(learner)
    first = max(0, steps - truncation) if truncation else 0  # the first step with a graph
    if first:  # the steps before the window: plain training, their scored losses read only
        state, early = _plain_steps(learner, teacher, state, real_batches, first)
    else:
        early = {}
    if mode == "unroll":
        losses = _unrolled(learner, teacher, state, real_batches, start=first)
        # one read of all the scored losses, not one per step
        values = dict(zip(losses, torch.stack(list(losses.values())).tolist(), strict=True))
        values = {**early, **values}
        weights = step_weights(values, weighting)
        weights[steps] += final_weight
        objective = torch.stack([weights[k] * loss for k, loss in losses.items()]).sum()
        grads = torch.autograd.grad(objective, meta_params, allow_unused=True)
    elif mode == "checkpoint":
        values, weights, grads = _checkpointed(
            learner, teacher, state, real_batches, meta_params, weighting, start=first,
            early=early, final_weight=final_weight,
        )  # fmt: skip
    else:
        raise ValueError(f"unknown meta-gradient mode {mode!r}; use 'unroll' or 'checkpoint'")
    grads = tuple(
        torch.zeros_like(p) if g is None else g for p, g in zip(meta_params, grads, strict=True)
    )
    meta_loss = sum(values.values()) / len(values)
    return MetaGradient(meta_loss, values[steps], grads, values, weights)


def _step_with_real_loss(
    learner: nn.Module,
    teacher: Teacher,
    state: LearnerState,
    params: Tensors,
    velocity: Tensors,
    t: int,
    real_batches: dict[int, RealBatch],
) -> tuple[Tensors, Tensors, torch.Tensor | None]:
    """Inner step t (0-based) with create_graph, plus the real loss after it if scored."""
    x, targets = teacher.batch(t)
    lr, momentum = teacher.optimizer.lr(t), teacher.optimizer.momentum(t)
    params, velocity, _ = inner_step(
        learner, state.names, params, velocity, x, targets, lr, momentum, create_graph=True
    )
    real = real_batches.get(t + 1)
    real_loss = None if real is None else learner_loss(learner, state.names, params, *real)
    return params, velocity, real_loss


def _plain_steps(
    learner: nn.Module,
    teacher: Teacher,
    state: LearnerState,
    real_batches: dict[int, RealBatch],
    steps: int,
) -> tuple[LearnerState, dict[int, float]]:
    """Steps 0..steps-1 without a graph (a truncated meta-gradient's prefix): the state after
    them and the scored real losses {k: L_k} among them, as numbers."""
    values: dict[int, float] = {}

    def read(t: int, after: LearnerState, _loss: float) -> None:
        if t in real_batches:
            with torch.no_grad():
                values[t] = float(
                    learner_loss(learner, after.names, after.params, *real_batches[t])
                )

    state = train_learner(learner, teacher, steps=steps, state=state, on_step=read)
    velocity = tuple(v.detach() for v in state.velocity)
    return LearnerState(state.names, state.params, velocity), values


def _unrolled(
    learner: nn.Module,
    teacher: Teacher,
    state: LearnerState,
    real_batches: dict[int, RealBatch],
    *,
    start: int = 0,
) -> dict[int, torch.Tensor]:
    """The real losses {k: L_k} scored after steps start+1..T, each with its graph back to the
    teacher through steps start..T-1 (``state`` holds w_start, v_start)."""
    params = tuple(p.detach().requires_grad_() for p in state.params)
    velocity = state.velocity
    losses = {}
    with shared_weight_norm():  # w_{t+1} serves the real loss and step t+1; G's w every step
        for t in range(start, teacher.inner_steps):
            params, velocity, real_loss = _step_with_real_loss(
                learner, teacher, state, params, velocity, t, real_batches
            )
            if real_loss is not None:
                losses[t + 1] = real_loss
    return losses


def _checkpointed(
    learner: nn.Module,
    teacher: Teacher,
    state: LearnerState,
    real_batches: dict[int, RealBatch],
    meta_params: Tensors,
    weighting: str,
    *,
    start: int = 0,
    early: dict[int, float] | None = None,
    final_weight: float = 0.0,
) -> tuple[dict[int, float], dict[int, float], Tensors]:
    steps = teacher.inner_steps
    # Forward sweep without a graph, remembering (w_t, v_t) for t = start..T-1; the scored
    # losses it reads (with those of a truncated prefix, ``early``) fix the weights the
    # backward sweep uses.
    saved: dict[int, tuple[Tensors, Tensors]] = {}
    params, velocity = state.params, state.velocity
    values: dict[int, float] = dict(early or {})
    for t in range(start, steps):
        saved[t] = (params, velocity)
        with torch.no_grad():
            x, targets = teacher.batch(t)
            lr, momentum = teacher.optimizer.lr(t), teacher.optimizer.momentum(t)
        params_in = tuple(p.detach().requires_grad_() for p in params)
        params, velocity, _ = inner_step(
            learner,
            state.names,
            params_in,
            velocity,
            x,
            targets,
            lr,
            momentum,
            create_graph=False,
        )
        params = tuple(p.detach() for p in params)
        velocity = tuple(v.detach() for v in velocity)
        if t + 1 in real_batches:
            with torch.no_grad():
                loss = learner_loss(learner, state.names, params, *real_batches[t + 1])
            values[t + 1] = float(loss)
    weights = step_weights(values, weighting)
    weights[steps] += final_weight
    # Backward sweep: rebuild step t's graph from (w_t, v_t) and push the adjoints through it.
    grads = [torch.zeros_like(p) for p in meta_params]
    adj_params: Tensors | None = None  # dL/dw_{t+1}
    adj_velocity: Tensors | None = None  # dL/dv_{t+1}
    for t in reversed(range(start, steps)):
        params_t = tuple(p.detach().requires_grad_() for p in saved[t][0])
        velocity_t = tuple(v.detach().requires_grad_(t > start) for v in saved[t][1])
        new_params, new_velocity, real_loss = _step_with_real_loss(
            learner, teacher, state, params_t, velocity_t, t, real_batches
        )
        outputs: list[torch.Tensor] = []
        grad_outputs: list[torch.Tensor] = []
        if adj_params is not None and adj_velocity is not None:
            outputs += [*new_params, *new_velocity]
            grad_outputs += [*adj_params, *adj_velocity]
        if real_loss is not None:
            outputs.append(real_loss)
            grad_outputs.append(torch.full_like(real_loss, weights[t + 1]))
        inputs = params_t + (velocity_t if t > start else ()) + meta_params
        # An output without a graph does not depend on the inputs: with a fixed inner schedule,
        # a layer the learner never uses (an NB-201 cell's `none` edges can cut one off) gets
        # zero inner gradients, so its w_{t+1} and v_{t+1} carry no graph and add nothing.
        kept = [(o, g) for o, g in zip(outputs, grad_outputs, strict=True) if o.requires_grad]
        result: Sequence[torch.Tensor | None] = (
            torch.autograd.grad(
                [o for o, _ in kept], inputs, [g for _, g in kept], allow_unused=True
            )
            if kept
            else [None] * len(inputs)
        )
        n = len(params_t)
        adj_params = tuple(
            torch.zeros_like(p) if g is None else g
            for p, g in zip(params_t, result[:n], strict=True)
        )
        if t > start:
            adj_velocity = tuple(
                torch.zeros_like(v) if g is None else g
                for v, g in zip(velocity_t, result[n : 2 * n], strict=True)
            )
        for i, g in enumerate(result[len(inputs) - len(meta_params) :]):
            if g is not None:
                grads[i] += g
    return values, weights, tuple(grads)
