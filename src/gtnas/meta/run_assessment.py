"""Assessing a finished teach run: fresh learners on the TEST split, the tuned real-data
baseline at the same number of steps, and the real-data steps needed to match the teacher.
Writes ``eval.json`` into the run folder, with the mean accuracy-by-inner-step curves that
:func:`gtnas.reports.teaching.draw_assessment` draws.

The real-data half does not depend on the teacher: every teacher of a benchmark on one data
set gets the same tuned lr, the same learners and the same match curve. ``baseline_cache``
lets such runs share it through a JSON file; the file is used only when everything the
baseline depends on (data set, T, batch, learner family, seeds, device) is the same."""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from gtnas.config import config_to_dict
from gtnas.data import load_dataset
from gtnas.meta.fresh_learners import (
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
EVAL_FILE = "eval.json"  # the assessment, in the run folder


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
    baseline_cache: Path | None = None,
    examples: int | None = None,
    curve_points: int = 16,
) -> dict[str, Any]:
    """Assess the teacher of ``run_dir`` (see the module). ``examples`` limits the test images
    the learners are scored on and the validation images the real-data lr is tuned on (None:
    all); ``curve_points`` the inner steps the accuracy curve is read at."""

    run_dir = Path(run_dir)
    config = load_run_config(run_dir)
    torch_device = resolve_device(device)
    teacher, info = teacher_from_run(run_dir, device=torch_device)
    dataset = load_dataset(info.dataset, quiet=True)
    sampler = make_learner_sampler(config, info.image_shape, info.num_classes)
    steps = teacher.inner_steps
    batch = teacher.config.batch_size
    test = (dataset.test.images[:examples], dataset.test.labels[:examples])
    train = (dataset.train.images, dataset.train.labels)
    val = (dataset.val.images[:examples], dataset.val.labels[:examples])
    curve_steps = curve_steps_for(steps, curve_points)

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
        "test_examples": int(test[1].numel()),
        "learners": [asdict(r) for r in results],
    }
    for kind in ("default", "sampled"):
        accs = [r.accuracy for r in results if r.architecture == kind]
        if accs:
            report[kind] = asdict(Summary.of(accs))
    report["train_seconds_mean"] = statistics.fmean(r.train_seconds for r in results)
    curves = {info.name: _mean_curve([r for r in results if r.architecture == "default"])}

    cache_key = {
        "dataset": info.dataset,
        "examples": examples,
        "inner_steps": steps,
        "batch_size": batch,
        "learners": learners,
        "seed": seed,
        "device": str(torch_device),
        "curve_steps": curve_steps,
        "learner": config.learner,
        "learner_options": config_to_dict(config)["learner_options"],
        "space_options": config.space_options,
        "blueprint": config.blueprint,
    }
    cached = _read_baseline_cache(baseline_cache, cache_key) if baseline else None
    changed = cached is None  # whether the cache file needs (re)writing
    if cached is not None:
        say("real-data baseline: reused from " + str(baseline_cache))
        report["real"] = {**cached["real"], "cached": True}
        curves["real"] = tuple(cached["curve"])  # type: ignore[assignment]
    elif baseline:
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
        cached = {"key": cache_key, "real": report["real"], "curve": curves["real"]}
        cached.update(match_curve={}, match_complete=False)
    if baseline and match:
        target = report["default"]["mean"]
        known = {int(k): v for k, v in cached["match_curve"].items()}
        needed = _match_from_curve(target, known, cached["match_complete"])
        if needed is not _UNDECIDED:
            curve = {k: v for k, v in sorted(known.items()) if needed is None or k <= needed}
        else:
            say(f"real-data steps needed to reach {target:.4f}")
            needed, curve = real_steps_to_match(
                target,
                sampler,
                train,
                test,
                lr=report["real"]["lr"],
                momentum=report["real"]["momentum"],
                batch_size=batch,
                seed=seed,
                device=torch_device,
            )
            # The learners are seeded, so a longer curve extends a shorter one exactly.
            if len(curve) >= len(known):
                cached["match_curve"] = {str(k): v for k, v in curve.items()}
            cached["match_complete"] = cached["match_complete"] or needed is None
            changed = True
        report["real_steps_to_match"] = needed
        report["real_match_curve"] = {str(k): v for k, v in curve.items()}
        report["steps_speedup"] = None if needed is None else needed / steps
    if baseline and baseline_cache is not None and changed:
        atomic_write_text(Path(baseline_cache), json.dumps(cached, indent=2) + "\n")

    # name -> {"steps": [...], "mean": [...], "std": [...]}: the mean curve over the learners
    report["curves"] = {
        name: dict(zip(("steps", "mean", "std"), curve, strict=True))
        for name, curve in curves.items()
    }
    atomic_write_text(run_dir / EVAL_FILE, json.dumps(report, indent=2) + "\n")
    return report


_UNDECIDED = object()  # the cached curve stops short of the target: train further


def _match_from_curve(target: float, curve: dict[int, float], complete: bool) -> Any:
    """The real-data steps to match ``target`` read off a cached match curve: the first
    checkpoint at or above it; ``None`` if the curve ran to the last checkpoint without
    reaching it; ``_UNDECIDED`` if the curve stopped earlier (at a lower target)."""
    for steps in sorted(curve):
        if curve[steps] >= target:
            return steps
    return None if complete else _UNDECIDED


def _read_baseline_cache(path: Path | None, key: dict[str, Any]) -> dict[str, Any] | None:
    """The cached baseline at ``path`` if it was made with exactly ``key``, else None (an
    unreadable file counts as absent: it is only a cache)."""
    if path is None or not Path(path).is_file():
        return None
    try:
        cached = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    # JSON turns tuples into lists; compare in that form
    return cached if cached.get("key") == json.loads(json.dumps(key)) else None


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
