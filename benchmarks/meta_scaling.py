"""Meta-training scaling benchmark: learners per second with several learners per meta-step
and several processes, the cost of long horizons, and what truncating the meta-gradient costs
in bias and buys in time.

    python -m benchmarks.meta_scaling --preset cpu        # these 2 cores (about an hour)
    python -m benchmarks.meta_scaling --preset gpu        # one GPU (about 10 minutes)
    python -m benchmarks.meta_scaling --preset smoke --out /tmp/b --runs /tmp/b/runs

Four parts, each a list of records in ``meta_scaling.json`` (``--only`` runs one; a preset
names the parts it runs):

- ``scaling``: (processes, learners per process) in (1, 1), (1, 2), (2, 1) at one torch thread
  per process, for the paper's MNIST teacher (``configs/mnist-paper.json``, random start: the
  warm start's fit costs minutes and changes no meta-step) and the NB-201 teacher
  (``configs/nb201-teacher.json``): seconds per meta-iteration (the median after the first)
  and learners per second, each a ``gtnas teach train --nproc P`` run of a few iterations;
- ``horizon``: the NB-201 teacher's meta-iteration at T = 32, 64 and 128 inner steps (batch
  64), fully unrolled, with gradient checkpointing, and truncated to the last 32 steps:
  seconds and the peak resident memory of the process (a full unroll the machine's memory
  cannot hold is not run; its record says so and gives the estimate);
- ``truncation``: on a small problem (the test suite's tiny MNIST teacher, T = 32), the
  cosine between truncated and full meta-gradients of the same learners for W = 4, 8, 16, 32,
  and fresh learners' validation accuracy of a teacher meta-trained full or truncated for the
  same wall time;
- ``determinism``: one process of one learner with ``deterministic`` off and on (cuDNN's and
  torch's deterministic algorithms): seconds per meta-iteration, the cost of the option, and
  whether two deterministic runs of the same seed record the same meta-losses.

On the ``gpu`` preset every process computes on the one GPU (``device cuda``; several ranks on
one GPU share it over gloo), the layouts reach 8 learners in flight (8 processes of 1 and 1
process of 8), nothing is checkpointed (the GPU holds a 128-step unroll), and the peak memory
is the GPU's (``torch.cuda.max_memory_allocated`` of rank 0).

Every run is seeded; a machine description goes with every record. Nothing here reads a test
split. Other jobs on the machine distort the timings: pause them while this runs.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.results import argument_parser, machine_line, write_records

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"
RUNS = Path(__file__).parent / "runs" / "meta_scaling"
LAYOUTS = ((1, 1), (1, 2), (2, 1))  # (processes, learners per process)
HORIZON_LEARNERS = 2  # learners per meta-step in the horizon part (see horizon_records)
TINY = {
    "dataset": "mnist",
    "teacher": "gtn",
    "learner": "fixed",
    "train_subset": 5000,
    "teacher_options": {
        "inner_steps": 32,
        "batch_size": 32,
        "generator": {"noise_dim": 32, "hidden": 128, "channels": 32, "mid_channels": 16},
    },
    "learner_options": {"channels": [8, 16], "fc": 32},
    "meta": {"meta_lr": 0.01, "real_batch_size": 64, "eval_examples": 500},
}

PRESETS: dict[str, dict[str, Any]] = {
    "cpu": {
        "parts": ("scaling", "horizon", "truncation"),
        # With gradient checkpointing: a fully unrolled paper-size MNIST meta-gradient peaks
        # at 13 GB, so two processes of it do not fit in 24 GB (the first attempt's second
        # rank was killed by the kernel's OOM killer); checkpointed, every layout fits.
        "teachers": {
            "paper-mnist": (
                "configs/mnist-paper.json",
                {"teacher_options": {"init": "random"}, "meta": {"gradient_checkpointing": True}},
            ),
            "nb201": ("configs/nb201-teacher.json", {"meta": {"gradient_checkpointing": True}}),
        },
        # per teacher; nb201's learners are sampled architectures, a different pair each
        # step, so more steps are averaged
        "scaling_iterations": {"paper-mnist": 4, "nb201": 9},
        "horizon_teacher": "nb201",
        "horizons": (32, 64, 128),
        "horizon_truncation": 32,
        # three timed meta-steps (the first pays the warm-up): the same three pairs of cells
        # in every row; one timed step left the 128/32 ratio within its noise of the target
        "horizon_iterations": 4,
        "truncation_windows": (4, 8, 16, 32),
        "truncation_learners": 5,
        "equal_seconds": 240.0,
        "judges": 5,
    },
    # For the test: everything at the tiny teacher, seconds in all.
    "smoke": {
        "parts": ("scaling", "horizon", "truncation", "determinism"),
        "determinism_teacher": "tiny",
        "determinism_iterations": 3,
        "teachers": {"tiny": (None, {"teacher_options": {"inner_steps": 4}})},
        "scaling_iterations": 3,
        "horizon_teacher": "tiny",
        "horizons": (4, 8),
        "horizon_truncation": 4,
        "horizon_iterations": 2,
        "truncation_windows": (2, 32),  # 32 = T: the full meta-gradient, cosine 1
        "truncation_learners": 2,
        "equal_seconds": 6.0,
        "judges": 2,
    },
}


# One GPU (the H200 of the device tool): the same teachers unrolled, up to 8 learners in
# flight, the horizons unrolled too, and the cost of deterministic kernels. Sized for a 15-minute
# device lease: about 10 minutes of runs, most of it process start-up.
PRESETS["gpu"] = {
    "parts": ("scaling", "horizon", "determinism"),
    "device": "cuda",
    "layouts": ((1, 1), (1, 8), (8, 1)),
    "teachers": {
        "paper-mnist": ("configs/mnist-paper.json", {"teacher_options": {"init": "random"}}),
        "nb201": ("configs/nb201-teacher.json", {}),
    },
    "scaling_iterations": {"paper-mnist": 6, "nb201": 6},
    "horizon_teacher": "nb201",
    "horizons": (32, 64, 128),
    "horizon_truncation": 32,
    "horizon_iterations": 4,
    "determinism_teacher": "paper-mnist",
    "determinism_iterations": 6,
}


def teacher_values(preset: dict[str, Any], name: str) -> dict[str, Any]:
    """A TeachRunConfig as a dict: the named teacher's config file (or TINY) with its
    overrides, on the preset's device (the CPU unless it names one), without validation during
    the timed iterations."""
    from gtnas.config import merge_values

    path, overrides = preset["teachers"][name]
    values = json.loads((ROOT / path).read_text()) if path else json.loads(json.dumps(TINY))
    values = merge_values(values, overrides)
    device = preset.get("device", "cpu")
    return merge_values(values, {"device": device, "meta": {"eval_every": 0}})


def run_teach(values: dict[str, Any], run: Path, processes: int, iterations: int) -> list[dict]:
    """``gtnas teach train`` on ``processes`` processes (one torch thread each) for
    ``iterations``; its metrics records."""
    from gtnas.config import merge_values

    values = merge_values(values, {"meta": {"iterations": iterations}})
    run.mkdir(parents=True, exist_ok=True)
    config = run / "given.json"
    config.write_text(json.dumps(values))
    out = run / "run"
    if out.exists():
        import shutil

        shutil.rmtree(out)
    command = [sys.executable, "-m", "gtnas", "teach", "train", "--config", str(config),
               "--out", str(out), "--nproc", str(processes), "--quiet"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"[meta_scaling] {' '.join(command)} failed:\n{done.stderr[-3000:]}")
    lines = (out / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def peak_of(run: Path, preset: dict[str, Any]) -> float | None:
    """The peak memory (MiB) rank 0 recorded in the run's latest checkpoint: resident memory
    on the CPU, the GPU's allocations on a GPU preset."""
    from gtnas.runtime.checkpoint import load_checkpoint

    checkpoint = load_checkpoint(run / "run")
    key = "peak_memory_mb" if preset.get("device", "cpu") == "cpu" else "peak_device_memory_mb"
    return None if checkpoint is None else checkpoint.state.get(key)


def seconds_per_iteration(history: list[dict]) -> float:
    """Mean seconds of the meta-steps after the first (the first pays the allocator's and
    oneDNN's warm-up). The mean, not the median: on a search space each step's learners are
    other architectures, whose costs differ several-fold."""
    steps = [h["seconds"] for h in history if h.get("iteration", 0) >= 1]
    return statistics.fmean(steps[1:] if len(steps) > 1 else steps)


def scaling_records(
    preset: dict[str, Any], work: Path, teachers: list[str] | None = None
) -> list[dict[str, Any]]:
    records = []
    for name in preset["teachers"]:
        if teachers and name not in teachers:
            continue
        base = None
        for processes, per in preset.get("layouts", LAYOUTS):
            learners = processes * per
            values = teacher_values(preset, name)
            values["meta"]["learners_per_step"] = learners
            folder = work / "scaling" / f"{name}-p{processes}-l{per}"
            print(f"[meta_scaling] {name}: {processes} process(es) x {per} learner(s)",
                  flush=True)  # fmt: skip
            iterations = preset["scaling_iterations"]
            if isinstance(iterations, dict):
                iterations = iterations[name]
            history = run_teach(values, folder, processes, iterations)
            seconds = seconds_per_iteration(history)
            rate = learners / seconds
            base = base or rate
            records.append({
                "part": "scaling", "teacher": name, "processes": processes,
                "learners_per_process": per, "learners_per_step": learners,
                "inner_steps": values["teacher_options"].get("inner_steps", 32),
                "batch_size": values["teacher_options"].get("batch_size", 128),
                "seconds_per_iteration": seconds, "learners_per_second": rate,
                "speedup_over_one": rate / base, "iterations": len(history),
                "peak_memory_mb": peak_of(folder, preset),
            })  # fmt: skip
    return records


def _available_mb(device: str = "cpu") -> float:
    """Memory the preset's device has in all (MiB): the machine's, or the GPU's."""
    if device != "cpu":
        import torch

        return torch.cuda.get_device_properties(torch.device(device)).total_memory / 2**20
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20


def horizon_records(preset: dict[str, Any], work: Path) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    name, window = preset["horizon_teacher"], preset["horizon_truncation"]
    unrolled_peak: dict[int, float] = {}
    for steps in preset["horizons"]:
        # explicit: the teacher's own config may ask for checkpointing
        variants = [("unroll", {"gradient_checkpointing": False}),
                    ("checkpoint", {"gradient_checkpointing": True})]  # fmt: skip
        if steps > window:
            variants.append((f"truncated to {window}",
                             {"truncation": window, "gradient_checkpointing": False}))  # fmt: skip
        for label, meta in variants:
            values = teacher_values(preset, name)
            values["teacher_options"]["inner_steps"] = steps
            # two learners per step: their streams are seeded by (seed, iteration, index), so
            # every row meta-trains the same two sampled cells (one learner per step would
            # draw other cells at other T, whose costs differ several-fold)
            values["meta"].update(meta, learners_per_step=HORIZON_LEARNERS)
            record = {"part": "horizon", "teacher": name, "inner_steps": steps, "mode": label,
                      "batch_size": values["teacher_options"].get("batch_size", 128)}  # fmt: skip
            if label == "unroll" and unrolled_peak:
                # the unrolled graph grows with T: past the memory, estimate instead of crashing
                last_steps, last_peak = max(unrolled_peak.items())
                estimate = last_peak * steps / last_steps
                if estimate > 0.8 * _available_mb(preset.get("device", "cpu")):
                    records.append({**record, "run": False, "estimated_peak_memory_mb":
                                    estimate, "note": "not run: the estimated peak exceeds "
                                    "80% of this machine's memory"})  # fmt: skip
                    continue
            folder = work / "horizon" / f"{name}-t{steps}-{label.split()[0]}"
            print(f"[meta_scaling] horizon: T={steps}, {label}", flush=True)
            history = run_teach(values, folder, 1, preset["horizon_iterations"])
            peak = peak_of(folder, preset)
            if label == "unroll" and peak is not None:
                unrolled_peak[steps] = peak
            seconds = seconds_per_iteration(history)
            timed = [h["seconds"] for h in history if h.get("iteration", 0) >= 1][1:]
            records.append({**record, "run": True, "learners_per_step": HORIZON_LEARNERS,
                            "seconds_per_iteration": seconds, "iteration_seconds": timed,
                            "seconds_per_learner": seconds / HORIZON_LEARNERS,
                            "peak_memory_mb": peak})  # fmt: skip
    shortest = {r["mode"]: r for r in records if r["inner_steps"] == min(preset["horizons"])}
    base = shortest.get("unroll", {}).get("seconds_per_iteration")
    for r in records:
        if base and r.get("seconds_per_iteration"):
            r["cost_over_shortest_unroll"] = r["seconds_per_iteration"] / base
        same = shortest.get(r["mode"], {}).get("seconds_per_iteration")
        if same and r.get("seconds_per_iteration"):
            r["cost_over_shortest_same_mode"] = r["seconds_per_iteration"] / same
    return records


def determinism_records(preset: dict[str, Any], work: Path) -> list[dict[str, Any]]:
    """One process of one learner with ``deterministic`` off, on, and on again (same seed):
    seconds per meta-iteration, and whether the two deterministic runs agree exactly."""
    name, iterations = preset["determinism_teacher"], preset["determinism_iterations"]
    histories = {}
    for label, flag in (("off", False), ("on", True), ("on, again", True)):
        values = teacher_values(preset, name)
        values["deterministic"] = flag
        folder = work / "determinism" / f"{name}-{label.replace(', ', '-')}"
        print(f"[meta_scaling] determinism {label}: {name}", flush=True)
        histories[label] = run_teach(values, folder, 1, iterations)
    seconds = {label: seconds_per_iteration(h) for label, h in histories.items()}

    def losses(label: str) -> list[float]:
        return [h["meta_loss"] for h in histories[label] if h.get("iteration", 0) >= 1]

    return [{
        "part": "determinism", "teacher": name, "processes": 1, "learners_per_process": 1,
        "iterations": iterations, "seconds_off": seconds["off"], "seconds_on": seconds["on"],
        "cost_of_determinism": seconds["on"] / seconds["off"],
        "repeat_identical": losses("on") == losses("on, again"),
        "off_vs_on_max_difference": max(
            abs(a - b) for a, b in zip(losses("off"), losses("on"), strict=True)
        ),
    }]  # fmt: skip


def truncation_records(preset: dict[str, Any], work: Path, seed: int) -> list[dict[str, Any]]:
    """Cosines of truncated to full meta-gradients on the tiny problem, and teachers trained
    for equal seconds."""
    import torch

    from gtnas.config import config_from_dict, merge_values
    from gtnas.data import load_dataset
    from gtnas.meta.meta_step import sample_real_batches
    from gtnas.meta.run import TeachRunConfig, make_learner_sampler
    from gtnas.meta.unroll import meta_gradient
    from gtnas.seeding import derive_seed, make_generator
    from gtnas.teachers import create_teacher

    torch.set_num_threads(1)
    values = json.loads(json.dumps(TINY))
    config = config_from_dict(TeachRunConfig, merge_values(values, {"device": "cpu"}))
    dataset = load_dataset("mnist", quiet=True)
    images, labels = dataset.train.images[:5000], dataset.train.labels[:5000]
    teacher = create_teacher("gtn", config.teacher_options, dataset.image_shape,
                             dataset.num_classes, generator=make_generator(seed))  # fmt: skip
    sampler = make_learner_sampler(config, dataset.image_shape, dataset.num_classes)
    steps = config.teacher_options.inner_steps
    # which meta-parameters belong to which group (generator, curriculum, schedule...): the
    # per-step ones of the first T - W steps get no gradient from a truncated meta-gradient,
    # the shared generator does, so its cosine tells the bias on what all steps share
    ids = {id(p): i for i, p in enumerate(teacher.meta_parameters())}
    groups = {name: [ids[id(p)] for p in params]
              for name, params in teacher.meta_parameter_groups().items()}  # fmt: skip
    by_group: dict[int, dict[str, list[float]]] = {
        w: {g: [] for g in groups} for w in preset["truncation_windows"]
    }
    cosines: dict[int, list[float]] = {w: [] for w in preset["truncation_windows"]}
    times: dict[int, list[float]] = {0: [], **{w: [] for w in preset["truncation_windows"]}}
    for index in range(preset["truncation_learners"]):

        def gradient(window: int, index: int = index) -> tuple[list[torch.Tensor], float]:
            stream = make_generator(derive_seed(seed, "truncation", index))
            learner = sampler.sample(stream)
            teacher.begin_episode(stream)
            scored = config.meta.scored_steps(steps)
            real = sample_real_batches(images, labels, scored, 64, stream, torch.device("cpu"))
            start = time.perf_counter()
            result = meta_gradient(learner, teacher, real, truncation=window)
            return [g.reshape(-1) for g in result.grads], time.perf_counter() - start

        full, seconds = gradient(0)
        times[0].append(seconds)
        flat_full = torch.cat(full)
        for window in preset["truncation_windows"]:
            cut, seconds = gradient(window)
            times[window].append(seconds)
            flat = torch.cat(cut)
            cosine = torch.nn.functional.cosine_similarity(flat, flat_full, dim=0)
            cosines[window].append(float(cosine))
            for group, members in groups.items():
                a = torch.cat([cut[i] for i in members])
                b = torch.cat([full[i] for i in members])
                value = torch.nn.functional.cosine_similarity(a, b, dim=0)
                by_group[window][group].append(float(value))
    records = [
        {"part": "truncation", "measure": "cosine", "inner_steps": steps, "window": window,
         "learners": len(cosines[window]), "cosine_mean": statistics.mean(cosines[window]),
         "cosine_min": min(cosines[window]),
         "cosine_by_group": {g: statistics.mean(v) for g, v in by_group[window].items()},
         "seconds_per_meta_gradient": statistics.mean(times[window]),
         "seconds_full": statistics.mean(times[0])}
        for window in preset["truncation_windows"]
    ]  # fmt: skip
    records += equal_seconds_records(preset, work, seed)
    return records


def equal_seconds_records(preset: dict[str, Any], work: Path, seed: int) -> list[dict[str, Any]]:
    """The tiny teacher meta-trained full and truncated to a quarter of its steps for the same
    wall time; fresh learners' validation accuracy of each."""
    from gtnas.config import config_from_dict, merge_values
    from gtnas.data import load_dataset
    from gtnas.meta.fresh_learners import evaluate_teacher
    from gtnas.meta.run import (
        TeachRunConfig,
        make_learner_sampler,
        run_meta_training,
        teacher_from_run,
    )

    dataset = load_dataset("mnist", quiet=True)
    budget = preset["equal_seconds"]
    out = []
    window = max(1, TINY["teacher_options"]["inner_steps"] // 4)
    for label, truncation in (("full", 0), (f"truncated to {window}", window)):
        values = merge_values(json.loads(json.dumps(TINY)), {
            "device": "cpu", "seed": seed, "checkpoint_every": 10_000,
            "meta": {"iterations": 100_000, "eval_every": 0, "truncation": truncation},
        })  # fmt: skip
        config = config_from_dict(TeachRunConfig, values)
        run = work / "equal-seconds" / label.split()[0]
        if run.exists():
            import shutil

            shutil.rmtree(run)
        start = time.perf_counter()
        iterations = 0

        def stop_when_spent(record: dict[str, Any]) -> None:
            nonlocal iterations
            iterations = record["iteration"]

        # meta-train in chunks of 5 iterations until the budget is spent (each chunk resumes)
        chunk = 0
        while time.perf_counter() - start < budget:
            chunk += 5
            run_meta_training(config, run, resume=chunk > 5, show_progress=False,
                              on_iteration=stop_when_spent, stop_after=chunk)  # fmt: skip
        seconds = time.perf_counter() - start
        finished = _finish_at(config, run, iterations)
        teacher, _ = teacher_from_run(finished)
        sampler = make_learner_sampler(config, dataset.image_shape, dataset.num_classes)
        results = evaluate_teacher(teacher, sampler, dataset.val.images[:2000],
                                   dataset.val.labels[:2000], learners=preset["judges"],
                                   seed=1000, sampled=False)  # fmt: skip
        accuracies = [r.accuracy for r in results]
        out.append({
            "part": "truncation", "measure": "equal seconds", "mode": label,
            "inner_steps": TINY["teacher_options"]["inner_steps"], "window": truncation or None,
            "seconds": seconds, "iterations": iterations,
            "val_accuracy_mean": statistics.mean(accuracies),
            "val_accuracy_std": statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0,
            "judges": len(accuracies),
        })  # fmt: skip
    return out


def _finish_at(config: Any, run: Path, iterations: int) -> Path:
    """The run as a finished teacher of ``iterations`` iterations: resumed with that total
    (no further step), which writes teacher.safetensors."""
    from dataclasses import replace

    from gtnas.meta.run import run_meta_training

    shortened = replace(config, meta=replace(config.meta, iterations=iterations))
    run_meta_training(shortened, run, resume=True, show_progress=False)
    return run


def record_key(record: dict[str, Any]) -> tuple[Any, ...]:
    return (
        record["preset"], record["part"], record.get("teacher"), record.get("processes"),
        record.get("learners_per_process"), record.get("inner_steps"), record.get("mode"),
        record.get("measure"), record.get("window"),
    )  # fmt: skip


def render_table(records: list[dict[str, Any]]) -> str:
    def num(value: Any, digits: int = 2) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    def times(value: Any) -> str:
        return "-" if value is None else f"{value:.2f}x"

    lines = ["# Meta-training scaling benchmark", "",
             "`python -m benchmarks.meta_scaling --preset PRESET` (one torch thread per "
             "process; other jobs paused).", "",
             "## Learners per second", "",
             "| preset | teacher | processes | learners / process | T | B | s / meta-iteration "
             "| learners / s | vs (1, 1) | peak MiB (rank 0; the GPU's on a GPU preset) |",
             "|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in (r for r in records if r["part"] == "scaling"):
        lines.append(
            f"| {r['preset']} | {r['teacher']} | {r['processes']} | "
            f"{r['learners_per_process']} | {r['inner_steps']} | {r['batch_size']} | "
            f"{num(r['seconds_per_iteration'])} | {num(r['learners_per_second'], 3)} | "
            f"{num(r['speedup_over_one'])}x | {num(r['peak_memory_mb'], 0)} |"
        )
    lines += ["", "## Long horizons (one process)", "",
              "The same sampled cells in every row (two learners per meta-step, one after "
              "another; the mean over the timed meta-steps); seconds per learner.", "",
              "| preset | teacher | T | mode | s / learner | vs the shortest unroll | "
              "vs the shortest, same mode | peak MiB |",
              "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in (r for r in records if r["part"] == "horizon"):
        if not r.get("run", True):
            lines.append(
                f"| {r['preset']} | {r['teacher']} | {r['inner_steps']} | {r['mode']} | "
                f"not run | - | - | about {num(r['estimated_peak_memory_mb'], 0)} (estimated) |"
            )
            continue
        lines.append(
            f"| {r['preset']} | {r['teacher']} | {r['inner_steps']} | {r['mode']} | "
            f"{num(r.get('seconds_per_learner', r['seconds_per_iteration']))} | "
            f"{times(r.get('cost_over_shortest_unroll'))} | "
            f"{times(r.get('cost_over_shortest_same_mode'))} | {num(r['peak_memory_mb'], 0)} |"
        )
    lines += ["", "## Truncated meta-gradients (tiny MNIST teacher)", "",
              "| preset | T | window W | learners | cosine to full, all (mean / min) | "
              "by group (mean) | s per meta-gradient (full) |",
              "|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in (r for r in records if r.get("measure") == "cosine"):
        groups = ", ".join(f"{g} {v:.3f}" for g, v in r.get("cosine_by_group", {}).items())
        lines.append(
            f"| {r['preset']} | {r['inner_steps']} | {r['window']} | {r['learners']} | "
            f"{num(r['cosine_mean'], 3)} / {num(r['cosine_min'], 3)} | {groups} | "
            f"{num(r['seconds_per_meta_gradient'], 3)} ({num(r['seconds_full'], 3)}) |"
        )
    lines += ["", "| preset | teacher at equal seconds | seconds | meta-iterations | "
              "validation accuracy % (judges) |", "|---|---|---|---|---|"]  # fmt: skip
    for r in (r for r in records if r.get("measure") == "equal seconds"):
        lines.append(
            f"| {r['preset']} | {r['mode']} | {num(r['seconds'], 0)} | {r['iterations']} | "
            f"{100 * r['val_accuracy_mean']:.2f} ± {100 * r['val_accuracy_std']:.2f} "
            f"({r['judges']}) |"
        )
    determinism = [r for r in records if r["part"] == "determinism"]
    if determinism:
        lines += ["", "## Deterministic kernels (one process, one learner)", "",
                  "| preset | teacher | s / meta-iteration, off | on | cost | two same-seed "
                  "runs identical | largest meta-loss difference, off vs on |",
                  "|---|---|---|---|---|---|---|"]  # fmt: skip
        for r in determinism:
            lines.append(
                f"| {r['preset']} | {r['teacher']} | {num(r['seconds_off'])} | "
                f"{num(r['seconds_on'])} | {num(r['cost_of_determinism'])}x | "
                f"{'yes' if r['repeat_identical'] else 'no'} | "
                f"{r['off_vs_on_max_difference']:.2e} |"
            )
    lines += ["", machine_line(records), ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    from benchmarks.machine import describe_machine

    parser = argument_parser(__doc__)
    parser.add_argument("--preset", choices=sorted(PRESETS), default="cpu")
    parser.add_argument("--only", choices=("scaling", "horizon", "truncation", "determinism"))
    parser.add_argument("--teachers", help="scaling: only these teachers (comma-separated)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--runs", type=Path, default=RUNS)
    args = parser.parse_args(argv)
    preset = PRESETS[args.preset]
    work = args.runs / args.preset
    parts = {
        "scaling": lambda: scaling_records(
            preset, work, args.teachers.split(",") if args.teachers else None
        ),
        "horizon": lambda: horizon_records(preset, work),
        "truncation": lambda: truncation_records(preset, work, args.seed),
        "determinism": lambda: determinism_records(preset, work),
    }
    machine = describe_machine()
    records: list[dict[str, Any]] = []
    for name, part in parts.items():
        if name not in preset["parts"] or args.only not in (None, name):
            continue
        start = time.time()
        new = part()
        for record in new:
            record.update(preset=args.preset, seed=args.seed, machine=machine)
        records += new
        write_records(args.out, "meta_scaling", records, record_key, render_table)
        print(f"[meta_scaling] {name} in {time.time() - start:.0f} s", flush=True)
    print(render_table(records))


if __name__ == "__main__":
    main()
