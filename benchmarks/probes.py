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
from benchmarks.teach import RESULTS, RUNS
from gtnas.config import config_from_dict, config_to_dict, merge_values
from gtnas.meta.run import TeachRunConfig, run_meta_training

# The probe sets are config files, benchmarks/configs/probes/<set>.json: what the set asks
# ("about"), its results file, the scale every probe starts from (on top of TeachRunConfig's
# defaults), the probes (each a change to the scale), and whether they stop early
# ("stop_after": iterations) or are judged at the end by several fresh learners on the whole
# validation split ("final_learners"). What each set measured: benchmarks/results/README.md.
CONFIGS = Path(__file__).parent / "configs" / "probes"
SETS = sorted(path.stem for path in CONFIGS.glob("*.json"))


def load_probe_set(name: str) -> dict[str, Any]:
    """The probe set ``name`` (see :data:`CONFIGS`)."""
    return json.loads((CONFIGS / f"{name}.json").read_text())


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
    parser.add_argument("--set", choices=SETS, default="defaults")
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
    probe_set = load_probe_set(args.set)
    scale, probes = probe_set["scale"], probe_set["probes"]
    path = args.results or RESULTS / probe_set["results"]
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
                "stop_after": probe_set["stop_after"],
                "learners": probe_set["final_learners"] or 0,
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
