"""Rank-correlation benchmark: do the proxies rank architectures as the truth does, and how many
real-data steps (and seconds) does it take to rank as well as ``gtn:K``?

    python -m benchmarks.rankcorr --preset quick [--datasets mnist,fashion-mnist] [--teacher RUN]

For each data set with a ground-truth set shipped in ``truth/`` (see truth/README.md):

1. the teacher behind ``gtn:K`` (presets with one): meta-trained on architectures sampled from
   the set's space at the proxy blueprint (the way ``gtnas search`` trains one), or
   ``--teacher RUN`` reused; the ``long`` preset trains none, and given ``--teacher`` scores
   that teacher's ``gtn:T`` (e.g. the ranking teacher of ``benchmarks.teacher_ranking``, the
   one ``gtnas search`` ships) with its rank averages with params and with synflow;
2. every architecture of the set scored by each proxy: ``real:K`` over the preset's K (the
   learning rate tuned once per K on the validation split), ``gtn:K``, the zero-cost proxies,
   the free floor (``params``, ``flops``) and the rank average of ``gtn:K`` and synflow.
   Scores are cached in studies under ``--runs`` and shared between presets: an interrupted
   run resumes and a re-run scores nothing twice; every score is also kept as JSON under
   ``--out``'s ``scores/`` (committed), so that a fresh machine reads them instead;
3. Spearman and Kendall with the set's test accuracy (the mean of its seeds) over all
   architectures and over the proxy's top 50% (the paper's measure), 95% bootstrap intervals,
   each proxy's fraction of the set's noise ceiling (seed vs seed) and whether it beats the
   floor, and the speed-up of ``gtn:K`` over the ``real:K`` curve
   (:mod:`gtnas.analysis.speedup`; a teacher's cost is its meta-training and, for one
   calibrated with the ranking objective, its calibration architectures' truth trainings).
   The architectures a calibrated teacher was fitted on are left out of every proxy's
   judging (the records' ``left_out``; the simulations leave them out too).

Nothing here chooses anything by test accuracy: the truth set is the yardstick, and every
learning rate is tuned on the validation split.

Writes ``benchmarks/results/rankcorr.json`` (a list of records, each naming its truth set:
one ``ceiling`` per set, one ``teacher``, one ``proxy`` per proxy and one ``speedup`` per data
set; records of other presets and data sets already in the file are kept), ``rankcorr.md``
(the same as tables) and the plots in ``results/rankcorr/``.
"""

from __future__ import annotations

import dataclasses
import math
import shutil
import time
from pathlib import Path
from typing import Any

from benchmarks.results import argument_parser, machine_line, progress_hooks, write_records
from gtnas.config import merge_values

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"
RUNS = Path(__file__).parent / "runs" / "rankcorr"
SCORES = "scores"  # under --out: every score as JSON (gtnas.analysis.score_archive)
TRUTH = ROOT / "truth"
DATASETS = ("mnist", "fashion-mnist")
PAPER_SPEARMAN_TOP50 = 0.5582  # gtn:128 on the paper's CIFAR-10 set (GTN.md)
SLIM_GENERATOR = {"noise_dim": 64, "hidden": 256, "channels": 64, "mid_channels": 32}
# The search size with a 3x3-pooled classifier head (the nb201 preset search-head3), where a
# teacher's learners are built: global pooling stalls meta-training on NB-201 cells
# (`python -m benchmarks.probes --set nb201`). Given as its fields, so the score cache's name
# records them.
HEAD3 = {"channels": 16, "cells_per_stage": 1, "head_pool": 3}

# The long-horizon, two-seed truth sets (truth/README.md): the yardstick of the "long" presets.
LONG_TRUTH = {
    "fashion-mnist": "fashion-mnist-nb201-n100-e7-search-head3-s2.json",
    "mnist": "mnist-nb201-n40-e7-search-head3-s2.json",
}
# The real:K curve on them: from a few steps to the paper's 1,200 (the truth trains 2,730).
LONG_KS = (16, 32, 64, 128, 256, 512, 1200)

# A preset: the truth file per data set (a pattern or a {dataset: file} dict, and how many of
# its architectures), the teacher's TeachRunConfig fields (None: no gtn:K), the proxies and
# how they score.
PRESETS: dict[str, dict[str, Any]] = {
    # For the test: the first 8 architectures of the shipped MNIST set, toy K, a 2-iteration
    # teacher at the tiny blueprint. Seconds, not minutes.
    "smoke": {
        "truth": "{dataset}-nb201-n100-e3.json",
        "architectures": 8,
        "blueprint": "tiny",  # every proxy (the truth's own "search" costs more than a test)
        "teacher": {
            "blueprint": "tiny",
            "teacher_options": {"inner_steps": 3, "batch_size": 16, "generator": SLIM_GENERATOR},
            "meta": {"iterations": 2, "eval_every": 2, "eval_examples": 200},
        },
        "gtn": "gtn:3",
        "ks": (2, 4),
        "others": ("synflow", "rankavg:gtn:3+synflow"),
        "eval_examples": 200,
        "resamples": 50,
        "workers": 1,
        "threads": 1,
    },
    # What 2 CPU cores measure in about 35 minutes per data set: the teacher of the
    # first demo's (40 iterations of 16 steps of 32, slim generator, 9 minutes), K up to 64.
    "quick": {
        "truth": "{dataset}-nb201-n100-e3.json",
        "architectures": None,
        "blueprint": None,  # gtn:K at the teacher's blueprint, the rest at the truth set's
        "teacher": {
            "blueprint": "search",
            "teacher_options": {"inner_steps": 16, "batch_size": 32, "generator": SLIM_GENERATOR},
            "meta": {"iterations": 40, "eval_every": 20, "eval_examples": 2000},
        },
        "gtn": "gtn:128",
        "ks": (16, 32, 64),
        "others": ("gtn:16", "synflow", "naswot", "rankavg:gtn:128+synflow"),
        "eval_examples": 1000,
        "resamples": 1000,
        "workers": 2,
        "threads": 1,
    },
    # The shipped sets at the blueprint they were trained at; K from a few steps up to about
    # the truth's own training (3 epochs of 10,000 images = 234 steps of 128), the paper's
    # teacher for gtn:128 (a 128-step curriculum: replaying a shorter one lost the ranking in
    # quick-head3) at HEAD3. Hours per data set on 2 CPU cores: meant for a GPU.
    "paper": {
        "truth": "{dataset}-nb201-n100-e3.json",
        "architectures": None,  # all
        "blueprint": None,
        "teacher": {
            "blueprint": HEAD3,
            "teacher_options": {"inner_steps": 128, "batch_size": 64, "generator": SLIM_GENERATOR},
            "meta": {
                "iterations": 100,
                "eval_every": 25,
                "eval_examples": 2000,
                "gradient_checkpointing": True,
            },
        },
        "gtn": "gtn:128",
        "ks": (16, 32, 64, 128, 256),
        "others": ("gtn:32", "synflow", "naswot", "rankavg:gtn:128+synflow"),
        "eval_examples": 1000,
        "resamples": 1000,
        "workers": 2,
        "threads": 1,
    },
}


# The long-horizon yardstick without a teacher: the real:K curve, the zero-cost proxies and
# the free floor, every proxy at the truth's own network (search-head3), scored on 5,000
# validation images (on 1,000 the binomial noise of one accuracy, about 1 point at 90%,
# would be larger than what separates the top half). About 3 hours per data set on 2 CPU
# cores, almost all of it real:512 and real:1200.
PRESETS["long"] = {
    "truth": LONG_TRUTH,
    "architectures": None,
    "blueprint": None,
    "teacher": None,
    "gtn": None,
    "ks": LONG_KS,
    "others": ("synflow", "naswot"),
    "eval_examples": 5000,
    "resamples": 1000,
    "workers": 2,
    "threads": 1,
}


# For the test: the long preset's path (no teacher, the ceiling, the floor, the real:K curve)
# at toy size, on a two-seed set the test writes into --truth-dir.
PRESETS["smoke-long"] = {
    **PRESETS["long"],
    "truth": "{dataset}-smoke-seeded.json",
    "blueprint": "tiny",
    "ks": (2, 4),
    "others": ("synflow",),
    "eval_examples": 200,
    "resamples": 50,
    "workers": 1,
}


# quick with the teacher's learners (and so gtn:K's) at the search size with a 3x3-pooled
# classifier head instead of global average pooling, and 16 inner steps of 64: the setting that
# unblocked meta-training on NB-201 cells in `python -m benchmarks.probes --set nb201` (20
# meta-iterations: 53% validation accuracy against 24% for quick's teacher). Its other
# proxies reuse quick's scores.
PRESETS["quick-head3"] = merge_values(
    PRESETS["quick"],
    {"teacher": {"blueprint": HEAD3, "teacher_options": {"batch_size": 64}}},
)


@dataclasses.dataclass(frozen=True)
class BenchmarkRun:
    preset: str
    seed: int
    work: Path  # RUNS: per data set one score cache shared by the presets, their teachers
    # (teacher-<preset>) and plots (<preset>/)
    out: Path  # results folder
    teacher_run: str | None = None  # reuse this teacher for every data set (else trained)


def load_preset_truth(preset: dict[str, Any], dataset: str, folder: Path = TRUTH) -> Any:
    """The preset's truth set for ``dataset`` in ``folder`` (its first ``architectures``), or
    None if the set is not shipped yet."""
    from gtnas.analysis.truthset import load_truth

    name = preset["truth"]
    name = name.get(dataset, "") if isinstance(name, dict) else name.format(dataset=dataset)
    path = folder / name
    if not name or not path.is_file():
        return None
    truth = load_truth(path)
    count = preset["architectures"]
    if count is not None and count < len(truth):
        truth = dataclasses.replace(
            truth, records=truth.records[:count], name=f"{truth.name}-first{count}"
        )
    return truth


def common_fields(run: BenchmarkRun, kind: str, truth: Any) -> dict[str, Any]:
    from benchmarks.machine import describe_machine

    return {
        "preset": run.preset,
        "kind": kind,
        "dataset": truth.dataset,
        "space": truth.space,
        "truth": truth.name,
        "truth_complete": truth.complete,  # False: measured on a build still under way
        "truth_architectures": len(truth),
        "seed": run.seed,
        "machine": describe_machine(),
    }


# -- stage 1: the teacher ---------------------------------------------------------------------
def train_teacher(run: BenchmarkRun, truth: Any) -> str:
    """Meta-train (or resume) the preset's teacher on architectures sampled from the truth
    set's space at the proxy blueprint; returns its run folder."""
    from gtnas.config import config_from_dict, config_to_dict, merge_values
    from gtnas.meta.run import TeachRunConfig, run_meta_training

    preset = PRESETS[run.preset]
    values = merge_values(
        config_to_dict(TeachRunConfig()),
        {
            "dataset": truth.dataset,
            "learner": truth.space,
            "space_options": dict(truth.space_options),
            "seed": run.seed,
            "device": "cpu",
            **preset["teacher"],
        },
    )
    config = config_from_dict(TeachRunConfig, values)
    run_dir = run.work / truth.dataset / f"teacher-{run.preset}"
    if not (run_dir / "teacher.json").is_file():
        print(f"[rankcorr bench] meta-training the {truth.dataset} teacher ...", flush=True)
        resume = (run_dir / "config.json").is_file()
        run_meta_training(config, run_dir, resume=resume, show_progress=False)
    return str(run_dir)


def teacher_record(run: BenchmarkRun, truth: Any, run_dir: str) -> dict[str, Any]:
    from gtnas.analysis.rankcorr import teacher_calibration
    from gtnas.analysis.speedup import calibration_seconds
    from gtnas.config import config_to_dict
    from gtnas.meta.run import load_run_config
    from gtnas.runtime.metrics import MetricsLog

    config = load_run_config(Path(run_dir))
    history = MetricsLog(Path(run_dir) / "metrics.jsonl").read()
    calibration = teacher_calibration(truth, run_dir)
    validated = [h["val_acc"] for h in history if h.get("val_acc") is not None]
    seconds = history[-1]["elapsed"] if history else None
    return {
        **common_fields(run, "teacher", truth),
        "run": _shown(run_dir),
        "reused": run.teacher_run is not None,
        "learner": config.learner,
        "blueprint": config.blueprint,
        "inner_steps": config.teacher_options.inner_steps,
        "batch_size": config.teacher_options.batch_size,
        "meta_iterations": len(history),
        "meta_train_seconds": seconds,
        "val_accuracy": validated[-1] if validated else None,
        # the ranking objective's architectures of this set, and their truth trainings
        "calibration_architectures": len(calibration),
        "calibration_seconds": calibration_seconds(Path(run_dir), truth),
        "config": config_to_dict(config),
    }


def _shown(path: str) -> str:
    """A path as the results show it: relative to the repository when inside it."""
    resolved = Path(path).resolve()
    return str(resolved.relative_to(ROOT)) if resolved.is_relative_to(ROOT) else str(resolved)


# -- stages 2 and 3: scores, correlations, speed-up -------------------------------------------
def gtn_of(run: BenchmarkRun, teacher_dir: str | None) -> str | None:
    """The preset's gtn:K; for a preset without a teacher of its own (``long``) given
    ``--teacher``, that teacher's own curriculum, ``gtn:T``."""
    from gtnas.meta.run import load_run_config

    preset = PRESETS[run.preset]
    if preset["gtn"] is not None or teacher_dir is None:
        return preset["gtn"]
    return f"gtn:{load_run_config(Path(teacher_dir)).teacher_options.inner_steps}"


def measure(run: BenchmarkRun, truth: Any, teacher_dir: str | None) -> tuple[Any, list[str]]:
    """Score the set with every proxy of the preset; the speed-up analysis when there is a
    gtn:K (else a :class:`Correlations` of the same fields, without one), and the architectures
    left out of the judging: those a calibrated teacher's ranking objective was fitted on
    (every proxy is judged on the same rest)."""
    from gtnas.analysis.ceiling import with_floor
    from gtnas.analysis.rankcorr import (
        ScoringOptions,
        score_truth_set,
        teacher_calibration,
        without_architectures,
    )
    from gtnas.analysis.speedup import analyse_speedup, speedup_proxies, teacher_cost_seconds

    preset = PRESETS[run.preset]
    gtn = gtn_of(run, teacher_dir)
    if gtn is not None:
        extras = preset["others"]
        if preset["gtn"] is None:  # a given teacher beside the yardstick: its rank averages
            # with the floor and with synflow (free once their parts are scored)
            extras = (*extras, f"rankavg:{gtn}+params", f"rankavg:{gtn}+synflow")
        real, others, asked = speedup_proxies(preset["ks"], gtn, extras)
    else:
        real = [f"real:{k}" for k in sorted(preset["ks"])]
        others = with_floor(preset["others"])
        asked = [*real, *others]
    options = ScoringOptions(
        blueprint=preset["blueprint"],
        teacher=teacher_dir,
        seed=run.seed,
        workers=preset["workers"],
        threads=preset["threads"],
        eval_examples=preset["eval_examples"],
        archive=str(run.out / SCORES),  # the studies live on one machine; these in the repo
    )

    hooks = progress_hooks(f"[rankcorr bench] {truth.dataset}")
    scores = score_truth_set(truth, asked, run.work / truth.dataset, options, hooks=hooks)
    left_out = teacher_calibration(truth, teacher_dir)
    judged, scores = without_architectures(truth, scores, left_out)
    if gtn is None:
        analysis = correlations_only(judged, scores, resamples=preset["resamples"], seed=run.seed)
        return analysis, []
    analysis = analyse_speedup(
        judged,
        scores,
        real=real,
        gtn=gtn,
        others=others,
        resamples=preset["resamples"],
        seed=run.seed,
        # its meta-training and its calibration architectures' truth trainings
        meta_seconds=teacher_cost_seconds(Path(teacher_dir), truth),  # type: ignore[arg-type]
    )
    return analysis, sorted(left_out)


@dataclasses.dataclass
class Correlations:
    """What :func:`gtnas.analysis.speedup.analyse_speedup` gives, for presets without gtn:K."""

    truth: Any
    scores: dict[str, Any]
    correlations: dict[str, Any]
    ceiling: Any


def correlations_only(truth: Any, scores: dict[str, Any], *, resamples: int, seed: int) -> Any:
    from gtnas.analysis.ceiling import noise_ceiling
    from gtnas.analysis.rankcorr import correlate

    values = truth.accuracies("test")
    correlations = {
        p: correlate(s, values, truth_metric="test", resamples=resamples, seed=seed)
        for p, s in scores.items()
    }
    ceiling = noise_ceiling(truth, resamples=resamples, seed=seed)
    return Correlations(truth, scores, correlations, ceiling)


def ceiling_record(run: BenchmarkRun, analysis: Any) -> dict[str, Any] | None:
    """The set's seed-vs-seed agreement (None for a one-seed set)."""
    if analysis.ceiling is None:
        return None
    return {**common_fields(run, "ceiling", analysis.truth), **analysis.ceiling.to_json()}


def proxy_records(run: BenchmarkRun, analysis: Any) -> list[dict[str, Any]]:
    from gtnas.analysis.ceiling import beats_floor, floor_of, fraction_of_ceiling
    from gtnas.analysis.simulate import setup_seconds

    floor = floor_of(analysis.correlations.values())
    records = []
    for proxy, c in analysis.correlations.items():
        r = c.correlation
        records.append(
            {
                **common_fields(run, "proxy", analysis.truth),
                "proxy": proxy,
                "truth_metric": c.truth_metric,
                "n_architectures": r.n,
                "missing": c.missing,
                "n_top50": r.n_top,
                "spearman_all": r.spearman_all,
                "spearman_top50": r.spearman_top,
                "kendall_all": r.kendall_all,
                "kendall_top50": r.kendall_top,
                "ci95_all": list(r.ci95_all),
                "ci95_top50": list(r.ci95_top),
                "kendall_ci95_all": list(c.kendall_ci95_all),
                "seconds_per_eval": c.seconds,
                "steps": c.steps,
                "real_lr": analysis.scores[proxy].info.get("real_lr"),
                "study": analysis.scores[proxy].study,
                "of_ceiling": fraction_of_ceiling(c, analysis.ceiling),
                "beats_floor": beats_floor(c, floor),
                # every judged architecture's name, score and seconds, aligned: what
                # benchmarks.simulate replays (matched to a later file by name, whose order
                # may change)
                "genotypes": analysis.truth.genotypes(),
                "scores": ["-inf" if v == -math.inf else v for v in analysis.scores[proxy].scores],
                "costs": analysis.scores[proxy].costs,
                "setup_seconds": setup_seconds(
                    proxy,
                    {p: s.info for p, s in analysis.scores.items()},
                    getattr(getattr(analysis, "speedup", None), "meta_seconds", None),
                ),
            }
        )
    return records


def speedup_record(run: BenchmarkRun, analysis: Any) -> dict[str, Any]:
    """The speed-up of gtn:K, and the issue's targets checked against it."""
    gtn = analysis.correlations[analysis.gtn].correlation.spearman_top
    zero_cost = {
        p: c.correlation.spearman_top
        for p, c in analysis.correlations.items()
        if c.steps is None and not p.startswith("rankavg:")
    }
    return {
        **common_fields(run, "speedup", analysis.truth),
        "proxy": analysis.gtn,
        **analysis.speedup.to_json(),
        "targets": {
            "spearman_top50_at_least_paper": _at_least(gtn, PAPER_SPEARMAN_TOP50),
            "spearman_top50_above_every_zero_cost": all(
                _at_least(gtn, v, strict=True) for v in zero_cost.values()
            ),
            "speedup_steps_at_least_9x": analysis.speedup.steps_factor >= 9,
        },
    }


def _at_least(value: float, bound: float, strict: bool = False) -> bool:
    if math.isnan(value):
        return False
    if math.isnan(bound):
        return True
    return value > bound if strict else value >= bound


def write_plots(run: BenchmarkRun, analysis: Any) -> list[str]:
    """The speed-up plot and the gtn scatter into ``out/rankcorr/``; their paths."""
    from gtnas.analysis.rankcorr import paired, safe_name
    from gtnas.reports.proxy_plots import plot_rank_scatter, write_speedup

    folder = run.out / "rankcorr"
    _, speedup_plot = write_speedup(analysis, run.work / analysis.truth.dataset / run.preset)
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{run.preset}-{analysis.truth.dataset}"
    plots = [folder / f"{stem}-speedup.png"]
    shutil.copyfile(speedup_plot, plots[0])
    gtn = analysis.gtn
    scores = analysis.scores[gtn].scores
    x, y = paired(analysis.scores[gtn], analysis.truth.accuracies(analysis.truth_metric))
    scored = [v for v in scores if v is not None and not math.isnan(v)]
    plots.append(folder / f"{stem}-scatter-{safe_name(gtn)}.png")
    plot_rank_scatter(
        x,
        y,
        plots[-1],
        correlation=analysis.correlations[gtn],
        truth_label=f"{analysis.truth_metric} accuracy",
        no_signal=[v == -math.inf for v in scored],
    )
    return [str(p.relative_to(run.out)) for p in plots]


def write_curve_plot(run: BenchmarkRun, analysis: Any) -> str:
    """real:K's Spearman (all and top 50%) against K, with the set's noise ceiling and the
    free floor as lines, into ``out/rankcorr/``; its path."""
    from gtnas.analysis.ceiling import floor_of
    from gtnas.reports.proxy_plots import plot_correlation_curves

    curves: dict[str, list[tuple[int, float]]] = {}
    for proxy, c in analysis.correlations.items():
        if proxy.startswith("real:") and "x" not in proxy:
            for measure, label in (("spearman_all", "all"), ("spearman_top", "top 50%")):
                curves.setdefault(f"real:K, {label}", []).append((c.steps, c.measure(measure)))
    floor = floor_of(analysis.correlations.values())
    lines = {}
    if analysis.ceiling is not None:
        lines["noise ceiling, all"] = analysis.ceiling.measure("spearman_all")
        lines["noise ceiling, top 50%"] = analysis.ceiling.measure("spearman_top")
    if floor:
        lines["floor (params, flops), all"] = floor["spearman_all"]
        lines["floor (params, flops), top 50%"] = floor["spearman_top"]
    folder = run.out / "rankcorr"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{run.preset}-{analysis.truth.dataset}-real-curve.png"
    plot_correlation_curves(
        path, curves, lines,
        title=f"{analysis.truth.name}: real:K against the truth (seed {run.seed})",
    )  # fmt: skip
    return str(path.relative_to(run.out))


# -- results ----------------------------------------------------------------------------------
def record_key(record: dict[str, Any]) -> tuple[Any, ...]:
    return (
        record["preset"], record["kind"], record["dataset"], record.get("truth"),
        record.get("proxy"),
    )  # fmt: skip


def write_results(records: list[dict[str, Any]], folder: Path) -> None:
    """Merge ``records`` into ``folder``/rankcorr.json (same key: replaced); redraw the table."""
    write_records(folder, "rankcorr", records, record_key, render_table)


def render_table(records: list[dict[str, Any]]) -> str:
    from gtnas.analysis.ceiling import for_the_mean

    def num(x: float | None, digits: int = 3) -> str:
        return "-" if x is None else f"{x:.{digits}f}"

    def ci(pair: list[float | None] | None) -> str:
        return "-" if not pair or None in pair else f"[{pair[0]:.2f}, {pair[1]:.2f}]"

    def of(kind: str) -> list[dict[str, Any]]:
        return [r for r in records if r["kind"] == kind]

    lines = [
        "# Rank-correlation benchmark",
        "",
        "Proxies against the shipped truth sets (test accuracy: the mean of a set's seeds); top",
        "50% = the proxy's best half, the paper's measure (gtn:128 on CIFAR-10: 0.5582).",
        "",
        "## Teachers (behind gtn:K)",
        "",
        "| preset | data set | space | blueprint | T | B | meta-iters | meta-train s | val acc % |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in of("teacher"):
        val = "-" if r["val_accuracy"] is None else f"{100 * r['val_accuracy']:.1f}"
        lines.append(
            f"| {r['preset']} | {r['dataset']} | {r['space']} | {r['blueprint']} | "
            f"{r['inner_steps']} | {r['batch_size']} | {r['meta_iterations']} | "
            f"{num(r['meta_train_seconds'], 0)} | {val} |"
        )
    lines += ["", "## Proxies", ""]
    lines += [
        "Per truth set: its noise ceiling (the first seed's accuracies ranking the second's), then",
        "every proxy against the mean of its seeds. `≤floor`: not above the best of params and",
        "flops (free) on that measure; `of ceiling`: the proxy's figure over the ceiling for",
        "the seeds' mean (a perfect proxy's expected figure, from the seed-vs-seed agreement:",
        "`gtnas.analysis.ceiling.for_the_mean`).",
    ]
    truths = list(dict.fromkeys(r.get("truth", "?") for r in of("proxy")))
    for truth in truths:
        rows = [r for r in of("proxy") if r.get("truth", "?") == truth]
        ceilings = [r for r in of("ceiling") if r.get("truth") == truth]
        first = rows[0]
        state = "" if first.get("truth_complete", True) else ", a build under way"
        lines += ["", f"### {truth} ({first['dataset']}, {first['n_architectures']} "
                      f"architectures scored{state})", ""]  # fmt: skip
        limit: dict[str, float | None] = {}
        if ceilings:
            c = ceilings[-1]
            limit = {m: for_the_mean(c[m], m) for m in ("spearman_top", "spearman_all")}
            lines.append(
                f"Noise ceiling (seed {c['seeds'][0]} vs seed {c['seeds'][1]}, {c['n']} "
                f"architectures): Spearman top 50% {num(c['spearman_top'])} "
                f"{ci(c['spearman_top_ci95'])}, all {num(c['spearman_all'])} "
                f"{ci(c['spearman_all_ci95'])}; Kendall top 50% {num(c['kendall_top'])}, all "
                f"{num(c['kendall_all'])}. Its ceiling for the mean of the seeds (what proxies "
                f"are judged against): Spearman top 50% {num(limit['spearman_top'])}, all "
                f"{num(limit['spearman_all'])}."
            )
        else:
            lines.append("No noise ceiling: one training seed per architecture.")
        lines += [
            "",
            "| preset | proxy | n | Spearman top 50% [95% CI] | of ceiling | "
            "Spearman all [95% CI] | of ceiling | Kendall all | s/eval | real lr |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in rows:
            beats = r.get("beats_floor") or {}
            # over the ceiling for the seed mean (records written before it carry fractions of
            # the seed-vs-seed figure)
            fraction = {
                m: None if limit.get(m) is None else r[value] / limit[m]  # type: ignore[operator]
                for m, value in (
                    ("spearman_top", "spearman_top50"),
                    ("spearman_all", "spearman_all"),
                )
            }
            free = r["proxy"] in ("params", "flops")

            def mark(measure: str, beats: dict = beats, free: bool = free) -> str:
                return " ≤floor" if not free and beats.get(measure) is False else ""

            lines.append(
                f"| {r['preset']} | {r['proxy']} | {r['n_architectures']} | "
                f"{num(r['spearman_top50'])} {ci(r['ci95_top50'])}{mark('spearman_top')} | "
                f"{num(fraction.get('spearman_top'), 2)} | "
                f"{num(r['spearman_all'])} {ci(r['ci95_all'])}{mark('spearman_all')} | "
                f"{num(fraction.get('spearman_all'), 2)} | {num(r['kendall_all'])} | "
                f"{num(r['seconds_per_eval'], 2)} | {r['real_lr'] or '-'} |"
            )
    lines += [
        "",
        "## Speed-up of gtn:K over real:K (Spearman top 50%)",
        "",
        "Every proxy here is scored with one seed (one learner initialisation and data order per "
        "architecture), so a row rests on one draw of gtn:K and of each real:K: on the long "
        "sets the spread over scoring seeds is larger than most gaps between rows "
        "(`teacher_ranking.md` gives means over five).",
        "",
        "| preset | data set | proxy | its correlation | real steps to match | speed-up steps | "
        "speed-up seconds | with meta-training amortised | targets met |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in of("speedup"):
        bound = "" if r["bound"] == "interpolated" else f" ({r['bound']})"
        met = ", ".join(k for k, v in r["targets"].items() if v) or "none"
        lines.append(
            f"| {r['preset']} | {r['dataset']} | {r['proxy']} | {num(r['gtn_correlation'])} | "
            f"{num(r['real_steps_at_match'], 0)}{bound} | {num(r['speedup_steps'], 2)}x | "
            f"{num(r['speedup_seconds'], 2)}x | {num(r['speedup_seconds_amortised'], 2)}x | "
            f"{met} |"
        )
    lines += ["", machine_line(records), ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    import torch

    parser = argument_parser(__doc__)
    parser.add_argument("--preset", choices=sorted(PRESETS), default="quick")
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--teacher", help="reuse this finished teacher run instead of training "
                        "one; with --preset long, score its gtn:T beside the yardstick (a "
                        "calibrated teacher's architectures left out of every proxy's "
                        "judging)")  # fmt: skip
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder of rankcorr.json/.md")
    parser.add_argument("--runs", type=Path, default=RUNS, help="work folder (studies, teacher)")
    parser.add_argument("--truth-dir", type=Path, default=TRUTH, help="folder of the truth sets")
    args = parser.parse_args(argv)
    datasets = [d for d in args.datasets.split(",") if d]
    unknown = sorted(set(datasets) - set(DATASETS))
    if unknown:
        parser.error(f"unknown data sets {unknown}; choose from {', '.join(DATASETS)}")
    teacher_run = Path(args.teacher).resolve() if args.teacher else None
    if teacher_run is not None and not (teacher_run / "teacher.json").is_file():
        parser.error(f"--teacher {args.teacher} is not a finished teacher run (no teacher.json)")
    run = BenchmarkRun(
        preset=args.preset,
        seed=args.seed,
        work=args.runs.resolve(),
        out=args.out,
        teacher_run=None if teacher_run is None else str(teacher_run),
    )
    torch.set_num_threads(PRESETS[args.preset]["threads"])
    records: list[dict[str, Any]] = []
    for dataset in datasets:
        truth = load_preset_truth(PRESETS[args.preset], dataset, args.truth_dir)
        if truth is None:
            print(f"[rankcorr bench] no shipped truth set for {dataset}; skipped", flush=True)
            continue
        start = time.time()
        teacher_dir = run.teacher_run
        if PRESETS[args.preset]["teacher"] is not None and teacher_dir is None:
            teacher_dir = train_teacher(run, truth)
        if teacher_dir is not None:
            records.append(teacher_record(run, truth, teacher_dir))
        analysis, left_out = measure(run, truth, teacher_dir)
        judged = {"left_out": left_out}  # the calibration architectures, never judged on
        ceiling = ceiling_record(run, analysis)
        records += [{**ceiling, **judged}] if ceiling is not None else []
        records += [{**r, **judged} for r in proxy_records(run, analysis)]
        curve = write_curve_plot(run, analysis)
        if teacher_dir is not None:
            plots = [*write_plots(run, analysis), curve]
            records.append({**speedup_record(run, analysis), **judged, "plots": plots})
        write_results(records, args.out)  # after every data set: a long run loses nothing
        print(f"[rankcorr bench] {dataset} in {time.time() - start:.0f} s", flush=True)
    if records:
        print(render_table(records))


if __name__ == "__main__":
    main()
