"""``save_image_grid``: denormalisation, layout, labels and speed."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from gtnas.reports.grids import save_image_grid


def read_png(path) -> np.ndarray:
    from matplotlib.image import imread

    return imread(path)  # (H, W, 4) float in [0, 1]


def test_denormalises_and_clips(tmp_path):
    # Row 0 black, row 1 white (raw 0 and 1 under mean 0.5, std 0.25), row 2 beyond white.
    mean, std = (0.5,), (0.25,)
    raw = torch.tensor([0.0, 1.0, 3.0]).view(3, 1, 1, 1, 1).expand(3, 4, 1, 8, 8)
    path = save_image_grid((raw - 0.5) / 0.25, tmp_path / "g.png", mean=mean, std=std)
    image = read_png(path)[..., :3].mean(axis=2)  # (H, W) brightness
    dark_rows = np.flatnonzero((image < 0.1).any(axis=1))
    height = image.shape[0]
    assert len(dark_rows) > 0 and dark_rows.max() < height / 3  # black: the top row only
    # Rows 1 and 2 both draw as white (3.0 is clipped to 1.0).
    assert image[height // 2 :].min() > 0.9


def test_rgb_channels_in_order(tmp_path):
    images = torch.zeros(1, 1, 3, 6, 6)
    images[0, 0, 0] = 1.0  # pure red once denormalised with mean 0, std 1
    path = save_image_grid(images, tmp_path / "rgb.png", mean=(0, 0, 0), std=(1, 1, 1))
    image = read_png(path)[..., :3]
    centre = image[image.shape[0] // 2, image.shape[1] // 2]
    assert centre[0] > 0.9 and centre[1] < 0.1 and centre[2] < 0.1


def test_labels_title_and_blank_cells(tmp_path):
    images = torch.randn(10, 5, 1, 28, 28)
    images[3, 2:] = float("nan")  # a class with only two images
    path = save_image_grid(
        images,
        tmp_path / "sub" / "labelled.png",
        mean=(0.1307,),
        std=(0.3081,),
        row_labels=[f"class {i}" for i in range(10)],
        col_labels=[f"step {i}" for i in range(5)],
        title="a title",
    )
    assert path.is_file() and path.parent.name == "sub"
    assert [p.name for p in path.parent.iterdir()] == ["labelled.png"]  # no temp file left


def test_curriculum_sized_grid_is_fast(tmp_path):
    images = torch.randn(10, 32, 1, 28, 28)  # samples x inner steps
    start = time.perf_counter()
    save_image_grid(
        images,
        tmp_path / "c.png",
        mean=(0.1307,),
        std=(0.3081,),
        col_labels=[str(i) for i in range(32)],
    )
    assert time.perf_counter() - start < 10  # about a second; generous for a busy machine


@pytest.mark.parametrize(
    ("shape", "kwargs", "message"),
    [
        ((3, 1, 28, 28), {}, "should be"),
        ((2, 2, 2, 4, 4), {}, "should be"),
        ((2, 2, 1, 4, 4), {"row_labels": ["a"]}, "1 row labels for 2 rows"),
        ((2, 2, 1, 4, 4), {"col_labels": ["a"]}, "1 column labels for 2 columns"),
    ],
)
def test_bad_arguments(tmp_path, shape, kwargs, message):
    with pytest.raises(ValueError, match=message):
        save_image_grid(torch.zeros(shape), tmp_path / "x.png", mean=(0,), std=(1,), **kwargs)
