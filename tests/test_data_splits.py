"""The validation split: seeded, deterministic, a partition of the training files; the test
split never touched."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gtnas.data import load_dataset
from gtnas.data.splits import default_val_size, split_indices
from gtnas.errors import ConfigError


def test_same_seed_same_split_different_seed_different():
    train, val = split_indices(60_000, 10_000, seed=0)
    again_train, again_val = split_indices(60_000, 10_000, seed=0)
    assert np.array_equal(train, again_train) and np.array_equal(val, again_val)
    _, other_val = split_indices(60_000, 10_000, seed=1)
    assert not np.array_equal(val, other_val)


def test_split_is_a_sorted_partition():
    train, val = split_indices(1000, 200, seed=3)
    assert len(train) == 800 and len(val) == 200
    assert np.array_equal(np.sort(np.concatenate([train, val])), np.arange(1000))
    assert np.all(np.diff(train) > 0) and np.all(np.diff(val) > 0)


def test_split_follows_the_torch_generator():
    # The validation set is the first val_size entries of randperm(seed): an independent recipe.
    permutation = torch.randperm(100, generator=torch.Generator().manual_seed(7))
    _, val = split_indices(100, 10, seed=7)
    assert val.tolist() == sorted(permutation[:10].tolist())


@pytest.mark.parametrize("val_size", [-1, 60, 61])
def test_val_size_out_of_range(val_size):
    with pytest.raises(ConfigError, match=f"val_size={val_size}"):
        split_indices(60, val_size, seed=0)


def test_default_val_size():
    assert default_val_size(60_000) == 10_000
    assert default_val_size(5) == 1


def test_seed_changes_val_not_test(idx_folder):
    folder, _ = idx_folder()
    a = load_dataset(f"idx:{folder}", split_seed=0, quiet=True)
    b = load_dataset(f"idx:{folder}", split_seed=0, quiet=True)
    c = load_dataset(f"idx:{folder}", split_seed=1, quiet=True)
    assert torch.equal(a.val.images, b.val.images) and torch.equal(a.train.labels, b.train.labels)
    assert not torch.equal(a.val.images, c.val.images)
    # The normalisation of a user's folder follows its train split, so compare raw test pixels.
    assert torch.allclose(a.denormalise(a.test.images), c.denormalise(c.test.images), atol=1e-6)


def test_val_size_argument(idx_folder):
    folder, _ = idx_folder()
    ds = load_dataset(f"idx:{folder}", val_size=0, quiet=True)
    assert (len(ds.train), len(ds.val)) == (60, 0)
    with pytest.raises(ConfigError):
        load_dataset(f"idx:{folder}", val_size=60, quiet=True)


def test_split_unpacks():
    from gtnas.data import Split

    split = Split(torch.zeros(3, 1, 2, 2), torch.zeros(3, dtype=torch.int64))
    images, labels = split
    assert len(split) == 3 and images.shape == (3, 1, 2, 2) and labels.shape == (3,)
