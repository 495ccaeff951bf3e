"""Meta-training probes: short GTN runs on MNIST that differ in one setting each.

Three sets, each written to ``benchmarks/results/teach_probes[-SET].json``:

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

    python -m benchmarks.probes [--set defaults|nb201|paper] [--only NAME ...]

Single-seed, single-learner figures move by a few points: they pick settings and locate a
problem, they are not a result.
"""

from __future__ import annotations

import argparse
import json
import shutil
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
SETS: dict[str, tuple[dict[str, Any], dict[str, dict[str, Any]], str]] = {
    # set name -> (scale, probes, results file)
    "defaults": (DEFAULTS_SCALE, DEFAULTS_PROBES, "teach_probes.json"),
    "nb201": (NB201_SCALE, NB201_PROBES, "teach_probes-nb201.json"),
    "paper": (PAPER_SCALE, PAPER_PROBES, "teach_probes-paper.json"),
}
# Sets whose probes stop early, part-way through the run's learning-rate schedule.
STOP_AFTER = {"paper": PAPER_STOP}


def run_probe(
    name: str, values: dict[str, Any], run_dir: Path, stop_after: int | None = None
) -> dict[str, Any]:
    """One fresh meta-training run (stopped after ``stop_after`` iterations if given); its
    validation and meta-loss curves."""
    config = config_from_dict(TeachRunConfig, values)
    shutil.rmtree(run_dir, ignore_errors=True)
    result = run_meta_training(config, run_dir, show_progress=False, stop_after=stop_after)
    curve = [(h["iteration"], h["val_acc"]) for h in result.history if "val_acc" in h]
    losses = [h["meta_loss"] for h in result.history if "meta_loss" in h]
    # meta-loss averaged over each tenth of the run: one sampled learner per iteration is noisy
    tenth = max(1, len(losses) // 10)
    smoothed = [sum(losses[i : i + tenth]) / len(losses[i : i + tenth])
                for i in range(0, len(losses), tenth)]  # fmt: skip
    return {
        "probe": name,
        "val_acc_by_iteration": curve,
        "meta_loss_smoothed": smoothed,
        "seconds": result.seconds,
        "config": config_to_dict(config),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", choices=sorted(SETS), default="defaults")
    parser.add_argument(
        "--only", nargs="+", metavar="NAME", help="probes whose names start with these (all)"
    )
    args = parser.parse_args(argv)
    scale, probes, filename = SETS[args.set]
    path = RESULTS / filename
    # a partial re-run (--only) keeps the other probes' records
    kept = json.loads(path.read_text())["records"] if args.only and path.is_file() else []
    records = {record["probe"]: record for record in kept}
    for index, (name, probe) in enumerate(probes.items()):
        if args.only and not any(name.startswith(prefix) for prefix in args.only):
            continue
        values = merge_values(merge_values(config_to_dict(TeachRunConfig()), scale), probe)
        run_dir = RUNS / "probes" / args.set / str(index)
        record = run_probe(name, values, run_dir, STOP_AFTER.get(args.set))
        records[name] = record
        print(name, record["val_acc_by_iteration"], record["meta_loss_smoothed"], flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    ordered = [records[name] for name in probes if name in records]
    document = {"machine": describe_machine(), "records": ordered}
    path.write_text(json.dumps(document, indent=2) + "\n")


if __name__ == "__main__":
    main()
