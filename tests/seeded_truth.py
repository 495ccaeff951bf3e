"""A toy two-seed truth set for the benchmarks' tests: the shipped MNIST set's first
architectures, each with two "seeds" one point apart (so the noise ceiling is known)."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def write_seeded_truth(path: Path, count: int) -> Path:
    """Write the set of the shipped MNIST set's first ``count`` architectures to ``path``."""
    from gtnas.search.truth_build import TRUTH_FORMAT

    shipped = json.loads((ROOT / "truth" / "mnist-nb201-n100-e3.json").read_text())
    records = []
    for i, record in enumerate(shipped["records"][:count]):
        first, second = record["test_accuracy"], record["test_accuracy"] + 0.01 * (i % 3 - 1)
        records.append({
            "genotype": record["genotype"], "val_accuracy": (first + second) / 2,
            "test_accuracy": (first + second) / 2, "seconds": 1.0, "parameters": 1,
            "seeds": [{"seed": 0, "val_accuracy": first, "test_accuracy": first},
                      {"seed": 1, "val_accuracy": second, "test_accuracy": second}],
        })  # fmt: skip
    document = {**{k: shipped[k] for k in ("dataset", "space", "space_options", "epochs",
                                           "train_subset", "seed")},
                "format": TRUTH_FORMAT, "blueprint": "tiny", "complete": False,
                "records": records}  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document))
    return path
