"""Checking that a written picture is one: a PNG of a sensible size that is not blank."""

from __future__ import annotations

from pathlib import Path

import numpy as np

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_picture(path: Path | str, *, min_width: int = 100, min_height: int = 100) -> None:
    """``path`` is a PNG at least min_width x min_height pixels with something drawn on it:
    more than 0.5% of its pixels not background, and more than two distinct colours."""
    from matplotlib.image import imread

    path = Path(path)
    assert path.read_bytes()[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    pixels = np.asarray(imread(path))  # (H, W, 3 or 4) floats in [0, 1]
    height, width = pixels.shape[:2]
    assert width >= min_width and height >= min_height, (path, width, height)
    rgb = pixels[..., :3].reshape(-1, 3)
    background = np.median(rgb, axis=0)  # the colour most of the picture is
    drawn = np.abs(rgb - background).max(axis=1) > 0.1
    assert drawn.mean() > 0.005, f"{path} is blank ({drawn.mean():.4f} of its pixels drawn)"
    assert np.unique((rgb * 255).round(), axis=0).shape[0] > 2, f"{path} has one colour"
