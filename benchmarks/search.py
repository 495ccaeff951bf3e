"""Search benchmark: how fast each proxy scores architectures on these CPUs, and how good the
architecture is that each strategy finds at the same budget.

    python -m benchmarks.search --preset quick

Three stages, all seeded from ``--seed``:

1. the teacher behind ``gtn:K``: meta-trained on architectures sampled from the search space
   at the search blueprint, exactly as ``gtnas search`` would (or ``--teacher RUN`` reused);
2. throughput: the same seeded architectures scored by every proxy in one process (every
   stage at the preset's torch threads), the ``real:K`` learning rate tuned once on validation;
3. strategies: one fresh study per strategy at the same budget, seed and proxy, then its top-1
   by proxy score trained with the preset's final recipe. Selection never looks at the test
   split; the test accuracy is only reported.

Writes ``benchmarks/results/search.json`` (a list of records; records of other presets, data
sets, proxies and strategies already in the file are kept) and ``benchmarks/results/search.md``.
"""

from __future__ import annotations

import math
import os
import shutil
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.rankcorr import SLIM_GENERATOR
from benchmarks.results import argument_parser, machine_line, write_records

RESULTS = Path(__file__).parent / "results"
RUNS = Path(__file__).parent / "runs" / "search"
STRATEGY_NAMES = ("random", "evolution", "reinforce", "tpe")

# A preset is a SearchConfig (as a dict: `search`) plus what only the benchmark needs: how many
# architectures each proxy scores, which proxies, and per-strategy options.
PRESETS: dict[str, dict[str, Any]] = {
    # For the test: seconds, not minutes. Tiny everything; K values far below the real ones.
    "smoke": {
        "search": {
            "dataset": "mnist",
            "space": "nb201",
            "blueprint": "tiny",
            "proxy": "gtn:6",
            "budget": 4,
            "eval_examples": 300,
            "device": "cpu",
            "threads": 1,  # a test shares the machine; 2 threads on 2 busy cores run 20x slower
            "teacher": {
                "inner_steps": 3,
                "batch_size": 16,
                "iterations": 2,
                "eval_every": 2,
                "generator": SLIM_GENERATOR,
            },
            "final": {"epochs": 1, "blueprint": "tiny", "train_subset": 256, "val_subset": 1000},
        },
        "architectures": 3,
        "proxies": ("gtn:6", "real:6", "real:12", "synflow", "naswot"),
        # small enough that evolution mutates and TPE models within a budget of 4
        "strategy_options": {
            "evolution": {"population": 2, "sample_size": 2},
            "tpe": {"startup_trials": 2},
        },
    },
    # About 30-40 minutes on 2 CPU cores: the K values on a tiny NB-201 learner, the
    # first demo's teacher (16 steps of 32, slim generator), final training of one epoch at the
    # search size.
    "quick": {
        "search": {
            "dataset": "mnist",
            "space": "nb201",
            "blueprint": "tiny",
            "proxy": "gtn:128",
            "budget": 30,
            "eval_examples": 1000,
            "device": "cpu",
            "threads": 0,  # all cores: the machine is the benchmark's alone
            "teacher": {
                "inner_steps": 16,
                "batch_size": 32,
                "iterations": 60,
                "eval_every": 20,
                "generator": SLIM_GENERATOR,
            },
            "final": {"epochs": 1, "blueprint": "search"},
        },
        "architectures": 5,
        "proxies": ("gtn:128", "real:128", "real:1200", "synflow", "naswot"),
        # a population of 10 leaves 20 of the 30 proposals to mutation (the default 20: only 10)
        "strategy_options": {"evolution": {"population": 10, "sample_size": 3}},
    },
    # The paper's set-up (GTN cell space, gtn:128, 200 architectures): for a GPU or a long night.
    "paper": {
        "search": {
            "dataset": "mnist",
            "space": "gtn-cell",
            "blueprint": "search",
            "proxy": "gtn:128",
            "budget": 200,
            "eval_examples": 2000,
            "device": "auto",
            "threads": 0,
            "teacher": {"inner_steps": 32, "batch_size": 128, "iterations": 150},
            "final": {"epochs": 10, "blueprint": "final"},
        },
        "architectures": 20,
        "proxies": ("gtn:128", "real:128", "real:1200", "synflow", "naswot"),
        "strategy_options": {},
    },
}

# Which field names a record within its (preset, kind, data set, space): re-running one part
# replaces only the records it produces.
KEY_FIELDS = {"teacher": "teacher", "throughput": "proxy", "strategy": "strategy"}


@dataclass(frozen=True)
class BenchmarkRun:
    """What every stage of one benchmark run shares."""

    preset: str
    seed: int
    threads: int  # torch threads for every stage (0: all cores)
    work: Path  # the run's folder: teacher, studies, final trainings
    teacher_run: str | None = None  # a finished teacher run to reuse (else one is trained)


def search_config(run: BenchmarkRun, teacher_run: str | None, **fields: Any) -> Any:
    """The preset's SearchConfig with ``fields`` on top (one config builds every stage)."""
    from gtnas.config import config_from_dict
    from gtnas.search.pipeline import SearchConfig

    values = dict(PRESETS[run.preset]["search"])
    values["teacher"] = {**values["teacher"], "run": teacher_run}
    values["final"] = {**values["final"], "device": values["device"]}
    values.update(seed=run.seed, threads=run.threads, **fields)
    return config_from_dict(SearchConfig, values)


def common_fields(run: BenchmarkRun, kind: str, config: Any) -> dict[str, Any]:
    """The fields every record starts with (its key, and what it ran on)."""
    from benchmarks.machine import describe_machine

    return {
        "preset": run.preset,
        "kind": kind,
        "dataset": config.dataset,
        "space": config.space,
        "blueprint": config.blueprint,
        "seed": run.seed,
        "machine": describe_machine(),
    }


# -- stage 1: the teacher ---------------------------------------------------------------------
def teacher_record(run: BenchmarkRun, config: Any, run_dir: str) -> dict[str, Any]:
    """What the teacher run cost and how good it was, read back from its metrics log (so a
    reused ``--teacher RUN`` is described the same way as a fresh one)."""
    from gtnas.config import config_to_dict
    from gtnas.meta.run import load_run_config
    from gtnas.runtime.metrics import MetricsLog

    run_config = load_run_config(Path(run_dir))
    history = MetricsLog(Path(run_dir) / "metrics.jsonl").read()
    validated = [h["val_acc"] for h in history if h.get("val_acc") is not None]
    seconds = history[-1]["elapsed"] if history else None
    return {
        **common_fields(run, "teacher", config),
        "teacher": run_config.teacher,
        "run": run_dir,
        "reused": run.teacher_run is not None,
        "learner": run_config.learner,
        "inner_steps": run_config.teacher_options.inner_steps,
        "batch_size": run_config.teacher_options.batch_size,
        "meta_iterations": len(history),
        "meta_train_seconds": seconds,
        "seconds_per_meta_iteration": seconds / len(history) if history else None,
        "val_accuracy": validated[-1] if validated else None,
        "config": config_to_dict(run_config),
    }


# -- stage 2: throughput ----------------------------------------------------------------------
def sample_architectures(space: Any, count: int, seed: int) -> list[Any]:
    """``count`` genotypes drawn uniformly from ``space``; the same for every proxy."""
    from gtnas.seeding import derive_seed, make_generator

    generator = make_generator(derive_seed(seed, "benchmark-architectures"))
    return [space.sample(generator) for _ in range(count)]


def measure_proxy(name: str, genotypes: list[Any], context: Any, seed: int) -> dict[str, Any]:
    """Score every genotype with proxy ``name``; its speed and mean score."""
    from gtnas.search.proxies import create_proxy

    proxy = create_proxy(name)
    results = [proxy.score(genotype, context, seed) for genotype in genotypes]
    seconds = [r.seconds for r in results]
    finite = [r.score for r in results if math.isfinite(r.score)]  # naswot/synflow may be -inf
    mean = statistics.fmean(seconds)
    return {
        "proxy": name,
        "n_architectures": len(genotypes),
        "seconds_per_eval": mean,
        "seconds_std": statistics.pstdev(seconds),
        "evals_per_minute": 60.0 / mean if mean > 0 else None,
        "score_mean": statistics.fmean(finite) if finite else None,
        "non_finite_scores": len(results) - len(finite),
    }


def run_throughput(run: BenchmarkRun) -> tuple[str, list[dict[str, Any]]]:
    """Stages 1 and 2 through one pipeline whose proxies are the preset's: its teacher stage
    meta-trains the teacher (unless one is given) and its context spec tunes the real:K
    learning rate, as in a real search. Returns (teacher run folder, [teacher record,
    throughput records])."""
    from gtnas.search.executor import build_context
    from gtnas.search.pipeline import SearchPipeline

    proxies = PRESETS[run.preset]["proxies"]
    count = PRESETS[run.preset]["architectures"]
    config = search_config(
        run, run.teacher_run, proxy=proxies[0], extra_proxies=proxies[1:], budget=count
    )
    pipeline = SearchPipeline("throughput", run.work, config=config, show_progress=False)
    teacher_dir = pipeline.teacher_dir()
    assert teacher_dir is not None  # the first proxy is a gtn:K one
    records = [teacher_record(run, config, teacher_dir)]

    start = time.perf_counter()
    spec = pipeline.context_spec(teacher_dir)  # tunes the real:K learning rate (validation)
    tune_seconds = time.perf_counter() - start
    context = build_context(spec)
    genotypes = sample_architectures(context.space, count, run.seed)
    for name in proxies:
        print(f"[search bench] {run.preset}: {count} architectures with {name} ...", flush=True)
        real = name.startswith("real")
        record = {
            **common_fields(run, "throughput", config),
            **measure_proxy(name, genotypes, context, run.seed),
            "eval_examples": spec.eval_examples,
            "real_lr": spec.real_lr if real else None,
            "real_lr_tune_seconds": tune_seconds if real else None,
            "genotypes": [context.space.format(g) for g in genotypes],
        }
        records.append(record)
    return teacher_dir, records


# -- stage 3: strategies ----------------------------------------------------------------------
def run_strategy(run: BenchmarkRun, strategy: str, teacher_dir: str) -> dict[str, Any]:
    """One fresh study with ``strategy``, then its top-1 by proxy score final-trained."""
    from gtnas.config import config_to_dict
    from gtnas.search.executor import build_context
    from gtnas.search.pipeline import SearchPipeline
    from gtnas.training.trainer import load_train_config

    options = PRESETS[run.preset]["strategy_options"].get(strategy, {})
    config = search_config(run, teacher_dir, strategy=strategy, strategy_options=options, top_k=1)
    pipeline = SearchPipeline(strategy, run.work, config=config, show_progress=False)
    build_context(pipeline.context_spec(teacher_dir))  # data and teacher loaded before timing
    start = time.perf_counter()
    progress = pipeline.search(teacher_dir)
    search_seconds = time.perf_counter() - start
    (best,) = pipeline.top()  # top_k=1: the best by proxy score
    final = pipeline.final_train()[best.number]
    return {
        **common_fields(run, "strategy", config),
        "strategy": strategy,
        "strategy_options": options,
        "budget": config.budget,
        "evaluations": progress.evaluated,
        "proxy": config.proxy,
        "best_trial": best.number,
        "best_proxy_score": best.score,
        "best_genotype": best.genotype,
        "final_val_accuracy": final["val_accuracy"],
        "final_test_accuracy": final["test_accuracy"],
        "final_parameters": final["parameters"],
        "search_seconds": search_seconds,
        "seconds_per_evaluation": search_seconds / max(1, progress.evaluated),
        "final_train_seconds": final["train_seconds"],
        "final": config_to_dict(load_train_config(Path(final["run_dir"]))),  # as trained
        "teacher_run": teacher_dir,
    }


# -- results ----------------------------------------------------------------------------------
def record_key(record: dict[str, Any]) -> tuple[Any, ...]:
    kind = record["kind"]
    return (record["preset"], kind, record["dataset"], record["space"], record[KEY_FIELDS[kind]])


def write_results(records: list[dict[str, Any]], folder: Path) -> None:
    """Merge ``records`` into ``folder``/search.json (same key: replaced) and redraw the table."""
    write_records(folder, "search", records, record_key, render_table)


def render_table(records: list[dict[str, Any]]) -> str:
    def pct(x: float | None) -> str:
        return "-" if x is None else f"{100 * x:.2f}"

    def num(x: float | None, digits: int) -> str:
        return "-" if x is None else f"{x:.{digits}f}"

    def of(kind: str) -> list[dict[str, Any]]:
        return [r for r in records if r["kind"] == kind]

    lines = [
        "# Search benchmark",
        "",
        "## Teacher (behind gtn:K)",
        "",
        "| preset | data set | space | blueprint | T | B | meta-iters | meta-train s | "
        "val acc % | reused |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in of("teacher"):
        lines.append(
            f"| {r['preset']} | {r['dataset']} | {r['space']} | {r['blueprint']} | "
            f"{r['inner_steps']} | {r['batch_size']} | {r['meta_iterations']} | "
            f"{num(r['meta_train_seconds'], 0)} | {pct(r['val_accuracy'])} | {r['reused']} |"
        )
    lines += [
        "",
        "## Throughput (the same architectures for every proxy)",
        "",
        "| preset | data set | space | blueprint | proxy | archs | s/eval | evals/min | "
        "score mean | real lr |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in of("throughput"):
        lines.append(
            f"| {r['preset']} | {r['dataset']} | {r['space']} | {r['blueprint']} | "
            f"{r['proxy']} | {r['n_architectures']} | {num(r['seconds_per_eval'], 3)} | "
            f"{num(r['evals_per_minute'], 1)} | {num(r['score_mean'], 3)} | "
            f"{r['real_lr'] if r['real_lr'] is not None else '-'} |"
        )
    lines += [
        "",
        "## Strategies (top-1 by proxy score, final-trained; test accuracy reported only)",
        "",
        "| preset | data set | space | strategy | budget | proxy | best proxy score | "
        "final val % | final test % | search s | final train s | best genotype |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in of("strategy"):
        lines.append(
            f"| {r['preset']} | {r['dataset']} | {r['space']} | {r['strategy']} | "
            f"{r['budget']} | {r['proxy']} | {num(r['best_proxy_score'], 4)} | "
            f"{pct(r['final_val_accuracy'])} | {pct(r['final_test_accuracy'])} | "
            f"{num(r['search_seconds'], 0)} | {num(r['final_train_seconds'], 0)} | "
            f"`{r['best_genotype']}` |"
        )
    lines += ["", machine_line(records), ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    import torch

    parser = argument_parser(__doc__)
    parser.add_argument("--preset", choices=sorted(PRESETS), default="quick")
    parser.add_argument("--strategies", default=",".join(STRATEGY_NAMES))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--teacher", help="reuse this finished teacher run instead of training")
    parser.add_argument("--threads", type=int, help="torch threads (0: all cores; default: preset)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder of search.json/.md")
    parser.add_argument("--runs", type=Path, default=RUNS, help="work folder (runs, studies)")
    args = parser.parse_args(argv)
    strategies = [s for s in args.strategies.split(",") if s]
    unknown = sorted(set(strategies) - set(STRATEGY_NAMES))
    if unknown:
        parser.error(f"unknown strategies {unknown}; choose from {', '.join(STRATEGY_NAMES)}")
    threads = PRESETS[args.preset]["search"]["threads"] if args.threads is None else args.threads
    work = (args.runs / args.preset).resolve()
    teacher_run = Path(args.teacher).resolve() if args.teacher else None
    if teacher_run is not None and not (teacher_run / "teacher.json").is_file():
        parser.error(f"--teacher {args.teacher} is not a finished teacher run (no teacher.json)")
    if teacher_run is not None and teacher_run.is_relative_to(work):
        parser.error(f"--teacher {args.teacher} lies in {work}, which a run empties; copy it out")
    run = BenchmarkRun(
        preset=args.preset,
        seed=args.seed,
        threads=threads,
        work=work,
        teacher_run=None if teacher_run is None else str(teacher_run),
    )
    # Every stage in this process (meta-training and final training included) at this count.
    torch.set_num_threads(threads or os.cpu_count() or 1)
    shutil.rmtree(run.work, ignore_errors=True)  # every benchmark run starts from nothing

    start = time.time()
    teacher_dir, records = run_throughput(run)
    write_results(records, args.out)  # after every stage, so a long run loses nothing
    print(f"[search bench] teacher and throughput in {time.time() - start:.0f} s", flush=True)
    for strategy in strategies:
        start = time.time()
        print(f"[search bench] {args.preset}: {strategy} ...", flush=True)
        record = run_strategy(run, strategy, teacher_dir)
        records.append(record)
        write_results(records, args.out)
        print(
            f"[search bench] {strategy}: proxy {record['best_proxy_score']:.4f}, test "
            f"{record['final_test_accuracy']:.4f} in {time.time() - start:.0f} s",
            flush=True,
        )
    print(render_table(records))


if __name__ == "__main__":
    main()
