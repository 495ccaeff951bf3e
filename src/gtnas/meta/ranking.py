"""A ranking-aware meta-objective (beyond the paper): the teacher is also asked to reproduce the
real-trained order of a calibration set of architectures.

A GTN is meant to rank architectures, yet its meta-loss only asks that learners do well. With
``meta.rank_weight`` lambda > 0 the learners of a meta-step (``meta.learners_per_step`` L >= 2)
are drawn from calibration architectures whose accuracy after long real training is known
(``TeachRunConfig.calibration``: genotype -> validation accuracy, e.g. the first architectures
of a truth set, which a proxy is then never judged on). After T steps on the teacher, learner
i's real-data loss l_i should order them as their accuracies a_i do; the pairwise logistic
(RankNet) loss over the pairs with a_i > a_j,

    R = mean over pairs of softplus((l_i - l_j) / tau),

is added to the meta-objective: mean_i L_i + lambda * R. Its meta-gradient needs no second
graph: dR/dtheta = sum_i (dR/dl_i) dl_i/dtheta, and dl_i/dtheta is the gradient of learner
i's last-step loss, which its meta-gradient already computes; so learner i's last step is
weighted ``lambda * L * dR/dl_i`` more (L: the mean over learners divides it again). The
weights need every learner's l_i first: a forward pass without a graph (about a third of a
meta-gradient's cost) reads them, and the same draws are replayed for the meta-gradients.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def ranking_loss(
    losses: Sequence[float], accuracies: Sequence[float], temperature: float
) -> tuple[float, list[float]]:
    """(R, [dR/dl_i]): the mean pairwise logistic loss over the pairs with a_i > a_j, and its
    derivative by each loss. No such pair (all accuracies equal): (0, zeros)."""
    if len(losses) != len(accuracies):
        raise ValueError("one accuracy per learner's loss")
    if temperature <= 0:
        raise ValueError(f"the ranking temperature must be > 0, got {temperature}")
    n = len(losses)
    pairs = [(i, j) for i in range(n) for j in range(n) if accuracies[i] > accuracies[j]]
    grads = [0.0] * n
    if not pairs:
        return 0.0, grads
    total = 0.0
    for i, j in pairs:
        margin = (losses[i] - losses[j]) / temperature  # > 0: the better one has the higher loss
        total += _softplus(margin)
        slope = _sigmoid(margin) / temperature / len(pairs)
        grads[i] += slope
        grads[j] -= slope
    return total / len(pairs), grads


def concordance(losses: Sequence[float], accuracies: Sequence[float]) -> float | None:
    """Kendall's tau-a between -loss and accuracy over the learners' pairs (None without a
    pair of distinct accuracies): how well one meta-step's learners were ordered."""
    n = len(losses)
    agree = disagree = 0
    for i in range(n):
        for j in range(i + 1, n):
            da, dl = accuracies[i] - accuracies[j], losses[j] - losses[i]
            if da == 0:
                continue
            if da * dl > 0:
                agree += 1
            elif da * dl < 0:
                disagree += 1
    counted = agree + disagree
    return None if counted == 0 else (agree - disagree) / counted


def _softplus(x: float) -> float:
    return x + math.log1p(math.exp(-x)) if x > 0 else math.log1p(math.exp(x))


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)
