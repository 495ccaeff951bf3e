"""Ground-truth sets: architectures sampled from a space and trained on real data, the yardstick
proxies are measured against (the GTN paper's figure 5 and its speed-up claim).

A truth build is an ordinary study run by the search loop (:func:`gtnas.search.runner.
run_search`), so it is resumable and parallel like a search:

- the ``random`` strategy with the set's seed proposes architectures; a repeat is recorded as a
  duplicate and costs nothing, so ``n`` evaluations are ``n`` distinct architectures;
- the proxy ``train:E`` scores each one by final training (:func:`gtnas.training.trainer.
  train_network`) for E epochs: score = validation accuracy, details = test accuracy, seconds,
  parameters (recorded as ``train:E/<key>`` scores by the executor);
- the final-training recipe reaches the workers in ``ContextSpec.extra`` (``train_recipe``).

Each architecture trains in its own folder under the build's output (``train_root``), named
by a hash of its genotype, and never in a temporary one: an evaluation cut off by a crash is
re-run by the loop, and the re-run resumes that folder's checkpoint (final training resumes
exactly, so the result is the one an unbroken run gives), while a run that finished just
before the crash is read back from its ``result.json`` instead of being trained again. A
finished run keeps ``result.json``, ``metrics.jsonl`` and its weights; its checkpoints, dead
weight by then, are deleted.

Every architecture trains with the same training seeds, as NAS-Bench-201 trains all its cells
with the same seeds: ``seeds`` of them (the set's seed, seed + 1, ...), one after another in
one evaluation, each in its own run folder; the score is their mean validation accuracy, and
each seed's accuracies are recorded beside it (``train:E/seed<S>/val_accuracy``). Two trainings
of one network that differ only in their seed tell how noisy the truth itself is: the noise
ceiling of every proxy measured against it. ``seeds_for`` limits the extra seeds to the first
architectures of the sample. ``gtnas arch train GENOTYPE --set seed=S ...`` with the recorded
recipe reproduces a record's seed S.

A build can also continue from its exported file (``export``): every finished architecture is
written there as it comes in, and a build that starts without the study (another machine, a
fresh clone) adopts the file's records into a new study first, so only the rest is trained.

Scoring a truth set with a proxy (``gtnas rank-corr``) is a study of the ``list`` strategy
(:mod:`gtnas.search.strategies`) with a budget of the set's size.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from gtnas.config import config_from_dict, config_to_dict
from gtnas.data.catalog import check_name
from gtnas.errors import ConfigError, GtnasError
from gtnas.runtime.cores import usable_cores
from gtnas.runtime.machine import cpu_capability, cpu_name
from gtnas.search.executor import ContextSpec, create_executor
from gtnas.search.proxies.final_training import (
    RECIPE_KEY,
    RUNS_KEY,
    SEEDED_KEY,
    SEEDS_KEY,
    SESSION_KEY,
    default_truth_recipe,
)
from gtnas.search.runner import record_keys, run_search
from gtnas.search.strategies import create_strategy
from gtnas.search.study import Study, default_storage, storage_missing
from gtnas.spaces import create_space
from gtnas.training.recipe import FinalTrainConfig

TRUTH_KIND = "truth"  # the study config's "kind", telling truth builds from searches
# The truth-set file (gtnas.analysis.truthset reads it): format 2 carries every seed's result.
TRUTH_FORMAT = "gtnas-truth/2"


# --- the build --------------------------------------------------------------------------------


@dataclass(frozen=True)
class TruthConfig:
    """A ground-truth set: ``n`` architectures of ``space`` trained ``epochs`` epochs on the
    first ``train_subset`` training images of ``dataset`` at ``blueprint``, each with
    ``seeds`` training seeds.

    The defaults are the shipped long-horizon sets' recipe (truth/README.md): nb201 at the
    ``search-head3`` blueprint (the network proxies and GTN learners use too), 100
    architectures, 7 epochs of the whole 50,000-image training split (2,730 SGD steps of 128,
    21 times the paper's 128-step proxy), two seeds each. A training's seconds vary tenfold
    with the cell's FLOPs (:mod:`gtnas.search.truth_pace`): about 18 hours per data set with
    2 workers on the 2 cores that trained most of the shipped set, 5 times that on a slower
    machine (the pilot's first three cells, at about 340 s a training, suggested 9.5).
    """

    dataset: str = "mnist"
    space: str = "nb201"
    space_options: dict[str, Any] = field(default_factory=dict)
    blueprint: str | dict[str, Any] = "search-head3"  # the network trained (a preset or fields)
    n: int = 100  # architectures (distinct; failed trainings are counted but not exported)
    epochs: int = 7
    train_subset: int | None = None  # train on the first N training images (None: all)
    seed: int = 0  # seeds the sampling, and is every architecture's first training seed
    # Training seeds per architecture: seed, seed + 1, ..., seed + seeds - 1; two or more tell
    # how well two trainings of one network agree (the set's noise ceiling).
    seeds: int = 2
    seeds_for: int | None = None  # only the first N architectures get every seed (None: all)
    workers: int = 2  # parallel trainings (local processes)
    threads: int = 0  # torch threads per worker (0: the cores this process may use / workers)
    device: str = "cpu"
    # The rest of the recipe (batch size, learning rate, augmentation...). Its dataset, seed,
    # blueprint, epochs, train_subset and device are replaced by the fields above.
    final: FinalTrainConfig = field(default_factory=default_truth_recipe)

    def __post_init__(self) -> None:
        check_name(self.dataset)  # before a study or a worker is started for it
        if self.n < 1 or self.epochs < 1 or self.workers < 1 or self.threads < 0:
            raise ValueError("n, epochs and workers must be >= 1 and threads >= 0")
        if self.seeds < 1 or (self.seeds_for is not None and self.seeds_for < 0):
            raise ValueError(
                f"seeds must be >= 1 and seeds_for >= 0 (or null for all), got {self.seeds} "
                f"and {self.seeds_for}"
            )
        if self.train_subset is not None and self.train_subset < 1:
            raise ValueError(
                f"train_subset must be >= 1 (or null for all), got {self.train_subset}"
            )

    @property
    def proxy(self) -> str:
        return f"train:{self.epochs}"

    @property
    def training_seeds(self) -> list[int]:
        return [self.seed + i for i in range(self.seeds)]

    def recipe(self) -> FinalTrainConfig:
        """The final-training config every architecture of the set is trained with (with the
        first training seed, the set's)."""
        return dataclasses.replace(
            self.final,
            dataset=self.dataset,
            seed=self.seed,
            blueprint=self.blueprint,
            epochs=self.epochs,
            train_subset=self.train_subset,
            device=self.device,
        )


# Keys a resumed truth build must keep besides those every study keeps (see study._FIXED_KEYS):
# changing them would mix architectures trained differently in one set.
_FIXED_TRUTH_KEYS = ("epochs", "train_subset", "final", "seeds", "seeds_for")
# What a study made before a key existed holds: its value then.
_KEY_DEFAULTS: dict[str, Any] = {"seeds": 1, "seeds_for": None}
# Keys of a truth study's config that are not TruthConfig fields.
_STUDY_KEYS = ("kind", "strategy", "proxy")


def default_truth_name(config: TruthConfig) -> str:
    """``truth-DATASET-SPACE-nN-eE``, then ``-BLUEPRINT`` unless it is ``search`` (the first
    sets'), ``-sS`` for S seeds and ``-firstF`` when only the first F get them all."""
    name = f"truth-{config.dataset}-{config.space}-n{config.n}-e{config.epochs}"
    if config.blueprint != "search":
        blueprint = config.blueprint
        name += "-" + (blueprint if isinstance(blueprint, str) else _blueprint_digest(blueprint))
    if config.seeds > 1:
        name += f"-s{config.seeds}"
        if config.seeds_for is not None:
            name += f"-first{config.seeds_for}"
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name)


def _blueprint_digest(blueprint: dict[str, Any]) -> str:
    text = json.dumps(blueprint, sort_keys=True)
    return "bp" + hashlib.sha256(text.encode()).hexdigest()[:8]


def study_config(config: TruthConfig) -> dict[str, Any]:
    """What a truth study stores: the TruthConfig plus the loop's strategy and proxy."""
    return {
        **config_to_dict(config),
        "kind": TRUTH_KIND,
        "strategy": "random",
        "proxy": config.proxy,
    }


def truth_config_of(stored: dict[str, Any], *, study: str = "") -> TruthConfig:
    """The TruthConfig recorded in a truth study's config."""
    if stored.get("kind") != TRUTH_KIND:
        raise ConfigError(f"study {study!r} is not a truth build (it was made by gtnas search)")
    values = {k: v for k, v in stored.items() if k not in _STUDY_KEYS}
    return config_from_dict(TruthConfig, {**_KEY_DEFAULTS, **values})


def machine_description(config: TruthConfig, threads: int) -> dict[str, Any]:
    """Where a build session ran: what the recorded seconds mean."""

    return {
        "cpu": cpu_name(),
        "cpu_capability": cpu_capability(),
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "device": config.device,
        "workers": config.workers,
        "threads_per_worker": threads,
    }


@dataclass
class TruthBuild:
    study: Any  # gtnas.search.study.Study
    name: str
    folder: Path  # OUT/<name>: the run folder of every architecture is under folder/train
    config: TruthConfig
    progress: Any  # gtnas.search.runner.SearchProgress


def build_truth(
    config: TruthConfig,
    out: Path,
    *,
    name: str | None = None,
    storage: str | None = None,
    ray: bool = False,
    ray_address: str | None = None,
    on_result: Callable[[Any], None] | None = None,
    stop_after: int | None = None,
    adopt: dict[str, Any] | None = None,
    on_update: Callable[[Any], None] | None = None,
    out_of_time: Callable[[], bool] | None = None,
) -> TruthBuild:
    """Build (or resume) the truth study ``name`` in ``storage`` (default ``OUT/studies.db``)
    until it holds ``config.n`` finished trainings. ``stop_after`` ends this session after that
    many new results (tests of interrupted builds). ``adopt``: a truth-set document (format 2)
    of this very build, exported elsewhere; when the study has no results yet, its records
    become the study's first trials (see :func:`adopt_records`). ``on_update(study)`` runs
    after every result (``gtnas truth build --export`` rewrites the set's file there).
    ``out_of_time()``, asked before each new training, stops the build when it says so (the
    trainings under way finish; ``progress.stopped_by_time`` says so)."""

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    name = name or default_truth_name(config)
    storage = storage or default_storage(out)
    space = create_space(config.space, config.space_options)
    sizes = {d.name: len(d) for d in space.decisions()}
    given = study_config(config)
    study = Study.open(name, storage, config=given, decision_sizes=sizes)
    stored = study.config
    if stored.get("kind") != TRUTH_KIND:
        raise ConfigError(f"study {name!r} in {storage} is a search, not a truth build")
    for key in _FIXED_TRUTH_KEYS:
        for path, was, now in _differences(
            key, stored.get(key, _KEY_DEFAULTS.get(key)), given[key]
        ):
            raise ConfigError(
                f"truth build {name!r} was started with {path}={was!r}, not {now!r}; "
                "resume it without that option or start a new --study"
            )
    if adopt is not None:
        adopt_records(study, adopt, config, space)
    folder = out / name
    threads = config.threads or max(1, usable_cores() // config.workers)
    session = len(study.results("machine"))
    study.set_result("machine", session, machine_description(config, threads))
    spec = ContextSpec(
        dataset=config.dataset,
        space=config.space,
        space_options=dict(config.space_options),
        blueprint=config.blueprint,
        device=config.device,
        threads=threads,
        extra={
            RECIPE_KEY: config_to_dict(config.recipe()),
            RUNS_KEY: str((folder / "train").resolve()),
            SEEDS_KEY: config.training_seeds,
            SESSION_KEY: session,
            SEEDED_KEY: None
            if config.seeds_for is None
            else sample(config, space)[: config.seeds_for],
        },
    )
    strategy = create_strategy("random", space, config.seed)
    executor = create_executor(spec, workers=config.workers, ray=ray, ray_address=ray_address)

    def after(record: Any) -> None:
        if on_result is not None:
            on_result(record)
        if on_update is not None:
            on_update(study)

    with executor:
        progress = run_search(
            study,
            space,
            strategy,
            executor,
            budget=config.n,
            proxies=(config.proxy,),
            seed=config.seed,
            on_result=after,
            stop_after=stop_after,
            out_of_time=out_of_time,
        )
    return TruthBuild(study, name, folder, config, progress)


def sample(config: TruthConfig, space: Any, count: int | None = None) -> list[str]:
    """The first ``count`` (default ``config.n``) distinct architectures the build proposes,
    in order: the set's architectures when every training succeeds."""
    strategy = create_strategy("random", space, config.seed)
    wanted = config.n if count is None else count
    found: dict[str, None] = {}
    for _ in range(50 * max(1, wanted)):
        if len(found) >= wanted:
            break
        found.setdefault(space.format(strategy.ask()))
    return list(found)


# --- a record's scores, as the study holds them and as the truth file writes them ------------


def record_of(
    scores: dict[str, float],
    proxy: str,
    genotype: str,
    machines: dict[int, int] | None = None,
) -> dict[str, Any]:
    """A truth-file record (format 2) of a finished trial's ``scores``: the mean accuracies
    over its seeds, the mean seconds of one training, and each seed's own. ``machines`` maps a
    build session to the file's machine index (0: its ``machine``, k: ``other_machines[k-1]``):
    each seed trained in a known session then says where (``"machine": k``)."""
    seeds = sorted(
        int(key[len(f"{proxy}/seed") :].partition("/")[0])
        for key in scores
        if key.startswith(f"{proxy}/seed") and key.endswith("/val_accuracy")
    )
    per_seed = []
    for seed in seeds:
        item: dict[str, Any] = {
            "seed": seed,
            "val_accuracy": scores[f"{proxy}/seed{seed}/val_accuracy"],
            "test_accuracy": scores[f"{proxy}/seed{seed}/test_accuracy"],
            "seconds": round(scores[f"{proxy}/seed{seed}/wall_seconds"], 3),
            "train_seconds": round(scores[f"{proxy}/seed{seed}/train_seconds"], 3),
        }
        session = scores.get(f"{proxy}/seed{seed}/session")
        if session is not None and machines is not None and int(session) in machines:
            item["machine"] = machines[int(session)]
        per_seed.append(item)
    record: dict[str, Any] = {
        "genotype": genotype,
        "val_accuracy": scores[proxy],
        "test_accuracy": scores[f"{proxy}/test_accuracy"],
        "seconds": round(scores[f"{proxy}/wall_seconds"] / max(1, len(seeds)), 3),
        "train_seconds": round(scores[f"{proxy}/train_seconds"] / max(1, len(seeds)), 3),
        "parameters": int(scores[f"{proxy}/parameters"]),
    }
    if f"{proxy}/flops" in scores:
        record["flops"] = int(scores[f"{proxy}/flops"])
    if f"{proxy}/steps" in scores:
        record["steps"] = int(scores[f"{proxy}/steps"])
    record["seeds"] = per_seed
    return record


def scores_of(record: dict[str, Any], proxy: str) -> dict[str, float]:
    """The trial scores a truth-file record (format 2) was written from: the inverse of
    :func:`record_of` (seconds to the file's millisecond)."""
    scores = {
        proxy: float(record["val_accuracy"]),
        f"{proxy}/test_accuracy": float(record["test_accuracy"]),
        f"{proxy}/parameters": float(record["parameters"]),
        f"{proxy}/seeds": float(len(record["seeds"])),
        f"{proxy}/train_seconds": float(sum(s["train_seconds"] for s in record["seeds"])),
        f"{proxy}/wall_seconds": float(sum(s["seconds"] for s in record["seeds"])),
    }
    for key in ("flops", "steps"):
        if key in record:
            scores[f"{proxy}/{key}"] = float(record[key])
    for item in record["seeds"]:
        prefix = f"{proxy}/seed{int(item['seed'])}"
        scores[f"{prefix}/val_accuracy"] = float(item["val_accuracy"])
        scores[f"{prefix}/test_accuracy"] = float(item["test_accuracy"])
        scores[f"{prefix}/wall_seconds"] = float(item["seconds"])
        scores[f"{prefix}/train_seconds"] = float(item["train_seconds"])
        if "machine" in item:  # adopt_records numbers the file's machines as sessions
            scores[f"{prefix}/session"] = float(item["machine"])
    return scores


def adopt_records(study: Any, document: dict[str, Any], config: TruthConfig, space: Any) -> int:
    """Make a truth file's records this study's first trials; returns how many were adopted.

    Only into a study with no results yet (one holding results is the authority, and its
    file is rewritten from it). The file must come from a build of the same set (the same
    data set, space, sampling and recipe): its architectures are then this build's first
    proposals, replayed here in order as the search loop records them (repeats as
    duplicates), each finished one completed with its recorded scores and each failed one
    failed; an architecture that was still training when the file was written is left
    running, so the search loop re-runs it as an evaluation cut off by a crash.
    """

    if any(r.state in ("COMPLETE", "FAIL") for r in study.records()):
        held = len(study.completed())
        if held < len(document.get("records", [])):
            raise ConfigError(
                f"the study {study.name!r} holds {held} results, the truth file "
                f"{len(document['records'])}; export the study elsewhere or build into a "
                "new --out so the file's records are adopted"
            )
        return 0
    _check_adoptable(document, config)
    proxy = config.proxy
    results = {r["genotype"]: r for r in document.get("records", [])}
    failures = {f["genotype"]: str(f.get("error", "failed")) for f in document.get("failures", [])}
    pending = set(results) | set(failures)
    keys = record_keys(space)
    strategy = create_strategy("random", space, config.seed)
    seq, evaluated = 0, {}  # genotype -> trial number, as the search loop's scores / in_flight
    for _ in range(50 * (len(pending) + 1)):
        if not pending:
            break
        genotype = strategy.ask()
        seq += 1
        text, decisions = space.format(genotype), space.to_decisions(genotype)
        if text in evaluated:
            known = results[text]["val_accuracy"] if text in results else None
            study.record_duplicate(text, decisions, keys, of=evaluated[text], seq=seq, told=known)
            continue
        number = study.start_trial(text, decisions, keys, ask_seq=seq)
        pending.discard(text)
        if text in results:
            seq += 1
            scores = scores_of(results[text], proxy)
            seconds = scores[f"{proxy}/wall_seconds"]
            study.complete(number, scores[proxy], scores=scores, seconds=seconds, tell_seq=seq)
            evaluated[text] = number
        elif text in failures:
            seq += 1
            study.fail(number, failures[text], tell_seq=seq)
        else:  # in flight when the file was written: re-run as a cut-off evaluation
            evaluated[text] = number
    if pending:
        raise ConfigError(
            f"the truth file's architecture {sorted(pending)[0]} is not among this build's "
            "sampled ones (another seed or space?)"
        )
    sessions = [document.get("machine") or {}, *document.get("other_machines", [])]
    for session, machine in enumerate(s for s in sessions if s):
        study.set_result("machine", session, machine)
    return len(results)


def _check_adoptable(document: dict[str, Any], config: TruthConfig) -> None:
    """The document is a format-2 truth file of a build of ``config``'s set."""
    if document.get("format") != TRUTH_FORMAT:
        raise ConfigError(
            f"only a {TRUTH_FORMAT} file can continue a build, this one is "
            f"{document.get('format')!r}"
        )
    build = document.get("build") or {}
    mine = config_to_dict(config)
    for key in ("dataset", "space", "space_options", "blueprint", "seed", *_FIXED_TRUTH_KEYS):
        for path, was, now in _differences(key, build.get(key), mine[key]):
            raise ConfigError(
                f"the truth file was built with {path}={was!r}, not {now!r}; build it with "
                "its own settings (or export to another file)"
            )


def _differences(path: str, was: Any, now: Any) -> list[tuple[str, Any, Any]]:
    """(dotted key, stored value, given value) of every leaf where two configs differ."""
    if isinstance(was, dict) and isinstance(now, dict):
        return [
            difference
            for key in sorted(set(was) | set(now))
            for difference in _differences(f"{path}.{key}", was.get(key), now.get(key))
        ]
    return [] if was == now else [(path, was, now)]


def open_truth_study(name: str, storage: str) -> tuple[Any, TruthConfig]:
    """An existing truth study and its config (for exporting it)."""

    if storage_missing(storage):
        raise GtnasError(f"no study storage at {storage}; pass the --runs folder of the build")
    study = Study.open(name, storage, config=None, decision_sizes={})
    return study, truth_config_of(study.config, study=name)
