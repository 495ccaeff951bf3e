r"""Teacher benchmark: meta-train each teacher on each data set at the same budget, then train
fresh learners on it and measure them on the TEST split, next to real data at the same number
of steps (learning rate tuned on the validation split).

    python -m benchmarks.teach --preset paper --datasets mnist,fashion-mnist
    python -m benchmarks.teach --preset paper --datasets mnist --teachers gtn \
        --iterations 200 --extend   # train that run further, from its checkpoint
    python -m benchmarks.teach --preset paper --datasets mnist --teachers gtn \
        --variant 60min             # a named variant of the preset's settings (VARIANTS)
    python -m benchmarks.teach --preset paper --datasets mnist --teachers gtn \
        --variant 120min --extend   # continue an interrupted run (at its own iterations)

Writes ``benchmarks/results/teach.json`` (a list of records; records of other presets /
variants / data sets / teachers already in the file are kept), ``benchmarks/results/teach.md``
and, per teacher, ``benchmarks/results/teach/PRESET-DATASET-TEACHER[-VARIANT]-accuracy.png``
(fresh learners' test accuracy by inner step, teacher vs real data).
Each (data set, teacher) runs in its own process so that its peak memory is its own.
"""

from __future__ import annotations

import json
import multiprocessing
import statistics
import time
from pathlib import Path
from typing import Any

from benchmarks.results import argument_parser, machine_line, write_records

RESULTS = Path(__file__).parent / "results"
RUNS = Path(__file__).parent / "runs"

# The presets, the teachers' overrides and the variants are a config file (what each is for and
# what it reached are in it and in benchmarks/results/teach.md).
CONFIG = json.loads((Path(__file__).parent / "configs" / "teach.json").read_text())
PRESETS: dict[str, dict[str, Any]] = {k: v["config"] for k, v in CONFIG["presets"].items()}
TEACHER_OVERRIDES: dict[str, dict[str, dict[str, Any]]] = CONFIG["teacher_overrides"]
VARIANTS: dict[str, dict[str, Any]] = {k: v["config"] for k, v in CONFIG["variants"].items()}
TEACHER_NAMES = ("gtn", "gtn-nocurriculum", "pixels", "real")
# Validation accuracies whose meta-training wall time each record reports (val_seconds_to):
# MNIST's are the paper's 98.9% and the 98% on the way; Fashion-MNIST's its 88% target.
TARGETS = {"mnist": (0.98, 0.989), "fashion-mnist": (0.87, 0.88)}


def preset_config(
    preset: str,
    dataset: str,
    teacher: str,
    seed: int,
    overrides: dict[str, Any] | None = None,
    variant: str | None = None,
) -> Any:
    """The ``TeachRunConfig`` a preset gives one teacher on one data set (the preset, then
    the teacher's overrides, then the variant's, then ``overrides``)."""
    from gtnas.config import config_from_dict, config_to_dict, merge_values
    from gtnas.meta.run import TeachRunConfig

    values = merge_values(config_to_dict(TeachRunConfig()), PRESETS[preset])
    values = merge_values(values, TEACHER_OVERRIDES.get(preset, {}).get(teacher, {}))
    values = merge_values(values, VARIANTS[variant] if variant else {})
    values = merge_values(values, {"dataset": dataset, "teacher": teacher, "seed": seed})
    return config_from_dict(TeachRunConfig, merge_values(values, overrides or {}))


def benchmark_one(
    preset: str,
    dataset: str,
    teacher: str,
    learners: int,
    seed: int,
    overrides: dict[str, Any],
    extend: bool = False,
    baseline_cache: Path | None = None,
    variant: str | None = None,
) -> dict[str, Any]:
    """Meta-train one teacher and assess it; runs in a child process. With ``extend``, an
    earlier run of the same settings is trained further (to ``meta.iterations``, resumed from
    its last checkpoint; or, at its own iterations, continued after an interruption) instead
    of started over; its time and iterations count. The teachers of one data set share the
    real-data baseline through ``baseline_cache``."""
    import shutil

    import torch

    from benchmarks.machine import describe_machine
    from gtnas.config import config_to_dict
    from gtnas.meta.run import run_meta_training
    from gtnas.meta.run_assessment import assess_run
    from gtnas.reports.teaching import draw_assessment
    from gtnas.runtime.memory import peak_memory_mb

    config = preset_config(preset, dataset, teacher, seed, overrides, variant)
    run_dir = RUNS / preset / f"{dataset}-{teacher}{f'-{variant}' if variant else ''}"
    resume = extend and (run_dir / "checkpoints").is_dir()
    if not resume:
        shutil.rmtree(run_dir, ignore_errors=True)
    extended_from = stretched_at(run_dir, config) if resume else None
    result = run_meta_training(config, run_dir, show_progress=False, resume=resume)
    report = assess_run(
        run_dir,
        learners=learners,
        sampled=True,
        baseline=True,
        match=True,
        baseline_cache=baseline_cache,
    )
    # The accuracy-by-inner-step picture (teacher vs real data) goes next to the results.
    picture = RESULTS / "teach" / f"{run_dir.parent.name}-{run_dir.name}-accuracy.png"
    picture.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(draw_assessment(run_dir), picture)
    # Iteration 0 is the warm start from real data (teacher_options.init=real), if any: its
    # time counts in meta_train_seconds, not in the per-iteration figures.
    warm = [h for h in result.history if h["iteration"] == 0]
    steps = [h for h in result.history if h["iteration"] > 0]
    per_iteration = statistics.fmean(h["seconds"] for h in steps)
    plain = report["train_seconds_mean"]
    return {
        "preset": preset,
        "variant": variant,
        "dataset": dataset,
        "teacher": teacher,
        "inner_steps": config.teacher_options.inner_steps,
        "batch_size": config.teacher_options.batch_size,
        "learners": report["default"]["n"],
        "acc_mean": report["default"]["mean"],
        "acc_std": report["default"]["std"],
        "acc_min": report["default"]["min"],
        "sampled_acc_mean": report.get("sampled", {}).get("mean"),
        "sampled_acc_std": report.get("sampled", {}).get("std"),
        "real_acc_mean": report["real"]["mean"],
        "real_acc_std": report["real"]["std"],
        "real_lr": report["real"]["lr"],
        "real_baseline_cached": report["real"].get("cached", False),
        "real_steps_to_match": report.get("real_steps_to_match"),
        "meta_iterations": len(steps),
        "extended_from_iteration": extended_from,
        "skipped_iterations": sum(1 for h in steps if h["skipped"]),
        "meta_train_seconds": result.seconds,
        "warm_start_seconds": warm[0]["seconds"] if warm else 0.0,
        "warm_start_val_acc": warm[0].get("val_acc") if warm else None,
        "seconds_per_meta_iteration": per_iteration,
        "inner_training_seconds": plain,
        "meta_overhead": per_iteration / plain if plain else None,
        "val_seconds_to": seconds_to(result.history, TARGETS.get(dataset, ())),
        # the largest over the run's sittings and this process's assessment
        "peak_memory_mb": max(result.peak_memory_mb, peak_memory_mb()),
        "seed": seed,
        "config": config_to_dict(config),
        "machine": describe_machine(),
        "torch_threads": torch.get_num_threads(),
    }


def seconds_to(history: list[dict[str, Any]], targets: tuple[float, ...]) -> dict[str, Any]:
    """Meta-training wall time (``elapsed``) at which a validated fresh learner first reached
    each target accuracy, by the target as a string; None where it never did."""
    time_to: dict[str, float | None] = {}
    for target in targets:
        hit = next((h for h in history if (h.get("val_acc") or 0) >= target), None)
        time_to[str(target)] = None if hit is None else hit["elapsed"]
    return time_to


def stretched_at(run_dir: Path, config: Any) -> int | None:
    """Where resuming the run in ``run_dir`` with ``config`` stretches its cosine schedule: the
    checkpoint's iteration when ``meta.iterations`` differs from the run's own (an extension),
    None when it is the same (an interrupted run continues its one schedule exactly). The
    iteration is kept in the run folder (``extended_from.json``), so that an extension that is
    itself interrupted and continued still reports where its schedule was stretched."""
    import json

    from gtnas.meta.run import load_run_config
    from gtnas.runtime.checkpoint import load_checkpoint
    from gtnas.runtime.files import atomic_write_text

    marker = run_dir / "extended_from.json"
    if load_run_config(run_dir).meta.iterations == config.meta.iterations:
        return json.loads(marker.read_text())["iteration"] if marker.is_file() else None
    step = load_checkpoint(run_dir).step
    atomic_write_text(marker, json.dumps({"iteration": step}) + "\n")
    return step


def _child(queue: Any, args: tuple) -> None:  # pragma: no cover - subprocess
    try:
        queue.put(("ok", benchmark_one(*args)))
    except BaseException as exc:
        queue.put(("error", f"{type(exc).__name__}: {exc}"))


def run_isolated(*args: Any) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_child, args=(queue, args))
    process.start()
    status, payload = queue.get()
    process.join()
    if status != "ok":
        raise RuntimeError(payload)
    return payload


def write_results(records: list[dict[str, Any]]) -> None:
    """Merge ``records`` into results/teach.json by (preset, variant, data set, teacher)."""
    write_records(RESULTS, "teach", records, record_key, render_table)


def record_key(record: dict[str, Any]) -> tuple[str, str, str, str]:
    return (record["preset"], record.get("variant") or "", record["dataset"], record["teacher"])


def record_label(record: dict[str, Any]) -> str:
    """preset[/variant] data set teacher: names a record in notes and machine lines."""
    variant = f"/{record['variant']}" if record.get("variant") else ""
    return f"{record['preset']}{variant} {record['dataset']} {record['teacher']}"


def render_table(records: list[dict[str, Any]]) -> str:
    def pct(x: float | None) -> str:
        return "-" if x is None else f"{100 * x:.2f}"

    def iterations(r: dict[str, Any]) -> str:
        first = r.get("extended_from_iteration")
        total = r["meta_iterations"]
        return str(total) if first is None else f"{first}+{total - first}"

    lines = [
        "# Teacher benchmark (test accuracy of fresh learners, %)",
        "",
        "| preset | data set | teacher | T | learners | acc mean ± std | sampled archs | "
        "real data (same T) | real steps to match | meta-iters | meta-train s | s/iter | "
        "overhead | peak MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        lines.append(
            f"| {record_label(r).split(' ')[0]} | {r['dataset']} | {r['teacher']} | "
            f"{r['inner_steps']} | "
            f"{r['learners']} | {pct(r['acc_mean'])} ± {pct(r['acc_std'])} | "
            f"{pct(r['sampled_acc_mean'])} | "
            f"{pct(r['real_acc_mean'])} ± {pct(r['real_acc_std'])} | "
            f"{r['real_steps_to_match'] or '>1024'} | {iterations(r)} | "
            f"{r['meta_train_seconds']:.0f} | {r['seconds_per_meta_iteration']:.2f} | "
            f"{r['meta_overhead']:.2f}x | {r['peak_memory_mb']:.0f} |"
        )
    notes = [f"- {record_label(r)}: {r['note']}" for r in records if r.get("note")]
    if notes:
        lines += ["", "Notes:", *notes]
    lines += [
        "",
        "meta-iters A+B: a run of A iterations trained further to A+B (`--extend`), its cosine "
        "meta-lr schedule stretched from iteration A on.",
        "",
        "preset/variant: the preset's settings changed by a named variant "
        "(`--variant`, benchmarks/configs/teach.json).",
        "",
        machine_line(records, record_label),
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--preset", choices=sorted(PRESETS), default="quick")
    parser.add_argument("--datasets", default="mnist,fashion-mnist")
    parser.add_argument("--teachers", default=",".join(TEACHER_NAMES))
    parser.add_argument("--learners", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--iterations", type=int, help="override the preset's meta-iterations")
    parser.add_argument(
        "--variant",
        choices=sorted(VARIANTS),
        help="a named change of the preset's settings; its records and runs are kept apart",
    )
    parser.add_argument(
        "--extend",
        action="store_true",
        help="train the earlier run of each teacher (benchmarks/runs/) further, to "
        "--iterations, instead of starting over (the cosine meta-lr schedule is stretched); "
        "at its own iterations, an interrupted run continues from its last checkpoint",
    )
    args = parser.parse_args(argv)
    overrides: dict[str, Any] = {}
    if args.iterations:
        overrides = {"meta": {"iterations": args.iterations}}
    records = []
    for dataset in args.datasets.split(","):
        # Shared by this invocation's teachers of the data set only: a later invocation (other
        # code, other settings) computes its own.
        baseline_cache = RUNS / args.preset / f"{dataset}-real-baseline.json"
        baseline_cache.unlink(missing_ok=True)
        for teacher in args.teachers.split(","):
            start = time.time()
            print(f"[teach bench] {args.preset} {dataset} {teacher} ...", flush=True)
            record = run_isolated(
                args.preset,
                dataset,
                teacher,
                args.learners,
                args.seed,
                overrides,
                args.extend,
                baseline_cache,
                args.variant,
            )
            records.append(record)
            write_results(records)  # after every teacher, so a long run loses nothing
            print(
                f"[teach bench] {dataset} {teacher}: acc {record['acc_mean']:.4f} ± "
                f"{record['acc_std']:.4f} (real {record['real_acc_mean']:.4f}) in "
                f"{time.time() - start:.0f} s",
                flush=True,
            )
    print(render_table(records))


if __name__ == "__main__":
    main()
