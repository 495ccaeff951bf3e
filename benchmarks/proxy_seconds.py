"""Proxy seconds: what one evaluation of each proxy costs, measured interleaved in one process
on the same architectures, so that a GTN proxy's speed-up over ``real:K`` compares seconds
taken under the same load.

    python -m benchmarks.proxy_seconds --teacher NAME=RUN [--teacher NAME=RUN ...]
        [--proxies real:32,real:64,real:128,real:256,synflow,naswot,flops]
        [--architectures 6] [--skip 10] [--seed 0]

Why: the rank-correlation benchmarks take each proxy's seconds from its score cache, filled at
different times on a machine shared with other jobs, so two proxies' seconds may have been
measured under different loads. Here every proxy scores each of ``--architectures``
architectures of the truth set (from its ``--skip``-th on, past the cells a calibrated teacher
was fitted on) once, in an order rotated from one architecture to the next so that no proxy
always runs first; a GTN proxy per ``--teacher`` (``gtn:T`` with T the teacher's inner steps,
named ``gtn:T (NAME)``). Learners are built and scored as the long rank-correlation preset
builds them: the truth set's blueprint, ``--eval-examples`` validation images, one torch
thread. The real:K learning rate is fixed (``--real-lr``): it changes what is learned, not the
seconds.

Writes ``benchmarks/results/proxy_seconds.json`` (one record per proxy: seconds per evaluation,
mean, median, standard deviation and each; for a GTN proxy its speed-up over every ``real:K``
of the same run: real:K's mean seconds over its own; a run replaces the records of its truth
set) and ``proxy_seconds.md``.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from benchmarks.machine import describe_machine
from benchmarks.results import argument_parser, machine_line, write_records

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"
TRUTH = ROOT / "truth" / "fashion-mnist-nb201-n100-e7-search-head3-s2.json"
PROXIES = ("real:32", "real:64", "real:128", "real:256", "synflow", "naswot", "flops")


def parse_teachers(values: list[str]) -> dict[str, str]:
    """``NAME=RUN`` arguments -> {name: run folder}."""
    teachers = {}
    for value in values:
        name, sep, run = value.partition("=")
        if not sep or not name or not run:
            raise SystemExit(f"--teacher {value!r}: write NAME=RUN, e.g. rank=runs/teacher")
        if not (Path(run) / "config.json").is_file():
            raise SystemExit(f"--teacher {value!r}: {run} is not a teacher run (no config.json)")
        teachers[name] = run
    return teachers


def measure(
    truth_path: Path,
    proxies: list[str],
    teachers: dict[str, str],
    *,
    architectures: int,
    skip: int,
    seed: int,
    eval_examples: int,
    real_lr: float,
    blueprint: str | None = None,
) -> dict[str, list[float]]:
    """{label: seconds of each evaluation}, every proxy interleaved on the same architectures."""
    from gtnas.analysis.truthset import load_truth
    from gtnas.meta.run import load_run_config
    from gtnas.search.executor import ContextSpec, EvaluationTask, evaluate

    truth = load_truth(truth_path)
    genotypes = truth.genotypes()[skip : skip + architectures]
    if len(genotypes) < architectures:
        raise SystemExit(
            f"{truth_path.name} has {len(truth)} architectures: fewer than --skip {skip} + "
            f"--architectures {architectures}"
        )

    def spec(teacher: str | None) -> ContextSpec:
        return ContextSpec(
            dataset=truth.dataset, space=truth.space, space_options=dict(truth.space_options),
            blueprint=blueprint or truth.blueprint, teacher_dir=teacher, real_lr=real_lr,
            eval_examples=eval_examples, threads=1,
        )  # fmt: skip

    # (label, proxy name, context): the GTN proxies first, each with its teacher's context
    runs: list[tuple[str, str, Any]] = []
    for name, run in teachers.items():
        steps = load_run_config(Path(run)).teacher_options.inner_steps
        runs.append((f"gtn:{steps} ({name})", f"gtn:{steps}", spec(run)))
    runs += [(proxy, proxy, spec(None)) for proxy in proxies]
    seconds: dict[str, list[float]] = {label: [] for label, _, _ in runs}
    for index, genotype in enumerate(genotypes):
        shift = index % len(runs)  # rotated: each proxy runs first on some architecture
        for label, proxy, context in runs[shift:] + runs[:shift]:
            result = evaluate(context, EvaluationTask(index, genotype, (proxy,), seed))
            if result.error:
                raise SystemExit(f"{label} on {genotype}: {result.error}")
            seconds[label].append(result.seconds[proxy])
        done = ", ".join(f"{label} {s[-1]:.1f}s" for label, s in seconds.items())
        print(f"[proxy_seconds] {index + 1}/{len(genotypes)}: {done}", flush=True)
    return seconds


def records_of(
    seconds: dict[str, list[float]], truth_path: Path, common: dict[str, Any]
) -> list[dict[str, Any]]:
    """One record per proxy; a GTN proxy's speed-up over each real:K of the same run."""
    means = {label: statistics.fmean(s) for label, s in seconds.items()}
    real = {label: m for label, m in means.items() if label.startswith("real:")}
    records = []
    for label, each in seconds.items():
        record = {
            **common,
            "truth": truth_path.stem,
            "proxy": label,
            "architectures": len(each),
            "seconds_mean": means[label],
            "seconds_median": statistics.median(each),
            "seconds_sd": statistics.stdev(each) if len(each) > 1 else 0.0,
            "seconds": each,
        }
        if label.startswith("gtn:"):
            record["speedup_over"] = {k: m / means[label] for k, m in real.items()}
        records.append(record)
    return records


def render_table(records: list[dict[str, Any]]) -> str:
    lines = [
        "# Proxy seconds, measured together",
        "",
        "`python -m benchmarks.proxy_seconds`: each proxy scores the same architectures of the "
        "truth set once, interleaved in one process (one torch thread), so the seconds of one "
        "table were taken under the same load; a GTN proxy's speed-up over real:K is real:K's "
        "mean seconds over its own, in the same run. Compare seconds only within one table.",
    ]
    for truth in dict.fromkeys(r["truth"] for r in records):
        rows = [r for r in records if r["truth"] == truth]
        first = rows[0]
        reals = [r["proxy"] for r in rows if r["proxy"].startswith("real:")]
        lines += [
            "",
            f"## {truth}: {first['architectures']} architectures (its first {first['skip']} "
            f"left out), seed {first['seed']}, {first['eval_examples']} validation images",
            "",
            "| proxy | s / eval, mean ± sd | median | "
            + " | ".join(f"x {k}" for k in reals)
            + " |",
            "|---|---|---|" + "---|" * len(reals),
        ]
        for r in rows:
            over = r.get("speedup_over", {})
            ratios = " | ".join(f"{over[k]:.2f}x" if k in over else "-" for k in reals)
            lines.append(
                f"| {r['proxy']} | {r['seconds_mean']:.2f} ± {r['seconds_sd']:.2f} | "
                f"{r['seconds_median']:.2f} | {ratios} |"
            )
        lines += ["", machine_line(rows)]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--truth", type=Path, default=TRUTH, help="the truth-set file")
    parser.add_argument("--teacher", action="append", default=[], metavar="NAME=RUN",
                        help="a finished teacher run, scored as gtn:T (repeatable)")  # fmt: skip
    parser.add_argument("--proxies", default=",".join(PROXIES))
    parser.add_argument("--architectures", type=int, default=6)
    parser.add_argument("--skip", type=int, default=10, help="leave the set's first N out")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval-examples", type=int, default=5000)
    parser.add_argument("--real-lr", type=float, default=0.05)
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder of proxy_seconds.json")
    parser.add_argument("--blueprint", default=None, help="network size (default: the set's)")
    args = parser.parse_args(argv)
    if args.architectures < 2:
        raise SystemExit("--architectures: at least 2 (a spread needs two)")
    proxies = [p.strip() for p in args.proxies.split(",") if p.strip()]
    teachers = parse_teachers(args.teacher)
    seconds = measure(
        args.truth, proxies, teachers, architectures=args.architectures, skip=args.skip,
        seed=args.seed, eval_examples=args.eval_examples, real_lr=args.real_lr,
        blueprint=args.blueprint,
    )  # fmt: skip
    common = {"kind": "proxy_seconds", "seed": args.seed, "skip": args.skip,
              "eval_examples": args.eval_examples, "blueprint": args.blueprint,
              "teachers": teachers,
              "machine": describe_machine()}  # fmt: skip
    records = records_of(seconds, args.truth, common)
    write_records(args.out, "proxy_seconds", records, lambda r: r["truth"], render_table)
    print(render_table(records), end="")


if __name__ == "__main__":
    main()
