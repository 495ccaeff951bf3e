"""The bilevel loop: a learner's differentiable inner training on a teacher's batches, the
meta-gradient through that whole run, and the meta-training of the teacher."""

from gtnas.meta.unroll import (
    LearnerState,
    evaluate_accuracy,
    inner_step,
    learner_loss,
    meta_gradient,
    train_learner,
)

__all__ = [
    "LearnerState",
    "evaluate_accuracy",
    "inner_step",
    "learner_loss",
    "meta_gradient",
    "train_learner",
]
