"""Learners: the freshly initialised networks a teacher trains.

Every learner is built from weight-normalised layers (Salimans & Kingma 2016), which the GTN
paper found necessary for stable meta-gradients, and is initialised from an explicit
``torch.Generator`` so that a run depends only on its seed. A :class:`LearnerSampler` draws a new
learner (architecture and weights) for each outer iteration; the NAS search spaces plug in as
samplers through the same interface.
"""

from gtnas.learners.family import (
    LEARNER_SAMPLERS,
    ConvLearner,
    ConvLearnerConfig,
    FixedLearnerSampler,
    LearnerSampler,
    RandomWidthLearnerSampler,
    create_learner_sampler,
)
from gtnas.learners.layers import MeanOnlyBatchNorm, WNConv2d, WNLinear, init_learner

__all__ = [
    "LEARNER_SAMPLERS",
    "ConvLearner",
    "ConvLearnerConfig",
    "FixedLearnerSampler",
    "LearnerSampler",
    "MeanOnlyBatchNorm",
    "RandomWidthLearnerSampler",
    "WNConv2d",
    "WNLinear",
    "create_learner_sampler",
    "init_learner",
]
