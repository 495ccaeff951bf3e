"""Curve plots write real PNGs, also from imperfect metrics logs."""

from __future__ import annotations

import math
from pathlib import Path

from gtnas.reports.curves import plot_accuracy_vs_steps, plot_meta_training
from pictures import assert_picture


def _is_png(path: Path) -> bool:
    assert_picture(path, min_width=300, min_height=200)
    return True


def test_accuracy_vs_steps_png(tmp_path: Path) -> None:
    steps = list(range(0, 33, 4))
    gtn = [0.1 + 0.85 * (1 - math.exp(-s / 6)) for s in steps]
    real = [0.1 + 0.8 * (1 - math.exp(-s / 12)) for s in steps]
    path = plot_accuracy_vs_steps(
        {"gtn": (steps, gtn, [0.02] * len(steps)), "real": (steps, real, None)},
        tmp_path / "plots" / "accuracy.png",
        title="MNIST, 32 inner steps",
    )
    assert _is_png(path)


def test_meta_training_png_with_gaps(tmp_path: Path) -> None:
    history = [
        {"iteration": i, "meta_loss": 2.3 * math.exp(-i / 20)}
        | ({"val_acc": 1 - math.exp(-i / 15)} if i % 10 == 0 else {})
        for i in range(60)
    ]
    history[30]["meta_loss"] = math.nan
    history.append({"event": "done"})  # no iteration: skipped
    path = plot_meta_training(history, tmp_path / "meta.png")
    assert _is_png(path)
    assert _is_png(plot_meta_training([], tmp_path / "empty.png"))
