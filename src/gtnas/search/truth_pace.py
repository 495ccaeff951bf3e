"""How long a truth build has left, at its own pace.

A training's seconds vary about tenfold across an NB-201 sample, roughly in proportion to the
network's FLOPs, so "architectures left x mean seconds so far" misleads: the cheap ones finish
first. The estimate here prices each architecture still to train by its FLOPs at the build's
own rate (the median seconds per FLOP of this session's finished trainings, on this machine
under this load; before the first, of the build's latest), times its trainings (every seed, or
one past ``seeds_for``), spread over the workers.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from statistics import median
from typing import Any

from gtnas.data.catalog import resolve
from gtnas.errors import GtnasError
from gtnas.runtime.durations import format_duration
from gtnas.search.truth_build import TruthConfig, record_of, sample
from gtnas.spaces import create_space
from gtnas.spaces.base import parse_genotype
from gtnas.training.measure import count_flops

MIN_FINISHED = 3  # finished trainings before a rate is trusted
# This session's finished trainings before its pace replaces the build's: machines of one name
# ran these trainings 5x apart, while one machine's rate varies by tens of percent across cells.
MIN_SESSION = 1
# Until then, the pace of the build's latest trainings (the last session's machine and load),
# not the median of all: a build continued on a machine 3-4x slower than the ones that trained
# most of it was priced about 4x low.
RECENT = 5


@dataclass(frozen=True)
class TimeLeft:
    seconds: float  # wall seconds, the trainings shared out over the workers
    architectures: int
    trainings: int


def time_left(
    config: TruthConfig,
    space: Any,
    finished: Mapping[str, tuple[float, float]],
    flops_of: Callable[[str], float],
    *,
    failed: Collection[str] = (),
) -> TimeLeft | None:
    """The build's time left; None until :data:`MIN_FINISHED` architectures have finished.

    ``finished``: genotype -> (seconds of one training, its network's FLOPs); ``flops_of``
    gives an architecture's FLOPs at the build's blueprint (:func:`network_flops`).
    """
    if sum(seconds > 0 and flops > 0 for seconds, flops in finished.values()) < MIN_FINISHED:
        return None
    rate = _rate(finished.values())
    every = len(config.training_seeds)
    seconds, architectures, trainings = 0.0, 0, 0
    for index, genotype in enumerate(sample(config, space)):
        if genotype in finished or genotype in failed:
            continue
        count = every if config.seeds_for is None or index < config.seeds_for else 1
        seconds += flops_of(genotype) * rate * count
        architectures += 1
        trainings += count
    return TimeLeft(seconds / max(1, config.workers), architectures, trainings)


def _rate(trainings: Iterable[tuple[float, float]]) -> float:
    """The median seconds per FLOP of finished trainings, (seconds, FLOPs) each."""
    return median(seconds / flops for seconds, flops in trainings if seconds > 0 and flops > 0)


def network_flops(
    config: TruthConfig, image_shape: tuple[int, int, int], num_classes: int
) -> Callable[[str], float]:
    """FLOPs of one forward pass of a genotype's network at the build's blueprint (what the
    build records for each architecture), remembered per genotype."""
    known: dict[str, float] = {}

    def flops_of(text: str) -> float:
        if text not in known:
            space, genotype = parse_genotype(text, dict(config.space_options))
            network = space.build(
                genotype,
                image_shape,
                num_classes,
                norm="bn",
                blueprint=space.resolve_blueprint(config.blueprint),
            )
            known[text] = float(count_flops(network, image_shape))
        return known[text]

    return flops_of


class BuildPace:
    """The time-left estimate of one build as its trainings finish (what ``gtnas truth
    build`` prints after each architecture)."""

    def __init__(self, config: TruthConfig, flops_of: Callable[[str], float]) -> None:
        self.config = config
        self.space = create_space(config.space, config.space_options)
        self.flops_of = flops_of
        self.finished: dict[str, tuple[float, float]] = {}
        self.failed: set[str] = set()
        # finished in this session: on another machine the pace can differ several fold (two
        # "AMD EPYC" machines here trained 4x apart), so these set it once there are enough
        self.current: dict[str, tuple[float, float]] = {}

    @classmethod
    def for_build(cls, config: TruthConfig) -> BuildPace | None:
        """None where the data set's image shape is not known before loading it (a user's
        folder): no estimate then."""
        try:
            spec = resolve(config.dataset)
        except GtnasError:
            return None
        if spec.image_shape is None:
            return None
        return cls(config, network_flops(config, spec.image_shape, spec.num_classes))

    def add(self, record: Mapping[str, Any], *, now: bool = False) -> None:
        """A truth-file record (:func:`gtnas.search.truth_build.record_of`); ``now``: trained
        in this session."""
        genotype = record["genotype"]
        flops = record.get("flops") or self.flops_of(genotype)
        self.finished[genotype] = (float(record["seconds"]), float(flops))
        if now:
            self.current[genotype] = self.finished[genotype]

    def add_trials(self, records: Iterable[Any]) -> None:
        """A study's trial records (:class:`gtnas.search.study.TrialRecord`) from earlier
        sessions: the finished ones priced, the failed ones (not cut off) left out."""
        for r in records:
            if r.state == "COMPLETE":
                self.add(record_of(r.scores, self.config.proxy, r.genotype))
            elif r.state == "FAIL" and r.error != "interrupted":
                self.failed.add(r.genotype)

    def add_document(self, document: Mapping[str, Any]) -> None:
        """A truth file's records and failures (a build continued from its file)."""
        for record in document.get("records", []):
            self.add(record)
        self.failed.update(f["genotype"] for f in document.get("failures", []))

    def left(self) -> TimeLeft | None:
        left = time_left(self.config, self.space, self.finished, self.flops_of, failed=self.failed)
        if left is None:
            return left
        if len(self.current) >= MIN_SESSION:
            pace = list(self.current.values())
        else:  # the latest trainings, in the order the study or the file holds them
            pace = [(s, f) for s, f in self.finished.values() if s > 0 and f > 0][-RECENT:]
        rate = _rate(pace) / _rate(self.finished.values())  # the pace now over all's
        return TimeLeft(left.seconds * rate, left.architectures, left.trainings)

    def describe(self) -> str:
        """``about 4.6h left (35 architectures, 70 trainings)``, or "" without an estimate."""
        left = self.left()
        if left is None or left.architectures == 0:
            return ""
        architectures = _count(left.architectures, "architecture")
        trainings = _count(left.trainings, "training")
        return (
            f"about {format_duration(left.seconds)} left ({architectures}, {trainings}, "
            "priced by their FLOPs)"
        )


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")
