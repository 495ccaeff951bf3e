"""Simulated-search benchmark: what a random search with each proxy returns for a budget of
seconds, on the truth sets, from the scores the rank-correlation benchmark recorded.

    python -m benchmarks.simulate [--budgets 10m,30m,100m] [--orders 1000] [--seed 0]

For every truth set with proxy records in ``benchmarks/results/rankcorr.json`` (each carries
every architecture's score and measured seconds, and what one search pays once: real:K's
learning-rate tuning, a teacher's meta-training), a random search over the set's
architectures is replayed ``--orders`` times (:mod:`gtnas.analysis.simulate`): it pays each
evaluation's seconds in a random order and returns the proxy's best of what it could pay for.
A gtn:K proxy is shown twice: paying its teacher's meta-training, and with it spread over
``--amortise`` evaluations. Nothing is trained or scored here, so the whole benchmark takes
seconds and reproduces exactly from the records and the seed.

Writes ``benchmarks/results/simulate.json`` (one record per truth set, proxy and budget, with
the mean and spread of the returned architecture's truth accuracy and regret), ``simulate.md``
(the same as tables) and one regret-against-seconds plot per set in ``results/simulate/``.
When a proxy was scored by more than one rankcorr preset, the last record is used.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any

from benchmarks.results import argument_parser, machine_line, write_records

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"
TRUTH = ROOT / "truth"


def scored_sets(records: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """truth set -> proxy -> its last rankcorr proxy record that carries scores and costs."""
    sets: dict[str, dict[str, dict[str, Any]]] = {}
    for record in records:
        if record.get("kind") == "proxy" and record.get("scores") and record.get("costs"):
            sets.setdefault(record["truth"], {})[record["proxy"]] = record
    return sets


def judged_truth(
    truth_name: str, proxies: dict[str, dict[str, Any]], truth_dir: Path
) -> tuple[Any, dict[str, dict[str, Any]]]:
    """(the truth file's architectures the records judged, in the records' order; the proxies
    judged on them). A calibrated teacher's architectures are left out of every proxy of its
    run (the records' ``left_out``); a record of another run (another left-out list than
    params', which every run measures) is dropped, with a line saying so; a file that grew
    after the records were written is cut to the architectures they cover.

    Records name their architectures (``genotypes``, aligned with ``scores``), and are matched
    to the file by name: a truth file's order is its build study's trial order, which a build
    continued on another machine can change (it did: two of the Fashion-MNIST set's cells
    swapped places at its 66th). Records written before they named them are matched by
    position, as the file stands."""
    from gtnas.analysis.rankcorr import without_architectures
    from gtnas.analysis.truthset import load_truth

    truth = load_truth(truth_dir / f"{truth_name}.json")
    reference = (proxies.get("params") or next(iter(proxies.values()))).get("left_out") or []
    kept = {name: r for name, r in proxies.items() if (r.get("left_out") or []) == reference}
    for name in sorted(set(proxies) - set(kept)):
        print(f"[simulate] {truth_name}: {name} left out other architectures (another run); "
              "not simulated", flush=True)  # fmt: skip
    judged = [g for g in truth.genotypes() if g not in set(reference)]
    if all(r.get("genotypes") for r in kept.values()):
        named = min((r["genotypes"] for r in kept.values()), key=len)
        every = [set(r["genotypes"]) for r in kept.values()]
        common = [g for g in named if all(g in names for names in every)]
        by_genotype = dict(zip(truth.genotypes(), truth.records, strict=True))
        absent = [g for g in common if g not in by_genotype]
        if absent:
            raise SystemExit(
                f"{truth_name}: the records name {len(absent)} architectures the file lacks "
                f"(e.g. {absent[0]}); re-run the rankcorr benchmark on the current file"
            )
        subset = replace(truth, records=tuple(by_genotype[g] for g in common))
    else:
        # A set still being built grows at its end: records scored at an earlier size cover
        # the first of its judged architectures, and are simulated on those.
        covered = min(len(r["scores"]) for r in kept.values())
        subset = without_architectures(truth, {}, set(reference) | set(judged[covered:]))[0]
    if len(subset) < len(judged):
        print(f"[simulate] {truth_name}: the records cover {len(subset)} of its "
              f"{len(judged)} judged architectures, simulated on those (the rankcorr "
              "benchmark's long preset scores the rest)", flush=True)  # fmt: skip
    return subset, kept


def recorded_columns(
    truth_name: str, proxies: dict[str, dict[str, Any]], truth: Any
) -> tuple[dict[str, tuple[list[Any], list[Any]]], dict[str, float]]:
    """(proxy -> (scores, seconds per architecture) in ``truth``'s order, proxy -> set-up
    seconds) from rankcorr proxy records (their "-inf" read back as -inf), matched to the
    architectures by name where the records name them, else by position; a SystemExit when
    the records do not cover ``truth``."""
    scored = {}
    for name, r in proxies.items():
        scores = [-math.inf if v == "-inf" else v for v in r["scores"]]
        costs = r["costs"]
        if r.get("genotypes"):
            at = {g: i for i, g in enumerate(r["genotypes"])}
            if any(g not in at for g in truth.genotypes()):
                raise SystemExit(f"{truth_name}: {name}'s records do not cover the set; re-run "
                                 "the rankcorr benchmark on the current file")  # fmt: skip
            order = [at[g] for g in truth.genotypes()]
            scores, costs = [scores[i] for i in order], [costs[i] for i in order]
        scored[name] = (scores, costs)
    lengths = {len(s) for s, _ in scored.values()}
    if lengths != {len(truth)}:
        raise SystemExit(
            f"{truth_name}: the recorded scores cover {sorted(lengths)} architectures, the "
            f"file {len(truth)}; re-run the rankcorr benchmark on the current file"
        )
    setups = {name: float(r.get("setup_seconds") or 0.0) for name, r in proxies.items()}
    return scored, setups


def simulate_set(
    truth_name: str,
    proxies: dict[str, dict[str, Any]],
    budgets: list[float],
    *,
    orders: int,
    amortise: int,
    seed: int,
    truth_dir: Path,
    out: Path,
) -> list[dict[str, Any]]:
    """One record per policy and budget for one truth set, and its plot."""
    from gtnas.analysis.simulate import run_simulation
    from gtnas.reports.proxy_plots import plot_regret_curves

    truth, proxies = judged_truth(truth_name, proxies, truth_dir)
    scored, setups = recorded_columns(truth_name, proxies, truth)
    result = run_simulation(
        truth.accuracies("test"), scored, budgets, setups=setups, amortise=amortise,
        orders=orders, seed=seed,
    )  # fmt: skip
    plot = out / "simulate" / f"{truth_name}.png"
    plot.parent.mkdir(parents=True, exist_ok=True)
    plot_regret_curves(
        plot, result.curves, marks=budgets,
        title=f"{truth_name}: random search by proxy ({orders} orders, seed {seed})",
    )  # fmt: skip
    machine = next(iter(proxies.values())).get("machine", {})
    records = []
    document = result.to_json()
    for name, policy in document["policies"].items():
        base = name.split(" (set-up")[0]
        for outcome in policy["at_budgets"]:
            records.append(
                {
                    "kind": "simulate",
                    "truth": truth_name,
                    "truth_complete": truth.complete,
                    "dataset": truth.dataset,
                    "policy": name,
                    "proxy": base,
                    "preset": proxies[base]["preset"],
                    "budget_seconds": outcome["budget_seconds"],
                    "best_accuracy": result.best,
                    "setup_seconds": policy["setup_seconds"],
                    "amortised_over": policy["amortised_over"],
                    "seconds_per_evaluation": policy["seconds_per_evaluation"],
                    "orders": outcome["orders"],
                    "accuracy": outcome["accuracy"],
                    "regret": outcome["regret"],
                    "evaluations_mean": outcome["evaluations_mean"],
                    "unscored": outcome["unscored"],
                    "seed": seed,
                    "plot": str(plot.relative_to(out)),
                    "machine": machine,  # where the seconds paid were measured
                }
            )
    return records


def record_key(record: dict[str, Any]) -> tuple[Any, ...]:
    return (record["truth"], record["policy"], record["budget_seconds"])


def render_table(records: list[dict[str, Any]]) -> str:
    from gtnas.runtime.durations import format_duration

    lines = [
        "# Simulated-search benchmark",
        "",
        "Random search over a truth set's architectures with each proxy, paying its measured",
        "seconds per evaluation (and a teacher's meta-training, paid or amortised), returning the",
        "proxy's best: the truth accuracy (test, mean of seeds) of what it returned and its regret",
        "to the set's best, mean ± standard deviation over random orders (`python -m",
        "benchmarks.simulate`).",
    ]
    for truth in dict.fromkeys(r["truth"] for r in records):
        rows = [r for r in records if r["truth"] == truth]
        state = "" if rows[0].get("truth_complete", True) else " (a build under way)"
        best = 100 * rows[0]["best_accuracy"]
        lines += [
            "",
            f"## {truth}{state}: best {best:.2f}%, {rows[0]['orders']} orders, seed "
            f"{rows[0]['seed']}",
            "",
            f"![regret against seconds]({rows[0]['plot']})",
            "",
            "| policy | budget | returned accuracy % | regret (points) | evaluations | "
            "set-up | s/eval |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in sorted(rows, key=lambda r: (r["budget_seconds"], -r["accuracy"]["mean"])):
            setup = format_duration(r["setup_seconds"]) if r["setup_seconds"] else "-"
            unscored = f" ({r['unscored']} unscored)" if r["unscored"] else ""
            lines.append(
                f"| {r['policy']} | {format_duration(r['budget_seconds'])} | "
                f"{100 * r['accuracy']['mean']:.2f} ± {100 * r['accuracy']['std']:.2f} | "
                f"{100 * r['regret']['mean']:.2f} ± {100 * r['regret']['std']:.2f} | "
                f"{r['evaluations_mean']:.1f}{unscored} | {setup} | "
                f"{r['seconds_per_evaluation']:.3g} |"
            )
    lines += ["", machine_line(records, label=lambda r: r["truth"]), ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    import json

    from gtnas.runtime.durations import parse_duration

    parser = argument_parser(__doc__)
    parser.add_argument("--budgets", default="10m,30m,100m")
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--amortise", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rankcorr", type=Path, default=RESULTS / "rankcorr.json")
    parser.add_argument("--truth-dir", type=Path, default=TRUTH)
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder of simulate.json/.md")
    args = parser.parse_args(argv)
    if args.orders < 100:
        parser.error("--orders must be at least 100 (the spread needs them)")
    budgets = [parse_duration(b) for b in args.budgets.split(",") if b.strip()]
    sets = scored_sets(json.loads(args.rankcorr.read_text()))
    if not sets:
        raise SystemExit(
            f"no proxy records with scores in {args.rankcorr}; run the rankcorr benchmark "
            "first (python -m benchmarks.rankcorr --preset long)"
        )
    records: list[dict[str, Any]] = []
    for truth_name, proxies in sets.items():
        if not (args.truth_dir / f"{truth_name}.json").is_file():
            print(f"[simulate bench] {truth_name}: no truth file; skipped", flush=True)
            continue
        records += simulate_set(
            truth_name, proxies, budgets, orders=args.orders, amortise=args.amortise,
            seed=args.seed, truth_dir=args.truth_dir, out=args.out,
        )  # fmt: skip
    merged = write_records(args.out, "simulate", records, record_key, render_table)
    print(render_table(merged))


if __name__ == "__main__":
    main()
