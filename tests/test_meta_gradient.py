"""Meta-gradients through the unrolled inner loop, checked against finite differences."""

import pytest
import torch
from torch import nn

from gtnas.learners import WNLinear, init_learner
from gtnas.meta import meta_gradient
from gtnas.teachers import GeneratorConfig, TeacherConfig, create_teacher

IMAGE = (1, 4, 4)
CLASSES = 3


def tiny_learner(seed: int) -> nn.Module:
    learner = nn.Sequential(nn.Flatten(), WNLinear(16, 8), nn.LeakyReLU(0.1), WNLinear(8, CLASSES))
    return init_learner(learner, torch.Generator().manual_seed(seed)).double()


def tiny_teacher(name: str, soft_labels: bool = False):
    config = TeacherConfig(
        inner_steps=3,
        batch_size=6,
        lr=0.1,
        momentum=0.5,
        soft_labels=soft_labels,
        generator=GeneratorConfig(noise_dim=4, hidden=8, channels=2, mid_channels=2),
    )
    g = torch.Generator().manual_seed(1)
    real_x = torch.randn(40, *IMAGE, generator=g, dtype=torch.float64)
    real_y = torch.randint(0, CLASSES, (40,), generator=g)
    teacher = create_teacher(
        name, config, IMAGE, CLASSES, real_images=real_x, real_labels=real_y, generator=g
    ).double()
    teacher.begin_episode(torch.Generator().manual_seed(2))
    return teacher


def real_batches(steps: int) -> dict:
    g = torch.Generator().manual_seed(3)
    return {
        t: (
            torch.randn(10, *IMAGE, generator=g, dtype=torch.float64),
            torch.randint(0, CLASSES, (10,), generator=g),
        )
        for t in range(1, steps + 1)
    }


def finite_difference(
    teacher, learner, batches, direction, eps=1e-6, value_of=lambda result: result.meta_loss
) -> float:
    """Central difference along ``direction`` of ``value_of(meta_gradient(...))``."""
    params = teacher.meta_parameters()

    def loss_at(scale: float) -> float:
        with torch.no_grad():
            for p, d in zip(params, direction, strict=True):
                p.add_(d, alpha=scale)
        value = value_of(meta_gradient(learner, teacher, batches, mode="unroll"))
        with torch.no_grad():
            for p, d in zip(params, direction, strict=True):
                p.sub_(d, alpha=scale)
        return value

    return (loss_at(eps) - loss_at(-eps)) / (2 * eps)


@pytest.mark.parametrize(
    "name,soft",
    [("gtn", False), ("gtn", True), ("pixels", True), ("gtn-nocurriculum", False), ("real", False)],
)
@pytest.mark.parametrize("mode", ["unroll", "checkpoint"])
def test_meta_gradient_matches_finite_differences(name, soft, mode):
    teacher = tiny_teacher(name, soft)
    learner = tiny_learner(0)
    batches = real_batches(teacher.inner_steps)
    result = meta_gradient(learner, teacher, batches, mode=mode)
    g = torch.Generator().manual_seed(4)
    for _ in range(2):
        direction = [
            torch.randn(p.shape, generator=g, dtype=torch.float64)
            for p in teacher.meta_parameters()
        ]
        analytic = sum(float((gr * d).sum()) for gr, d in zip(result.grads, direction, strict=True))
        numeric = finite_difference(teacher, learner, batches, direction)
        assert analytic == pytest.approx(numeric, rel=1e-5, abs=1e-8)


def test_checkpointed_equals_unrolled_with_sparse_scoring():
    teacher = tiny_teacher("gtn", soft_labels=True)
    learner = tiny_learner(5)
    batches = {k: v for k, v in real_batches(3).items() if k in (1, 3)}
    a = meta_gradient(learner, teacher, batches, mode="unroll")
    b = meta_gradient(learner, teacher, batches, mode="checkpoint")
    assert a.meta_loss == pytest.approx(b.meta_loss, rel=1e-12)
    for ga, gb in zip(a.grads, b.grads, strict=True):
        torch.testing.assert_close(ga, gb, rtol=1e-9, atol=1e-12)


def test_every_teacher_gets_nonzero_meta_gradients_including_schedule():
    for name in ("gtn", "gtn-nocurriculum", "pixels", "real"):
        teacher = tiny_teacher(name, soft_labels=name in ("gtn", "pixels"))
        result = meta_gradient(tiny_learner(0), teacher, real_batches(3), mode="unroll")
        named = dict(
            zip(
                [n for n, p in teacher.named_parameters() if p.requires_grad],
                result.grads,
                strict=True,
            )
        )
        assert named["optimizer.log_lr"].abs().sum() > 0, name
        assert named["optimizer.momentum_logit"][1:].abs().sum() > 0, (
            name
        )  # mu_0 multiplies v_0 = 0
        for key, grad in named.items():
            assert torch.isfinite(grad).all(), (name, key)
            if key.startswith("optimizer.momentum_logit"):
                continue
            assert grad.abs().sum() > 0, (name, key)


@pytest.mark.parametrize("weighting", ["linear", "inverse-loss"])
@pytest.mark.parametrize("mode", ["unroll", "checkpoint"])
def test_weighted_meta_gradient_matches_finite_differences_of_the_weighted_losses(weighting, mode):
    """The gradient is that of sum_k w_k L_k with the weights held at their reported values:
    checked against central differences of the per-step losses the function reports."""
    teacher = tiny_teacher("gtn", soft_labels=True)
    learner = tiny_learner(0)
    batches = real_batches(teacher.inner_steps)
    result = meta_gradient(learner, teacher, batches, mode=mode, weighting=weighting)
    losses = result.step_losses
    inverse = {k: 1 / v for k, v in losses.items()}
    expected = {
        "linear": {k: k / sum(losses) for k in losses},
        "inverse-loss": {k: w / sum(inverse.values()) for k, w in inverse.items()},
    }[weighting]
    assert result.weights == pytest.approx(expected, rel=1e-12)
    assert result.meta_loss == pytest.approx(sum(losses.values()) / len(losses), rel=1e-12)
    params = teacher.meta_parameters()
    direction = [
        torch.randn(p.shape, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
        for p in params
    ]

    def weighted_loss(perturbed) -> float:  # the weights held at the unperturbed values
        return sum(result.weights[k] * v for k, v in perturbed.step_losses.items())

    numeric = finite_difference(teacher, learner, batches, direction, value_of=weighted_loss)
    analytic = sum(float((g * d).sum()) for g, d in zip(result.grads, direction, strict=True))
    assert analytic == pytest.approx(numeric, rel=1e-5, abs=1e-8)
    # A weighting that differs from the mean moves the gradient (the test can fail).
    uniform = meta_gradient(learner, teacher, batches, mode=mode)
    assert not torch.allclose(uniform.grads[0], result.grads[0])


def test_unknown_meta_loss_weighting_is_named():
    teacher = tiny_teacher("gtn")
    with pytest.raises(ValueError, match=r"unknown meta-loss weighting 'log'.*inverse-loss"):
        meta_gradient(tiny_learner(0), teacher, real_batches(3), weighting="log")


@pytest.mark.parametrize("mode", ["unroll", "checkpoint"])
def test_truncation_to_all_steps_is_the_full_meta_gradient(mode):
    teacher = tiny_teacher("gtn")
    batches = real_batches(teacher.inner_steps)
    full = meta_gradient(tiny_learner(0), teacher, batches, mode=mode)
    for window in (teacher.inner_steps, teacher.inner_steps + 5):
        cut = meta_gradient(tiny_learner(0), teacher, batches, mode=mode, truncation=window)
        assert cut.meta_loss == full.meta_loss and cut.step_losses == full.step_losses
        for a, b in zip(cut.grads, full.grads, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=0)


@pytest.mark.parametrize("name", ["gtn", "pixels"])
def test_a_truncated_meta_gradient_reaches_only_the_last_steps(name):
    """With W of T steps, the per-step meta-parameters (the learned lr and momentum of each
    step, the pixels' batch of each step) of the first T - W steps get exactly no gradient and
    those of the last W do; unroll and checkpoint agree; the losses read are the full run's."""
    teacher = tiny_teacher(name, soft_labels=True)
    steps = teacher.inner_steps
    batches = real_batches(steps)
    full = meta_gradient(tiny_learner(0), teacher, batches, mode="unroll")
    names = [n for n, p in teacher.named_parameters() if p.requires_grad]
    for window in (1, 2):
        results = [
            meta_gradient(tiny_learner(0), teacher, batches, mode=mode, truncation=window)
            for mode in ("unroll", "checkpoint")
        ]
        for a, b in zip(results[0].grads, results[1].grads, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)
        cut = results[0]
        assert cut.step_losses == pytest.approx(full.step_losses, rel=1e-12)
        assert cut.weights == pytest.approx(full.weights, rel=1e-12)
        per_step = {n: g for n, g in zip(names, cut.grads, strict=True)
                    if g.shape[:1] == (steps,)}  # fmt: skip
        assert per_step, names
        for grad in per_step.values():
            assert torch.all(grad[: steps - window] == 0)
            assert torch.any(grad[steps - window :] != 0)
        differs = any(not torch.equal(a, b) for a, b in zip(cut.grads, full.grads, strict=True))
        assert differs  # truncation drops the early steps' contributions


class _WithUnusedLayer(nn.Module):
    """A learner with a layer its forward never uses, as an NB-201 cell whose `none` edges cut
    a convolution off from the output: that layer's inner gradients are zero, not graphs."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), WNLinear(16, 8), nn.LeakyReLU(0.1),
                                  WNLinear(8, CLASSES))  # fmt: skip
        self.cut_off = WNLinear(16, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def test_checkpointed_equals_unrolled_with_a_fixed_schedule_and_an_unused_layer():
    # With the inner lr and momentum fixed, nothing but the teacher's images carries a graph
    # into the unused layer's step, so its new weights and velocity carry none: the
    # checkpointed backward must leave them out instead of failing.
    teacher = tiny_teacher("gtn")
    teacher.optimizer.requires_grad_(False)  # learn_schedule=False
    learner = init_learner(_WithUnusedLayer(), torch.Generator().manual_seed(6)).double()
    batches = real_batches(teacher.inner_steps)
    a = meta_gradient(learner, teacher, batches, mode="unroll")
    b = meta_gradient(learner, teacher, batches, mode="checkpoint")
    assert a.meta_loss == pytest.approx(b.meta_loss, rel=1e-12)
    for ga, gb in zip(a.grads, b.grads, strict=True):
        torch.testing.assert_close(ga, gb, rtol=1e-9, atol=1e-12)
