"""The CIFAR-10 python-format reader, on small batches written in the real format, and the
restricted unpickler that keeps those files from running code."""

from __future__ import annotations

import os
import pickle
import pickletools

import numpy as np
import pytest

from gtnas.data import load_dataset
from gtnas.data.cifar import CLASS_NAMES, safe_unpickle
from gtnas.errors import DataError


def raw_pixels(split, ds) -> np.ndarray:  # a Split back to uint8 (N, 3, 32, 32)
    return np.rint(ds.denormalise(split.images).numpy() * 255).astype(np.uint8)


def test_fixture_is_in_the_real_python2_format(cifar_folder):
    folder, _ = cifar_folder(n_batches=1)
    ops = [op.name for op, _, _ in pickletools.genops((folder / "data_batch_1").read_bytes())]
    globals_ = [
        arg
        for op, arg, _ in pickletools.genops((folder / "test_batch").read_bytes())
        if op.name == "GLOBAL"
    ]
    assert "SHORT_BINSTRING" in ops and "BINUNICODE" not in ops  # Python 2 byte strings
    assert "numpy.core.multiarray _reconstruct" in globals_


@pytest.mark.parametrize("protocol", [None, 2, 5])  # None: Python 2 pickles, as distributed
def test_folder_round_trip(cifar_folder, protocol):
    folder, arrays = cifar_folder(protocol=protocol)
    ds = load_dataset(f"cifar:{folder}", quiet=True)
    assert ds.image_shape == (3, 32, 32) and ds.class_names == CLASS_NAMES
    assert (len(ds.train), len(ds.val), len(ds.test)) == (25, 5, 10)  # val: a sixth of 30
    assert len(ds.mean) == len(ds.std) == 3
    # Rows of b'data' are R, G, B planes: the channels come back where they were written.
    assert np.array_equal(raw_pixels(ds.test, ds), arrays["test_images"])
    assert ds.test.labels.tolist() == arrays["test_labels"].tolist()


def test_batches_folder_inside(tmp_path, data_files):
    data_files.write_cifar_folder(tmp_path / "cifar-10-batches-py", n_batches=2)
    ds = load_dataset(f"cifar:{tmp_path}", quiet=True)
    assert len(ds.train) + len(ds.val) == 12


def test_batches_meta_names(cifar_folder):
    names = [f"thing{i}".encode() for i in range(10)]
    folder, _ = cifar_folder(n_batches=1, meta=names)
    ds = load_dataset(f"cifar:{folder}", quiet=True)
    assert ds.class_names == tuple(f"thing{i}" for i in range(10))


# ----- the restricted unpickler --------------------------------------------------------------


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_refused(cifar_folder, tmp_path):
    folder, _ = cifar_folder(n_batches=1)
    marker = tmp_path / "pwned"
    evil = {b"data": _RunsCode(marker), b"labels": [0]}
    (folder / "data_batch_1").write_bytes(pickle.dumps(evil, protocol=2))
    with pytest.raises(DataError, match=r"data_batch_1: not a safe CIFAR batch: .*system"):
        load_dataset(f"cifar:{folder}", quiet=True)
    assert not marker.exists()


@pytest.mark.parametrize(
    "payload",
    [
        b"cbuiltins\neval\n(S'1+1'\ntR.",  # builtins.eval("1+1")
        b"cnumpy\nload\n(S'x'\ntR.",  # an allowed module, a function not allowed
        b"csubprocess\nPopen\n(S'true'\ntR.",
    ],
)
def test_unpickler_refuses_other_globals(tmp_path, payload):
    with pytest.raises(DataError, match="not a safe CIFAR batch: refusing to load global"):
        safe_unpickle(payload, tmp_path / "batch")


def test_unpickler_reads_arrays_and_containers(tmp_path, data_files):
    value = {b"a": [1, 2], b"b": np.arange(6, dtype=np.uint8).reshape(2, 3), b"c": "text"}
    for data in (data_files.python2_pickle(value), pickle.dumps(value, protocol=2)):
        loaded = safe_unpickle(data, tmp_path / "x")
        assert loaded[b"a"] == [1, 2] and np.array_equal(loaded[b"b"], value[b"b"])


# ----- bad input -----------------------------------------------------------------------------


def test_missing_test_batch(cifar_folder):
    folder, _ = cifar_folder(n_batches=1)
    (folder / "test_batch").unlink()
    with pytest.raises(DataError, match=r"no test_batch file"):
        load_dataset(f"cifar:{folder}", quiet=True)


def test_truncated_batch(cifar_folder):
    folder, _ = cifar_folder(n_batches=2)
    path = folder / "data_batch_2"
    path.write_bytes(path.read_bytes()[:-500])
    with pytest.raises(
        DataError, match=r"data_batch_2: not a CIFAR python batch \(corrupt or truncated"
    ):
        load_dataset(f"cifar:{folder}", quiet=True)


def _rewrite(folder, name, data_files, changes):
    batch = data_files.cifar_batch(np.zeros((4, 3, 32, 32), np.uint8), np.arange(4))
    batch.update(changes)
    (folder / name).write_bytes(data_files.python2_pickle(batch))


def test_wrong_row_length(cifar_folder, data_files):
    folder, _ = cifar_folder(n_batches=1)
    _rewrite(folder, "data_batch_1", data_files, {b"data": np.zeros((4, 3000), np.uint8)})
    with pytest.raises(DataError, match=r"data_batch_1: b'data' has shape \(4, 3000\)"):
        load_dataset(f"cifar:{folder}", quiet=True)


def test_wrong_dtype(cifar_folder, data_files):
    folder, _ = cifar_folder(n_batches=1)
    _rewrite(folder, "test_batch", data_files, {b"data": np.zeros((4, 3072), np.float32)})
    with pytest.raises(DataError, match=r"test_batch: b'data' should be a uint8 array"):
        load_dataset(f"cifar:{folder}", quiet=True)


def test_label_count_mismatch(cifar_folder, data_files):
    folder, _ = cifar_folder(n_batches=1)
    _rewrite(folder, "data_batch_1", data_files, {b"labels": [0, 1, 2]})
    with pytest.raises(DataError, match=r"data_batch_1: 4 images but b'labels' has shape \(3,\)"):
        load_dataset(f"cifar:{folder}", quiet=True)


@pytest.mark.parametrize("bad", [10, -1])
def test_label_out_of_range(cifar_folder, data_files, bad):
    folder, _ = cifar_folder(n_batches=1)
    _rewrite(folder, "data_batch_1", data_files, {b"labels": [0, 1, bad, 3]})
    with pytest.raises(DataError, match=rf"data_batch_1: .*label {bad}"):
        load_dataset(f"cifar:{folder}", quiet=True)


def test_not_a_dict(cifar_folder):
    folder, _ = cifar_folder(n_batches=1)
    (folder / "test_batch").write_bytes(pickle.dumps([1, 2, 3], protocol=2))
    with pytest.raises(DataError, match=r"test_batch: not a CIFAR python batch \(no b'data'"):
        load_dataset(f"cifar:{folder}", quiet=True)
