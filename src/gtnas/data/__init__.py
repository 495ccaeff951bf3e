"""Real data sets: MNIST, Fashion-MNIST, CIFAR-10 and a user's own folders, verified and split.

    from gtnas.data import load_dataset
    ds = load_dataset("mnist")          # cache -> download -> offline fallback
    images, labels = ds.train           # (50000, 1, 28, 28) float32 normalised, (50000,) int64

Modules, one job each: ``catalog`` (the registered data sets), ``sources`` (downloads and
fallbacks), ``fetch`` (cache, verification, atomic install), ``idx`` and ``cifar`` (the file
formats), ``splits`` (the seeded validation split), ``dataset`` (the loaded result).
"""

from gtnas.data.catalog import DATASETS, DatasetSpec
from gtnas.data.dataset import Dataset, Split
from gtnas.data.fetch import Fetched, cache_root
from gtnas.data.loader import build_dataset, fetch_dataset, load_dataset

__all__ = [
    "DATASETS",
    "Dataset",
    "DatasetSpec",
    "Fetched",
    "Split",
    "build_dataset",
    "cache_root",
    "fetch_dataset",
    "load_dataset",
]
