"""Evaluating teachers: training in segments, accuracy, and the real-steps-to-match search."""

import torch
from torch import nn

from gtnas.learners import ConvLearnerConfig, FixedLearnerSampler, WNLinear, init_learner
from gtnas.meta import LearnerState, evaluate_accuracy, train_learner
from gtnas.meta.fresh_learners import real_steps_to_match, real_teacher

X = torch.randn(400, 1, 8, 8, generator=torch.Generator().manual_seed(0))
Y = (X.mean((1, 2, 3)) > 0).long()
SAMPLER = FixedLearnerSampler((1, 8, 8), 2, ConvLearnerConfig(channels=(4,), fc=8))


def test_training_in_segments_equals_one_run():
    teacher = real_teacher(X, Y, 10, 0.1, 0.9, batch_size=32)
    learner = SAMPLER.default(torch.Generator().manual_seed(1))
    teacher.begin_episode(torch.Generator().manual_seed(2))
    whole = train_learner(learner, teacher)
    teacher.begin_episode(torch.Generator().manual_seed(2))
    half = train_learner(learner, teacher, steps=4)
    rest = train_learner(learner, teacher, start=4, state=half)
    for a, b in zip(whole.params + whole.velocity, rest.params + rest.velocity, strict=True):
        assert torch.equal(a, b)


def test_accuracy_matches_a_direct_computation():
    learner = init_learner(
        nn.Sequential(nn.Flatten(), WNLinear(64, 2)), torch.Generator().manual_seed(0)
    )
    expected = int((learner(X).argmax(1) == Y).sum()) / len(Y)
    state = LearnerState.from_module(learner)
    assert abs(evaluate_accuracy(learner, state, X, Y, batch_size=150) - expected) < 1e-9


def test_real_steps_to_match_finds_the_first_checkpoint_reaching_the_target():
    kwargs = dict(lr=0.1, momentum=0.9, batch_size=32, checkpoints=(4, 8, 16, 32, 64))
    needed, curve = real_steps_to_match(0.0, SAMPLER, (X, Y), (X, Y), **kwargs)
    assert needed == 4 and list(curve) == [4]  # stops at the first match
    needed, curve = real_steps_to_match(1.01, SAMPLER, (X, Y), (X, Y), **kwargs)
    assert needed is None and list(curve) == [4, 8, 16, 32, 64]
    target = curve[32] - 1e-9
    first = min(step for step, acc in curve.items() if acc >= target)
    needed, _ = real_steps_to_match(target, SAMPLER, (X, Y), (X, Y), **kwargs)
    assert needed == first


def test_assessment_curve_steps_are_every_step_or_a_geometric_grid():
    from gtnas.meta.run_assessment import curve_steps_for

    assert curve_steps_for(16) == list(range(1, 17))
    grid = curve_steps_for(32)
    assert grid == [1, 2, 3, 4, 5, 6, 8, 10, 13, 16, 20, 25, 32]
    for steps in (17, 128, 1000):
        grid = curve_steps_for(steps)
        assert grid[0] == 1 and grid[-1] == steps and len(grid) <= 16
        assert grid == sorted(set(grid))
