"""``load_dataset``: a name in, three normalised splits out."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from gtnas.data.catalog import DatasetSpec, resolve
from gtnas.data.dataset import Dataset, make_split, pixel_stats
from gtnas.data.download_progress import Reporter
from gtnas.data.fetch import Fetched, fetch
from gtnas.data.splits import default_val_size, split_indices


def load_dataset(
    name: str,
    root: str | Path | None = None,
    *,
    val_size: int | None = None,
    split_seed: int = 0,
    progress: Callable[[str], None] | None = None,
    quiet: bool = False,
) -> Dataset:
    """Load a data set by name: ``mnist``, ``fashion-mnist``, ``cifar10``, ``idx:<folder>`` or
    ``cifar:<folder>``.

    Files come from the cache under ``root`` (default ``$GTNAS_DATA`` or the user cache
    folder), else the canonical download, else an offline fallback; each is verified first.
    The validation split (``val_size`` images, default the field's: 10,000 for MNIST and
    Fashion-MNIST, 5,000 for CIFAR-10, a sixth for a user's folder) is carved from the training
    files by a permutation seeded with ``split_seed``. Each source tried is reported to
    ``progress`` (a callable taking one line) or else to stderr; ``quiet`` silences that.
    """
    spec = resolve(name)
    fetched = fetch(spec, root, reporter=Reporter(progress, quiet))
    return build_dataset(spec, fetched, val_size=val_size, split_seed=split_seed)


def fetch_dataset(
    name: str,
    root: str | Path | None = None,
    *,
    force: bool = False,
    progress: Callable[[str], None] | None = None,
    quiet: bool = False,
) -> Fetched:
    """Make sure a data set's verified files are in the cache (``force``: fetch them afresh)."""
    return fetch(resolve(name), root, force=force, reporter=Reporter(progress, quiet))


def build_dataset(
    spec: DatasetSpec, fetched: Fetched, *, val_size: int | None = None, split_seed: int = 0
) -> Dataset:
    """Split the training files into train and validation, then normalise all three splits."""
    arrays = fetched.arrays
    n_train = len(arrays.train_labels)
    if val_size is None:
        val_size = spec.val_size if spec.val_size is not None else default_val_size(n_train)
    c, h, w = arrays.train_images.shape[1:]
    train_index, val_index = split_indices(n_train, val_size, split_seed)
    train_images = arrays.train_images[train_index]  # (N - V, C, H, W) uint8
    if spec.mean is not None and spec.std is not None:
        mean, std = spec.mean, spec.std
    else:
        # A user's own data: statistics of the images the learner trains on.
        mean, std = pixel_stats(train_images)
        std = tuple(s if s > 0 else 1.0 for s in std)  # a constant channel: nothing to scale

    return Dataset(
        name=spec.name,
        train=make_split(train_images, arrays.train_labels[train_index], mean, std),
        val=make_split(arrays.train_images[val_index], arrays.train_labels[val_index], mean, std),
        test=make_split(arrays.test_images, arrays.test_labels, mean, std),
        num_classes=spec.num_classes,
        image_shape=(c, h, w),
        mean=tuple(mean),
        std=tuple(std),
        class_names=spec.class_names,
        source=fetched.source,
        folder=fetched.folder,
    )
