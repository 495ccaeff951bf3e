"""Pictures of a teacher: its curriculum as an image grid (the paper's figure 3) and its
meta-training and accuracy curves (figure 2)."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from gtnas.meta.run import teacher_from_run
from gtnas.meta.run_assessment import EVAL_FILE
from gtnas.reports.curves import plot_accuracy_vs_steps, plot_meta_training
from gtnas.reports.grids import save_image_grid
from gtnas.runtime.metrics import MetricsLog
from gtnas.runtime.run_folder import METRICS_FILE
from gtnas.seeding import make_generator
from gtnas.teachers import Teacher


@torch.no_grad()
def curriculum_images(
    teacher: Teacher, *, samples: int | None = None, max_steps: int = 32, seed: int = 0
) -> tuple[torch.Tensor, list[int]]:
    """(rows, steps, C, H, W): the first ``samples`` images of each inner step's batch (one per
    class by default: batches are class-balanced), for up to ``max_steps`` evenly spaced steps.
    Returns the images and the (0-based) steps shown."""
    teacher.eval()
    teacher.begin_episode(make_generator(seed))
    rows = samples or teacher.num_classes
    total = teacher.inner_steps
    stride = max(1, -(-total // max_steps))
    steps = list(range(0, total, stride))
    columns = [teacher.batch(step)[0][:rows].cpu() for step in steps]  # each (rows, C, H, W)
    return torch.stack(columns, dim=1), steps


def plot_curriculum(
    teacher: Teacher,
    path: Path,
    *,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    class_names: tuple[str, ...] | None = None,
) -> Path:
    """One row per class, one column per inner step, in the order the learner sees them."""
    images, steps = curriculum_images(teacher)
    rows = images.shape[0]
    names = class_names or tuple(str(i) for i in range(teacher.num_classes))
    row_labels = [names[i % teacher.num_classes] for i in range(rows)]
    return save_image_grid(
        images,
        path,
        mean=mean,
        std=std,
        row_labels=row_labels,
        col_labels=[str(s + 1) for s in steps],
        title=f"{teacher.name} curriculum: samples (rows) by inner step (columns)",
    )


def draw_assessment(run_dir: Path) -> Path | None:
    """The accuracy-by-inner-step plot (fresh learners on the teacher against real data at the
    same steps) of an assessed run, ``plots/accuracy_vs_steps.png``, drawn from the curves its
    ``eval.json`` holds; None when the run was not assessed (or before curves were recorded)."""

    path = Path(run_dir) / EVAL_FILE
    if not path.is_file():
        return None
    report = json.loads(path.read_text())
    curves = report.get("curves")
    if not curves:
        return None
    examples = report.get("test_examples")
    return plot_accuracy_vs_steps(
        {name: (c["steps"], c["mean"], c["std"]) for name, c in curves.items()},
        Path(run_dir) / "plots" / "accuracy_vs_steps.png",
        title=f"{report['dataset']}: fresh learners, accuracy by inner step",
        ylabel=f"test accuracy ({examples:,} images)" if examples else "test accuracy",
    )


def draw_run_plots(run_dir: Path) -> list[Path]:
    """(Re)draw a finished teach run's plots: meta-training curves, for teachers that make
    their own images the curriculum grid, and for an assessed run its accuracy by inner step.
    Returns the files written."""

    run_dir = Path(run_dir)
    teacher, info = teacher_from_run(run_dir)  # first: says what is wrong before drawing
    history = MetricsLog(run_dir / METRICS_FILE).read()
    written = [plot_meta_training(history, run_dir / "plots" / "meta_training.png")]
    if info.name != "real":
        written.append(
            plot_curriculum(
                teacher,
                run_dir / "plots" / "curriculum.png",
                mean=info.mean,
                std=info.std,
                class_names=info.class_names or None,
            )
        )
    assessed = draw_assessment(run_dir)
    return written + ([assessed] if assessed is not None else [])
