"""The truth-set file: architectures with their accuracy after real training, as small JSON.

Written by ``gtnas truth export`` (and, as it goes, by ``gtnas truth build --export``) from a
truth build (:mod:`gtnas.search.truth_build`), shipped in the repository's ``truth/`` folder,
read by ``gtnas rank-corr``, ``gtnas speedup`` and ``gtnas simulate``. Format 2::

    {"format": "gtnas-truth/2", "dataset": "fashion-mnist", "space": "nb201",
     "space_options": {}, "blueprint": "search-head3", "epochs": 7, "train_subset": null, "seed": 0,
     "seeds": [0, 1], "seeds_for": null, "steps": 2730, "planned": 100, "complete": true,
     "recipe": {...the FinalTrainConfig of seed 0...}, "build": {...the TruthConfig...},
     "machine": {...where it ran...}, "study": "truth-...", "n": 100, "failed": 0,
     "failures": [{"genotype": "nb201:|...|", "error": "..."}],
     "records": [{"genotype": "nb201:|...|", "val_accuracy": 0.91, "test_accuracy": 0.90,
                  "seconds": 340.2, "train_seconds": 301.0, "parameters": 132346,
                  "flops": 33200000, "steps": 2730,
                  "seeds": [{"seed": 0, "val_accuracy": 0.912, "test_accuracy": 0.903,
                             "seconds": 181.0, "train_seconds": 172.1, "machine": 0},
                            ...]}, ...]}

A record's ``val_accuracy`` and ``test_accuracy`` are the means over its seeds (what proxies
are correlated with by default); ``seconds`` (wall time, the closing validation and test passes
left out) and ``train_seconds`` (optimiser steps) are the mean of one training. A seed's
``machine`` says where it trained (0: ``machine``, k: ``other_machines[k-1]``; absent in the
records written before builds noted it). Format 1 (the first sets: one seed, no ``seeds``)
still reads, each record as one seed of the set's seed. Accuracies are fractions in [0, 1].
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gtnas import __version__
from gtnas.config import config_to_dict
from gtnas.errors import ConfigError, GtnasError
from gtnas.runtime.files import atomic_write_text
from gtnas.search.truth_build import TRUTH_FORMAT, record_of, truth_config_of

FORMATS = ("gtnas-truth/1", TRUTH_FORMAT)
METRICS = {"val": "val_accuracy", "test": "test_accuracy"}
_HEADER_KEYS = ("dataset", "space", "space_options", "blueprint", "epochs", "train_subset", "seed")
_RECORD_KEYS = ("genotype", "val_accuracy", "test_accuracy", "seconds", "parameters")
_SEED_KEYS = ("seed", "val_accuracy", "test_accuracy")


@dataclass(frozen=True)
class SeedResult:
    """One training of an architecture."""

    seed: int
    val_accuracy: float
    test_accuracy: float
    # where it trained: 0 the file's "machine", k its other_machines[k-1]; None: not recorded
    # (the files' first records, and format 1)
    machine: int | None = None


@dataclass(frozen=True)
class TruthRecord:
    genotype: str  # "<space>:<string>"
    val_accuracy: float  # the mean over its seeds
    test_accuracy: float
    seconds: float  # of one training
    parameters: int
    seeds: tuple[SeedResult, ...] = ()
    flops: int | None = None

    @property
    def training_seconds(self) -> float:
        """What all its trainings cost (``seconds`` is one training's: their mean)."""
        return self.seconds * max(1, len(self.seeds))


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
    steps: int | None = None  # SGD steps of one training, when recorded
    complete: bool = True  # False: a build still under way (fewer records than planned)

    def __len__(self) -> int:
        return len(self.records)

    def genotypes(self) -> list[str]:
        return [r.genotype for r in self.records]

    def accuracies(self, metric: str, seed: int | None = None) -> list[float]:
        """``"val"`` or ``"test"`` accuracy of every record, in file order: the mean over its
        seeds, or training seed ``seed``'s (NaN where a record lacks that seed)."""
        if metric not in METRICS:
            raise GtnasError(f"unknown truth metric {metric!r}; choose val or test")
        if seed is None:
            return [float(getattr(r, METRICS[metric])) for r in self.records]
        values = []
        for record in self.records:
            found = [s for s in record.seeds if s.seed == seed]
            values.append(float(getattr(found[0], METRICS[metric])) if found else math.nan)
        return values

    def training_seeds(self) -> list[int]:
        """The training seeds that occur in the set, in order."""
        return sorted({s.seed for r in self.records for s in r.seeds})

    def seed_pairs(self, metric: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(indices, accuracies of the first seed, of the second) of the records trained with
        the set's first two training seeds: two measurements of one network's accuracy."""
        seeds = self.training_seeds()
        if len(seeds) < 2:
            return np.zeros(0, dtype=int), np.zeros(0), np.zeros(0)
        a = np.asarray(self.accuracies(metric, seeds[0]))
        b = np.asarray(self.accuracies(metric, seeds[1]))
        both = np.flatnonzero(~np.isnan(a) & ~np.isnan(b))
        return both, a[both], b[both]

    def digest(self) -> str:
        """12 hex digits identifying the set's architectures and data (not its file name):
        scores cached for one set are never reused for another."""
        text = json.dumps(
            [self.dataset, self.space, self.space_options, self.genotypes()], sort_keys=True
        )
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def sample_digest(self) -> str:
        """12 hex digits identifying the set's sample, not its length: its data set, space,
        sampling seed and first architecture. A build adds architectures in the order it
        samples them, so a set that grew keeps this digest, and the score caches named by it
        (:func:`gtnas.analysis.rankcorr.scoring_study_name`) score only what was added."""
        first = self.records[0].genotype if self.records else ""
        text = json.dumps([self.dataset, self.space, self.space_options, self.seed, first],
                          sort_keys=True)  # fmt: skip
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def calibration_accuracies(truth: TruthSet, count: int) -> dict[str, float]:
    """The first ``count`` architectures of ``truth``: genotype -> its validation accuracy
    (the mean over its seeds; never the test split), what a ranking teacher calibrates on
    (``gtnas teach train --calibration``, ``gtnas search --calibration``)."""
    if not 2 <= count <= len(truth):
        raise ConfigError(
            f"--calibration-count must lie in 2..{len(truth)} (the architectures of "
            f"{truth.name}), got {count}"
        )
    pairs = zip(truth.genotypes()[:count], truth.accuracies("val")[:count], strict=True)
    return dict(pairs)


def truth_document(study: Any) -> dict[str, Any]:
    """The truth-set JSON (format 2) of a truth study: its finished trainings in trial
    order, and the failed ones."""

    config = truth_config_of(study.config, study=study.name)
    proxy = config.proxy
    finished = sorted(study.completed(), key=lambda r: r.number)
    sessions = [value for _, value in sorted(study.results("machine").items())]
    machines = _distinct(sessions)  # the file's machine (first) and other_machines
    session_machine = {i: machines.index(m) for i, m in enumerate(sessions) if m in machines}
    records = [record_of(r.scores, proxy, r.genotype, session_machine) for r in finished]
    if not records:
        raise GtnasError(f"truth build {study.name!r} has no finished trainings yet")
    failures = [
        {"genotype": r.genotype, "error": r.error}
        for r in sorted(study.records(), key=lambda r: r.number)
        if r.state == "FAIL" and r.error != "interrupted"
    ]
    steps = [r["steps"] for r in records if "steps" in r]
    document: dict[str, Any] = {
        "format": TRUTH_FORMAT,
        "dataset": config.dataset,
        "space": config.space,
        "space_options": config.space_options,
        "blueprint": config.blueprint,
        "epochs": config.epochs,
        "train_subset": config.train_subset,
        "seed": config.seed,
        "seeds": config.training_seeds,
        "seeds_for": config.seeds_for,
        "steps": max(steps) if steps else None,
        "planned": config.n,
        "complete": len(records) + len(failures) >= config.n,
        "recipe": config_to_dict(config.recipe()),
        "build": config_to_dict(config),
        "machine": machines[0] if machines else {},
        "study": study.name,
        "gtnas": __version__,
        "n": len(records),
        "failed": len(failures),
        "failures": failures,
        "records": records,
    }
    if len(machines) > 1:  # a build resumed elsewhere: its seconds mix machines
        document["other_machines"] = machines[1:]
    return document


def _distinct(sessions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each machine once, in order of first use: a build resumed there many times."""
    machines: list[dict[str, Any]] = []
    for session in sessions:
        if session and session not in machines:
            machines.append(session)
    return machines


def write_truth(document: dict[str, Any], path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(document, indent=1, allow_nan=False) + "\n")
    return path


def read_truth_document(path: Path) -> dict[str, Any]:
    """A truth-set file's JSON, checked to be one (any format); problems are one line."""
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
    if not isinstance(document, dict) or document.get("format") not in FORMATS:
        raise GtnasError(
            f'{path} is not a truth-set file (no "format": one of {", ".join(FORMATS)})'
        )
    return document


def load_truth(path: Path) -> TruthSet:
    """Read and check a truth-set file (format 1 or 2); every problem is one
    :class:`GtnasError` line."""
    path = Path(path)
    document = read_truth_document(path)
    missing = [key for key in (*_HEADER_KEYS, "records") if key not in document]
    if missing:
        raise GtnasError(f"truth file {path} lacks {', '.join(missing)}")
    records = []
    for index, item in enumerate(document["records"]):
        if not isinstance(item, dict) or any(key not in item for key in _RECORD_KEYS):
            raise GtnasError(f"truth file {path}: record {index} needs {', '.join(_RECORD_KEYS)}")
        try:
            record = _record(item, int(document["seed"]))
        except (TypeError, ValueError, KeyError):
            raise GtnasError(
                f"truth file {path}: record {index} has a non-numeric or missing value (its "
                f"seeds need {', '.join(_SEED_KEYS)})"
            ) from None
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
        steps=document.get("steps"),
        complete=bool(document.get("complete", True)),
    )


def _record(item: dict[str, Any], set_seed: int) -> TruthRecord:
    val, test = float(item["val_accuracy"]), float(item["test_accuracy"])
    if "seeds" in item:  # format 2
        seeds = tuple(
            SeedResult(
                int(s["seed"]),
                float(s["val_accuracy"]),
                float(s["test_accuracy"]),
                None if s.get("machine") is None else int(s["machine"]),
            )
            for s in item["seeds"]
        )
    else:  # format 1: one training, with the set's seed
        seeds = (SeedResult(set_seed, val, test),)
    if not seeds or len({s.seed for s in seeds}) != len(seeds):
        raise ValueError("a record needs one or more distinct seeds")
    flops = item.get("flops")
    return TruthRecord(
        genotype=str(item["genotype"]),
        val_accuracy=val,
        test_accuracy=test,
        seconds=float(item["seconds"]),
        parameters=int(item["parameters"]),
        seeds=seeds,
        flops=None if flops is None else int(flops),
    )
