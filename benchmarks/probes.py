"""Meta-hyperparameter probes behind gtnas's defaults (inner SGD start, meta-lr).

Four 60-iteration GTN runs on MNIST at the quick scale (small learner conv 32 -> 64, fc 128;
slim generator; 16 inner steps of 64), one seed, validation accuracy of one fresh learner on
2,000 validation images every 10 iterations:

    python -m benchmarks.probes          # about 12 minutes on 2 CPU cores

Writes ``benchmarks/results/teach_probes.json``. Single-seed, single-learner figures move by
about +-0.5%: they pick defaults, they are not a result.
"""

from __future__ import annotations

import json
import shutil
from typing import Any

from benchmarks.machine import describe_machine
from benchmarks.teach import RESULTS, RUNS
from gtnas.config import config_from_dict, config_to_dict, merge_values
from gtnas.meta.run import TeachRunConfig, run_meta_training

SCALE: dict[str, Any] = {
    "dataset": "mnist",
    "teacher": "gtn",
    "teacher_options": {
        "inner_steps": 16,
        "batch_size": 64,
        "generator": {"noise_dim": 64, "hidden": 256, "channels": 64, "mid_channels": 32},
    },
    "learner_options": {"channels": [32, 64], "fc": 128},
    "meta": {"iterations": 60, "eval_every": 10, "eval_examples": 2000},
}
PROBES: dict[str, dict[str, Any]] = {
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


def main() -> None:
    records = []
    for index, (name, probe) in enumerate(PROBES.items()):
        values = merge_values(merge_values(config_to_dict(TeachRunConfig()), SCALE), probe)
        config = config_from_dict(TeachRunConfig, values)
        run_dir = RUNS / "probes" / str(index)
        shutil.rmtree(run_dir, ignore_errors=True)
        result = run_meta_training(config, run_dir, show_progress=False)
        curve = [(h["iteration"], h["val_acc"]) for h in result.history if "val_acc" in h]
        records.append({"probe": name, "val_acc_by_iteration": curve, "seconds": result.seconds,
                        "config": config_to_dict(config)})  # fmt: skip
        print(name, curve, flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    document = {"machine": describe_machine(), "records": records}
    (RESULTS / "teach_probes.json").write_text(json.dumps(document, indent=2) + "\n")


if __name__ == "__main__":
    main()
