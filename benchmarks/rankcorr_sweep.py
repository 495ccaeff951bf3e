"""Does a teacher rank architectures better after more meta-iterations? One teacher meta-trained
in stages, its ``gtn:T`` ranking of a truth set measured after each stage.

    python -m benchmarks.rankcorr_sweep --preset quick [--datasets mnist,fashion-mnist]
        [--stages 40,80,120] [--repeats R] [--schedule]

Issue 6 asks what would make ``gtn:K`` rank as well as the paper's (Spearman 0.56 on the top
half), measured rather than guessed; the candidates it names are a teacher trained on sampled
architectures (every teacher here is), the curriculum length (measured in the README) and more
meta-iterations, which this measures. For each data set with a shipped truth set:

1. the preset's teacher (``quick``: ``configs/nb201-teacher.json``, NB-201 cells sampled at
   the ``search-head3`` blueprint, T = 32 steps of 64) is meta-trained to the first stage's
   iteration count, then trained further to each next one from its checkpoint (the cosine
   meta-lr schedule stretched over the new total, as ``gtnas teach train --resume`` with more
   iterations does); after each stage the teacher is copied to ``teacher-<preset>-it<N>/``;
2. each snapshot's ``gtn:T`` (K = T: the teacher's own curriculum, never replayed) scores every
   architecture of the set, and so do two controls at the same blueprint: ``real:T`` (its
   learning rate tuned on the validation split) and synflow;
3. Spearman and Kendall with the set's test accuracy over all architectures and over the
   proxy's top 50%, 95% bootstrap intervals.

``--repeats R`` scores with ``gtn:TxR`` and ``real:TxR`` instead (the mean accuracy of R fresh
learners per architecture: one K-step learner is a noisy measurement); they are records of
their own, next to the single-learner ones.

``--schedule`` also scores each snapshot's ``gtn-schedule:T`` (real batches trained with that
snapshot's learned learning rates and momenta; ``schedule`` records): whether a teacher ranks
badly because of its synthetic images or because of its schedule.

Everything is resumable: snapshots are kept, scores are cached in studies under ``--runs``
(one per proxy and teacher snapshot), so a re-run trains and scores nothing twice.

Writes ``benchmarks/results/rankcorr_sweep.json`` (one ``stage`` record per data set and
meta-iteration count, and a ``schedule`` record beside it with ``--schedule``; one ``control``
record per data set and control proxy; each with the per-architecture scores, in the truth
file's order), ``rankcorr_sweep.md`` and one plot per data set in ``results/rankcorr_sweep/``.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from pathlib import Path
from typing import Any

from benchmarks.rankcorr import DATASETS, PAPER_SPEARMAN_TOP50, load_preset_truth
from benchmarks.rankcorr import PRESETS as RANKCORR_PRESETS
from benchmarks.results import argument_parser, machine_line, write_records

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"
RUNS = Path(__file__).parent / "runs" / "rankcorr_sweep"
SNAPSHOT_FILES = ("config.json", "teacher.json", "teacher.safetensors", "metrics.jsonl")

PRESETS: dict[str, dict[str, Any]] = {
    # For the test: 8 architectures, the rankcorr smoke teacher (3 steps at the tiny
    # blueprint), two stages.
    "smoke": {
        "truth": "{dataset}-nb201-n100-e3.json",
        "architectures": 8,
        "teacher": RANKCORR_PRESETS["smoke"]["teacher"],  # its iterations set per stage
        "stages": (2, 4),
        "eval_examples": 200,
        "resamples": 50,
        "workers": 1,
        "threads": 1,
    },
    # configs/nb201-teacher.json (78% validation accuracy after 40 iterations, 11 minutes)
    # trained on to 80 and 120: about 45 minutes of meta-training (15-25 s per iteration, by
    # the sampled cell) and 3 x 4 minutes of scoring per data set on 2 CPU cores.
    "quick": {
        "truth": "{dataset}-nb201-n100-e3.json",
        "architectures": None,
        "teacher": "configs/nb201-teacher.json",
        "stages": (40, 80, 120),
        "eval_examples": 1000,
        "resamples": 1000,
        "workers": 2,
        "threads": 1,
    },
}


def teacher_values(preset: dict[str, Any], dataset: str, seed: int) -> dict[str, Any]:
    """The preset teacher's TeachRunConfig fields for ``dataset`` (iterations set per stage)."""
    teacher = preset["teacher"]
    if isinstance(teacher, str):
        teacher = json.loads((ROOT / teacher).read_text())
    return {**teacher, "dataset": dataset, "seed": seed, "device": "cpu"}


def train_stages(
    preset_name: str, dataset: str, truth: Any, seed: int, work: Path, stages: tuple[int, ...]
) -> list[tuple[int, Path]]:
    """Meta-train the preset's teacher through ``stages`` (meta-iteration counts, rising);
    [(iterations, snapshot folder)]."""
    from gtnas.config import config_from_dict, config_to_dict, merge_values
    from gtnas.meta.run import TeachRunConfig, run_meta_training

    preset = PRESETS[preset_name]
    values = merge_values(
        config_to_dict(TeachRunConfig()),
        {
            "learner": truth.space,
            "space_options": dict(truth.space_options),
            **teacher_values(preset, dataset, seed),
        },
    )
    run_dir = work / dataset / f"teacher-{preset_name}"
    snapshots = []
    for stage in stages:
        snapshot = work / dataset / f"teacher-{preset_name}-it{stage}"
        if not (snapshot / "teacher.json").is_file():
            print(f"[sweep bench] {dataset}: meta-training to {stage} iterations ...", flush=True)
            config = config_from_dict(
                TeachRunConfig, merge_values(values, {"meta": {"iterations": stage}})
            )
            resume = (run_dir / "config.json").is_file()
            run_meta_training(config, run_dir, resume=resume, show_progress=False)
            # The files into a fresh folder, renamed into place last: a snapshot is whole or
            # absent, so a crash mid-copy retrains nothing and scores no half-copied teacher.
            partial = snapshot.with_name(snapshot.name + ".partial")
            shutil.rmtree(partial, ignore_errors=True)
            partial.mkdir(parents=True)
            for name in SNAPSHOT_FILES:
                shutil.copy2(run_dir / name, partial / name)
            partial.rename(snapshot)
        snapshots.append((stage, snapshot))
    return snapshots


def correlation_fields(scores: Any, truth: Any, resamples: int, seed: int) -> dict[str, Any]:
    """The record fields of ``scores`` correlated with the set's test accuracy."""
    from gtnas.analysis.rankcorr import correlate

    c = correlate(scores, truth.accuracies("test"), resamples=resamples, seed=seed)
    r = c.correlation
    extra: dict[str, Any] = {}
    if scores.repeats is not None:
        # how the ranking improves with each learner averaged in (the first r of the R, no
        # bootstrap), and how well two single learners agree with each other
        by_repeats = []
        for count in range(1, scores.learners + 1):
            part = correlate(scores.first_repeats(count), truth.accuracies("test"), resamples=0)
            by_repeats.append(
                {
                    "repeats": count,
                    "spearman_all": part.correlation.spearman_all,
                    "spearman_top50": part.correlation.spearman_top,
                }
            )
        extra = {
            "repeat_agreement": scores.repeat_agreement(),
            "by_repeats": by_repeats,
            "repeat_scores": scores.repeats,  # each learner's accuracy, in the truth file's order
        }
    return {
        "proxy": scores.proxy,
        # learners averaged per architecture (R of gtn:TxR; 1 for the zero-cost proxies)
        "repeats": scores.learners,
        "n_architectures": r.n,
        "missing": c.missing,
        "spearman_all": r.spearman_all,
        "spearman_top50": r.spearman_top,
        "kendall_all": r.kendall_all,
        "kendall_top50": r.kendall_top,
        "ci95_all": list(r.ci95_all),
        "ci95_top50": list(r.ci95_top),
        "seconds_per_eval": scores.seconds,
        "real_lr": scores.info.get("real_lr"),
        "study": scores.study,
        # in the truth file's order; -inf (no signal) and None (not scored) as null
        "scores": [None if s is None or not math.isfinite(s) else s for s in scores.scores],
        **extra,
    }


def measure(
    preset_name: str,
    dataset: str,
    seed: int,
    work: Path,
    stages: tuple[int, ...] | None = None,
    repeats: int = 1,
    schedule: bool = False,
) -> list[dict[str, Any]]:
    """Every record of one data set: a stage record per snapshot (and a schedule record with
    ``schedule``), a control record per control proxy."""
    from benchmarks.machine import describe_machine
    from gtnas.analysis.rankcorr import ScoringOptions, score_truth_set
    from gtnas.analysis.speedup import teacher_meta_seconds
    from gtnas.meta.run import load_run_config
    from gtnas.runtime.metrics import MetricsLog

    preset = PRESETS[preset_name]
    truth = load_preset_truth(preset, dataset)
    if truth is None:
        print(f"[sweep bench] no shipped truth set for {dataset}; skipped", flush=True)
        return []
    snapshots = train_stages(
        preset_name, dataset, truth, seed, work, stages or tuple(preset["stages"])
    )
    teacher = load_run_config(snapshots[0][1])
    steps = teacher.teacher_options.inner_steps
    common = {
        "preset": preset_name,
        "dataset": dataset,
        "space": truth.space,
        "truth": truth.name,
        "blueprint": teacher.blueprint,  # every proxy here scores at the teacher's blueprint
        "inner_steps": steps,
        "batch_size": teacher.teacher_options.batch_size,
        "seed": seed,
        "machine": describe_machine(),
    }

    def options(teacher_dir: Path | None) -> ScoringOptions:
        return ScoringOptions(
            blueprint=teacher.blueprint,
            teacher=None if teacher_dir is None else str(teacher_dir),
            seed=seed,
            workers=preset["workers"],
            threads=preset["threads"],
            eval_examples=preset["eval_examples"],
        )

    def hooks(label: str) -> dict[str, Any]:
        return {"stage": lambda message: print(f"[sweep bench] {dataset} {label}: {message}",
                                               flush=True)}  # fmt: skip

    times = f"x{repeats}" if repeats > 1 else ""
    records = []
    kinds = {"stage": f"gtn:{steps}{times}"}
    if schedule:
        kinds["schedule"] = f"gtn-schedule:{steps}{times}"
    for stage, snapshot in snapshots:
        scored = score_truth_set(
            truth,
            list(kinds.values()),
            work / dataset,
            options(snapshot),
            hooks=hooks(f"it{stage}"),
        )
        history = MetricsLog(snapshot / "metrics.jsonl").read()
        validated = [h["val_acc"] for h in history if h.get("val_acc") is not None]
        for kind, proxy in kinds.items():
            records.append(
                {
                    **common,
                    "kind": kind,
                    "meta_iterations": stage,
                    "meta_train_seconds": teacher_meta_seconds(snapshot),
                    "val_accuracy": validated[-1] if validated else None,
                    "teacher": _shown(snapshot),
                    **correlation_fields(scored[proxy], truth, preset["resamples"], seed),
                }
            )
    controls = [f"real:{steps}{times}", "synflow"]
    scored = score_truth_set(
        truth, controls, work / dataset, options(None), hooks=hooks("controls")
    )
    for proxy in controls:
        records.append(
            {
                **common,
                "kind": "control",
                "meta_iterations": None,
                **correlation_fields(scored[proxy], truth, preset["resamples"], seed),
            }
        )
    return records


def _shown(path: Path) -> str:
    resolved = path.resolve()
    return str(resolved.relative_to(ROOT)) if resolved.is_relative_to(ROOT) else str(resolved)


# -- results ----------------------------------------------------------------------------------
def record_key(record: dict[str, Any]) -> tuple[Any, ...]:
    return (
        record["preset"], record["kind"], record["dataset"], record["proxy"],
        record["meta_iterations"],
    )  # fmt: skip


def write_results(records: list[dict[str, Any]], folder: Path) -> list[dict[str, Any]]:
    return write_records(folder, "rankcorr_sweep", records, record_key, render_table)


def render_table(records: list[dict[str, Any]]) -> str:
    def num(x: float | None, digits: int = 3) -> str:
        return "-" if x is None else f"{x:.{digits}f}"

    def ci(pair: list[float | None]) -> str:
        return "-" if None in pair else f"[{pair[0]:.2f}, {pair[1]:.2f}]"

    lines = [
        "# Rank correlation against meta-iterations",
        "",
        "gtn:T of one teacher after each stage of its meta-training (trained further from its",
        "checkpoint, the cosine schedule stretched), and two controls at the same blueprint,",
        "against the truth set's test accuracy; top 50% = the proxy's best half (the paper's",
        f"gtn:128 on CIFAR-10: {PAPER_SPEARMAN_TOP50}).",
        "",
        "| preset | data set | proxy | meta-iters | teacher val acc % | meta-train s | "
        "Spearman top 50% [95% CI] | Spearman all [95% CI] | Kendall all | s/eval |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        val = r.get("val_accuracy")
        lines.append(
            f"| {r['preset']} | {r['dataset']} | {r['proxy']} | {r['meta_iterations'] or '-'} | "
            f"{'-' if val is None else f'{100 * val:.1f}'} | "
            f"{num(r.get('meta_train_seconds'), 0)} | "
            f"{num(r['spearman_top50'])} {ci(r['ci95_top50'])} | "
            f"{num(r['spearman_all'])} {ci(r['ci95_all'])} | {num(r['kendall_all'])} | "
            f"{num(r['seconds_per_eval'], 2)} |"
        )
    lines += ["", machine_line(records), ""]
    return "\n".join(lines)


def plot_sweep(records: list[dict[str, Any]], path: Path) -> Path:
    """Spearman (top 50% with its interval, and all) against meta-iterations, the controls as
    horizontal lines; the teacher's validation accuracy on a second panel."""
    from matplotlib.figure import Figure

    from gtnas.reports.curves import _save

    stages = sorted(
        (r for r in records if r["kind"] == "stage"), key=lambda r: r["meta_iterations"]
    )
    controls = [r for r in records if r["kind"] == "control"]
    x = [r["meta_iterations"] for r in stages]
    figure = Figure(figsize=(9, 4.8), layout="constrained")
    left, right = figure.subplots(1, 2)
    series = {"stage": ("o", "s--", "C0", 0.0), "schedule": ("D", "D:", "C4", 1.5)}
    for kind, (marker, style, colour, nudge) in series.items():
        rows = sorted((r for r in records if r["kind"] == kind), key=lambda r: r["meta_iterations"])
        if not rows:
            continue
        # gtn-schedule at the same x as its snapshot's gtn:T, nudged to be seen
        sx = [r["meta_iterations"] + nudge for r in rows]
        top = [r["spearman_top50"] for r in rows]
        low = [t - r["ci95_top50"][0] for t, r in zip(top, rows, strict=True)]
        high = [r["ci95_top50"][1] - t for t, r in zip(top, rows, strict=True)]
        name = rows[0]["proxy"]
        left.errorbar(sx, top, yerr=[low, high], marker=marker, capsize=3, color=colour,
                      label=f"{name}, top 50%")  # fmt: skip
        left.plot(sx, [r["spearman_all"] for r in rows], style, color=colour,
                  label=f"{name}, all")  # fmt: skip
    for i, r in enumerate(controls):
        colour = f"C{i + 2}"
        left.axhline(r["spearman_top50"], color=colour, lw=1, label=f"{r['proxy']}, top 50%")
        left.axhline(r["spearman_all"], color=colour, lw=1, ls=":", label=f"{r['proxy']}, all")
    left.axhline(PAPER_SPEARMAN_TOP50, color="grey", lw=1, ls="-.", label="paper, top 50%")
    left.set_xticks(x)
    left.set_xlabel("meta-iterations")
    left.set_ylabel("Spearman with test accuracy")
    left.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)
    right.plot(x, [100 * (r["val_accuracy"] or math.nan) for r in stages], "o-")
    right.set_xticks(x)
    right.set_xlabel("meta-iterations")
    right.set_ylabel("teacher validation accuracy %")
    if stages:
        figure.suptitle(f"{stages[0]['dataset']}, {stages[0]['space']} at {stages[0]['blueprint']}")
    return _save(figure, path)


def main(argv: list[str] | None = None) -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--preset", choices=sorted(PRESETS), default="quick")
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--stages", help="meta-iteration counts, rising, e.g. 40,80,120 (default: the preset's)"
    )
    parser.add_argument(
        "--repeats", type=int, default=1, help="learners averaged per architecture (gtn:TxR)"
    )
    parser.add_argument(
        "--schedule",
        action="store_true",
        help="also score gtn-schedule:T per snapshot (real data, the teacher's lr/momentum)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder of the results")
    parser.add_argument("--runs", type=Path, default=RUNS, help="work folder (teachers, studies)")
    args = parser.parse_args(argv)
    datasets = [d for d in args.datasets.split(",") if d]
    unknown = sorted(set(datasets) - set(DATASETS))
    if unknown:
        parser.error(f"unknown data sets {unknown}; choose from {', '.join(DATASETS)}")
    stages = None
    if args.stages:
        try:
            stages = tuple(int(n) for n in args.stages.split(","))
        except ValueError:
            parser.error(f"--stages {args.stages!r}: give whole numbers joined by commas")
        if not stages or stages[0] < 1 or list(stages) != sorted(set(stages)):
            parser.error(f"--stages {args.stages!r}: give positive counts, rising, e.g. 40,80,120")
    if args.repeats < 1:
        parser.error(f"--repeats {args.repeats}: give at least 1")
    # No thread limit here: the teacher meta-trains in this process on every core; the
    # scoring workers take the preset's threads each.
    merged: list[dict[str, Any]] = []
    for dataset in datasets:
        start = time.time()
        records = measure(
            args.preset, dataset, args.seed, args.runs.resolve(), stages, args.repeats,
            args.schedule,
        )  # fmt: skip
        if not records:
            continue
        name = f"{args.preset}-{dataset}" + (f"-x{args.repeats}" if args.repeats > 1 else "")
        plot = plot_sweep(records, args.out / "rankcorr_sweep" / f"{name}.png")
        for r in records:
            r["plot"] = str(plot.relative_to(args.out))
        merged = write_results(records, args.out)  # after every data set: nothing lost
        print(f"[sweep bench] {dataset} in {time.time() - start:.0f} s", flush=True)
    if merged:
        print(render_table(merged))


if __name__ == "__main__":
    main()
