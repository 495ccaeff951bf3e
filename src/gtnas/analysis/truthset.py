"""The truth-set file: architectures with their accuracy after real training, as small JSON.

Written by ``gtnas truth export`` from a truth build (:mod:`gtnas.search.truth`), shipped in the
repository's ``truth/`` folder, read by ``gtnas rank-corr`` and ``gtnas speedup``::

    {"format": "gtnas-truth/1", "dataset": "mnist", "space": "nb201", "space_options": {},
     "blueprint": "search", "epochs": 3, "train_subset": 10000, "seed": 0,
     "recipe": {...the FinalTrainConfig...}, "machine": {...where it ran...},
     "study": "truth-mnist-nb201-n100-e3", "n": 100, "failed": 0,
     "records": [{"genotype": "nb201:|...|", "val_accuracy": 0.97, "test_accuracy": 0.97,
                  "seconds": 61.2, "train_seconds": 55.0, "parameters": 127226}, ...]}

``seconds`` is the wall time of an architecture's training (all sessions, the per-epoch
validation included, the closing validation and test passes not); ``train_seconds`` the part
spent in optimiser steps. Accuracies are fractions in [0, 1].
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gtnas.errors import GtnasError

TRUTH_FORMAT = "gtnas-truth/1"
METRICS = {"val": "val_accuracy", "test": "test_accuracy"}
_HEADER_KEYS = ("dataset", "space", "space_options", "blueprint", "epochs", "train_subset", "seed")
_RECORD_KEYS = ("genotype", "val_accuracy", "test_accuracy", "seconds", "parameters")


@dataclass(frozen=True)
class TruthRecord:
    genotype: str  # "<space>:<string>"
    val_accuracy: float
    test_accuracy: float
    seconds: float
    parameters: int


@dataclass(frozen=True)
class TruthSet:
    dataset: str
    space: str
    space_options: dict[str, Any]
    blueprint: str | dict[str, Any]
    epochs: int
    train_subset: int | None
    seed: int
    records: tuple[TruthRecord, ...]
    name: str  # the file's stem, used to name what is derived from it
    machine: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.records)

    def genotypes(self) -> list[str]:
        return [r.genotype for r in self.records]

    def accuracies(self, metric: str) -> list[float]:
        """``"val"`` or ``"test"`` accuracy of every record, in file order."""
        if metric not in METRICS:
            raise GtnasError(f"unknown truth metric {metric!r}; choose val or test")
        return [float(getattr(r, METRICS[metric])) for r in self.records]

    def digest(self) -> str:
        """12 hex digits identifying the set's architectures and data (not its file name):
        scores cached for one set are never reused for another."""
        text = json.dumps(
            [self.dataset, self.space, self.space_options, self.genotypes()], sort_keys=True
        )
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def truth_document(study: Any) -> dict[str, Any]:
    """The truth-set JSON of a truth study (its finished trainings, in trial order)."""
    from gtnas import __version__
    from gtnas.config import config_to_dict
    from gtnas.search.truth import truth_config_of

    config = truth_config_of(study.config, study=study.name)
    proxy = config.proxy
    records = []
    for record in sorted(study.completed(), key=lambda r: r.number):
        scores = record.scores
        train_seconds = scores.get(f"{proxy}/train_seconds")
        records.append(
            {
                "genotype": record.genotype,
                "val_accuracy": scores[proxy],
                "test_accuracy": scores[f"{proxy}/test_accuracy"],
                "seconds": round(scores.get(f"{proxy}/wall_seconds", record.seconds), 3),
                "train_seconds": None if train_seconds is None else round(train_seconds, 3),
                "parameters": int(scores[f"{proxy}/parameters"]),
            }
        )
    if not records:
        raise GtnasError(f"truth build {study.name!r} has no finished trainings yet")
    failed = sum(r.state == "FAIL" and r.error != "interrupted" for r in study.records())
    sessions = [value for _, value in sorted(study.results("machine").items())]
    document: dict[str, Any] = {
        "format": TRUTH_FORMAT,
        "dataset": config.dataset,
        "space": config.space,
        "space_options": config.space_options,
        "blueprint": config.blueprint,
        "epochs": config.epochs,
        "train_subset": config.train_subset,
        "seed": config.seed,
        "recipe": config_to_dict(config.recipe()),
        "machine": sessions[0] if sessions else {},
        "study": study.name,
        "gtnas": __version__,
        "n": len(records),
        "failed": failed,
        "records": records,
    }
    others = [s for s in sessions[1:] if s != document["machine"]]
    if others:  # a build resumed elsewhere: its seconds mix machines
        document["other_machines"] = others
    return document


def write_truth(document: dict[str, Any], path: Path) -> Path:
    from gtnas.runtime.files import atomic_write_text

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(document, indent=1, allow_nan=False) + "\n")
    return path


def load_truth(path: Path) -> TruthSet:
    """Read and check a truth-set file; every problem is one :class:`GtnasError` line."""
    path = Path(path)
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        raise GtnasError(
            f"truth file {path} does not exist; see truth/README.md for the shipped sets, or "
            "build one with `gtnas truth build` and `gtnas truth export`"
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise GtnasError(f"truth file {path} is not valid JSON ({exc})") from None
    if not isinstance(document, dict) or document.get("format") != TRUTH_FORMAT:
        raise GtnasError(f'{path} is not a truth-set file (no "format": "{TRUTH_FORMAT}")')
    missing = [key for key in (*_HEADER_KEYS, "records") if key not in document]
    if missing:
        raise GtnasError(f"truth file {path} lacks {', '.join(missing)}")
    records = []
    for index, item in enumerate(document["records"]):
        if not isinstance(item, dict) or any(key not in item for key in _RECORD_KEYS):
            raise GtnasError(f"truth file {path}: record {index} needs {', '.join(_RECORD_KEYS)}")
        try:
            record = TruthRecord(
                genotype=str(item["genotype"]),
                val_accuracy=float(item["val_accuracy"]),
                test_accuracy=float(item["test_accuracy"]),
                seconds=float(item["seconds"]),
                parameters=int(item["parameters"]),
            )
        except (TypeError, ValueError):
            raise GtnasError(f"truth file {path}: record {index} has a non-numeric value") from None
        if not record.genotype.startswith(f"{document['space']}:"):
            raise GtnasError(
                f"truth file {path}: record {index} is not a {document['space']} genotype"
            )
        records.append(record)
    if len(records) < 2:
        raise GtnasError(f"truth file {path} has {len(records)} record(s); need at least 2")
    if len({r.genotype for r in records}) != len(records):
        raise GtnasError(f"truth file {path} lists an architecture twice")
    return TruthSet(
        dataset=document["dataset"],
        space=document["space"],
        space_options=dict(document["space_options"] or {}),
        blueprint=document["blueprint"],
        epochs=int(document["epochs"]),
        train_subset=document["train_subset"],
        seed=int(document["seed"]),
        records=tuple(records),
        name=path.stem,
        machine=dict(document.get("machine") or {}),
    )
