"""Teacher recipes built for ranking, judged on the long-horizon yardstick (issue "A teacher that
ranks").

    python -m benchmarks.teacher_ranking --preset cpu [--variants fixed-step,fixed-step-rank]
        [--datasets fashion-mnist] [--truth-dir truth] [--out DIR] [--runs DIR]

The recipes are data: ``benchmarks/configs/teacher_ranking.json`` holds the presets (data sets,
a base TeachRunConfig, the baselines, scoring settings) and the variants (each a change to the
base, the levers of the issue: a learned or fixed inner step, the ranking-aware meta-objective,
...). For each data set of the preset (its ``truth``: a long-horizon, two-seed set under
``--truth-dir``; a set still being built is used as far as it goes, and its records say so):
(``--train-only`` does step 1 alone, so that teachers can be trained side by side, one command
per core, before one run scores them all)

1. every asked variant is meta-trained (resumably: a re-run continues a killed teacher from its
   checkpoint and trains a finished one no further) on NB-201 cells at the set's blueprint; a
   variant with ``"calibration": true`` meta-trains on the set's first C architectures (the
   preset's ``calibration``) with their validation accuracies (never the test split);
2. its ``gtn:T`` (K = T, the teacher's own curriculum) scores every architecture of the set, and
   so do the baselines in the same run: ``real:T`` (its learning rate tuned on the validation
   split), the zero-cost proxies and the free floor (params, flops);
3. combinations: each GTN proxy's equal-weight rank average (``rankavg``) with params, with
   synflow and with both (and params with synflow alone, the control), and weighted rank
   averages fitted on the first C architectures' validation accuracy
   (:func:`gtnas.analysis.combination.fit_rank_weights`) of each GTN proxy with params,
   synflow and naswot, and of those three alone (what a free combination does without GTN);
4. every proxy is judged on the same evaluation architectures: the set less its first C, for
   every variant and baseline alike (so that a calibrated teacher is never judged on what it
   was fitted on, and the others on the same set), against the seed-mean test accuracy (the
   report), or with ``--truth-metric val`` the validation accuracy (what a recipe or default
   is chosen by: ``teacher_ranking-val.json/.md``), with the set's noise ceiling on those
   architectures beside.

Teachers are kept under ``--runs``; scores are cached in studies (one per proxy, seed and
teacher) under ``--scores``, by default the rankcorr benchmark's store, so that the two score
a baseline (real:K, zero-cost, params, flops) once, and a re-run on a grown set scores only the
new architectures; every score is also kept as JSON under ``--out``'s ``scores/`` (committed: a
fresh machine reads them instead of scoring again; a teacher's scores only while its weights
are the same: a finished teacher is copied to ``--out``'s ``teachers/``, committed). Writes
``teacher_ranking.json`` (one ``teacher`` record per variant, one ``proxy`` record per proxy,
one ``ceiling`` record per data set) and a table, ``teacher_ranking.md``. Seeded; the machine
is described in every record.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.machine import describe_machine
from benchmarks.rankcorr import RUNS as RANKCORR_RUNS
from benchmarks.rankcorr import SCORES, TRUTH
from benchmarks.results import argument_parser, machine_line, progress_hooks, write_records
from gtnas.analysis.ceiling import (
    FLOOR_PROXIES,
    beats_floor,
    floor_of,
    for_the_mean,
    fraction_of_ceiling,
    noise_ceiling,
    with_floor,
)
from gtnas.analysis.combination import fit_rank_weights
from gtnas.analysis.rankcorr import (
    ProxyScores,
    ScoringOptions,
    combine_columns,
    correlate,
    score_truth_set,
)
from gtnas.analysis.rankcorr import without_architectures as drop_architectures
from gtnas.analysis.speedup import CurvePoint, calibration_seconds, compute_speedup
from gtnas.analysis.truthset import TruthSet, calibration_accuracies, load_truth
from gtnas.config import config_from_dict, config_to_dict, merge_values
from gtnas.meta.run import TeachRunConfig, run_meta_training
from gtnas.meta.run_assessment import EVAL_FILE
from gtnas.ranks import rank_average
from gtnas.runtime.files import atomic_write_bytes
from gtnas.runtime.metrics import MetricsLog
from gtnas.runtime.run_folder import CONFIG_FILE, METRICS_FILE
from gtnas.teachers.store import META, TENSORS

CONFIG = Path(__file__).parent / "configs" / "teacher_ranking.json"
VARIANT_OF = re.compile(r"^gtn:\d+ \(([^)]+)\)$")  # "gtn:32 (fixed-step)" -> its variant
VARIANT_IN = re.compile(r"gtn:\d+ \(([^)]+)\)")  # the teacher a combination's gtn part uses
RESULTS = Path(__file__).parent / "results"
TEACHERS = "teachers"  # under --out
AMORTISED_OVER = 1000  # evaluations a teacher's cost is shared out over (the figure)
RUNS = Path(__file__).parent / "runs" / "teacher_ranking"
# A finished teacher's files, kept under --out's teachers/ (committed, about 4 MB each: the
# run folders live on one machine, and the score archives name a teacher by its weights'
# digest); the teacher's json last, so that a copy cut short is no finished teacher.
KEPT = (CONFIG_FILE, METRICS_FILE, TENSORS, EVAL_FILE, META)


def load_recipes(path: Path = CONFIG) -> dict[str, Any]:
    return json.loads(path.read_text())


def teacher_config(
    recipes: dict[str, Any],
    preset: str,
    variant: str,
    truth: TruthSet,
    seed: int,
    device: str = "cpu",
) -> TeachRunConfig:
    """The variant's TeachRunConfig on ``truth``: the preset's base, the variant's changes, the
    set's data and space, and its calibration architectures when the variant asks for them;
    meta-trained on ``device``."""
    spec = recipes["variants"][variant]
    values = merge_values(config_to_dict(TeachRunConfig()), recipes["presets"][preset]["base"])
    values = merge_values(values, spec.get("config", {}))
    values.update(dataset=truth.dataset, learner=truth.space, seed=seed, device=device,
                  space_options=dict(truth.space_options))  # fmt: skip
    if spec.get("calibration"):
        values["calibration"] = calibration_of(truth, recipes["presets"][preset]["calibration"])
    return config_from_dict(TeachRunConfig, values)


def calibration_of(truth: TruthSet, count: int) -> dict[str, float]:
    """The set's first ``count`` architectures with their validation accuracy (seed mean)."""
    if len(truth) < count + 3:
        raise SystemExit(
            f"[teacher_ranking] {truth.name} has {len(truth)} architectures: too few to "
            f"calibrate on {count} and judge on the rest (let its build run on)"
        )
    return calibration_accuracies(truth, count)


def teacher_folder(variant: str, seed: int) -> str:
    """A teacher's run folder under the preset's data set: one per variant and seed."""
    return f"teacher-{variant}" + ("" if seed == 0 else f"-s{seed}")


def train_teacher(config: TeachRunConfig, run_dir: Path, kept: Path | None = None) -> Path:
    """Meta-train ``config`` into ``run_dir``, continuing it from its checkpoint if it exists
    (a finished teacher is left as it is). ``kept``: a folder holding the finished teacher's
    files (committed, see :data:`KEPT`): a run folder without the teacher takes them from it
    instead of training, and a teacher trained here is copied there."""
    if kept is not None and not (run_dir / META).is_file() and (kept / META).is_file():
        print(f"[teacher_ranking] {run_dir.name}: the finished teacher in {kept}", flush=True)
        _copy_files(kept, run_dir)
    if not (run_dir / META).is_file():
        print(f"[teacher_ranking] meta-training {run_dir.name} ...", flush=True)
        resume = (run_dir / CONFIG_FILE).is_file()
        run_meta_training(config, run_dir, resume=resume, show_progress=False)
    if kept is not None and not (kept / META).is_file():
        _copy_files(run_dir, kept)
    return run_dir


def _copy_files(source: Path, target: Path) -> None:
    """Copy a finished teacher's :data:`KEPT` files in that order (a copy cut short lacks
    teacher.json, so it is no finished teacher and is copied or trained again)."""
    target.mkdir(parents=True, exist_ok=True)
    for name in KEPT:
        if (source / name).is_file():
            atomic_write_bytes(target / name, (source / name).read_bytes())


def teacher_record(run_dir: Path, config: TeachRunConfig, truth: TruthSet) -> dict[str, Any]:
    history = MetricsLog(run_dir / "metrics.jsonl").read()
    steps = [h for h in history if h.get("iteration", 0) >= 1]
    validated = [h["val_acc"] for h in history if h.get("val_acc") is not None]
    calibrated = set(config.calibration)
    return {
        "run": str(run_dir),
        "meta_iterations": len(steps),
        "meta_train_seconds": history[-1].get("elapsed") if history else None,
        "val_accuracy": validated[-1] if validated else None,
        "rank_tau_last10": _mean(
            [h["rank_tau"] for h in steps[-10:] if h.get("rank_tau") is not None]
        ),
        "calibration_architectures": len(calibrated),
        # what the calibration set cost to learn: its truth trainings (every seed)
        "calibration_seconds": calibration_seconds(run_dir, truth),
        "config": config_to_dict(config),
    }


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def proxy_fields(correlation: Any, ceiling: Any, floor: dict[str, float]) -> dict[str, Any]:
    return {
        **correlation.to_json(),
        "of_ceiling": fraction_of_ceiling(correlation, ceiling),
        "beats_floor": beats_floor(correlation, floor),
    }


def measure_dataset(
    recipes: dict[str, Any], preset: str, variants: list[str], truth: TruthSet, args: Any
) -> list[dict[str, Any]]:
    settings = recipes["presets"][preset]
    count = settings["calibration"]
    calibration_of(truth, count)  # enough architectures, or a clear stop before any training
    work = args.runs / preset / truth.dataset  # the teachers' folders: see main's --train-only
    kept = args.out / TEACHERS / preset / truth.dataset  # their finished files, committed
    store = args.scores / truth.dataset  # the score cache, the rankcorr benchmark's too
    options = ScoringOptions(seed=args.seed, workers=settings["workers"],
                             threads=settings["threads"],
                             eval_examples=settings["eval_examples"],
                             archive=str(args.out / SCORES))  # fmt: skip
    teachers: dict[str, dict[str, Any]] = {}
    proxies: dict[str, tuple[str, Path]] = {}  # "gtn:32 (variant)" -> (gtn:32, its teacher)
    for variant in variants:
        config = teacher_config(recipes, preset, variant, truth, args.seed, args.device)
        folder = teacher_folder(variant, args.seed)
        run_dir = train_teacher(config, work / folder, kept / folder)
        teachers[variant] = teacher_record(run_dir, config, truth)
        proxies[f"gtn:{config.teacher_options.inner_steps} ({variant})"] = (
            f"gtn:{config.teacher_options.inner_steps}",
            run_dir,
        )
    # Every proxy is scored once per scoring seed (the learners' initialisation and data
    # order; the teachers stay those of --seed): its correlation is given as the mean and
    # spread over the seeds, with the first seed's bootstrap interval over architectures.
    seeds = [args.seed + i for i in range(args.score_seeds or settings.get("score_seeds", 1))]
    by_seed = [
        score_one_seed(truth, settings, proxies, store, dataclasses.replace(options, seed=seed))
        for seed in seeds
    ]
    judged = drop_architectures(truth, {}, set(truth.genotypes()[:count]))[0]
    metric = args.truth_metric
    values = judged.accuracies(metric)
    correlations = [
        {name: correlate(s, values, truth_metric=metric, resamples=settings["resamples"],
                         seed=args.seed)
         for name, s in scores.items()}
        for scores, _ in by_seed
    ]  # fmt: skip
    ceiling = noise_ceiling(judged, truth_metric=metric, resamples=settings["resamples"],
                            seed=args.seed)  # fmt: skip
    floor = floor_of(correlations[0].values())  # params and flops: the same for every seed
    common = {"preset": preset, "dataset": truth.dataset, "truth": truth.name,
              "truth_complete": truth.complete, "truth_architectures": len(truth),
              "left_out": count, "seed": args.seed, "score_seeds": seeds,
              "truth_metric": metric, "machine": describe_machine()}  # fmt: skip
    records = []
    if ceiling is not None:
        records.append({**common, "kind": "ceiling", **ceiling.to_json()})
    curve = [name for name in correlations[0] if re.fullmatch(r"real:\d+", name)]
    for name, first in correlations[0].items():
        found = VARIANT_OF.match(name)
        variant = found.group(1) if found else None
        record = {**common, "kind": "proxy", **proxy_fields(first, ceiling, floor),
                  "proxy": name, "variant": variant,
                  **over_seeds([c[name] for c in correlations], ceiling, floor)}  # fmt: skip
        combinations = by_seed[0][1]
        if name in combinations:
            parts, weights = combinations[name]
            record.update(components=parts, weights=weights,
                          weights_by_seed=[c[name][1] for _, c in by_seed])  # fmt: skip
        if variant is not None:
            record["teacher"] = teachers[variant]
            record["speedup"] = speedups(record, correlations, curve)
        elif (uses := VARIANT_IN.search(name)) and uses.group(1) in teachers:
            # a combination with a teacher's gtn proxy: its seconds are its parts', its set-up
            # that teacher's (shown as the speed-up, never as a teacher row)
            record["speedup"] = speedups({**record, "teacher": teachers[uses.group(1)]},
                                         correlations, curve)  # fmt: skip
        records.append(record)
        for repeats in settings.get("average_learners", []):
            if (variant is not None or name in curve) and repeats <= len(seeds):
                averaged = averaged_learners(name, [s for s, _ in by_seed], repeats)
                judged_by = [correlate(a, values, truth_metric=metric,
                                       resamples=settings["resamples"], seed=args.seed)
                             for a in averaged]  # fmt: skip
                records.append({**common, "kind": "proxy", "variant": variant,
                                **proxy_fields(judged_by[0], ceiling, floor),
                                "proxy": f"{name} x{repeats}", "averaged_learners": repeats,
                                **over_seeds(judged_by, ceiling, floor)})  # fmt: skip
    return records


def averaged_learners(
    name: str, by_seed: list[dict[str, ProxyScores]], repeats: int
) -> list[ProxyScores]:
    """``name`` as R learners averaged (what ``gtn:KxR`` scores): the mean score of each
    R-subset of the scoring seeds' learners, one ProxyScores per subset (all C(n, R)), its
    seconds R times one learner's. The subsets share learners, so their spread understates
    that of R fresh learners; their mean is R learners' expected Spearman."""
    subsets = itertools.combinations(range(len(by_seed)), repeats)
    return [
        combine_columns(name, [by_seed[i][name] for i in subset],
                        lambda columns: np.mean(columns, axis=0))
        for subset in subsets
    ]  # fmt: skip


def score_one_seed(
    truth: TruthSet,
    settings: dict[str, Any],
    proxies: dict[str, tuple[str, Path]],
    store: Path,
    options: ScoringOptions,
) -> tuple[dict[str, ProxyScores], dict[str, tuple[list[str], list[float] | None]]]:
    """Every proxy's scores with ``options.seed`` on the evaluation architectures (the set
    less its first C), the combinations included; and the combinations' (parts, weights)."""
    count = settings["calibration"]
    scores: dict[str, Any] = {}
    prefix = f"[teacher_ranking] {truth.dataset}, seed {options.seed}"
    hooks = progress_hooks(prefix, every=10)
    for name, (proxy, run_dir) in proxies.items():
        print(f"{prefix}: scoring {name}", flush=True)
        found = score_truth_set(truth, [proxy], store, dataclasses.replace(options,
                                teacher=str(run_dir)), hooks=hooks)  # fmt: skip
        scores[name] = found[proxy]
    print(f"{prefix}: scoring the baselines", flush=True)
    baselines = with_floor(settings["baselines"])
    scores.update(score_truth_set(truth, baselines, store, options, hooks=hooks))
    combinations = fit_combinations(truth, scores, count, list(proxies))
    _, scores = drop_architectures(truth, scores, set(truth.genotypes()[:count]))
    for name, (parts, weights) in combinations.items():
        scores[name] = combined(name, [scores[p] for p in parts], weights)
    return scores, combinations


def over_seeds(correlations: list[Any], ceiling: Any, floor: dict[str, float]) -> dict[str, Any]:
    """A proxy's Spearman over the scoring seeds: each seed's, their mean and (n - 1) standard
    deviation, the mean as a fraction of the ceiling, and whether the mean beats the floor."""
    out: dict[str, Any] = {}
    for measure in ("spearman_all", "spearman_top"):
        values = [c.measure(measure) for c in correlations]
        mean = float(np.mean(values))
        limit = None if ceiling is None else ceiling.for_mean(measure)
        out[f"{measure}_by_seed"] = values
        out[f"{measure}_mean"] = mean
        out[f"{measure}_sd"] = float(np.std(values, ddof=1)) if len(values) > 1 else None
        out.setdefault("of_ceiling_mean", {})[measure] = None if limit is None else mean / limit
        if measure in floor:
            out.setdefault("beats_floor_mean", {})[measure] = mean > floor[measure]
    seconds = [c.seconds for c in correlations if c.seconds is not None]
    out["seconds_per_evaluation_mean"] = float(np.mean(seconds)) if seconds else None
    return out


def speedups(
    record: dict[str, Any], correlations: list[dict[str, Any]], curve: list[str]
) -> dict[str, Any] | None:
    """Where the real:K curve (every ``real:K`` baseline, means over the seeds) reaches the
    GTN proxy's mean Spearman (all, top half), in steps and seconds per evaluation
    (:func:`gtnas.analysis.speedup.compute_speedup`); the teacher's cost (its meta-training
    and its calibration architectures' truth trainings) shared out over 1,000 evaluations
    beside. None without at least two points on the curve."""
    if len(curve) < 2:
        return None
    teacher = record["teacher"]
    cost = (teacher["meta_train_seconds"] or 0.0) + teacher["calibration_seconds"]

    def point(name: str, measure: str) -> CurvePoint:
        steps = correlations[0][name].steps  # K of real:K, T of a teacher's gtn:T
        assert steps is not None, name
        seconds = [c[name].seconds for c in correlations if c[name].seconds is not None]
        mean = float(np.mean([c[name].measure(measure) for c in correlations]))
        return CurvePoint(steps, float(np.mean(seconds)) if seconds else float("nan"), mean)

    return {
        measure: compute_speedup(
            [point(name, measure) for name in curve], point(record["proxy"], measure),
            measure=measure, meta_seconds=cost, evaluations=AMORTISED_OVER,
        ).to_json()
        for measure in ("spearman_all", "spearman_top")
    }  # fmt: skip


def fit_combinations(
    truth: TruthSet, scores: dict[str, Any], count: int, gtn_names: list[str]
) -> dict[str, tuple[list[str], list[float] | None]]:
    """The combinations judged beside the proxies: {name: (components, weights)}. Each GTN
    proxy's equal-weight rank averages (with params, synflow, both; the free pair alone as the
    control); and weighted rank averages fitted on the calibration
    architectures (the set's first ``count``, their validation accuracy) of each GTN proxy with
    the free and zero-cost proxies, and of those alone. (A calibrated teacher's own scores on
    its calibration architectures are in-sample: its fitted weight may be flattered.)"""
    free = [p for p in ("params", "synflow", "naswot") if p in scores]
    calibration, fitted_on = drop_architectures(truth, scores, set(truth.genotypes()[count:]))
    target = calibration.accuracies("val")
    out: dict[str, tuple[list[str], list[float] | None]] = {}
    for parts in [*([g, *free] for g in gtn_names), free]:
        complete = [i for i in range(len(target))
                    if all(fitted_on[p].scores[i] is not None for p in parts)]  # fmt: skip
        columns = [[fitted_on[p].scores[i] for i in complete] for p in parts]
        weights, _ = fit_rank_weights(columns, [target[i] for i in complete])
        out["fitted:" + "+".join(parts)] = (parts, list(weights))
    # equal-weight rank averages: each GTN proxy with the floor, with synflow (the rankcorr
    # benchmark's default pairing) and with both; and the free pair alone, the control that
    # says whether the GTN proxy adds anything to them
    pairings = [["params"], ["synflow"], ["params", "synflow"]]
    for g in gtn_names:
        for with_ in pairings:
            if all(p in scores for p in with_):
                out["rankavg:" + "+".join([g, *with_])] = ([g, *with_], None)
    if "synflow" in scores:
        out["rankavg:params+synflow"] = (["params", "synflow"], None)
    return out


def combined(name: str, parts: list[Any], weights: list[float] | None) -> ProxyScores:
    """The weighted rank average of ``parts`` over the architectures they all scored."""
    return combine_columns(name, parts, lambda columns: rank_average(columns, weights))


def record_key(record: dict[str, Any]) -> tuple[Any, ...]:
    # --seed is the teachers' seed (and the first scoring seed): each seed's records stand
    return (record["preset"], record["dataset"], record["seed"], record["kind"],
            record.get("proxy"))  # fmt: skip


def render_table(records: list[dict[str, Any]]) -> str:
    def num(value: Any, digits: int = 3) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    def interval(ci: list[float]) -> str:
        return f"[{num(ci[0], 2)}, {num(ci[1], 2)}]"

    def spread(r: dict[str, Any], measure: str) -> str:
        # mean ± sd over the scoring seeds (records before seeds: the one seed's value)
        sd = r.get(f"{measure}_sd")
        return num(r.get(f"{measure}_mean", r[measure])) + ("" if sd is None else f" ± {sd:.3f}")

    metric = records[0].get("truth_metric", "test") if records else "test"
    split = {"test": "test", "val": "validation"}[metric]
    why = ("the split a recipe or default is chosen by; the test split's table, "
           "`teacher_ranking.md`, reports" if metric == "val" else
           "a report; recipes and defaults are chosen on the validation split's table, "
           "`teacher_ranking-val.md` (`--truth-metric val`)")  # fmt: skip
    lines = [f"# Teachers built for ranking ({split} split)", "",
             "`python -m benchmarks.teacher_ranking --preset PRESET` (recipes: "
             "`benchmarks/configs/teacher_ranking.json`). Spearman with the truth set's "
             f"seed-mean {split} accuracy ({why}) on its evaluation architectures (the set "
             "less the first C, which calibrated teachers were fitted on; the same for every "
             "row): the mean ± "
             "standard deviation over the scoring seeds (each proxy's learners initialised "
             "and fed anew; the teachers stay one each), and the first seed's 95% bootstrap "
             "interval over architectures; `*` marks a proxy whose mean does not beat the free "
             "floor (params, flops) on that measure; `of ceiling`: over the ceiling for the "
             "seeds' mean (what a perfect proxy would reach against it, estimated from the "
             "seed-vs-seed agreement: `gtnas.analysis.ceiling.for_the_mean`). `xR` rows: R "
             "learners averaged per architecture (what `gtn:KxR` scores, at R times the "
             "seconds), formed from every R of the scoring seeds' learners.", ""]  # fmt: skip
    for key in dict.fromkeys((r["preset"], r["dataset"], r["seed"]) for r in records):
        rows = [r for r in records if (r["preset"], r["dataset"], r["seed"]) == key]
        # the header names the newest judging (the most architectures); rows left from a run
        # on fewer (a build then under way) say how many they were judged on
        first = max(rows, key=lambda r: r["truth_architectures"])
        state = "complete" if first["truth_complete"] else "a build under way"
        judged = first["truth_architectures"] - first["left_out"]
        seeds = len(first.get("score_seeds", [first["seed"]]))
        lines += [f"## {key[0]}, teachers of seed {key[2]}: {first['truth']} "
                  f"({first['truth_architectures']} "
                  f"architectures, {state}; judged on {judged}"
                  f", the first {first['left_out']} left out; {seeds} scoring seed"
                  f"{'s' if seeds > 1 else ''})", "",
                  "| proxy | Spearman, all | of ceiling | Spearman, top half | of ceiling | "
                  "s / eval | teacher: meta-train s (iterations), val acc |",
                  "|---|---|---|---|---|---|---|"]  # fmt: skip
        ceilings = [r for r in rows if r["kind"] == "ceiling"]
        limit = {m: for_the_mean(ceilings[-1][m], m) if ceilings else None
                 for m in ("spearman_all", "spearman_top")}  # fmt: skip
        for r in rows:
            if r["kind"] == "ceiling":
                lines.append(f"| noise ceiling ({r['proxy']}) | {num(r['spearman_all'])} "
                             f"{interval(r['spearman_all_ci95'])} | - | "
                             f"{num(r['spearman_top'])} {interval(r['spearman_top_ci95'])} | - "
                             "| - | - |")  # fmt: skip
                bounds = {m: [for_the_mean(v, m) for v in r[f"{m}_ci95"]] for m in limit}
                lines.append(f"| ceiling for the mean of 2 seeds | {num(limit['spearman_all'])} "
                             f"{interval(bounds['spearman_all'])} | 1 | "
                             f"{num(limit['spearman_top'])} {interval(bounds['spearman_top'])} "
                             "| 1 | - | - |")  # fmt: skip
                continue
            floor = r["proxy"] in FLOOR_PROXIES
            beats = r.get("beats_floor_mean", r["beats_floor"])
            # over the ceiling for the seed mean, from the mean over scoring seeds (records
            # written before that ceiling carry fractions of the seed-vs-seed one)
            of_ceiling = {m: None if limit[m] is None else r.get(f"{m}_mean", r[m]) / limit[m]
                          for m in limit}  # fmt: skip
            marks = {m: "" if floor or beats.get(m, True) else " *"
                     for m in ("spearman_all", "spearman_top")}  # fmt: skip
            teacher = r.get("teacher")
            about = "-" if teacher is None else (
                f"{num(teacher['meta_train_seconds'], 0)} ({teacher['meta_iterations']}), "
                f"{num(teacher['val_accuracy'], 3)}"
                + (f"; calibrated on {teacher['calibration_architectures']}"
                   if teacher["calibration_architectures"] else "")
                + (f", last-10 rank tau {num(teacher['rank_tau_last10'], 2)}"
                   if teacher["rank_tau_last10"] is not None else "")
            )  # fmt: skip
            shown = r["proxy"]
            own = len(r.get("score_seeds", [r["seed"]]))
            if own != seeds:  # a row left from a run with another number of seeds
                shown += f" ({own} scoring seed{'s' if own > 1 else ''})"
            if r["truth_architectures"] != first["truth_architectures"]:
                judged_here = r["truth_architectures"] - r["left_out"]
                shown += f" (judged on {judged_here} of an earlier {r['truth_architectures']})"
            if r.get("weights"):
                shown += f" (weights {', '.join(f'{w:g}' for w in r['weights'])})"
            seconds = r.get("seconds_per_evaluation_mean", r["seconds_per_evaluation"])
            lines.append(
                f"| {shown} | {spread(r, 'spearman_all')}{marks['spearman_all']} "
                f"{interval(r['spearman_all_ci95'])} | {num(of_ceiling['spearman_all'], 2)} "
                f"| {spread(r, 'spearman_top')}{marks['spearman_top']} "
                f"{interval(r['spearman_top_ci95'])} | {num(of_ceiling['spearman_top'], 2)} "
                f"| {num(seconds, 2)} | {about} |"
            )
        lines += ["", *speedup_lines(rows), ""]
    lines += over_teachers_lines(records)
    lines += [machine_line(records), ""]
    return "\n".join(lines)


def _judging_shape(record: dict[str, Any]) -> tuple[int, int]:
    """(architectures in the set, scoring seeds) a record was judged with."""
    return record["truth_architectures"], len(record.get("score_seeds", [record["seed"]]))


def over_teachers(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each GTN proxy (and its combinations) over its teachers, i.e. the ``--seed`` runs that
    judged the same architectures with as many scoring seeds: per teacher the mean over its
    scoring seeds, then their mean and (n - 1) standard deviation across teachers, the spread
    a user meets who meta-trains one teacher of the recipe. Only proxies with >= 2 teachers."""
    out = []
    for preset, dataset in dict.fromkeys((r["preset"], r["dataset"]) for r in records):
        rows = [r for r in records if (r["preset"], r["dataset"]) == (preset, dataset)
                and r["kind"] == "proxy" and "gtn:" in r["proxy"]]  # fmt: skip
        for proxy in dict.fromkeys(r["proxy"] for r in rows):
            # the newest judging (most architectures, most seeds) of each teacher
            mine = [r for r in rows if r["proxy"] == proxy]
            widest = max(_judging_shape(r) for r in mine)
            same = [r for r in mine if _judging_shape(r) == widest]
            if len(same) < 2:
                continue
            row = {"preset": preset, "dataset": dataset, "proxy": proxy,
                   "teachers": sorted(r["seed"] for r in same),
                   "truth_architectures": widest[0], "score_seeds": widest[1]}  # fmt: skip
            for measure in ("spearman_all", "spearman_top"):
                means = [r.get(f"{measure}_mean", r[measure]) for r in same]
                row[f"{measure}_by_teacher"] = means
                row[f"{measure}_mean"] = float(np.mean(means))
                row[f"{measure}_sd"] = float(np.std(means, ddof=1))
            out.append(row)
    return out


def over_teachers_lines(records: list[dict[str, Any]]) -> list[str]:
    rows = over_teachers(records)
    if not rows:
        return []
    lines = ["## Over teachers", "",
             "Each GTN proxy whose recipe was meta-trained with several seeds (`--seed`), "
             "judged on the same architectures with as many scoring seeds: per teacher the mean "
             "over its scoring seeds; here their mean ± standard deviation across teachers.", "",
             "| preset, data set | proxy | teachers (seeds) | architectures, scoring seeds "
             "| Spearman, all | Spearman, top half |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        cells = []
        for measure in ("spearman_all", "spearman_top"):
            each = ", ".join(f"{v:.3f}" for v in r[f"{measure}_by_teacher"])
            cells.append(f"{r[f'{measure}_mean']:.3f} ± {r[f'{measure}_sd']:.3f} ({each})")
        lines.append(f"| {r['preset']}, {r['dataset']} | {r['proxy']} | "
                     f"{', '.join(map(str, r['teachers']))} | {r['truth_architectures']}, "
                     f"{r['score_seeds']} | {cells[0]} | {cells[1]} |")  # fmt: skip
    return [*lines, ""]


def speedup_lines(rows: list[dict[str, Any]]) -> list[str]:
    """Each GTN proxy against the real:K curve: the seconds real data needs to rank as well."""
    found = [r for r in rows if r.get("speedup")]
    if not found:
        return []
    out = ["Real data against each teacher and its combinations (the real:K rows as a curve "
           "of mean Spearman against seconds, log-interpolated where it crosses the proxy's "
           "mean; "
           f"amortised: the teacher's meta-training and calibration truth shared over "
           f"{AMORTISED_OVER:,} evaluations). The seconds are the score caches', filled at "
           "different times on a shared machine; `proxy_seconds.md` "
           "(`python -m benchmarks.proxy_seconds`) times the proxies together:", ""]  # fmt: skip
    for r in found:
        parts = []
        for measure, label in (("spearman_all", "all"), ("spearman_top", "top half")):
            s = r["speedup"][measure]
            bound = "" if s["bound"] == "interpolated" else f"{s['bound']} "
            parts.append(
                f"{label} {s['gtn_correlation']:.3f}: real:{s['real_steps_at_match']:.0f} "
                f"({bound}{s['real_seconds_at_match']:.1f} s), {bound}"
                f"{s['speedup_seconds']:.2f}x ({s['speedup_seconds_amortised']:.2f}x amortised)"
            )
        out.append(f"- {r['proxy']}, {r['seconds_per_evaluation_mean']:.1f} s: "
                   + "; ".join(parts))  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> None:
    recipes = load_recipes()
    parser = argument_parser(__doc__)
    parser.add_argument("--preset", choices=sorted(recipes["presets"]), default="cpu")
    parser.add_argument("--variants", help="comma-separated (default: all)")
    parser.add_argument("--datasets", help="comma-separated (default: the preset's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--score-seeds", type=int,
                        help="scoring seeds per proxy (--seed, --seed + 1, ...; default: the "
                        "preset's score_seeds); a larger run reuses a smaller one's "
                        "scores")  # fmt: skip
    parser.add_argument("--device", default="cpu",
                        help="where teachers meta-train (cuda: the T = 128 teachers in "
                        "minutes, e.g. with --train-only); proxies always score on the CPU, "
                        "so that their seconds and score caches stay those of this "
                        "machine")  # fmt: skip
    parser.add_argument("--truth-dir", type=Path, default=TRUTH)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--runs", type=Path, default=RUNS, help="the teachers' folder")
    parser.add_argument("--scores", type=Path, default=RANKCORR_RUNS,
                        help="the score caches, one per data set (default: the rankcorr "
                        "benchmark's, so that both score the same real:K, zero-cost and "
                        "floor proxies once)")  # fmt: skip
    parser.add_argument("--truth-metric", choices=("test", "val"), default="test",
                        help="the truth's split proxies are judged against: test (the "
                        "report, teacher_ranking.json/.md) or val (what a recipe or default "
                        "is chosen by, teacher_ranking-val.json/.md)")  # fmt: skip
    parser.add_argument("--train-only", action="store_true",
                        help="meta-train the asked variants and stop (several such commands "
                        "side by side train teachers on several cores; a run without it "
                        "then scores them)")  # fmt: skip
    args = parser.parse_args(argv)
    variants = args.variants.split(",") if args.variants else list(recipes["variants"])
    unknown = sorted(set(variants) - set(recipes["variants"]))
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {sorted(recipes['variants'])}")
    datasets = (
        args.datasets.split(",")
        if args.datasets
        else list(recipes["presets"][args.preset]["truth"])
    )
    truths = recipes["presets"][args.preset]["truth"]
    for dataset in datasets:
        if dataset not in truths:
            parser.error(f"preset {args.preset} has no truth set for {dataset}")
        path = args.truth_dir / truths[dataset]
        if not path.is_file():
            print(f"[teacher_ranking] {dataset}: no truth set at {path}; skipped", flush=True)
            continue
        start = time.time()
        if args.train_only:
            truth = load_truth(path)
            for variant in variants:
                config = teacher_config(recipes, args.preset, variant, truth, args.seed,
                                        args.device)  # fmt: skip
                folder = teacher_folder(variant, args.seed)
                kept = args.out / TEACHERS / args.preset / dataset / folder
                train_teacher(config, args.runs / args.preset / dataset / folder, kept)
            print(f"[teacher_ranking] {dataset}: trained in {time.time() - start:.0f} s")
            continue
        records = measure_dataset(recipes, args.preset, variants, load_truth(path), args)
        name = "teacher_ranking" + ("-val" if args.truth_metric == "val" else "")
        merged = write_records(args.out, name, records, record_key, render_table)
        print(f"[teacher_ranking] {dataset} in {time.time() - start:.0f} s", flush=True)
        print(render_table([r for r in merged if r["dataset"] == dataset]))


if __name__ == "__main__":
    main()
