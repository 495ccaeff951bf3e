"""A meta-training run small enough for the tests (seconds on one thread), shared by the
tests that need a real run folder."""

from gtnas.learners import ConvLearnerConfig
from gtnas.meta.meta_step import MetaTrainConfig
from gtnas.meta.run import TeachRunConfig
from gtnas.teachers import GeneratorConfig, TeacherConfig

TINY_LEARNER = ConvLearnerConfig(channels=(8, 16), fc=32)
TINY_GENERATOR = GeneratorConfig(noise_dim=32, hidden=128, channels=32, mid_channels=16)


def tiny_config(iterations: int, **meta) -> TeachRunConfig:
    """A GTN on 5,000 MNIST images: 8 inner steps of 32, a checkpoint every 5 iterations."""
    return TeachRunConfig(
        dataset="mnist",
        teacher="gtn",
        device="cpu",
        train_subset=5000,
        checkpoint_every=5,
        teacher_options=TeacherConfig(inner_steps=8, batch_size=32, generator=TINY_GENERATOR),
        learner_options=TINY_LEARNER,
        meta=MetaTrainConfig(
            iterations=iterations,
            meta_lr=0.01,
            real_batch_size=64,
            eval_every=5,
            eval_examples=500,
            **meta,
        ),
    )
