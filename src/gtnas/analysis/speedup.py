"""The speed-up of GTN-NAS over real data (the paper's claim): how many real-data training steps,
and seconds, a proxy learner needs before it ranks architectures as well as a learner trained
K steps on a teacher's synthetic data.

``real:K`` is measured over a range of K: each K gives one point (steps K, mean seconds per
evaluation, rank correlation with the truth set). The real-data curve is walked up in K to the
first point that reaches gtn's correlation; between that point and the one before it the curve
is interpolated linearly in log K against correlation, and the seconds with the same fraction
in log seconds (both grow roughly geometrically along the measured K). Then

    speed-up in steps   = K_match / K_gtn
    speed-up in seconds = seconds_real(K_match) / seconds_gtn

(for ``gtn:KxR``, R learners of K steps each, K_gtn is K * R: the steps it spends per
architecture)

and, separately, the seconds speed-up with the teacher's meta-training time spread over the
evaluations it serves: seconds_gtn + meta_seconds / evaluations. When the smallest measured K
already matches, the factor is an upper bound ("at most"); when no measured K does, a lower
bound ("at least") taken at the largest K.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gtnas.analysis.ceiling import noise_ceiling, with_floor
from gtnas.analysis.rankcorr import (
    ProxyCorrelation,
    ProxyScores,
    correlate,
    teacher_calibration,
)
from gtnas.analysis.truthset import TruthSet
from gtnas.errors import ConfigError
from gtnas.meta.run import meta_training_seconds
from gtnas.search.proxies import SetProxy, create_proxy

INTERPOLATED, AT_MOST, AT_LEAST = "interpolated", "at most", "at least"


@dataclass(frozen=True)
class CurvePoint:
    steps: int  # K
    seconds: float  # mean seconds per evaluation
    correlation: float


@dataclass(frozen=True)
class Match:
    """Where the real-data curve reaches the target correlation."""

    steps: float
    seconds: float
    bound: str  # INTERPOLATED, AT_MOST (at or below the smallest K), AT_LEAST (beyond the largest)


def match_curve(curve: Sequence[CurvePoint], target: float) -> Match:
    """The first crossing of ``target`` by ``curve`` (sorted by steps; NaN points ignored),
    log-interpolated between the measured points around it (see the module docstring)."""
    points = sorted((p for p in curve if not math.isnan(p.correlation)), key=lambda p: p.steps)
    if not points:
        raise ValueError("the real-data curve has no points with a correlation")
    if points[0].correlation >= target:
        return Match(points[0].steps, points[0].seconds, AT_MOST)
    for lower, upper in itertools.pairwise(points):
        if upper.correlation >= target:  # lower.correlation < target <= upper.correlation
            fraction = (target - lower.correlation) / (upper.correlation - lower.correlation)
            return Match(
                _log_between(lower.steps, upper.steps, fraction),
                _log_between(lower.seconds, upper.seconds, fraction),
                INTERPOLATED,
            )
    return Match(points[-1].steps, points[-1].seconds, AT_LEAST)


def _log_between(low: float, high: float, fraction: float) -> float:
    return math.exp(math.log(low) + fraction * (math.log(high) - math.log(low)))


@dataclass(frozen=True)
class Speedup:
    measure: str  # the correlation compared, e.g. "spearman_top"
    gtn: CurvePoint  # gtn:K's steps, seconds per evaluation and correlation (the target)
    match: Match
    meta_seconds: float | None  # the teacher's meta-training wall time, when known
    evaluations: int  # evaluations the meta-training time is spread over

    @property
    def steps_factor(self) -> float:
        return self.match.steps / self.gtn.steps

    @property
    def seconds_factor(self) -> float:
        return self.match.seconds / self.gtn.seconds

    @property
    def amortised_gtn_seconds(self) -> float | None:
        """Seconds per gtn evaluation with the meta-training cost shared out."""
        if self.meta_seconds is None:
            return None
        return self.gtn.seconds + self.meta_seconds / self.evaluations

    @property
    def amortised_seconds_factor(self) -> float | None:
        amortised = self.amortised_gtn_seconds
        return None if amortised is None else self.match.seconds / amortised

    def to_json(self) -> dict[str, Any]:
        return {
            "measure": self.measure,
            "gtn_steps": self.gtn.steps,
            "gtn_seconds": self.gtn.seconds,
            "gtn_correlation": self.gtn.correlation,
            "real_steps_at_match": self.match.steps,
            "real_seconds_at_match": self.match.seconds,
            "bound": self.match.bound,
            "speedup_steps": self.steps_factor,
            "speedup_seconds": self.seconds_factor,
            "meta_training_seconds": self.meta_seconds,
            "evaluations": self.evaluations,
            "gtn_seconds_amortised": self.amortised_gtn_seconds,
            "speedup_seconds_amortised": self.amortised_seconds_factor,
        }


def compute_speedup(
    real: Sequence[CurvePoint],
    gtn: CurvePoint,
    *,
    measure: str = "spearman_top",
    meta_seconds: float | None = None,
    evaluations: int = 1,
) -> Speedup:
    if evaluations < 1:
        raise ValueError(f"evaluations must be at least 1, got {evaluations}")
    return Speedup(measure, gtn, match_curve(real, gtn.correlation), meta_seconds, evaluations)


def teacher_meta_seconds(run_dir: Path) -> float | None:
    """Wall time of a teacher's meta-training (all sessions); None when the run has no log
    (:func:`gtnas.meta.run.meta_training_seconds`)."""

    return meta_training_seconds(Path(run_dir))


def teacher_cost_seconds(run_dir: Path, truth: TruthSet | None = None) -> float | None:
    """What a teacher cost before its first evaluation: its meta-training wall time and, for
    a teacher calibrated on architectures of ``truth`` (the ranking objective), their real
    trainings as the set records them (every seed). None when the run has no log."""
    meta = teacher_meta_seconds(run_dir)
    if meta is None or truth is None:
        return meta
    return meta + calibration_seconds(run_dir, truth)


def calibration_seconds(run_dir: Path, truth: TruthSet) -> float:
    """The truth trainings (every seed) of the architectures of ``truth`` a teacher's ranking
    objective was fitted on: 0 for an uncalibrated teacher."""
    calibration = teacher_calibration(truth, run_dir)
    return float(sum(r.training_seconds for r in truth.records if r.genotype in calibration))


# --- a whole speed-up measurement (gtnas speedup, benchmarks/rankcorr.py) ---------------------


def speedup_proxies(
    ks: Sequence[int], gtn: str = "gtn:128", extras: Sequence[str] | None = None
) -> tuple[list[str], list[str], list[str]]:
    """(the real:K curve, the other proxies placed on the same axes, everything to score in
    order). ``gtn``: a ``gtn:K`` proxy, or a rank average with one (nb201's default,
    ``rankavg:gtn:32+synflow``: its seconds and steps are its parts'). ``extras`` None:
    synflow, naswot and the rank average of ``gtn`` and synflow (for a rank average: its
    parts alone)."""
    steps = sorted(set(ks))
    if len(steps) < 2 or steps[0] < 1:
        raise ConfigError(f"the real:K curve needs at least two positive K, got {list(ks)}")
    made = create_proxy(gtn)
    parts = list(made.components) if isinstance(made, SetProxy) else [gtn]
    teachers = [part for part in parts if part.startswith("gtn:")]
    if not teachers:
        raise ConfigError(
            f"the speed-up is measured for a gtn:K proxy or a rank average with one (e.g. "
            f"rankavg:gtn:32+synflow), got {gtn!r}"
        )
    if extras is not None:
        others = list(extras)
    elif isinstance(made, SetProxy):  # a rank average: beside its parts alone
        others = list(dict.fromkeys(["synflow", "naswot", *parts]))
    else:
        others = ["synflow", "naswot", f"rankavg:{gtn}+synflow"]
    others = with_floor(others)  # the free floor is always on the axes
    real = [f"real:{k}" for k in steps]
    return real, others, list(dict.fromkeys([*real, gtn, *others]))


@dataclass
class SpeedupAnalysis:
    """Every proxy's correlations with a truth set and the speed-up of ``gtn`` over ``real``."""

    truth: TruthSet
    scores: dict[str, ProxyScores]
    correlations: dict[str, ProxyCorrelation]
    real: list[str]  # the real:K curve, K ascending
    gtn: str
    others: list[str]
    truth_metric: str
    top_fraction: float
    speedup: Speedup
    ceiling: Any = None  # gtnas.analysis.ceiling.NoiseCeiling, when the set has two seeds

    def point(self, proxy: str) -> CurvePoint:
        return curve_point(self.correlations[proxy], self.speedup.measure)


def curve_point(correlation: ProxyCorrelation, measure: str) -> CurvePoint:
    """A proxy on the cost axes: (steps K, seconds per evaluation, its ``measure``)."""
    seconds = correlation.seconds if correlation.seconds is not None else float("nan")
    return CurvePoint(correlation.steps or 0, seconds, correlation.measure(measure))


def analyse_speedup(
    truth: TruthSet,
    scores: dict[str, ProxyScores],
    *,
    real: Sequence[str],
    gtn: str,
    others: Sequence[str] = (),
    measure: str = "spearman_top",
    truth_metric: str = "test",
    top_fraction: float = 0.5,
    resamples: int = 1000,
    seed: int = 0,
    meta_seconds: float | None = None,
    evaluations: int | None = None,
) -> SpeedupAnalysis:
    """Correlate every scored proxy with the truth and find where real:K matches ``gtn``.
    ``evaluations`` (default: the set's size) share out the teacher's ``meta_seconds``."""

    values = truth.accuracies(truth_metric)
    correlations = {
        p: correlate(s, values, truth_metric=truth_metric, top_fraction=top_fraction,
                     resamples=resamples, seed=seed)
        for p, s in scores.items()
    }  # fmt: skip
    result = compute_speedup(
        [curve_point(correlations[p], measure) for p in real],
        curve_point(correlations[gtn], measure),
        measure=measure,
        meta_seconds=meta_seconds,
        evaluations=evaluations or len(truth),
    )
    ceiling = noise_ceiling(
        truth, truth_metric=truth_metric, top_fraction=top_fraction, resamples=resamples, seed=seed
    )
    return SpeedupAnalysis(
        truth, scores, correlations, list(real), gtn, list(others), truth_metric, top_fraction,
        result, ceiling,
    )  # fmt: skip
