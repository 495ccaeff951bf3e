"""Meta-training probes: short GTN runs (MNIST unless said) that differ in one setting each.

Seven sets, each written to ``benchmarks/results/teach_probes[-SET].json``:

- ``defaults`` (the meta-hyperparameters behind gtnas's defaults: inner SGD start, meta-lr):
  four 60-iteration runs at the quick scale (small learner conv 32 -> 64, fc 128; slim
  generator; 16 inner steps of 64), validation accuracy of one fresh learner on 2,000
  validation images every 10 iterations. About 12 minutes on 2 CPU cores.
- ``nb201`` (why a GTN stalls on NAS-Bench-201 cells, and what unblocks it): 20-iteration runs
  whose learners are sampled from the NB-201 space each iteration, at the rank-correlation
  benchmark's quick teacher scale (16 inner steps of 32, slim generator), varying the
  learner's classifier head, width and the inner SGD start. About 5 minutes per probe.
- ``paper`` (how to start and meta-learn at the paper's MNIST size: its learner and generator,
  32 steps of 128): the first 20 iterations of a 40-iteration schedule from a random start or
  a warm start from real data, with one meta-lr or a smaller one for the generator. About 12
  minutes per probe; the meta-loss (averaged over pairs of iterations) says more than one learner's
  validation accuracy.
- ``method`` (method choices that might lift the paper-size teacher: soft labels, which steps
  are scored, meta-lr, real batch size, bfloat16 convolutions): whole 40-iteration runs from
  the warm start, each finished teacher judged by 5 fresh learners on the whole validation
  split. About 11 minutes per probe on an Intel Xeon.
- ``fashion`` (method choices for Fashion-MNIST at the paper's size, after the ``60min``
  variant stopped at 87.5%: soft labels alone, with real batches of 256, with real batches
  mirrored at random, with a closer warm start): the ``method`` set's runs and judging on
  Fashion-MNIST. About 20-25 minutes per probe on an AMD EPYC (20-33 s per iteration).
- ``weighting`` (how the scored steps' real losses are weighted into the meta-loss: their
  mean, by step, or by inverse loss, ``meta.meta_loss_weighting``): the ``method`` set's runs
  and judging with soft labels. About 18 minutes per probe on an AMD EPYC (21-22 s per
  iteration).
- ``horizon`` (levers that act through a whole schedule: the meta-lr floor, a faster meta-lr or
  generator, a closer warm start, real batches of 256, 160 instead of 240 iterations): whole
  240-iteration runs of the ``60min`` variant's settings on MNIST, each judged by 10 fresh
  learners on the whole validation split. For a GPU: 8 side by side (``--jobs 8``) took 8
  minutes on an H200, one alone 0.65 s per iteration; on 2 CPU cores about an hour each.

    python -m benchmarks.probes [--set defaults|nb201|paper|method|fashion|weighting|horizon]
        [--only NAME ...] [--jobs N [--deadline SECONDS]] [--results FILE]

``--jobs N`` runs N probes side by side, one process each (a GPU has room for several; the
CPU threads are shared out); ``--deadline`` then stops the unfinished ones and keeps their
curves so far. The results file is rewritten after every probe.

Single-seed, single-learner figures move by a few points: they pick settings and locate a
problem, they are not a result.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
from pathlib import Path
from typing import Any

from benchmarks.machine import describe_machine
from benchmarks.rankcorr import PRESETS, SLIM_GENERATOR
from benchmarks.teach import PRESETS as TEACH_PRESETS
from benchmarks.teach import RESULTS, RUNS, WARM_START
from gtnas.config import config_from_dict, config_to_dict, merge_values
from gtnas.meta.run import TeachRunConfig, run_meta_training

DEFAULTS_SCALE: dict[str, Any] = {
    "dataset": "mnist",
    "teacher": "gtn",
    "teacher_options": {
        "inner_steps": 16,
        "batch_size": 64,
        "generator": SLIM_GENERATOR,
    },
    "learner_options": {"channels": [32, 64], "fc": 128},
    "meta": {"iterations": 60, "eval_every": 10, "eval_examples": 2000},
}
DEFAULTS_PROBES: dict[str, dict[str, Any]] = {
    "public-code start (lr 0.02, mom 0.5), meta-lr 0.01": {
        "teacher_options": {"lr": 0.02, "momentum": 0.5},
        "meta": {"meta_lr": 0.01},
    },
    "public-code start, meta-lr 0.03": {
        "teacher_options": {"lr": 0.02, "momentum": 0.5},
        "meta": {"meta_lr": 0.03},
    },
    "real-data start (lr 0.05, mom 0.9), meta-lr 0.01": {
        "teacher_options": {"lr": 0.05, "momentum": 0.9},
        "meta": {"meta_lr": 0.01},
    },
    "real-data start, meta-lr 0.03 (the defaults)": {
        "teacher_options": {"lr": 0.05, "momentum": 0.9},
        "meta": {"meta_lr": 0.03},
    },
}


# The rank-correlation benchmark's quick teacher (NB-201 cells sampled every meta-iteration,
# 16 inner steps of 32), for 20 meta-iterations.
NB201_SCALE: dict[str, Any] = {
    "dataset": "mnist",
    "teacher": "gtn",
    "learner": "nb201",
    **merge_values(PRESETS["quick"]["teacher"], {"meta": {"iterations": 20, "eval_every": 10}}),
}
NB201_PROBES: dict[str, dict[str, Any]] = {
    "search: 16 channels, global pooling (the quick teacher)": {"blueprint": "search"},
    "search-fc: 16 channels, 7x7 head": {"blueprint": "search-fc"},
    "search-fc, inner lr starting at 0.01": {
        "blueprint": "search-fc",
        "teacher_options": {"lr": 0.01},
    },
    "16 channels, 3x3 head": {
        "blueprint": {"channels": 16, "cells_per_stage": 1, "head_pool": 3},
    },
    "8 channels, 7x7 head": {"blueprint": {"channels": 8, "cells_per_stage": 1, "head_pool": 7}},
    "8 channels, global pooling": {
        "blueprint": {"channels": 8, "cells_per_stage": 1, "head_pool": 1},
    },
    "search, inner lr starting at 0.2 (real:16's tuned rate)": {
        "blueprint": "search",
        "teacher_options": {"lr": 0.2},
    },
    "search, 16 steps of 64": {"blueprint": "search", "teacher_options": {"batch_size": 64}},
    "16 channels, 3x3 head, 16 steps of 64": {
        "blueprint": {"channels": 16, "cells_per_stage": 1, "head_pool": 3},
        "teacher_options": {"batch_size": 64},
    },
    "8 channels, 7x7 head, 16 steps of 64": {
        "blueprint": {"channels": 8, "cells_per_stage": 1, "head_pool": 7},
        "teacher_options": {"batch_size": 64},
    },
    # Adam moves the generator's small weight-normalised directions far at the curriculum's
    # meta-lr (benchmarks.probes --set paper): does a slower generator, or a warm start from
    # real data, let global pooling learn?
    "search, generator at 1/30 of the meta-lr": {
        "blueprint": "search",
        "meta": {"lr_scale": {"generator": 1 / 30}},
    },
    "search, warm start, generator at 1/30 of the meta-lr": {
        "blueprint": "search",
        "teacher_options": {"init": "real", "init_epochs": 20},
        "meta": {"lr_scale": {"generator": 1 / 30}},
    },
}
# The paper's MNIST set-up (its learner and generator, 32 steps of 128) for the first 20
# iterations of a 40-iteration schedule: how the teacher starts and which meta-learning rates
# let it keep a warm start. About 12 minutes per probe (warm start 4 minutes, 20 iterations of
# ~28 s); the warm start is refitted by each probe (the same seed gives the same fit).
PAPER_SCALE: dict[str, Any] = {
    "dataset": "mnist",
    "teacher": "gtn",
    "teacher_options": TEACH_PRESETS["paper"]["teacher_options"],
    "meta": {"iterations": 40, "eval_every": 5, "eval_examples": 2000},
}
PAPER_STOP = 20
WARM = WARM_START["teacher_options"]  # the teacher benchmark's warm start, not a copy
PAPER_PROBES: dict[str, dict[str, Any]] = {
    "random start, one meta-lr 0.03": {"meta": {"lr_scale": {"generator": 1.0}}},
    "random start, generator at 1/30 of the meta-lr (the defaults)": {},
    "warm start, one meta-lr 0.03": {
        "teacher_options": WARM,
        "meta": {"lr_scale": {"generator": 1.0}},
    },
    "warm start, one meta-lr, warm-up over 8 iterations": {
        "teacher_options": WARM,
        "meta": {"warmup_iterations": 8, "lr_scale": {"generator": 1.0}},
    },
    "warm start, generator at 1/10 of the meta-lr": {
        "teacher_options": WARM,
        "meta": {"lr_scale": {"generator": 0.1}},
    },
    "warm start, generator at 1/30 of the meta-lr": {
        "teacher_options": WARM,
        "meta": {"lr_scale": {"generator": 1 / 30}},
    },
    "warm start, generator at 1/100 of the meta-lr": {
        "teacher_options": WARM,
        "meta": {"lr_scale": {"generator": 0.01}},
    },
}
# Method choices at the paper's MNIST size, each a whole (short) run from the teacher
# benchmark's warm start: a 40-iteration cosine schedule, then the teacher is judged by
# METHOD_LEARNERS fresh learners (the paper's learner, new seeds) on the whole validation
# split. Which of these lifts the last tenths of a per cent the 98.9% target needs? About 12
# minutes per probe on an Intel Xeon (2 cores).
# Measured (teach_probes-method.json; 5 learners, mean +- std on 10,000 validation images):
# defaults 97.73 +- 0.13%, soft labels 97.92 +- 0.14%, meta-loss every 8th step 96.94 +- 0.26%,
# last step only 96.08 +- 0.15%. Scoring every step stays; the sparse meta-losses save only
# 15-20% of the time per iteration and lose a per cent. Soft labels gain 0.2 points, about two
# standard errors, from one teacher per probe. On top of soft labels (a session later, the
# same CPU model running about 30% slower: the probes' seconds compare only within a session):
# meta-lr 0.06 97.76 +- 0.09%; real batches of 256 98.13 +- 0.15% at 22% more time per
# iteration, against 98.03 +- 0.12% for 49 iterations of 128 in about the same time. At equal
# time the larger real batch leads by 0.1 point, within the learners' spread; neither is a
# clear step towards 98.9%.
METHOD_SCALE: dict[str, Any] = {
    **PAPER_SCALE,
    "teacher_options": {**TEACH_PRESETS["paper"]["teacher_options"], **WARM},
    "meta": {"iterations": 40, "eval_every": 10, "eval_examples": 2000},
}
METHOD_LEARNERS = 5
SOFT_LABELS = {"soft_labels": True}
METHOD_PROBES: dict[str, dict[str, Any]] = {
    "warm start, the defaults (teacher benchmark's gtn)": {},
    # Soft-label distillation (KIP, Sucholutsky & Schonlau) lets each synthetic image carry
    # more than one class's worth of signal.
    "learned soft labels": {"teacher_options": SOFT_LABELS},
    # The meta-loss averaged over all 32 steps also rewards early accuracy, which the target
    # does not ask for; scoring fewer steps weighs the end more.
    "meta-loss after every 8th step": {"meta": {"meta_loss_every": 8}},
    "meta-loss after the last step only": {"meta": {"meta_loss_every": 0}},
    # On top of soft labels (the 60min variant): late in a long run the meta-loss still falls
    # while test accuracy stays flat. Does a faster meta-lr get further in the same
    # iterations, or real batches of 256 a less noisy meta-gradient (one more real forward
    # and backward of 128 per step: 22% more time per iteration, measured)? The last probe
    # gives soft labels the time of 40 iterations with real batches of 256: 49 iterations.
    "learned soft labels, meta-lr 0.06": {
        "teacher_options": SOFT_LABELS,
        "meta": {"meta_lr": 0.06},
    },
    "learned soft labels, real batches of 256": {
        "teacher_options": SOFT_LABELS,
        "meta": {"real_batch_size": 256},
    },
    "learned soft labels, 49 iterations": {
        "teacher_options": SOFT_LABELS,
        "meta": {"iterations": 49},
    },
    # bfloat16 convolutions while meta-training (meta.conv_dtype; CPUs with AMX only): 1.42x
    # per meta-gradient on the Intel Xeon. Does the teacher lose accuracy? No: 97.96 +- 0.11%
    # against 97.92 +- 0.14% for soft labels in float32, in 426 s against 626 s.
    "learned soft labels, bfloat16 convolutions": {
        "teacher_options": SOFT_LABELS,
        "meta": {"conv_dtype": "bfloat16"},
    },
}
# Fashion-MNIST at the paper's size, the same 40-iteration runs and 5 validation learners as
# ``method``: which of them might lift the 87.5% of the 60min variant (whose meta-loss was flat
# at 0.38 over its last 48 iterations) towards the 88% target? Measured
# (teach_probes-fashion.json, AMD EPYC): soft labels 84.97 +- 0.61%, real batches of 256
# 85.01 +- 0.27%, mirrored real batches 83.20 +- 0.19%, a 60-epoch warm start 85.85 +- 0.25%.
FASHION_SCALE: dict[str, Any] = {**METHOD_SCALE, "dataset": "fashion-mnist"}
FASHION_PROBES: dict[str, dict[str, Any]] = {
    "learned soft labels (the 60min variant's settings)": {"teacher_options": SOFT_LABELS},
    # a less noisy meta-gradient; on MNIST +0.2 points at 40 iterations for 22% more time
    "learned soft labels, real batches of 256": {
        "teacher_options": SOFT_LABELS,
        "meta": {"real_batch_size": 256},
    },
    # the teacher judged by learners that must also classify mirrored clothes: a meta-loss
    # closer to generalisation than to fitting 128 particular images (no extra time)
    "learned soft labels, real batches flipped at random": {
        "teacher_options": SOFT_LABELS,
        "meta": {"real_flip": True},
    },
    # The warm start's GLO fit reproduces Fashion-MNIST's textures less well than MNIST's
    # strokes (fresh learners at 77-79% validation against 82% for 32 steps of real data),
    # and the pixels teacher, which starts from exact copies, reached 87.0% in 60 iterations
    # where the GTN needed 240 for 87.5%. Does a closer fit (3x the epochs) start it higher?
    "learned soft labels, warm start fitted for 60 epochs": {
        "teacher_options": {**SOFT_LABELS, "init_epochs": 60},
    },
}
# How the 32 scored steps' real losses are weighted into the meta-loss (MNIST, the ``method``
# set's runs and judging, soft labels on): the mean lets the first steps' large losses and
# gradients dominate, though a teacher is judged by the accuracy after its last step. The
# 60min variant reached 98.78% in 240 iterations; the hour for 98.9% needs about half the
# iterations 98.9% took (430), so a lever must move a 40-iteration run by tenths of a point.
# Measured (teach_probes-weighting.json, AMD EPYC; 5 learners, mean +- std on 10,000
# validation images): uniform 98.04 +- 0.03%, linear 97.85 +- 0.12%, inverse-loss
# 97.88 +- 0.07% (real loss after the last step over the last tenth 0.091, 0.100, 0.078).
# Weighting the late steps more does not lift the final accuracy: the mean stays the default.
WEIGHTING_PROBES: dict[str, dict[str, Any]] = {
    "uniform: the mean (the 60min variant's settings)": {"teacher_options": SOFT_LABELS},
    "linear: step k weighs k": {
        "teacher_options": SOFT_LABELS,
        "meta": {"meta_loss_weighting": "linear"},
    },
    "inverse-loss: step k weighs 1/L_k (the mean of log-losses)": {
        "teacher_options": SOFT_LABELS,
        "meta": {"meta_loss_weighting": "inverse-loss"},
    },
}
# Long schedules on MNIST, for a GPU (``--jobs`` runs them side by side): which lever gets the
# 60min variant (240 iterations, 98.78% test on CPU) to 98.9%, so that the hour on 2 CPU cores
# needs no more iterations? 40-iteration probes cannot judge a lever that acts through the
# schedule (its floor, its speed), so each probe here is a whole 240-iteration run from the
# warm start with soft labels, traced every 10 iterations on the whole validation split and
# judged at the end by 10 fresh learners.
# Measured (teach_probes-horizon.json: an H200, the 8 probes side by side in 8 minutes; 10
# learners, mean +- std on 10,000 validation images): the 60min settings 98.64 +- 0.08%, floor
# 1/100 98.60 +- 0.04%, meta-lr 0.06 98.53 +- 0.12%, generator at 1/10 98.40 +- 0.08%, a
# 60-epoch fit 98.66 +- 0.05%, real batches of 256 98.66 +- 0.11% (22% more time per
# iteration on CPU), 160 iterations 98.39 +- 0.03% (98.42 +- 0.12% run alone), the three
# levers together 98.47 +- 0.06%. None lifts the 240-iteration schedule beyond the learners'
# spread: the hour on 2 CPU cores stays short of 98.9%.
HORIZON_SCALE: dict[str, Any] = merge_values(
    METHOD_SCALE,
    {
        "teacher_options": SOFT_LABELS,
        "meta": {"iterations": 240, "eval_every": 10, "eval_examples": 10_000},
        "checkpoint_every": 10,
    },
)
HORIZON_LEARNERS = 10
HORIZON_PROBES: dict[str, dict[str, Any]] = {
    "240 iterations (the 60min variant's settings)": {},
    # the cosine ends at 1/10 of the meta-lr: does annealing further settle the teacher?
    "meta-lr floor 1/100": {"meta": {"final_lr_fraction": 0.01}},
    # the meta-loss still falls at the end: faster meta-parameters, or a faster generator
    "meta-lr 0.06": {"meta": {"meta_lr": 0.06}},
    "generator at 1/10 of the meta-lr": {"meta": {"lr_scale": {"generator": 0.1}}},
    # a closer warm start (the lever that lifted Fashion-MNIST by 0.3-0.9 points)
    "warm start fitted for 60 epochs": {"teacher_options": {"init_epochs": 60}},
    # a less noisy meta-gradient, at 22% more time per iteration on CPU
    "real batches of 256": {"meta": {"real_batch_size": 256}},
    # the shorter schedule that an hour gives on the AMD EPYC (21-22 s per iteration)
    "160 iterations": {"meta": {"iterations": 160}},
    "the long-horizon levers together (floor 1/100, generator 1/10, 60-epoch fit)": {
        "teacher_options": {"init_epochs": 60},
        "meta": {"final_lr_fraction": 0.01, "lr_scale": {"generator": 0.1}},
    },
}
SETS: dict[str, tuple[dict[str, Any], dict[str, dict[str, Any]], str]] = {
    # set name -> (scale, probes, results file)
    "defaults": (DEFAULTS_SCALE, DEFAULTS_PROBES, "teach_probes.json"),
    "nb201": (NB201_SCALE, NB201_PROBES, "teach_probes-nb201.json"),
    "paper": (PAPER_SCALE, PAPER_PROBES, "teach_probes-paper.json"),
    "method": (METHOD_SCALE, METHOD_PROBES, "teach_probes-method.json"),
    "fashion": (FASHION_SCALE, FASHION_PROBES, "teach_probes-fashion.json"),
    "weighting": (METHOD_SCALE, WEIGHTING_PROBES, "teach_probes-weighting.json"),
    "horizon": (HORIZON_SCALE, HORIZON_PROBES, "teach_probes-horizon.json"),
}
# Sets whose probes stop early, part-way through the run's learning-rate schedule.
STOP_AFTER = {"paper": PAPER_STOP}
# Sets judged at the end by several fresh learners on the whole validation split.
FINAL_LEARNERS = {
    **dict.fromkeys(("method", "fashion", "weighting"), METHOD_LEARNERS),
    "horizon": HORIZON_LEARNERS,
}


def run_probe(
    name: str,
    values: dict[str, Any],
    run_dir: Path,
    stop_after: int | None = None,
    final_learners: int = 0,
) -> dict[str, Any]:
    """One fresh meta-training run (stopped after ``stop_after`` iterations if given); its
    validation and meta-loss curves, and with ``final_learners`` the finished teacher's
    accuracy over that many fresh learners on the whole validation split."""
    config = config_from_dict(TeachRunConfig, values)
    shutil.rmtree(run_dir, ignore_errors=True)
    result = run_meta_training(config, run_dir, show_progress=False, stop_after=stop_after)
    record = probe_record(name, result.history, result.seconds, config_to_dict(config))
    if final_learners:
        record["final_val"] = validate_finished(run_dir, final_learners)
    return record


def probe_record(
    name: str, history: list[dict[str, Any]], seconds: float, config: dict[str, Any]
) -> dict[str, Any]:
    """A probe's record from its run's metrics (``history``: one dict per iteration)."""
    curve = [(h["iteration"], h["val_acc"]) for h in history if "val_acc" in h]
    steps = [h for h in history if "meta_loss" in h]
    return {
        "probe": name,
        "val_acc_by_iteration": curve,
        # averaged over each tenth of the run: one sampled learner per iteration is noisy.
        # final_loss (real loss after the last step) compares runs that score other steps.
        "meta_loss_smoothed": _tenths([h["meta_loss"] for h in steps]),
        "final_loss_smoothed": _tenths([h["final_loss"] for h in steps]),
        "seconds": seconds,
        "config": config,
    }


def _tenths(values: list[float]) -> list[float]:
    tenth = max(1, len(values) // 10)
    return [statistics.fmean(values[i : i + tenth]) for i in range(0, len(values), tenth)]


def validate_finished(run_dir: Path, learners: int) -> dict[str, Any]:
    """Accuracy of ``learners`` fresh learners (the reference architecture, seeds 0..n-1 of
    the "probe" stream) trained on the run's teacher, on the whole validation split. The test
    split stays untouched: these numbers choose settings."""
    from gtnas.data import load_dataset
    from gtnas.meta.meta_step import validate_teacher
    from gtnas.meta.run import load_run_config, make_learner_sampler, teacher_from_run
    from gtnas.runtime.device import resolve_device
    from gtnas.seeding import derive_seed

    config = load_run_config(run_dir)
    device = resolve_device(config.device)
    teacher, info = teacher_from_run(run_dir, device=device)
    sampler = make_learner_sampler(config, info.image_shape, info.num_classes)
    val = load_dataset(info.dataset, quiet=True).val
    accuracies = [
        validate_teacher(
            teacher, sampler, val.images, val.labels, derive_seed(config.seed, "probe", i), device
        )
        for i in range(learners)
    ]
    return {
        "learners": learners,
        "examples": int(val.labels.numel()),
        "mean": statistics.fmean(accuracies),
        "std": statistics.stdev(accuracies) if learners > 1 else 0.0,
        "accuracies": accuracies,
    }


def _probe_job(job: dict[str, Any]) -> None:
    """Child process of ``--jobs``: run one probe and leave its record in its run folder."""
    import torch

    torch.set_num_threads(job["threads"])
    record = run_probe(
        job["name"], job["values"], Path(job["run_dir"]), job["stop_after"], job["learners"]
    )
    (Path(job["run_dir"]) / "probe.json").write_text(json.dumps(record))


def run_side_by_side(
    jobs: list[dict[str, Any]], workers: int, deadline: float | None, on_record: Any
) -> None:
    """Run ``jobs`` in ``workers`` spawned processes (a GPU runs several small meta-training
    runs at once). At ``deadline`` (seconds from now) unfinished probes are stopped; their
    records then hold the curves so far (``"stopped": true``; a probe that failed says so too,
    with its ``exitcode``) and no final judging."""
    import multiprocessing
    import os
    import time

    context = multiprocessing.get_context("spawn")
    threads = max(1, (os.cpu_count() or 1) // workers)
    start, waiting, running = time.monotonic(), list(jobs), {}
    while waiting or running:
        while waiting and len(running) < workers:
            job = {**waiting.pop(0), "threads": threads}
            # a child that fails before run_probe clears its folder must not pass for finished
            (Path(job["run_dir"]) / "probe.json").unlink(missing_ok=True)
            process = context.Process(target=_probe_job, args=(job,))
            process.start()
            running[job["name"]] = (process, job)
        time.sleep(2)
        late = deadline is not None and time.monotonic() - start > deadline
        for name, (process, job) in list(running.items()):
            if process.is_alive() and not late:
                continue
            if process.is_alive():
                process.terminate()
            process.join()
            del running[name]
            run_dir = Path(job["run_dir"])
            if (run_dir / "probe.json").is_file():
                on_record(json.loads((run_dir / "probe.json").read_text()))
                continue
            history = read_metrics(run_dir)
            seconds = history[-1]["elapsed"] if history else 0.0
            record = probe_record(name, history, seconds, config_to_dict(job["config"]))
            on_record({**record, "stopped": True, "exitcode": process.exitcode})
        if late:
            waiting.clear()


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    from gtnas.runtime.metrics import MetricsLog

    path = run_dir / "metrics.jsonl"
    return MetricsLog(path).read() if path.is_file() else []


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", choices=sorted(SETS), default="defaults")
    parser.add_argument(
        "--only", nargs="+", metavar="NAME", help="probes whose names start with these (all)"
    )
    parser.add_argument(
        "--jobs", type=int, default=1, help="probes run side by side, one process each (1)"
    )
    parser.add_argument(
        "--deadline",
        type=float,
        metavar="SECONDS",
        help="with --jobs: stop unfinished probes after this long and keep their curves so far",
    )
    parser.add_argument("--results", type=Path, help="results file (benchmarks/results/...)")
    args = parser.parse_args(argv)
    scale, probes, filename = SETS[args.set]
    path = args.results or RESULTS / filename
    # a partial re-run (--only) keeps the other probes' records
    kept = json.loads(path.read_text())["records"] if args.only and path.is_file() else []
    records = {record["probe"]: record for record in kept}

    def keep(record: dict[str, Any]) -> None:
        records[record["probe"]] = record
        print(
            record["probe"],
            record["val_acc_by_iteration"],
            record["final_loss_smoothed"],
            record.get("final_val", {}).get("mean"),
            flush=True,
        )
        # written after every probe, so that a stopped session keeps the finished ones
        path.parent.mkdir(parents=True, exist_ok=True)
        ordered = [records[name] for name in probes if name in records]
        document = {"machine": describe_machine(), "records": ordered}
        path.write_text(json.dumps(document, indent=2) + "\n")

    jobs = []
    for index, (name, probe) in enumerate(probes.items()):
        if args.only and not any(name.startswith(prefix) for prefix in args.only):
            continue
        values = merge_values(merge_values(config_to_dict(TeachRunConfig()), scale), probe)
        jobs.append(
            {
                "name": name,
                "values": values,
                "config": config_from_dict(TeachRunConfig, values),
                "run_dir": str(RUNS / "probes" / args.set / str(index)),
                "stop_after": STOP_AFTER.get(args.set),
                "learners": FINAL_LEARNERS.get(args.set, 0),
            }
        )
    if args.jobs > 1:
        run_side_by_side(jobs, args.jobs, args.deadline, keep)
        return
    for job in jobs:
        keep(
            run_probe(
                job["name"], job["values"], Path(job["run_dir"]), job["stop_after"], job["learners"]
            )
        )


if __name__ == "__main__":
    main()
