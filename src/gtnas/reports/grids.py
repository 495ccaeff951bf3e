"""Image grids as PNGs: a data set's classes, or a GTN curriculum (samples x inner steps).

The images are laid out as one mosaic and drawn with a single ``imshow``, so a 10 x 32 grid
costs about as much as one picture. matplotlib is imported inside the function and used through
``Figure`` directly (never pyplot), so no GUI backend or global figure state is involved; the
file is written atomically.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from gtnas.runtime.files import atomic_write

CELL_INCHES = 0.6  # each image's size on the page; labels add margins around the grid
GAP = 0.06  # blank space between images, as a fraction of an image's size


def save_image_grid(
    images: torch.Tensor,
    path: str | Path,
    *,
    mean: Sequence[float],
    std: Sequence[float],
    row_labels: Sequence[str] | None = None,
    col_labels: Sequence[str] | None = None,
    title: str | None = None,
) -> Path:
    """Draw normalised images (R, C, ch, H, W) as R rows by C columns and save a PNG.

    ``mean`` and ``std`` (one per channel, or one for all) undo the normalisation; the result is
    clipped to [0, 1]. ``ch`` is 1 (drawn grey) or 3 (RGB). A cell whose image is all NaN is
    left blank (for rows with fewer images than others).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if images.dim() != 5 or images.shape[2] not in (1, 3):
        raise ValueError(f"images should be (rows, cols, 1 or 3, H, W), got {tuple(images.shape)}")
    rows, cols, channels, height, width = images.shape
    if row_labels is not None and len(row_labels) != rows:
        raise ValueError(f"{len(row_labels)} row labels for {rows} rows")
    if col_labels is not None and len(col_labels) != cols:
        raise ValueError(f"{len(col_labels)} column labels for {cols} columns")

    x = images.detach().to("cpu", torch.float32)
    mean_t = torch.as_tensor(mean, dtype=torch.float32).view(-1, 1, 1)  # (ch or 1, 1, 1)
    std_t = torch.as_tensor(std, dtype=torch.float32).view(-1, 1, 1)
    pixels = (x * std_t + mean_t).clamp(0, 1)  # NaN stays NaN through clamp
    pixels = torch.nan_to_num(pixels, nan=1.0)  # blank cells: white, like the gaps

    # One (R*(H+gap), C*(W+gap), ch) mosaic with white gaps between the cells.
    gap = max(1, round(GAP * max(height, width)))
    mosaic = np.ones((rows * (height + gap) - gap, cols * (width + gap) - gap, channels), "f4")
    cells = pixels.permute(0, 1, 3, 4, 2).numpy()  # (R, C, H, W, ch)
    for r in range(rows):
        for c in range(cols):
            top, left = r * (height + gap), c * (width + gap)
            mosaic[top : top + height, left : left + width] = cells[r, c]

    figure = Figure(figsize=(max(cols * CELL_INCHES, 2.0), max(rows * CELL_INCHES, 1.0)))
    FigureCanvasAgg(figure)
    axes = figure.add_axes((0, 0, 1, 1))
    if channels == 1:
        axes.imshow(mosaic[..., 0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    else:
        axes.imshow(mosaic, interpolation="nearest")
    for spine in axes.spines.values():
        spine.set_visible(False)
    axes.tick_params(length=0, labelsize=9)
    # Tick labels at the centre of each row / column.
    if row_labels is not None:
        axes.set_yticks([r * (height + gap) + (height - 1) / 2 for r in range(rows)], row_labels)
    else:
        axes.set_yticks([])
    if col_labels is not None:
        axes.xaxis.tick_top()
        axes.set_xticks([c * (width + gap) + (width - 1) / 2 for c in range(cols)], col_labels)
    else:
        axes.set_xticks([])
    if title:
        # Above the column labels, if any.
        axes.set_title(title, fontsize=11, pad=18 if col_labels is not None else 6)

    path = Path(path)
    # bbox_inches="tight" grows the page to fit the labels and title around the grid.
    atomic_write(
        path,
        lambda tmp: figure.savefig(tmp, format="png", dpi=100, bbox_inches="tight", pad_inches=0.1),
    )
    return path
