"""The calibration architectures of a teacher built to rank (``meta.rank_weight > 0``): a few
architectures of the search space with their accuracy after real training, whose order the
teacher's learners must reproduce (:mod:`gtnas.meta.meta_step`, the ranking objective).

A search gets them in one of two ways:

- given (``accuracies``): e.g. the first architectures of a truth set of the same data set and
  blueprint (``gtnas search --calibration TRUTH.json``), paid for when that set was built;
- trained here: ``count`` architectures sampled from the space with the search's seed, each
  trained ``epochs`` epochs on the real training split with ``seeds`` training seeds, exactly
  as a truth set is built (:func:`gtnas.search.truth_build.build_truth`: resumable, parallel
  over the search's workers) into the study's ``calibration/`` folder. Their validation
  accuracy (the mean over the seeds; never the test split) is the target, and the trainings'
  wall time is part of what the search costs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gtnas.errors import GtnasError, OutOfTime
from gtnas.search.truth_build import TruthConfig, build_truth

CALIBRATION_STUDY = "calibration"


@dataclass(frozen=True)
class CalibrationConfig:
    """Where a ranking teacher's calibration architectures come from (see the module)."""

    count: int = 10  # architectures trained here (the benchmark's recipe: the truth set's first 10)
    epochs: int = 7  # real-data epochs of each (the shipped truth sets' 7)
    seeds: int = 2  # training seeds of each; their mean validation accuracy is the target
    train_subset: int | None = None  # train them on the first N training images (None: all)
    # given: genotype ("<space>:<string>") -> validation accuracy (then nothing is trained)
    accuracies: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.count < 2 or self.epochs < 1 or self.seeds < 1 or (self.train_subset or 1) < 1:
            raise ValueError(
                f"calibration needs count >= 2, epochs, seeds and train_subset >= 1, got "
                f"count {self.count}, epochs {self.epochs}, seeds {self.seeds}, train_subset "
                f"{self.train_subset}"
            )
        if self.accuracies and len(self.accuracies) < 2:
            raise ValueError("given calibration accuracies must name at least 2 architectures")


@dataclass(frozen=True)
class Calibration:
    accuracies: dict[str, float]  # genotype -> mean validation accuracy
    # the trainings' own wall times summed (over workers in parallel: more than the wall
    # clock of the build; 0 for given accuracies)
    training_seconds: float


def calibration_truth_config(
    config: CalibrationConfig,
    *,
    dataset: str,
    space: str,
    space_options: dict[str, Any],
    blueprint: str | dict[str, Any],
    seed: int,
    workers: int,
    threads: int,
    device: str,
) -> TruthConfig:
    """The truth build that trains the calibration architectures (the truth sets' recipe at
    the search's blueprint)."""
    return dataclasses.replace(
        TruthConfig(),
        dataset=dataset,
        space=space,
        space_options=dict(space_options),
        blueprint=blueprint,
        n=config.count,
        epochs=config.epochs,
        seeds=config.seeds,
        train_subset=config.train_subset,
        seed=seed,
        workers=workers,
        threads=threads,
        device=device,
    )


def calibrate(
    truth: TruthConfig,
    out: Path,
    *,
    on_result: Callable[[Any], None] | None = None,
    out_of_time: Callable[[], bool] | None = None,
) -> Calibration:
    """The accuracies of ``truth``'s build in ``out`` (started, resumed, or read back when
    finished); given accuracies (``CalibrationConfig.accuracies``) need no call.
    ``out_of_time()`` stops the build between trainings: an :class:`OutOfTime` error says how
    far it got (every finished training is kept for a resume)."""
    built = build_truth(truth, Path(out), name=CALIBRATION_STUDY, on_result=on_result,
                        out_of_time=out_of_time)  # fmt: skip
    finished = sorted(built.study.completed(), key=lambda r: r.number)
    if built.progress.stopped_by_time:
        raise OutOfTime(
            f"training calibration architectures ({len(finished)} of {truth.n} trained, kept "
            f"in {out})"
        )
    accuracies = {r.genotype: float(r.scores[truth.proxy]) for r in finished}
    if len(accuracies) < 2:
        raise GtnasError(
            f"only {len(accuracies)} of {truth.n} calibration architectures trained (see "
            f"{out}); a ranking teacher needs at least 2: raise teacher.calibration.count"
        )
    training = sum(float(r.scores.get(f"{truth.proxy}/wall_seconds", 0.0)) for r in finished)
    return Calibration(accuracies, training)
