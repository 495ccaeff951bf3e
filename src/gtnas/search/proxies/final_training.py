"""``train:E``: E epochs of the final-training recipe on real data, scored by validation
accuracy: what ground-truth sets are built with (:mod:`gtnas.search.truth_build`), one run
folder per architecture and seed so that a cut-off training resumes exactly.

Every architecture trains with the same training seeds, as NAS-Bench-201 trains all its cells
with the same seeds: the context's ``train_seeds`` (one after another in one evaluation, each in
its own run folder); the score is their mean validation accuracy, each seed's accuracies
recorded beside it (``train:E/seed<S>/val_accuracy``)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from gtnas.config import config_from_dict, config_to_dict
from gtnas.errors import ConfigError
from gtnas.runtime.checkpoint import CHECKPOINTS
from gtnas.search.proxies.base import PROXIES, Proxy, ProxyContext
from gtnas.training.recipe import FinalTrainConfig
from gtnas.training.trainer import CONFIG_FILE, RESULT_FILE, load_train_config, train_network

RECIPE_KEY = "train_recipe"  # ContextSpec.extra: the FinalTrainConfig (as a dict) of train:E
RUNS_KEY = "train_root"  # ContextSpec.extra: the folder holding one run folder per architecture
SEEDS_KEY = "train_seeds"  # ContextSpec.extra: every architecture's training seeds
SEEDED_KEY = "seeded"  # ContextSpec.extra: genotypes trained with every seed (None: all)
# ContextSpec.extra: the truth build's session (the index of its "machine" result), recorded
# with each seed's training as where it ran: one set can be trained on several machines.
SESSION_KEY = "build_session"


def default_truth_recipe() -> FinalTrainConfig:
    """The final-training recipe of truth builds: the standard one, validated once, after the
    last epoch (a truth set records final accuracies only, and on a CPU each pass over the
    10,000 validation images costs as much as ~40 training steps of the search blueprint)."""
    return FinalTrainConfig(eval_every_epochs=1000, log_every_steps=0)


@PROXIES.register("train", help="E epochs of final training on real data -> val accuracy (truth)")
class TrainProxy(Proxy):
    """``train:E``: the final-training recipe for E epochs, scored by validation accuracy."""

    kind, default_epochs = "train", 1

    def __init__(self, epochs: int | None = None) -> None:
        self.epochs = epochs or self.default_epochs
        self.name = f"{self.kind}:{self.epochs}"

    def _seed(self, seed: int, genotype: Any, context: ProxyContext) -> int:
        # One seed for every architecture (data order, augmentation, initialisation stream),
        # so a record is reproduced by `gtnas arch train` with the set's seed.
        return seed

    def recipe(self, context: ProxyContext, seed: int) -> FinalTrainConfig:
        """The context's recipe (``extra["train_recipe"]``, else :func:`default_truth_recipe`)
        with this proxy's epochs and the context's data set, blueprint, device and ``seed``."""
        if context.dataset is None:
            raise ConfigError(
                f"{self.name} needs the loaded data set in its proxy context "
                "(contexts built by gtnas.search.executor.build_context have it)"
            )
        values = dict(context.extra.get(RECIPE_KEY) or config_to_dict(default_truth_recipe()))
        values.update(
            dataset=context.dataset.name,
            seed=seed,
            epochs=self.epochs,
            blueprint=context.blueprint,
            device=str(context.device),
        )
        return config_from_dict(FinalTrainConfig, values, where=f"{RECIPE_KEY}.")

    def seeds(self, genotype: Any, context: ProxyContext, seed: int) -> list[int]:
        """The training seeds of ``genotype``: the context's ``train_seeds`` (all of them for
        the genotypes listed in ``seeded``, or for all when that is None; the first for the
        rest), else just ``seed``."""
        seeds = [int(s) for s in context.extra.get(SEEDS_KEY) or [seed]]
        seeded = context.extra.get(SEEDED_KEY)
        if seeded is not None and context.space.format(genotype) not in seeded:
            return seeds[:1]
        return seeds

    def _score(self, genotype: Any, context: ProxyContext, seed: int) -> tuple[float, dict]:
        multi_seed = bool(context.extra.get(SEEDS_KEY))  # a seeded build (truth format 2)
        root = context.extra.get(RUNS_KEY)
        outcomes = []
        seeds = self.seeds(genotype, context, seed)
        for training_seed in seeds:
            config = self.recipe(context, training_seed)
            if root is None:  # a one-off score: nothing to resume, train in a scratch folder
                with tempfile.TemporaryDirectory(prefix="gtnas-train-") as scratch:
                    outcomes.append(_train(context, genotype, config, Path(scratch) / "run"))
                continue
            folder = run_folder_name(context, genotype, training_seed if multi_seed else None)
            outcomes.append(_train(context, genotype, config, Path(root) / folder))
        if not multi_seed:
            return outcomes[0]
        return _mean_outcome(seeds, outcomes, context.extra.get(SESSION_KEY))


def _mean_outcome(
    seeds: list[int], outcomes: list[tuple[float, dict]], session: int | None = None
) -> tuple[float, dict]:
    """The seeds' mean validation accuracy, with the mean test accuracy and each seed's own
    accuracies and seconds as details (``seed<S>/val_accuracy``, ...), and the build
    ``session`` that trained them (``seed<S>/session``) when given."""
    details: dict[str, Any] = {
        "test_accuracy": sum(d["test_accuracy"] for _, d in outcomes) / len(outcomes),
        "train_seconds": sum(d["train_seconds"] for _, d in outcomes),
        "wall_seconds": sum(d["wall_seconds"] for _, d in outcomes),
        "parameters": outcomes[0][1]["parameters"],
        "seeds": len(seeds),
    }
    for key in ("flops", "steps"):
        if key in outcomes[0][1]:
            details[key] = outcomes[0][1][key]
    for seed, (val, detail) in zip(seeds, outcomes, strict=True):
        details[f"seed{seed}/val_accuracy"] = val
        for key in ("test_accuracy", "train_seconds", "wall_seconds"):
            details[f"seed{seed}/{key}"] = detail[key]
        if session is not None:
            details[f"seed{seed}/session"] = int(session)
    return sum(val for val, _ in outcomes) / len(outcomes), details


def run_folder_name(context: ProxyContext, genotype: Any, seed: int | None = None) -> str:
    """``<space>-<16 hex digits of the genotype's hash>``, then ``-s<seed>`` in multi-seed
    builds: short, stable, file-system safe."""
    text = context.space.format(genotype)
    name = f"{context.space.name}-{hashlib.sha256(text.encode()).hexdigest()[:16]}"
    return name if seed is None else f"{name}-s{seed}"


def _train(
    context: ProxyContext, genotype: Any, config: FinalTrainConfig, run_dir: Path
) -> tuple[float, dict]:
    if (run_dir / RESULT_FILE).is_file():  # finished before a crash, not yet recorded
        _check_recipe(run_dir, load_train_config(run_dir), config, context)
        return _outcome(json.loads((run_dir / RESULT_FILE).read_text()))
    resume = (run_dir / CONFIG_FILE).is_file()
    train_network(
        context.space,
        genotype,
        context.dataset,
        config,
        run_dir,
        resume=resume,
        show_progress=False,
    )
    shutil.rmtree(run_dir / CHECKPOINTS, ignore_errors=True)
    return _outcome(json.loads((run_dir / RESULT_FILE).read_text()))


def _check_recipe(
    run_dir: Path, saved: FinalTrainConfig, config: FinalTrainConfig, context: ProxyContext
) -> None:
    # train_network saves the blueprint resolved to its fields; compare like with like.
    blueprint = config_to_dict(context.space.resolve_blueprint(config.blueprint))
    if config_to_dict(saved) != config_to_dict(dataclasses.replace(config, blueprint=blueprint)):
        raise ConfigError(
            f"{run_dir} holds a run with another recipe; delete it or build into another folder"
        )


def _outcome(result: dict[str, Any]) -> tuple[float, dict]:
    """(validation accuracy, details) from a run's result.json."""
    details = {
        "test_accuracy": float(result["test_accuracy"]),
        "train_seconds": float(result["train_seconds"]),  # in optimiser steps
        "wall_seconds": float(result["wall_seconds"]),  # training and per-epoch validation
        "parameters": int(result["parameters"]),
    }
    for key in ("flops", "steps"):  # not in the results of the first builds' runs
        if key in result:
            details[key] = int(result[key])
    return float(result["val_accuracy"]), details
