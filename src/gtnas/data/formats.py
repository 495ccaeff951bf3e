"""What the on-disk formats (IDX, CIFAR python batches) have in common.

Each format module (``idx``, ``cifar``) describes itself with a :class:`FileFormat`: the file
names it stores in the cache, how to find them in a folder (users name files in several ways),
and how to decode their bytes into :class:`Arrays` with every structural check done.
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from gtnas.errors import DataError

GZIP_MAGIC = b"\x1f\x8b"


class Arrays(NamedTuple):
    """A data set as decoded from its files, before any split or normalisation."""

    train_images: np.ndarray  # (N, C, H, W) uint8
    train_labels: np.ndarray  # (N,) uint8
    test_images: np.ndarray  # (M, C, H, W) uint8
    test_labels: np.ndarray  # (M,) uint8


@dataclass(frozen=True)
class FileFormat:
    """How one format names, finds and decodes its files."""

    name: str
    files: tuple[str, ...]  # canonical names, as stored in the cache
    subfolder: str  # where the files go inside a data set's cache folder ("" = top level)
    # files_in(user folder) -> the files to read there (CIFAR folders may hold fewer batches)
    files_in: Callable[[Path], tuple[str, ...]]
    # find(folder, canonical name) -> the file as the user named it, or None
    find: Callable[[Path, str], Path | None]
    # variants(canonical name) -> every name the file may have, preferred first
    variants: Callable[[str], list[str]]
    # decode({name: content}, {name: path for messages}, num_classes) -> Arrays
    decode: Callable[[Mapping[str, bytes], Mapping[str, Path], int], Arrays]
    describe_files: str  # for "put ... in FOLDER" messages


def read_file(path: Path) -> tuple[bytes, bytes | None]:
    """``(content, compressed)``: the file's bytes, gunzipped if it starts with the gzip magic
    (whatever its name), and the compressed bytes (None when it was not compressed)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not data.startswith(GZIP_MAGIC):
        return data, None
    try:
        return gzip.decompress(data), data
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path} is not a valid gzip file (corrupt or truncated: {exc})") from None


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def check_labels(labels: np.ndarray, num_classes: int, path: Path) -> None:
    """Labels must be class indices 0..num_classes-1."""
    if labels.size and int(labels.max()) >= num_classes:
        bad = int(np.argmax(labels >= num_classes))
        raise DataError(
            f"{path}: label {int(labels[bad])} at index {bad} is outside 0..{num_classes - 1}"
        )
