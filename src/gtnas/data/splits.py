"""The validation split: a fixed, seeded part of the training set.

The test set is never touched; validation images are carved from the training files so that
search and early stopping never see the test set.
"""

from __future__ import annotations

import numpy as np
import torch

from gtnas.errors import ConfigError
from gtnas.seeding import make_generator


def default_val_size(n_train: int) -> int:
    """For a user's folder: a sixth of the training set (MNIST's 10,000 of 60,000), at least 1."""
    return max(1, n_train // 6)


def split_indices(n_train: int, val_size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(train, val)`` indices into the training files: the first ``val_size`` entries of a
    permutation drawn from ``torch.Generator().manual_seed(seed)`` are validation.

    The same ``(n_train, val_size, seed)`` gives the same split on every machine. Each part is
    sorted, so both keep the files' order.
    """
    if not 0 <= val_size < n_train:
        raise ConfigError(
            f"val_size={val_size} must be at least 0 and less than the {n_train} training images"
        )

    permutation = torch.randperm(n_train, generator=make_generator(seed)).numpy()  # (n_train,)
    return np.sort(permutation[val_size:]), np.sort(permutation[:val_size])
