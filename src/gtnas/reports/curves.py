"""Learning curves as PNGs: accuracy vs inner step per teacher, and meta-training progress.

``plot_accuracy_vs_steps`` draws the GTN paper's figure 2 (learner test accuracy vs inner
training step, GTN data against real data, mean ± std over learners). ``plot_meta_training``
draws the outer loop from a run's metrics log. matplotlib is imported inside the functions
(it is slow to import and only reports need it) and used through ``Figure`` directly, never
pyplot, so no global figure state or GUI backend is involved. Files are written atomically.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gtnas.runtime.files import atomic_write

if TYPE_CHECKING:
    from matplotlib.figure import Figure

Curve = tuple[Sequence[int], Sequence[float], Sequence[float] | None]  # steps, mean, std


def plot_accuracy_vs_steps(
    curves: Mapping[str, Curve],
    path: Path,
    *,
    title: str,
    ylabel: str = "test accuracy",
) -> Path:
    """One line per teacher (e.g. ``"gtn"``, ``"real"``) with a shaded ±std band."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 4), layout="constrained")
    axes = figure.add_subplot()
    for name, (steps, mean, std) in curves.items():
        if len(steps) != len(mean) or (std is not None and len(std) != len(mean)):
            raise ValueError(f"curve {name!r}: steps, mean and std must have the same length")
        x, y = np.asarray(steps, dtype=float), np.asarray(mean, dtype=float)
        (line,) = axes.plot(x, y, label=name, linewidth=1.8)
        if std is not None:
            spread = np.asarray(std, dtype=float)
            axes.fill_between(x, y - spread, y + spread, color=line.get_color(), alpha=0.2)
    axes.set_xlabel("inner training step")
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    axes.grid(alpha=0.3)
    if curves:
        axes.legend()
    return _save(figure, path)


def plot_meta_training(history: Sequence[Mapping[str, Any]], path: Path) -> Path:
    """Meta-loss (top) and validation accuracy (bottom) against outer iteration.

    ``history`` is a metrics log's records (``iteration``, ``meta_loss``, ``val_acc``);
    rows without a value are skipped for that panel, non-finite values leave a gap.
    """
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 5.5), layout="constrained")
    loss_axes, accuracy_axes = figure.subplots(2, 1, sharex=True)
    for axes, key, label, style in (
        (loss_axes, "meta_loss", "meta-loss", "-"),
        (accuracy_axes, "val_acc", "validation accuracy", "o-"),
    ):
        points = [
            (row["iteration"], _number(row.get(key))) for row in history if "iteration" in row
        ]
        points = [(x, y) for x, y in points if y is not None]
        if points:
            xs, ys = zip(*points, strict=True)
            axes.plot(xs, ys, style, markersize=3, linewidth=1.5)
        else:
            axes.text(0.5, 0.5, f"no {label} recorded", ha="center", transform=axes.transAxes)
        axes.set_ylabel(label)
        axes.grid(alpha=0.3)
    loss_axes.set_title("meta-training")
    accuracy_axes.set_xlabel("outer iteration")
    return _save(figure, path)


def _number(value: Any) -> float | None:
    """A plottable float: None/absent -> skipped; nan/inf (or their strings) -> nan (a gap)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else math.nan


def _save(figure: Figure, path: Path) -> Path:
    path = Path(path)
    atomic_write(path, lambda tmp: figure.savefig(tmp, format="png", dpi=120))
    return path
