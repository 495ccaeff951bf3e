"""Assessing a finished teach run: fresh learners on the TEST split, the tuned real-data
baseline at the same number of steps, and the real-data steps needed to match the teacher.
Writes ``eval.json`` and the accuracy-vs-inner-step plot into the run folder."""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from gtnas.meta.evaluation import (
    LearnerResult,
    Summary,
    evaluate_teacher,
    real_steps_to_match,
    real_teacher,
    tune_real_lr,
)
from gtnas.meta.run import load_run_config, make_learner_sampler, teacher_from_run
from gtnas.runtime.device import resolve_device
from gtnas.runtime.files import atomic_write_text
from gtnas.runtime.progress import progress_bar

Say = Callable[[str], None]


def assess_run(
    run_dir: Path,
    *,
    learners: int = 10,
    sampled: bool = True,
    baseline: bool = True,
    match: bool = True,
    seed: int = 1000,
    device: str = "auto",
    say: Say = lambda message: None,
    show_progress: bool = False,
) -> dict[str, Any]:
    from gtnas.data import load_dataset
    from gtnas.reports.curves import plot_accuracy_vs_steps

    run_dir = Path(run_dir)
    config = load_run_config(run_dir)
    torch_device = resolve_device(device)
    teacher, info = teacher_from_run(run_dir, device=torch_device)
    dataset = load_dataset(info.dataset, quiet=True)
    sampler = make_learner_sampler(config, info.image_shape, info.num_classes)
    steps = teacher.inner_steps
    batch = teacher.config.batch_size
    test = (dataset.test.images, dataset.test.labels)
    train = (dataset.train.images, dataset.train.labels)
    val = (dataset.val.images, dataset.val.labels)
    curve_steps = curve_steps_for(steps)

    def learners_on(teacher_: Any, label: str, with_sampled: bool) -> list[LearnerResult]:
        total = learners * (2 if with_sampled else 1)
        with progress_bar(total, label, disable=not show_progress) as bar:
            return evaluate_teacher(
                teacher_,
                sampler,
                *test,
                learners=learners,
                seed=seed,
                sampled=with_sampled,
                curve_steps=curve_steps,
                device=torch_device,
                on_result=lambda r: bar.advance(1, acc=r.accuracy),
            )

    say(f"training {learners} fresh learners{' (+ sampled architectures)' if sampled else ''}")
    results = learners_on(teacher, "fresh learners", sampled)
    report: dict[str, Any] = {
        "run": str(run_dir),
        "dataset": info.dataset,
        "teacher": info.name,
        "inner_steps": steps,
        "batch_size": batch,
        "split": "test",
        "learners": [asdict(r) for r in results],
    }
    for kind in ("default", "sampled"):
        accs = [r.accuracy for r in results if r.architecture == kind]
        if accs:
            report[kind] = asdict(Summary.of(accs))
    report["train_seconds_mean"] = statistics.fmean(r.train_seconds for r in results)
    curves = {info.name: _mean_curve([r for r in results if r.architecture == "default"])}

    if baseline:
        say(f"tuning the real-data learning rate at {steps} steps on the validation split")
        tuned = tune_real_lr(
            sampler, train, val, steps=steps, batch_size=batch, seed=seed, device=torch_device
        )
        real = real_teacher(*train, steps, tuned.lr, tuned.momentum, batch_size=batch)
        real_results = learners_on(real, "real-data learners", False)
        report["real"] = {
            "lr": tuned.lr,
            "momentum": tuned.momentum,
            "val_accuracy_by_lr": {str(k): v for k, v in tuned.val_accuracy.items()},
            **asdict(Summary.of([r.accuracy for r in real_results])),
        }
        curves["real"] = _mean_curve(real_results)
        if match:
            target = report["default"]["mean"]
            say(f"real-data steps needed to reach {target:.4f}")
            needed, curve = real_steps_to_match(
                target,
                sampler,
                train,
                test,
                lr=tuned.lr,
                momentum=tuned.momentum,
                batch_size=batch,
                seed=seed,
                device=torch_device,
            )
            report["real_steps_to_match"] = needed
            report["real_match_curve"] = {str(k): v for k, v in curve.items()}
            report["steps_speedup"] = None if needed is None else needed / steps

    atomic_write_text(run_dir / "eval.json", json.dumps(report, indent=2) + "\n")
    plot_accuracy_vs_steps(
        curves,
        run_dir / "plots" / "accuracy_vs_steps.png",
        title=f"{info.dataset}: fresh learners, accuracy by inner step",
        ylabel="test accuracy (first 2,000 images)",
    )
    return report


def curve_steps_for(steps: int, points: int = 16) -> list[int]:
    """The inner steps after which the accuracy-vs-steps curve is measured: every step of a
    run of up to ``points`` steps, else about ``points`` steps spaced geometrically from 1 to
    ``steps`` (dense early, where accuracy moves fastest). Each point costs a pass over 2,000
    test images per learner: at the paper's size, curves at all 32 steps meant 960 such passes
    for 30 learners, by estimate most of a 21-minute assessment."""
    if steps <= points:
        return list(range(1, steps + 1))
    ratio = steps ** (1 / (points - 1))
    return sorted({min(steps, round(ratio**k)) for k in range(points)} | {steps})


def _mean_curve(results: list) -> tuple[list[int], list[float], list[float]]:
    steps = sorted(results[0].curve)
    per_step = [[r.curve[s] for r in results] for s in steps]
    means = [statistics.fmean(v) for v in per_step]
    stds = [statistics.stdev(v) if len(v) > 1 else 0.0 for v in per_step]
    return steps, means, stds
