"""The IDX reader and ``idx:<folder>`` data sets, on small files written in the real format."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import torch

from gtnas.data import load_dataset
from gtnas.data.idx import IMAGES_MAGIC, LABELS_MAGIC, candidate_names, decode
from gtnas.errors import DataError


def raw_pixels(split, ds) -> np.ndarray:  # a Split back to uint8 (N, H, W)
    return np.rint(ds.denormalise(split.images)[:, 0].numpy() * 255).astype(np.uint8)


@pytest.mark.parametrize(("gz", "dot_names"), [(False, False), (True, False), (False, True)])
def test_folder_round_trip(idx_folder, gz, dot_names):
    folder, arrays = idx_folder(gz=gz, dot_names=dot_names)
    ds = load_dataset(f"idx:{folder}", quiet=True)
    assert ds.name == f"idx:{folder}"
    assert ds.image_shape == (1, 5, 4)  # rows x cols, not transposed
    assert ds.num_classes == 10 and ds.class_names == tuple("0123456789")
    assert (len(ds.train), len(ds.val), len(ds.test)) == (50, 10, 12)  # val: a sixth of 60
    assert ds.source == f"folder {folder}" and ds.folder == folder
    # The test split is the test file, in order; train + val are the training file, split.
    assert np.array_equal(raw_pixels(ds.test, ds), arrays["test_images"])
    assert ds.test.labels.tolist() == arrays["test_labels"].tolist()
    both = torch.cat([ds.train.labels, ds.val.labels]).sort().values
    assert both.tolist() == sorted(arrays["train_labels"].tolist())
    assert ds.train.images.dtype == torch.float32 and ds.train.labels.dtype == torch.int64


def test_user_folder_normalisation_from_train_split(idx_folder):
    folder, _ = idx_folder()
    ds = load_dataset(f"idx:{folder}", quiet=True)
    # Normalised with the training split's own statistics: mean 0, std 1 there.
    assert abs(float(ds.train.images.mean())) < 1e-5
    assert float(ds.train.images.std(unbiased=False)) == pytest.approx(1.0, abs=1e-4)
    raw = ds.denormalise(ds.train.images)
    assert float(raw.mean()) == pytest.approx(ds.mean[0], abs=1e-6)


def test_gzip_detected_by_content_not_name(idx_folder):
    folder, arrays = idx_folder()
    path = folder / "train-images-idx3-ubyte"
    path.write_bytes(gzip.compress(path.read_bytes()))  # gzipped, plain name
    ds = load_dataset(f"idx:{folder}", quiet=True)
    assert len(ds.train) + len(ds.val) == len(arrays["train_labels"])


def test_candidate_names():
    names = candidate_names("t10k-images-idx3-ubyte")
    assert names[0] == "t10k-images-idx3-ubyte"
    for variant in (
        "t10k-images.idx3-ubyte",
        "t10k-images-idx3-ubyte.gz",
        "test-images-idx3-ubyte",
    ):
        assert variant in names


def test_decode_header(data_files):
    labels = np.arange(7, dtype=np.uint8)
    assert decode(data_files.idx_bytes(labels), "x", magic=LABELS_MAGIC).tolist() == labels.tolist()
    images = np.zeros((2, 3, 4), np.uint8)
    assert decode(data_files.idx_bytes(images), "x", magic=IMAGES_MAGIC).shape == (2, 3, 4)


# ----- bad input: each one clear DataError naming the file -----------------------------------


def test_missing_folder(tmp_path):
    with pytest.raises(DataError, match=r"no-such-folder does not exist.*train-images-idx3-ubyte"):
        load_dataset(f"idx:{tmp_path / 'no-such-folder'}", quiet=True)


def test_missing_file(idx_folder):
    folder, _ = idx_folder()
    (folder / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError, match=r"no t10k-labels-idx1-ubyte file"):
        load_dataset(f"idx:{folder}", quiet=True)


def test_truncated_file(idx_folder):
    folder, _ = idx_folder()
    path = folder / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte: truncated: header says 60x5x4"):
        load_dataset(f"idx:{folder}", quiet=True)


def test_truncated_header(idx_folder):
    folder, _ = idx_folder()
    (folder / "train-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08")
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte: truncated"):
        load_dataset(f"idx:{folder}", quiet=True)


def test_trailing_bytes(idx_folder):
    folder, _ = idx_folder()
    path = folder / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes() + b"\x00" * 3)
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte: 3 bytes after the data"):
        load_dataset(f"idx:{folder}", quiet=True)


def test_corrupt_gzip(idx_folder):
    folder, _ = idx_folder(gz=True)
    path = folder / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:40])  # gzip magic, then the stream stops
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte.gz is not a valid gzip file"):
        load_dataset(f"idx:{folder}", quiet=True)


def test_wrong_magic(idx_folder, data_files):
    folder, arrays = idx_folder()
    # labels where images should be: magic 0x00000801, not 0x00000803
    (folder / "train-images-idx3-ubyte").write_bytes(data_files.idx_bytes(arrays["train_labels"]))
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte: wrong magic number 0x00000801"):
        load_dataset(f"idx:{folder}", quiet=True)


def test_mismatched_counts(idx_folder, data_files):
    arrays = data_files.small_arrays()
    arrays["test_labels"] = arrays["test_labels"][:-1]
    folder, _ = idx_folder(arrays=arrays)
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte holds 12 images but .* 11 labels"):
        load_dataset(f"idx:{folder}", quiet=True)


def test_label_out_of_range(idx_folder, data_files):
    arrays = data_files.small_arrays()
    arrays["train_labels"][7] = 12
    folder, _ = idx_folder(arrays=arrays)
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte: label 12 at index 7 .* 0..9"):
        load_dataset(f"idx:{folder}", quiet=True)


def test_train_and_test_image_sizes_differ(idx_folder, data_files):
    arrays = data_files.small_arrays()
    arrays["test_images"] = np.zeros((12, 4, 4), np.uint8)
    folder, _ = idx_folder(arrays=arrays)
    with pytest.raises(DataError, match=r"5x4 images but .*t10k-images-idx3-ubyte has 4x4"):
        load_dataset(f"idx:{folder}", quiet=True)


def test_error_is_one_line_with_a_fix(idx_folder):
    folder, _ = idx_folder()
    path = folder / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(DataError) as info:
        load_dataset(f"idx:{folder}", quiet=True)
    message = str(info.value)
    assert "\n" not in message and str(path) in message and "replace" in message
