"""Proxies measured against a truth set: every architecture scored by each proxy, then the rank
correlations between proxy scores and true accuracies (the GTN paper's figure 5), with
bootstrap intervals.

Scoring a set with a proxy is a search study of the ``list`` strategy (which proposes the set's
architectures in order) run by the search pipeline, so it is parallel (``workers``, Ray),
resumable, and cached: one study per (set, proxy, blueprint, seed, teacher) in
``OUT/studies.db``, and a second run reads the scores back without evaluating anything.
``real:K`` learning rates are tuned once per study by the pipeline, as in a search.

Set proxies (``rankavg:A+B``, :mod:`gtnas.search.proxies.rank_average`) are computed here from
their components' scores, not by the executor.
An architecture a component failed to score (a diverged learner, a non-finite zero-cost score)
has no score and is left out of that proxy's correlations; the count is reported.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from gtnas.analysis.rank import (
    RankCorrelation,
    bootstrap_ci,
    kendall_tau,
    rank_correlations,
    spearman,
)
from gtnas.analysis.score_archive import ArchivedScore, read_archive, write_archive
from gtnas.analysis.truthset import TruthSet
from gtnas.errors import ConfigError, GtnasError
from gtnas.meta.run import load_run_config
from gtnas.search.pipeline import SearchConfig, SearchPipeline, SearchTeacherConfig
from gtnas.search.proxies import SetProxy, create_proxy, proxy_needs_teacher
from gtnas.search.proxies.population import plain_proxies
from gtnas.teachers.store import TENSORS

MEASURES = ("spearman_top", "spearman_all", "kendall_top", "kendall_all")


# --- proxy names ------------------------------------------------------------------------------


def parse_proxies(specs: Sequence[str]) -> tuple[list[str], dict[str, list[str]]]:
    """(plain proxies to score, in order and once each; set proxy -> its components).

    ``["gtn:128", "rankavg:gtn:128+synflow"]`` -> ``(["gtn:128", "synflow"],
    {"rankavg:gtn:128+synflow": ["gtn:128", "synflow"]})``. Unknown proxies raise ConfigError.
    """

    specs = [spec.strip() for spec in specs]
    plain = list(plain_proxies(specs))  # names a bad proxy
    combinations: dict[str, list[str]] = {}
    for spec in specs:
        proxy = create_proxy(spec)
        if isinstance(proxy, SetProxy):
            combinations[spec] = list(proxy.components)
    return plain, combinations


def proxy_steps(spec: str) -> int | None:
    """The training steps a ``gtn:K`` / ``real:K`` proxy spends per architecture (K * R for
    ``gtn:KxR``): its cost in steps; None for proxies that do not train."""

    return getattr(create_proxy(spec), "total_steps", None)


# --- scoring ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScoringOptions:
    """How proxies score a truth set's architectures."""

    blueprint: str | None = None  # network size of every proxy's learners (None: gtn:K at the
    # teacher's, the others at the truth set's)
    teacher: str | None = None  # a finished `gtnas teach train` run, for gtn:K
    seed: int = 0
    workers: int = 1
    threads: int = 0  # torch threads per worker (0: the cores this process may use / workers)
    device: str = "cpu"
    eval_examples: int = 2000  # validation images a trained proxy learner is scored on
    real_lr: float | None = None  # fix the real:K learning rate (None: tuned per K)
    real_batch_size: int | None = None  # real:K's batch size (None: the search's default, 128)
    archive: str | None = None  # a folder of JSON score archives read before scoring and
    # kept up to date after (gtnas.analysis.score_archive): None, the studies alone

    def __post_init__(self) -> None:
        if self.eval_examples < 1:
            raise ConfigError(
                f"eval examples must be at least 1, got {self.eval_examples}; "
                "pass a positive --eval-examples"
            )
        if self.real_batch_size is not None and self.real_batch_size < 1:
            raise ConfigError(
                f"real batch size must be at least 1, got {self.real_batch_size}; "
                "pass a positive --real-batch-size"
            )


@dataclass
class ProxyScores:
    proxy: str
    scores: list[float | None]  # one per truth record, in file order (-inf: the lowest score,
    # e.g. synflow without signal; None: not scored, e.g. a diverged learner)
    seconds: float | None  # mean seconds per evaluation
    steps: int | None  # steps per architecture: K of gtn:K, K*R of gtn:KxR (sums for
    # combinations); None for zero-cost proxies
    study: str | None = None  # the study holding the scores (None for combinations)
    info: dict[str, Any] = field(default_factory=dict)  # e.g. the real:K learning rate
    # gtn:KxR / real:KxR: each architecture's R accuracies (scores are their means), aligned
    # with scores (None where not scored); None for other proxies
    repeats: list[list[float] | None] | None = None
    # seconds each architecture's evaluation took, aligned with scores (None: not recorded)
    costs: list[float | None] | None = None

    @property
    def learners(self) -> int:
        """Learners averaged per architecture: R of gtn:KxR, else 1."""
        return next((len(r) for r in self.repeats or [] if r is not None), 1)

    def first_repeats(self, count: int) -> ProxyScores:
        """The same proxy with only its first ``count`` learners averaged: ``gtn:32x4`` ->
        ``gtn:32x2`` (count 2) or ``gtn:32`` (count 1), scored from the recorded repeats
        without training anything again (repeat r is seeded the same in both)."""
        if self.repeats is None:
            raise ValueError(f"{self.proxy} has no recorded repeats")
        total = self.learners
        base = self.proxy.removesuffix(f"x{total}")
        if not 1 <= count <= total:
            raise ValueError(f"{self.proxy}: count must be in 1..{total}, got {count}")
        return ProxyScores(
            proxy=base if count == 1 else f"{base}x{count}",
            scores=[None if r is None else float(np.mean(r[:count])) for r in self.repeats],
            seconds=None if self.seconds is None else self.seconds * count / total,
            steps=None if self.steps is None else self.steps * count // total,
            info=dict(self.info),
            repeats=[None if r is None else r[:count] for r in self.repeats],
        )

    def repeat_agreement(self) -> float | None:
        """Test-retest reliability of one learner: the mean Spearman, over pairs of repeats,
        between the rankings two repeats give the architectures all were scored on; None
        without two repeats."""
        rows = [r for r in self.repeats or [] if r is not None]
        if not rows or len(rows[0]) < 2 or len(rows) < 3:
            return None
        columns = np.asarray(rows, dtype=np.float64).T  # (R, architectures)
        pairs = [
            spearman(columns[i], columns[j])
            for i in range(len(columns))
            for j in range(i + 1, len(columns))
        ]
        return float(np.mean(pairs))


def scoring_study_name(
    truth: TruthSet, proxy: str, blueprint: str | dict[str, Any], options: ScoringOptions
) -> str:
    # named by the set's sample, not its length: a truth set still being built is re-scored
    # only for the architectures it gained (the list strategy replays the ones scored before)
    parts = [truth.name, truth.sample_digest()[:8], proxy, blueprint_label(blueprint),
             f"s{options.seed}"]  # fmt: skip
    if _needs_teacher(proxy) and options.teacher:
        parts.append("t" + _teacher_digest(Path(options.teacher)))
    if proxy.startswith("real") and options.real_lr is not None:
        parts.append(f"lr{options.real_lr:g}")
    if proxy.startswith("real") and options.real_batch_size is not None:
        parts.append(f"b{options.real_batch_size}")
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", "-".join(parts))


def _needs_teacher(proxy: str) -> bool:
    return proxy_needs_teacher(proxy)


def blueprint_label(blueprint: str | dict[str, Any]) -> str:
    """A preset's name, or "bp" and 8 hex digits of a blueprint given as fields."""
    if isinstance(blueprint, str):
        return blueprint
    text = json.dumps(blueprint, sort_keys=True)
    return "bp" + hashlib.sha256(text.encode()).hexdigest()[:8]


def _teacher_digest(run_dir: Path) -> str:
    """8 hex digits of the trained teacher's weights: a retrained teacher gets fresh scores."""

    path = run_dir / TENSORS
    if not path.is_file():
        raise GtnasError(f"{run_dir} holds no trained teacher ({TENSORS}); pass a finished run")
    return hashlib.sha256(path.read_bytes()).hexdigest()[:8]


def proxy_blueprint(
    truth: TruthSet, options: ScoringOptions, proxy: str = ""
) -> str | dict[str, Any]:
    """The blueprint ``proxy`` scores at: the given one; else, for gtn:K, the teacher's (its
    learners were built there); else the truth set's own."""
    if options.blueprint:
        return options.blueprint
    if _needs_teacher(proxy) and options.teacher:
        return load_run_config(Path(options.teacher)).blueprint
    return truth.blueprint


def _check_teacher(truth: TruthSet, plain: list[str], options: ScoringOptions) -> None:
    if not any(_needs_teacher(p) for p in plain):
        return
    if not options.teacher:
        raise ConfigError("gtn:K proxies need a trained teacher: pass --teacher RUN")

    teacher = load_run_config(Path(options.teacher))
    if teacher.dataset != truth.dataset:
        raise ConfigError(
            f"the teacher in {options.teacher} was trained on {teacher.dataset}, the truth set "
            f"is {truth.dataset}"
        )


def score_truth_set(
    truth: TruthSet,
    proxies: Sequence[str],
    out: Path,
    options: ScoringOptions | None = None,
    *,
    storage: str | None = None,
    hooks: dict[str, Callable[..., Any]] | None = None,
) -> dict[str, ProxyScores]:
    """Score every architecture of ``truth`` with each of ``proxies`` (combinations included);
    returns {proxy: scores} in the order asked. ``hooks`` as the search pipeline's
    (``"result"``: each finished evaluation, ``"stage"``: a line about what starts)."""
    options = options or ScoringOptions()
    plain, combinations = parse_proxies(proxies)
    _check_teacher(truth, plain, options)
    scored = {
        proxy: _score_with(
            truth, proxy, proxy_blueprint(truth, options, proxy), Path(out), options, storage,
            hooks or {},
        )
        for proxy in plain
    }  # fmt: skip
    for spec, parts in combinations.items():
        scored[spec] = combine(spec, [scored[p] for p in parts])
    return {spec.strip(): scored[spec.strip()] for spec in proxies}


def _score_with(
    truth: TruthSet,
    proxy: str,
    blueprint: str | dict[str, Any],
    out: Path,
    options: ScoringOptions,
    storage: str | None,
    hooks: dict[str, Callable[..., Any]],
) -> ProxyScores:
    name = scoring_study_name(truth, proxy, blueprint, options)
    config = SearchConfig(
        dataset=truth.dataset,
        space=truth.space,
        space_options=dict(truth.space_options),
        blueprint=blueprint,
        strategy="list",
        strategy_options={"genotypes": truth.genotypes()},
        proxy=proxy,
        budget=len(truth),
        seed=options.seed,
        workers=options.workers,
        threads=options.threads,
        device=options.device,
        eval_examples=options.eval_examples,
        top_k=0,
        teacher=SearchTeacherConfig(run=options.teacher if _needs_teacher(proxy) else None),
    )
    if options.real_batch_size is not None and proxy.startswith("real"):
        # only real:K trains on real batches; other proxies keep the default, so their score
        # caches (named without the batch size) stay shared
        config = replace(config, real_batch_size=options.real_batch_size)
    pipeline = SearchPipeline(
        name, out, config=config, storage=storage, show_progress=False, hooks=hooks
    )
    study = pipeline.study
    archive = (
        read_archive(Path(options.archive), name, proxy, options.eval_examples)
        if options.archive
        else None
    )
    if proxy.startswith("real") and not study.results("real_lr"):
        # the pipeline uses a recorded learning rate instead of tuning one
        if options.real_lr is not None:
            study.set_result("real_lr", 0, {"lr": options.real_lr, "given": True})
        elif archive is not None and archive.real_lr is not None:
            study.set_result("real_lr", 0, archive.real_lr)
    asked = [record.genotype for _, kind, record in study.events() if kind == "ask"]
    trials = study.records()
    known = {record.genotype for record in trials} | set(archive.records if archive else ())
    new = [g for g in truth.genotypes() if g not in known]
    cut = sum(record.state == "RUNNING" for record in trials)  # left by a killed run
    if new or cut:
        # The list the study replays: what it asked, in that order, then the new architectures.
        # A set still being built inserts architectures mid-file (its workers finish out of
        # sample order), so the file's order alone would not replay the study's history.
        # The budget counts evaluations as the search loop does (no duplicates, no cut-off
        # records): those on record, the cut-off ones it re-runs, the new ones; any more and
        # the list strategy would draw random architectures from outside the set to fill it.
        budget = pipeline.study_progress() + cut + len(new)
        config = replace(config, strategy_options={"genotypes": [*asked, *new]}, budget=budget)
        pipeline = SearchPipeline(
            name, out, config=config, storage=storage, show_progress=False, hooks=hooks
        )
        hook = hooks.get("stage")
        if hook is not None:
            hook(f"scoring {len(new)} of {len(truth)} architectures with {proxy} (study {name})")
        pipeline.search(pipeline.teacher_dir())
    by_genotype = {r.genotype: r for r in study.completed()}
    # The search loop records a non-finite score as a failed evaluation; a score of -inf (a
    # zero-cost proxy finding no signal at all, e.g. synflow on a cell with no path from input
    # to output) is a valid lowest score here, kept rather than left out.
    minus_infinity = f"non-finite {proxy} score -inf"  # gtnas.search.runner._finish's message
    lowest = {
        r.genotype for r in study.records() if r.state == "FAIL" and r.error == minus_infinity
    }
    count = getattr(create_proxy(proxy), "repeats", 1)
    # each learner's accuracy, recorded by gtnas.search.executor as "<proxy>/repeat<r>"
    repeat_keys = [f"{proxy}/repeat{r}" for r in range(count)]
    results: dict[str, ArchivedScore] = dict(archive.records) if archive else {}
    for genotype, record in by_genotype.items():  # the study's own scores come first
        found = [record.scores.get(key) for key in repeat_keys]
        results[genotype] = ArchivedScore(
            float(record.score),  # type: ignore[arg-type]
            record.seconds,
            [float(v) for v in found] if count > 1 and None not in found else None,
        )
    for genotype in lowest - set(by_genotype):
        results[genotype] = ArchivedScore(-math.inf, None)
    scores: list[float | None] = []
    seconds = []
    costs: list[float | None] = []
    repeats: list[list[float] | None] = []
    for genotype in truth.genotypes():
        result = results.get(genotype)
        scores.append(None if result is None else result.score)
        costs.append(None if result is None else result.seconds)
        if result is not None and math.isfinite(result.score) and result.seconds is not None:
            seconds.append(result.seconds)
        repeats.append(None if result is None else result.repeats)
    recorded = study.results("real_lr")
    if archive is not None:
        archive.records = results
        archive.real_lr = recorded.get(0, archive.real_lr)
        write_archive(Path(options.archive), archive)  # type: ignore[arg-type]
    info: dict[str, Any] = {"real_lr": recorded[0]["lr"]} if 0 in recorded else {}
    if 0 in recorded and "seconds" in recorded[0]:
        info["real_lr_seconds"] = recorded[0]["seconds"]  # a one-off cost of a real:K search
    return ProxyScores(
        proxy=proxy,
        scores=scores,
        seconds=float(np.mean(seconds)) if seconds else None,
        steps=proxy_steps(proxy),
        study=name,
        info=info,
        repeats=repeats if count > 1 else None,
        costs=costs,
    )


def without_architectures(
    truth: TruthSet, scores: dict[str, ProxyScores], genotypes: set[str]
) -> tuple[TruthSet, dict[str, ProxyScores]]:
    """The set and every proxy's scores without ``genotypes`` (e.g. the calibration
    architectures a teacher's ranking objective was fitted on, which a proxy must not be judged
    on). Scoring stays cached for the whole set; only what is correlated changes."""
    keep = [i for i, genotype in enumerate(truth.genotypes()) if genotype not in genotypes]

    def kept(values: list | None) -> list | None:
        return None if values is None else [values[i] for i in keep]

    subset = replace(truth, records=tuple(truth.records[i] for i in keep))
    return subset, {
        name: replace(s, scores=kept(s.scores), repeats=kept(s.repeats), costs=kept(s.costs))
        for name, s in scores.items()
    }


def teacher_calibration(truth: TruthSet, teacher: str | Path | None) -> set[str]:
    """The architectures of ``truth`` a teacher's ranking objective was fitted on (its run's
    calibration set; empty for no teacher or an uncalibrated one): never judged on."""
    if not teacher:
        return set()
    return set(load_run_config(Path(teacher)).calibration) & set(truth.genotypes())


def combine(spec: str, parts: Sequence[ProxyScores]) -> ProxyScores:
    """The set proxy ``spec`` (``rankavg:A+B``) over the architectures every part scored."""
    return combine_columns(spec, parts, create_proxy(spec).combine)  # type: ignore[attr-defined]


def combine_columns(
    name: str,
    parts: Sequence[ProxyScores],
    combine_fn: Callable[[list[list[float]]], Sequence[float]],
) -> ProxyScores:
    """``parts`` combined by ``combine_fn`` (component columns -> one score per architecture)
    over the architectures every part scored, named ``name``; its seconds, steps and costs the
    sums of the parts'."""
    scored = [i for i in range(len(parts[0].scores)) if all(p.scores[i] is not None for p in parts)]
    combined: list[float | None] = [None] * len(parts[0].scores)
    if scored:
        columns = [[p.scores[i] for i in scored] for p in parts]
        for i, value in zip(scored, combine_fn(columns), strict=True):  # type: ignore[arg-type]
            combined[i] = float(value)
    seconds = [p.seconds for p in parts]
    steps = [p.steps for p in parts if p.steps is not None]
    costs = None
    if all(p.costs is not None for p in parts):
        costs = [
            None if any(c is None for c in column) else float(sum(column))  # type: ignore[arg-type]
            for column in zip(*(p.costs for p in parts), strict=True)  # type: ignore[misc]
        ]
    return ProxyScores(
        proxy=name,
        scores=combined,
        seconds=None if None in seconds else float(sum(seconds)),  # type: ignore[arg-type]
        steps=sum(steps) if steps else None,
        costs=costs,
    )


# --- correlations -----------------------------------------------------------------------------


def top_indices(scores: Sequence[float], fraction: float, minimum: int = 2) -> np.ndarray:
    """Indices of the top ``fraction`` by score (at least ``minimum``), highest first; the same
    selection as :func:`gtnas.analysis.rank.rank_correlations` (stable among ties)."""
    values = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-values, kind="mergesort")
    return order[: max(minimum, math.ceil(fraction * len(values)))]


@dataclass(frozen=True)
class ProxyCorrelation:
    proxy: str
    truth_metric: str  # "test" or "val"
    top_fraction: float
    missing: int  # truth architectures the proxy did not score
    correlation: RankCorrelation  # Spearman (with bootstrap interval) and Kendall
    kendall_ci95_all: tuple[float, float]
    kendall_ci95_top: tuple[float, float]
    seconds: float | None  # mean seconds per evaluation
    steps: int | None

    def measure(self, name: str) -> float:
        """``spearman_top`` (the paper's), ``spearman_all``, ``kendall_top``, ``kendall_all``."""
        if name not in MEASURES:
            raise ConfigError(f"unknown measure {name!r}; choose one of: {', '.join(MEASURES)}")
        return float(getattr(self.correlation, name))

    def interval(self, name: str) -> tuple[float, float]:
        """The bootstrap 95% interval of a measure (as :meth:`measure` names them)."""
        self.measure(name)  # names a bad measure
        c = self.correlation
        intervals = {
            "spearman_all": c.ci95_all,
            "spearman_top": c.ci95_top,
            "kendall_all": self.kendall_ci95_all,
            "kendall_top": self.kendall_ci95_top,
        }
        return intervals[name]

    def to_json(self) -> dict[str, Any]:
        c = self.correlation
        return {
            "proxy": self.proxy,
            "truth_metric": self.truth_metric,
            "n": c.n,
            "missing": self.missing,
            "n_top": c.n_top,
            "top_fraction": self.top_fraction,
            "spearman_all": c.spearman_all,
            "spearman_all_ci95": list(c.ci95_all),
            "kendall_all": c.kendall_all,
            "kendall_all_ci95": list(self.kendall_ci95_all),
            "spearman_top": c.spearman_top,
            "spearman_top_ci95": list(c.ci95_top),
            "kendall_top": c.kendall_top,
            "kendall_top_ci95": list(self.kendall_ci95_top),
            "seconds_per_evaluation": self.seconds,
            "steps": self.steps,
        }


def paired(scores: ProxyScores, truth: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """(proxy scores, truth values) of the architectures the proxy scored. Scores of -inf
    become one finite value below all others (the same ranks, and Kendall's pairwise
    differences stay defined); a plot shows them at the left edge."""
    if len(scores.scores) != len(truth):
        raise ValueError("proxy scores and truth values must be aligned")
    keep = [i for i, s in enumerate(scores.scores) if s is not None and not math.isnan(s)]
    proxy = np.array([scores.scores[i] for i in keep], dtype=np.float64)
    lowest = np.isneginf(proxy)
    if lowest.any():
        finite = proxy[~lowest]
        spread = float(finite.max() - finite.min()) if finite.size else 0.0
        floor = float(finite.min()) if finite.size else 0.0
        proxy[lowest] = floor - max(0.1 * spread, 1.0)
    return proxy, np.asarray(truth, dtype=np.float64)[keep]


def correlate(
    scores: ProxyScores,
    truth: Sequence[float],
    *,
    truth_metric: str = "test",
    top_fraction: float = 0.5,
    resamples: int = 1000,
    seed: int = 0,
) -> ProxyCorrelation:
    """Spearman and Kendall between ``scores`` and ``truth`` over all scored architectures and
    over the proxy's top ``top_fraction``, with 95% percentile-bootstrap intervals."""
    if not 0 < top_fraction <= 1:
        raise ConfigError(f"the top fraction must be in (0, 1], got {top_fraction}")
    proxy, values = paired(scores, truth)
    if len(proxy) < 3:
        raise GtnasError(
            f"{scores.proxy} scored {len(proxy)} of {len(truth)} architectures; "
            "need at least 3 for a correlation"
        )
    correlation = rank_correlations(
        proxy, values, top_fraction=top_fraction, resamples=resamples, seed=seed
    )
    top = top_indices(proxy, top_fraction)
    return ProxyCorrelation(
        proxy=scores.proxy,
        truth_metric=truth_metric,
        top_fraction=top_fraction,
        missing=len(truth) - len(proxy),
        correlation=correlation,
        kendall_ci95_all=bootstrap_ci(proxy, values, kendall_tau, resamples=resamples, seed=seed),
        kendall_ci95_top=bootstrap_ci(
            proxy[top], values[top], kendall_tau, resamples=resamples, seed=seed
        ),
        seconds=scores.seconds,
        steps=scores.steps,
    )


def correlation_document(
    truth: TruthSet,
    correlations: Sequence[ProxyCorrelation],
    scores: dict[str, ProxyScores],
    **extra: Any,
) -> dict[str, Any]:
    """The JSON written by ``gtnas rank-corr``: the set, each proxy's correlations, and every
    architecture's scores (so plots can be redrawn without the studies)."""
    return {
        "truth": truth.name,
        "truth_digest": truth.digest(),
        "dataset": truth.dataset,
        "space": truth.space,
        "n": len(truth),
        **extra,
        "proxies": {c.proxy: c.to_json() for c in correlations},
        "studies": {p: s.study for p, s in scores.items() if s.study},
        "info": {p: s.info for p, s in scores.items() if s.info},
        "scores": {p: s.scores for p, s in scores.items()},
        # seconds of each architecture's evaluation (gtnas simulate pays them)
        "costs": {p: s.costs for p, s in scores.items() if s.costs is not None},
        # gtn:KxR: every learner's accuracy per architecture, and how well two learners agree
        "repeat_scores": {p: s.repeats for p, s in scores.items() if s.repeats is not None},
        "repeat_agreement": {
            p: s.repeat_agreement() for p, s in scores.items() if s.repeats is not None
        },
    }


def safe_name(proxy: str) -> str:
    """A proxy name as part of a file name: ``rankavg:gtn:128+synflow`` ->
    ``rankavg-gtn-128+synflow``."""
    return re.sub(r"[^A-Za-z0-9_.+-]+", "-", proxy)


def dumps(document: dict[str, Any]) -> str:
    """Strict JSON: a score of -inf is written as the string "-inf"; NaN (e.g. the correlation
    of a constant set) and +inf as null."""

    def clean(value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            return "-inf" if value == -math.inf else None
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [clean(v) for v in value]
        return value

    return json.dumps(clean(document), indent=1, allow_nan=False) + "\n"
