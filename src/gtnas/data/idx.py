"""IDX files, the format of MNIST and Fashion-MNIST: find, decode and verify them.

An IDX file is a 4-byte magic number ``0x0000TTDD`` (two zero bytes, the element type
``TT = 0x08`` for unsigned bytes, ``DD`` the number of dimensions), then ``DD`` big-endian
uint32 sizes, then the elements, row-major. MNIST images are ``0x00000803`` (N, rows, cols)
and labels ``0x00000801`` (N,). The files come plain or gzipped, and under several names.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from gtnas.data.formats import Arrays, FileFormat, check_labels
from gtnas.errors import DataError

IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801

TRAIN_IMAGES = "train-images-idx3-ubyte"
TRAIN_LABELS = "train-labels-idx1-ubyte"
TEST_IMAGES = "t10k-images-idx3-ubyte"
TEST_LABELS = "t10k-labels-idx1-ubyte"
FILES = (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)


def candidate_names(name: str) -> list[str]:
    """The names a file goes by: ``train-images-idx3-ubyte``, ``train-images.idx3-ubyte``
    (the Windows-friendly variant), each also with ``.gz``; ``t10k`` may be called ``test``."""
    stem, _, dims = name.rpartition("-idx")  # "train-images", "3-ubyte"
    kind = "idx" + dims
    stems = [stem, stem.replace("t10k-", "test-")] if stem.startswith("t10k-") else [stem]
    names = [f"{s}{sep}{kind}" for s in stems for sep in ("-", ".")]
    return names + [n + ".gz" for n in names]


def find_file(folder: Path, name: str) -> Path | None:
    """The first existing variant of ``name`` in ``folder`` (plain files before ``.gz``)."""
    for candidate in candidate_names(name):
        path = folder / candidate
        if path.is_file():
            return path
    return None


def decode(data: bytes, path: Path, *, magic: int) -> np.ndarray:
    """The array stored in ``data`` (the file's uncompressed bytes), checked against its header.

    Returns a read-only view of ``data``: (N, rows, cols) for images, (N,) for labels.
    """
    if len(data) < 4:
        raise DataError(f"{path}: truncated: {len(data)} bytes, too short for an IDX header")
    found = int.from_bytes(data[:4], "big")
    if found != magic:
        what = "images" if magic == IMAGES_MAGIC else "labels"
        raise DataError(
            f"{path}: wrong magic number 0x{found:08X}, expected 0x{magic:08X} (IDX {what}); "
            "is this the right file?"
        )
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(
            f"{path}: truncated: the IDX header needs {header} bytes, file has {len(data)}"
        )
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = math.prod(shape)  # Python ints: a corrupt header cannot overflow this
    payload = len(data) - header
    if payload < expected:
        raise DataError(
            f"{path}: truncated: header says {'x'.join(map(str, shape))} = {expected} bytes "
            f"of data, file holds {payload}"
        )
    if payload > expected:
        raise DataError(
            f"{path}: {payload - expected} bytes after the data its header describes "
            f"({'x'.join(map(str, shape))}); the file is corrupt"
        )
    return np.frombuffer(data, dtype=np.uint8, count=expected, offset=header).reshape(shape)


def decode_pair(
    images_data: bytes,
    labels_data: bytes,
    images_path: Path,
    labels_path: Path,
    num_classes: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 1, H, W) and labels (N,), both uint8, with counts and label range checked."""
    images = decode(images_data, images_path, magic=IMAGES_MAGIC)  # (N, H, W)
    labels = decode(labels_data, labels_path, magic=LABELS_MAGIC)  # (N,)
    if len(images) != len(labels):
        raise DataError(
            f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} "
            "labels; the two files do not belong together"
        )
    check_labels(labels, num_classes, labels_path)
    return images[:, None], labels  # (N, 1, H, W): IDX images are single-channel


def decode_files(
    contents: Mapping[str, bytes], paths: Mapping[str, Path], num_classes: int
) -> Arrays:
    train, test = (
        decode_pair(contents[images], contents[labels], paths[images], paths[labels], num_classes)
        for images, labels in ((TRAIN_IMAGES, TRAIN_LABELS), (TEST_IMAGES, TEST_LABELS))
    )
    if train[0].shape[1:] != test[0].shape[1:]:
        raise DataError(
            f"{paths[TRAIN_IMAGES]} has {train[0].shape[2]}x{train[0].shape[3]} images but "
            f"{paths[TEST_IMAGES]} has {test[0].shape[2]}x{test[0].shape[3]}"
        )
    return Arrays(*train, *test)


IDX = FileFormat(
    name="idx",
    files=FILES,
    subfolder="",
    files_in=lambda folder: FILES,
    find=find_file,
    variants=candidate_names,
    decode=decode_files,
    describe_files="the four IDX files (train-images-idx3-ubyte, train-labels-idx1-ubyte, "
    "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte; gzipped or not)",
)
