"""CIFAR-10 in its standard python format, loaded without running code from the files.

The folder ``cifar-10-batches-py`` holds ``data_batch_1`` .. ``data_batch_5`` and ``test_batch``,
each a pickled dict (written by Python 2) with ``b'data'``, a uint8 array (10000, 3072) whose
rows are the red, green and blue 32x32 planes, and ``b'labels'``, a list of 10000 ints in 0..9.

Pickle can call any importable function, so a plain ``pickle.load`` of a downloaded file runs
whatever code the file names. :class:`RestrictedUnpickler` resolves only the few globals these
files need (numpy array reconstruction) and refuses everything else.
"""

from __future__ import annotations

import io
import pickle
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from gtnas.data.formats import Arrays, FileFormat, check_labels
from gtnas.errors import DataError

FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
FILES = (*TRAIN_BATCHES, TEST_BATCH)
CLASS_NAMES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
IMAGE_SHAPE = (3, 32, 32)


def _allowed_globals() -> dict[tuple[str, str], Any]:
    try:  # numpy >= 2 moved the implementation to numpy._core
        from numpy._core.multiarray import _reconstruct
        from numpy._core.numeric import _frombuffer
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import _reconstruct
        from numpy.core.numeric import _frombuffer
    import _codecs

    allowed: dict[tuple[str, str], Any] = {}
    for core in ("numpy.core", "numpy._core"):  # files name whichever numpy wrote them
        allowed[(f"{core}.multiarray", "_reconstruct")] = _reconstruct
        # protocol 5 pickles (files re-saved by Python 3) rebuild arrays from a buffer
        allowed[(f"{core}.numeric", "_frombuffer")] = _frombuffer
    allowed[("numpy", "ndarray")] = np.ndarray
    allowed[("numpy", "dtype")] = np.dtype
    for builtins in ("builtins", "__builtin__"):
        for kind in (dict, list, bytes, str, int):
            allowed[(builtins, kind.__name__)] = kind
    # Python 3 pickles bytes as _codecs.encode(str, "latin1") at protocols < 3
    allowed[("_codecs", "encode")] = _codecs.encode
    return allowed


class RefusedGlobal(pickle.UnpicklingError):
    """The pickle names a function or class outside the allow-list."""


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that builds dicts, lists, strings, numbers and numpy arrays, nothing else."""

    _allowed = _allowed_globals()

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise RefusedGlobal(f"refusing to load global {module}.{name}") from None


def safe_unpickle(data: bytes, path: Path) -> Any:
    """Unpickle ``data`` with :class:`RestrictedUnpickler` (``encoding="bytes"`` reads the
    Python 2 strings as bytes, as the CIFAR files expect)."""
    try:
        return RestrictedUnpickler(io.BytesIO(data), encoding="bytes").load()
    except RefusedGlobal as exc:
        raise DataError(f"{path}: not a safe CIFAR batch: {exc}") from None
    except Exception as exc:  # a damaged pickle can fail in many ways (EOF, struct, value...)
        raise DataError(
            f"{path}: not a CIFAR python batch (corrupt or truncated: {type(exc).__name__}: {exc})"
        ) from None


def decode_batch(data: bytes, path: Path, num_classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 3, 32, 32) and labels (N,), both uint8, from one batch file's bytes."""
    batch = safe_unpickle(data, path)
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise DataError(f"{path}: not a CIFAR python batch (no b'data' and b'labels' entries)")
    images, labels = batch[b"data"], batch[b"labels"]
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 2:
        raise DataError(f"{path}: b'data' should be a uint8 array of shape (N, 3072)")
    if images.shape[1] != 3 * 32 * 32:
        raise DataError(f"{path}: b'data' has shape {images.shape}, expected (N, 3072)")
    try:
        labels = np.asarray(labels, dtype=np.int64)
    except (TypeError, ValueError, OverflowError):
        raise DataError(f"{path}: b'labels' should be a list of ints") from None
    if labels.shape != (len(images),):
        raise DataError(
            f"{path}: {len(images)} images but b'labels' has shape {labels.shape}; "
            "the batch is corrupt"
        )
    if labels.size and int(labels.min()) < 0:
        raise DataError(f"{path}: negative label {int(labels.min())}; labels must be 0..9")
    check_labels(labels, num_classes, path)
    # Each row is three 32x32 planes (R, G, B), row-major: exactly (3, 32, 32).
    return images.reshape(-1, *IMAGE_SHAPE), labels.astype(np.uint8)


def batch_folder(folder: Path) -> Path:
    """``folder/cifar-10-batches-py`` when it exists, else ``folder`` itself."""
    inner = folder / FOLDER
    return inner if inner.is_dir() else folder


def find_file(folder: Path, name: str) -> Path | None:
    path = batch_folder(folder) / name
    return path if path.is_file() else None


def user_files(folder: Path) -> tuple[str, ...]:
    """The batches in a user's folder: every ``data_batch_<n>`` (at least one), then
    ``test_batch``; a folder of the real data set gives :data:`FILES`."""
    found = [p.name for p in batch_folder(folder).glob("data_batch_*")]
    train = sorted(
        (n for n in found if re.fullmatch(r"data_batch_\d+", n)), key=lambda n: int(n[11:])
    )
    return (*(train or TRAIN_BATCHES[:1]), TEST_BATCH)


def decode_files(
    contents: Mapping[str, bytes], paths: Mapping[str, Path], num_classes: int
) -> Arrays:
    train = [decode_batch(contents[n], paths[n], num_classes) for n in contents if n != TEST_BATCH]
    test_images, test_labels = decode_batch(contents[TEST_BATCH], paths[TEST_BATCH], num_classes)
    return Arrays(
        np.concatenate([images for images, _ in train]),  # (sum N, 3, 32, 32)
        np.concatenate([labels for _, labels in train]),
        test_images,
        test_labels,
    )


def class_names(folder: Path) -> tuple[str, ...] | None:
    """The ``label_names`` in ``batches.meta`` when a user's folder has one."""
    path = batch_folder(folder) / "batches.meta"
    if not path.is_file():
        return None
    meta = safe_unpickle(path.read_bytes(), path)
    names = meta.get(b"label_names") if isinstance(meta, dict) else None
    if not isinstance(names, list) or not all(isinstance(n, bytes | str) for n in names):
        raise DataError(f"{path}: b'label_names' should be a list of strings")
    return tuple(n.decode() if isinstance(n, bytes) else n for n in names)


CIFAR = FileFormat(
    name="cifar",
    files=FILES,
    subfolder=FOLDER,
    files_in=user_files,
    find=find_file,
    variants=lambda name: [name],
    decode=decode_files,
    describe_files=f"{FOLDER} (data_batch_1..5 and test_batch)",
)
