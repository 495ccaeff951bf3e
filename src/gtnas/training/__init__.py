"""Final training of a found architecture on real data (``gtnas arch train``): the standard
recipe (:mod:`~gtnas.training.recipe`), batched seeded augmentation
(:mod:`~gtnas.training.augment`), size and cost (:mod:`~gtnas.training.measure`) and the
resumable training loop (:mod:`~gtnas.training.trainer`)."""

from gtnas.training.augment import AUGMENTATIONS, create_augmentation, crop_and_flip
from gtnas.training.measure import count_flops, count_parameters
from gtnas.training.recipe import FinalTrainConfig, learning_rate_factor
from gtnas.training.trainer import (
    FinalTrainResult,
    build_network,
    evaluate,
    load_train_config,
    train_network,
)

__all__ = [
    "AUGMENTATIONS",
    "FinalTrainConfig",
    "FinalTrainResult",
    "build_network",
    "count_flops",
    "count_parameters",
    "create_augmentation",
    "crop_and_flip",
    "evaluate",
    "learning_rate_factor",
    "load_train_config",
    "train_network",
]
