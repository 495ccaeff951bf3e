"""Search-budget benchmark: which search policy returns the best architecture for 10, 30 and
100 minutes of these 2 cores, judged on the long-horizon truth sets.

    python -m benchmarks.search_budget [--budgets 10m,30m,100m] [--orders 1000] [--seed 0]
        [--pool N]

The policies a user can run with ``gtnas search``:

- ``random+P``: random search scored by one proxy P (``params``, ``flops``, ``synflow``,
  ``naswot``, ``real:K`` for every K the rank-correlation benchmark measured, ``gtn:K``, and
  the recorded rank averages such as ``rankavg:gtn:32+synflow``, nb201's default, ranked among
  the architectures drawn; a teacher's meta-training paid by the one search, and also spread
  over ``--amortise`` evaluations);
- ``sh:real``: successive halving (``--scheduler sh``) up real-data rungs, e.g. real:16 ->
  real:64 -> real:256 -> real:1200;
- ``sh:gtn-first``: the same with GTN as the first rung (gtn:K -> real:256 -> real:1200);
- ``sh:params-first``: the free floor as the first rung (params -> real:256 -> real:1200), the
  control that says whether a GTN rung earns its seconds;
- ``sh:synflow-first``: the zero-cost proxy that ranks the top half best on the long sets as
  the first rung (synflow -> real:256 -> real:1200), the second control;
- ``sh:synflow-gtn``: a free screen, then GTN, then real data (synflow -> gtn:K -> real:256 ->
  real:1200): GTN as a middle rung, where it sees only what synflow kept.

Each is replayed on every truth set with proxy records (scores and measured seconds) in
``benchmarks/results/rankcorr.json`` (:mod:`gtnas.analysis.simulate`; the records come from
``python -m benchmarks.rankcorr --preset long``), over ``--orders`` random orders of the set,
seeded: the truth accuracy (test, mean of seeds) of what each returns, mean and spread. Nothing
is trained, so the benchmark takes seconds and reproduces exactly from the records and the seed.
``random+real:K`` is shown for every K; the best K is marked, chosen on the same set (an oracle
choice, optimistic for that policy).

``--pool N`` replays every search over a random pool of N of the set's architectures instead
(a new pool per order; regret to the pool's best), kept beside the whole-set records: at 100
architectures a proxy that costs under a second pays for the whole set at every budget, so the
whole-set view judges it by its one argmax, one cell; over a thousand random pools it is judged
by how good its pick is on average. The default stays decided on the whole set; the table says
which policy the pooled view would choose.

``--real POLICY,... --real-budget 30m`` also runs each named policy for real on these cores
(``gtnas search`` with that time budget, the teacher of ``--teacher RUN`` for GTN rungs, the
ladders' brackets sized from the recorded seconds as in the simulation) and trains the
architecture it returns with the truth set's recipe and seeds: one record per policy
(``kind: search_budget_real``) with the returned architecture's truth accuracy beside what the
simulation expected at that budget.

Writes ``benchmarks/results/search_budget.json`` (one record per set, policy and budget) and
``search_budget.md``: the policies at each budget, the default policy (the best at 30 minutes
on the Fashion-MNIST set, else the first set, by the validation accuracy of what it returns:
the same searches read on the truth's validation split, so the test split never chooses) and
the targets of the multi-fidelity issue on the test accuracy (at 30 minutes the default at
least as good as the best single-proxy random search, better than random+params).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmarks.results import argument_parser, machine_line, write_records
from benchmarks.simulate import judged_truth, recorded_columns, scored_sets

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"
TRUTH = ROOT / "truth"
REAL_LADDER = ("real:16", "real:64", "real:256", "real:1200")
UPPER_RUNGS = ("real:256", "real:1200")
RANDOM_PROXIES = ("params", "flops", "synflow", "naswot")
DECIDING_BUDGET = 1800.0  # the default policy is the best (on validation) at 30 minutes
PREFERRED_SET = "fashion-mnist"


def gtn_proxy(proxies: dict[str, Any]) -> str | None:
    """The GTN proxy the set was scored with (the one with the most steps)."""
    gtns = [p for p in proxies if p.startswith("gtn:") and "x" not in p]
    return max(gtns, key=lambda p: int(p.split(":")[1]), default=None)


def policies_of(
    proxies: dict[str, Any],
    real_ladder: tuple[str, ...] = REAL_LADDER,
    upper_rungs: tuple[str, ...] = UPPER_RUNGS,
) -> tuple[list[str], dict[str, tuple[str, ...]]]:
    """(proxies searched at random, ladders) that the set's records allow."""
    randoms = [p for p in RANDOM_PROXIES if p in proxies]
    randoms += sorted((p for p in proxies if p.startswith("real:") and "x" not in p),
                      key=lambda p: int(p.split(":")[1]))  # fmt: skip
    gtn = gtn_proxy(proxies)
    if gtn:
        randoms.append(gtn)
    # rank averages (nb201's default is one: rankavg:gtn:32+synflow), ranked among what is drawn
    randoms += sorted(p for p in proxies if p.startswith("rankavg:"))
    ladders: dict[str, tuple[str, ...]] = {}
    real = tuple(p for p in real_ladder if p in proxies)
    upper = tuple(p for p in upper_rungs if p in proxies)
    if len(real) >= 2:
        ladders["sh:real"] = real
    if gtn and upper:
        ladders["sh:gtn-first"] = (gtn, *upper)
    if "params" in proxies and upper:
        ladders["sh:params-first"] = ("params", *upper)
    if "synflow" in proxies and upper:
        ladders["sh:synflow-first"] = ("synflow", *upper)
        if gtn:
            ladders["sh:synflow-gtn"] = ("synflow", gtn, *upper)
    return randoms, ladders


def policy_name(name: str) -> str:
    """A simulation policy's name as this benchmark shows it (random searches: random+P)."""
    return name if name.startswith("sh:") else f"random+{name}"


def budget_set(
    truth_name: str,
    proxies: dict[str, dict[str, Any]],
    budgets: list[float],
    *,
    orders: int,
    amortise: int,
    eta: int,
    seed: int,
    truth_dir: Path,
    real_ladder: tuple[str, ...] = REAL_LADDER,
    upper_rungs: tuple[str, ...] = UPPER_RUNGS,
    pool: int | None = None,
) -> list[dict[str, Any]]:
    """One record per policy and budget on one truth set (each search over a random ``pool``
    of it when given)."""
    from gtnas.analysis.simulate import run_simulation

    truth, proxies = judged_truth(truth_name, proxies, truth_dir)
    if pool is not None and pool > len(truth):
        raise SystemExit(f"--pool {pool}: {truth_name} has {len(truth)} architectures to "
                         "search; give a smaller pool")  # fmt: skip
    scored, setups = recorded_columns(truth_name, proxies, truth)
    randoms, ladders = policies_of(proxies, real_ladder, upper_rungs)
    common = {"setups": setups, "amortise": amortise, "orders": orders, "seed": seed,
              "ladders": ladders, "eta": eta, "proxies": randoms, "points": 2,
              "pool": pool}  # fmt: skip
    result = run_simulation(truth.accuracies("test"), scored, budgets, **common)
    # the same searches (same orders, the same proxy scores, so the same returns) read on the
    # validation split: what the default policy is chosen by, never the test split
    on_val = run_simulation(truth.accuracies("val"), scored, budgets, **common).to_json()
    machine = next(iter(proxies.values())).get("machine", {})

    def bracket(name: str, seconds: float) -> int | None:
        """What a ladder draws at ``seconds`` (sized from the recorded seconds, as ``gtnas
        search`` must be told with --budget to run the same search)."""
        if name not in ladders:
            return None  # a random search, or a ladder with its set-up spread
        return min(result.policies[name].bracket_size(seconds), pool or len(truth))

    records = []
    for name, policy in result.to_json()["policies"].items():
        val_outcomes = on_val["policies"][name]["at_budgets"]
        for outcome, val_outcome in zip(policy["at_budgets"], val_outcomes, strict=True):
            records.append(
                {
                    "kind": "search_budget",
                    "truth": truth_name,
                    "truth_complete": truth.complete,
                    "dataset": truth.dataset,
                    "architectures": len(truth),
                    "pool": pool,
                    "policy": policy_name(name),
                    "rungs": list(ladders.get(name.split(" (set-up")[0], ())),
                    "eta": eta,
                    "bracket": bracket(name, outcome["budget_seconds"]),
                    "budget_seconds": outcome["budget_seconds"],
                    "best_accuracy": result.best,
                    "setup_seconds": policy["setup_seconds"],
                    "amortised_over": policy["amortised_over"],
                    "orders": outcome["orders"],
                    "accuracy": outcome["accuracy"],
                    "val_accuracy": val_outcome["accuracy"],
                    "regret": outcome["regret"],
                    "evaluations_mean": outcome["evaluations_mean"],
                    "unscored": outcome["unscored"],
                    "seed": seed,
                    "machine": machine,
                }
            )
    mark_best_real(records)
    return records


def mark_best_real(records: list[dict[str, Any]]) -> None:
    """Mark, per budget, the random+real:K with the best mean validation accuracy (chosen on
    the same set: an oracle choice)."""
    for budget in {r["budget_seconds"] for r in records}:
        reals = [r for r in records if r["budget_seconds"] == budget
                 and r["policy"].startswith("random+real:")]  # fmt: skip
        if reals:
            max(reals, key=chosen_by)["best_real_k"] = True


def chosen_by(record: dict[str, Any]) -> float:
    """What a policy is chosen by: the mean validation accuracy of what it returns (records
    written before it was kept: the test accuracy)."""
    return float(record.get("val_accuracy", record["accuracy"])["mean"])


def decide(
    records: list[dict[str, Any]], pool: int | None = None, budget: float = DECIDING_BUDGET
) -> dict[str, Any] | None:
    """The default policy (the best mean validation accuracy of what it returns at 30 minutes,
    or ``budget``, on the preferred set when it was measured) and the targets checked against
    it on the test accuracy; from the searches over the whole set, or those over random pools
    of ``pool``."""
    at = [r for r in records if r["kind"] == "search_budget"
          and r["budget_seconds"] == budget and r.get("pool") == pool]  # fmt: skip
    if not at:
        return None
    sets = sorted({r["truth"] for r in at}, key=lambda s: not s.startswith(PREFERRED_SET))
    chosen = [r for r in at if r["truth"] == sets[0]]
    paid = [r for r in chosen if r["amortised_over"] is None]  # a search pays its own set-up
    best = max(paid, key=chosen_by)
    # a random search scored by one proxy (a rank average combines several)
    singles = [r for r in paid if r["policy"].startswith("random+")
               and not r["policy"].startswith("random+rankavg:")]  # fmt: skip
    best_single = max(singles, key=chosen_by)
    params = next((r for r in paid if r["policy"] == "random+params"), None)
    return {
        "truth": sets[0],
        "budget_seconds": budget,
        "policy": best["policy"],
        "search": policy_search(best),
        "accuracy": best["accuracy"]["mean"],
        "best_single_proxy": best_single["policy"],
        "best_single_accuracy": best_single["accuracy"]["mean"],
        "at_least_best_single": best["accuracy"]["mean"] >= best_single["accuracy"]["mean"],
        "above_params": None if params is None
        else best["accuracy"]["mean"] > params["accuracy"]["mean"],
    }  # fmt: skip


def policy_search(record: dict[str, Any]) -> dict[str, Any]:
    """The ``gtnas search`` values that run a record's policy: ``random+P`` scores with P; a
    ladder climbs its rungs by successive halving, drawing the bracket its budget afforded."""
    if record["policy"].startswith("random+"):
        return {"proxy": record["policy"].removeprefix("random+")}
    rungs = record["rungs"]
    return {"proxy": rungs[0], "ladder": rungs[1:], "scheduler": "sh", "eta": record["eta"],
            "budget": record["bracket"]}  # fmt: skip


def time_budget_defaults(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What ``gtnas search`` defaults to under each measured time budget
    (``src/gtnas/cli/search_time_defaults.json``'s entries for the preferred set's space): the
    policy decided at that budget, on the whole set, by validation accuracy."""
    from gtnas.runtime.durations import format_duration

    budgets = sorted({r["budget_seconds"] for r in records
                      if r["kind"] == "search_budget" and r.get("pool") is None})  # fmt: skip
    entries = []
    for budget in budgets:
        decided = decide(records, None, budget)
        if decided is not None:
            entries.append({"up_to": format_duration(budget), "policy": decided["policy"],
                            "measured_on": decided["truth"], **decided["search"]})  # fmt: skip
    return entries


def search_config(
    policy: str,
    truth: Any,
    proxies: dict[str, dict[str, Any]],
    ladders: dict[str, tuple[str, ...]],
    *,
    budget: float,
    eta: int,
    seed: int,
    teacher: str | None,
    workers: int,
) -> Any:
    """The ``gtnas search`` configuration that runs ``policy`` (``random+P`` or a ladder) on
    the truth set's space, blueprint and data set within ``budget`` seconds; a ladder's bracket
    is sized from the recorded seconds, as the simulation sizes it."""
    from benchmarks.rankcorr import PRESETS as RANKCORR_PRESETS
    from gtnas.analysis.simulate import ladder_policies
    from gtnas.config import config_from_dict, config_to_dict, merge_values
    from gtnas.search.pipeline import SearchConfig

    # the proxies as the rankcorr preset scored them (its blueprint, else the set's; its images)
    scoring = RANKCORR_PRESETS[next(iter(proxies.values()))["preset"]]
    values: dict[str, Any] = {
        "dataset": truth.dataset,
        "space": truth.space,
        "space_options": truth.space_options,
        "blueprint": scoring["blueprint"] or truth.blueprint,
        "strategy": "random",
        "seed": seed,
        "workers": workers,
        "threads": 1,
        "eval_examples": scoring["eval_examples"],
        "time_budget": budget,
        "top_k": 1,
        "teacher": {"run": teacher},
    }
    if policy.startswith("random+"):
        values.update(proxy=policy.removeprefix("random+"), budget=len(truth) * 100)
    else:
        rungs = ladders[policy]
        scored, setups = recorded_columns(truth.name, proxies, truth)
        (ladder, *_) = ladder_policies(policy, rungs, scored, eta=eta, setups=setups)
        values.update(proxy=rungs[0], ladder=list(rungs[1:]), scheduler="sh", eta=eta,
                      budget=ladder.bracket_size(budget))  # fmt: skip
    defaults = config_to_dict(SearchConfig())
    return config_from_dict(SearchConfig, merge_values(defaults, values))


def train_returned(genotype: str, truth_path: Path, folder: Path) -> dict[str, Any]:
    """Train ``genotype`` with the truth set's recipe at each of its seeds (resuming a cut-off
    training); the mean validation and test accuracy, as a truth record has them."""
    from gtnas.config import config_from_dict, config_to_dict, merge_values
    from gtnas.data import load_dataset
    from gtnas.search.proxies.final_training import default_truth_recipe
    from gtnas.spaces import parse_genotype
    from gtnas.training.recipe import FinalTrainConfig
    from gtnas.training.trainer import RESULT_FILE, train_network

    document = json.loads(truth_path.read_text())
    recipe = document.get("recipe") or {
        **config_to_dict(default_truth_recipe()),
        **{k: document[k] for k in ("epochs", "train_subset", "blueprint") if k in document},
        "dataset": document["dataset"],
    }
    space, parsed = parse_genotype(genotype, document.get("space_options"))
    dataset = load_dataset(document["dataset"], quiet=True)
    results = []
    from gtnas.analysis.truthset import load_truth

    seeds = load_truth(truth_path).training_seeds() or [document.get("seed", 0)]
    for seed in seeds:
        config = config_from_dict(FinalTrainConfig, merge_values(recipe, {"seed": seed}))
        run = folder / f"seed{seed}"
        if not (run / RESULT_FILE).is_file():
            resume = (run / "config.json").is_file()
            train_network(space, parsed, dataset, config, run, resume=resume, show_progress=False)
        results.append(json.loads((run / RESULT_FILE).read_text()))
    return {
        "val_accuracy": sum(r["val_accuracy"] for r in results) / len(results),
        "test_accuracy": sum(r["test_accuracy"] for r in results) / len(results),
        "seeds": len(results),
        "train_seconds": sum(r["train_seconds"] for r in results),
    }


def real_runs(
    names: list[str],
    truth_name: str,
    proxies: dict[str, dict[str, Any]],
    simulated: list[dict[str, Any]],
    *,
    budget: float,
    eta: int,
    seed: int,
    teacher: str | None,
    workers: int,
    truth_dir: Path,
    work: Path,
    real_ladder: tuple[str, ...] = REAL_LADDER,
    upper_rungs: tuple[str, ...] = UPPER_RUNGS,
) -> list[dict[str, Any]]:
    """Each named policy run for real within ``budget`` seconds, its returned architecture
    trained with the truth recipe; resumable (the studies and trainings live under ``work``)."""
    from gtnas.analysis.truthset import load_truth
    from gtnas.search.pipeline import SearchPipeline

    truth_path = truth_dir / f"{truth_name}.json"
    truth = load_truth(truth_path)
    judged, _ = judged_truth(truth_name, proxies, truth_dir)  # what the records cover
    _, ladders = policies_of(proxies, real_ladder, upper_rungs)
    known = dict(zip(truth.genotypes(), truth.accuracies("test"), strict=True))
    records = []
    for name in names:
        if not name.startswith("random+") and name not in ladders:
            raise SystemExit(f"--real {name}: not a policy of this set ({', '.join(ladders)})")
        config = search_config(name, judged, proxies, ladders, budget=budget, eta=eta,
                               seed=seed, teacher=teacher, workers=workers)  # fmt: skip
        study = f"{truth_name}-{name.replace(':', '-').replace('+', '-')}-s{seed}"
        pipeline = SearchPipeline(study, work, config=config)
        outcome = pipeline.run(final=False)
        # what the search spent over all its sessions (a run cut off and continued included),
        # from the study's own clock: its set-up and each session's evaluations
        searched = pipeline.elapsed()
        returned = outcome.top[0].genotype
        trained = train_returned(returned, truth_path, work / study / "returned")
        expected = next((r for r in simulated if r["policy"] == name
                         and r["budget_seconds"] == budget), None)  # fmt: skip
        records.append({
            "kind": "search_budget_real", "truth": truth_name, "policy": name,
            "budget_seconds": budget, "search_seconds": searched,
            "evaluations": outcome.progress.evaluated,
            "returned": returned, "returned_in_truth_set": returned in known,
            "truth_set_accuracy": known.get(returned), "trained": trained,
            "simulated_accuracy": None if expected is None else expected["accuracy"],
            "seed": seed,
        })  # fmt: skip
    return records


def record_key(record: dict[str, Any]) -> tuple[Any, ...]:
    return (record["kind"], record["truth"], record.get("pool"), record["policy"],
            record["budget_seconds"])  # fmt: skip


def pct(fraction: float) -> str:
    """A fraction as a percentage with two decimals, rounded once at 1e-9 first: a mean over
    orders equal to the set's best (up to float error) prints as that best."""
    return f"{round(100 * fraction, 9):.2f}"


def saturation_lines(rows: list[dict[str, Any]], architectures: int) -> list[str]:
    """Per budget, how many random searches scored every architecture of the set: those return
    their proxy's best of the whole set, so the set's size, not the budget, bounds them and the
    table cannot separate them."""
    from gtnas.runtime.durations import format_duration

    random = [r for r in rows if r["policy"].startswith("random+")]
    parts = []
    for budget in sorted({r["budget_seconds"] for r in random}):
        at = [r for r in random if r["budget_seconds"] == budget]
        whole = sum(r["evaluations_mean"] >= architectures for r in at)
        parts.append(f"{format_duration(budget)}: {whole} of {len(at)}")
    if not parts:
        return []
    return [
        "Random searches that scored all the set's architectures, by budget ("
        + "; ".join(parts)
        + "): these return their proxy's best of the set, whatever the budget; only a larger "
        "set (or `--pool`) separates them.",
        "",
    ]


def render_table(all_records: list[dict[str, Any]]) -> str:
    from gtnas.runtime.durations import format_duration

    records = [r for r in all_records if r["kind"] == "search_budget"]
    real = [r for r in all_records if r["kind"] == "search_budget_real"]

    lines = [
        "# Search-budget benchmark",
        "",
        "What each search policy returns for a budget of seconds on these 2 cores, replayed on",
        "the truth sets from the proxies' recorded scores and seconds: the truth accuracy (test,",
        "mean of seeds) of the returned architecture, mean ± standard deviation over random",
        "orders (`python -m benchmarks.search_budget`). `sh:` policies are successive halving up",
        "the rungs shown; a set-up (meta-training, lr tuning) is paid by the one search unless",
        "marked as spread over evaluations. (best K): the best `random+real:K`, chosen on the",
        "same set. Policies are chosen by the validation accuracy of what they return (the",
        "same searches read on the truth's validation split), never by the test accuracy.",
    ]
    pools = sorted({r.get("pool") for r in records}, key=lambda p: (p is not None, p or 0))
    for pool in pools:
        decision = decide(records, pool)
        if not decision:
            continue
        met = "met" if decision["at_least_best_single"] and decision["above_params"] else "not met"
        what = (
            f"**Default policy** (best validation accuracy at 30 minutes on {decision['truth']})"
            if pool is None
            else f"Searching random pools of {pool} instead (a check, not the decision), the "
            f"best at 30 minutes on {decision['truth']} would be"
        )
        lines += [
            "",
            f"{what}: `{decision['policy']}`, {pct(decision['accuracy'])}%; the best single-proxy "
            f"random search `{decision['best_single_proxy']}` "
            f"{pct(decision['best_single_accuracy'])}%. Targets (at least the best single "
            f"proxy, above random+params): {met}.",
        ]
    entries = time_budget_defaults(records)
    if entries:
        lines += [
            "",
            "Under a time budget `gtnas search` defaults to the policy decided at the smallest "
            "measured budget that covers it (`src/gtnas/cli/search_time_defaults.json`, a test "
            "holds it equal to these records; above the largest, the space's own default): "
            + "; ".join(f"{e['up_to']}: `{e['policy']}`" for e in entries)
            + ".",
        ]
    groups = dict.fromkeys((r["truth"], r.get("pool")) for r in records)
    for truth, pool in sorted(groups, key=lambda g: (g[1] is not None, g[1] or 0)):
        rows = [r for r in records if r["truth"] == truth and r.get("pool") == pool]
        first = rows[0]
        state = "" if first.get("truth_complete", True) else " (a build under way)"
        space = "" if pool is None else f", each search in a random pool of {pool}"
        lines += [
            "",
            f"## {truth}{state}: {first['architectures']} architectures{space}, best "
            f"{pct(first['best_accuracy'])}%, {first['orders']} orders, seed {first['seed']}",
            "",
            *saturation_lines(rows, pool or first["architectures"]),
            "| policy | budget | returned accuracy % | regret (points) | evaluations | set-up |",
            "|---|---|---|---|---|---|",
        ]
        for r in sorted(rows, key=lambda r: (r["budget_seconds"], -r["accuracy"]["mean"])):
            setup = format_duration(r["setup_seconds"]) if r["setup_seconds"] else "-"
            name = r["policy"] + (" (best K)" if r.get("best_real_k") else "")
            if r["rungs"]:
                name += f" [{' > '.join(r['rungs'])}, eta {r['eta']}]"
            lines.append(
                f"| {name} | {format_duration(r['budget_seconds'])} | "
                f"{pct(r['accuracy']['mean'])} ± {pct(r['accuracy']['std'])} | "
                f"{pct(r['regret']['mean'])} ± {pct(r['regret']['std'])} | "
                f"{r['evaluations_mean']:.1f} | {setup} |"
            )
    if real:
        lines += [
            "",
            "## Real runs: each policy run on these cores, what it returned trained with the "
            "truth recipe",
            "",
            "| set | policy | budget | search s | returned (test %, mean of seeds) | "
            "simulated mean ± std | in the set |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in real:
            simulated = r["simulated_accuracy"]
            expected = "-" if simulated is None else (
                f"{pct(simulated['mean'])} ± {pct(simulated['std'])}")  # fmt: skip
            lines.append(
                f"| {r['truth']} | {r['policy']} | {format_duration(r['budget_seconds'])} | "
                f"{r['search_seconds']:.0f} | {pct(r['trained']['test_accuracy'])} | "
                f"{expected} | {'yes' if r['returned_in_truth_set'] else 'no'} |"
            )
    if records:
        lines += ["", machine_line(records, label=lambda r: r["truth"])]
    return "\n".join([*lines, ""])


def main(argv: list[str] | None = None) -> None:
    from gtnas.runtime.durations import parse_duration

    parser = argument_parser(__doc__)
    parser.add_argument("--budgets", default="10m,30m,100m")
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--amortise", type=int, default=1000)
    parser.add_argument("--eta", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pool", type=int, help="search random pools of this many of the set's "
                        "architectures (kept beside the whole-set records)")  # fmt: skip
    parser.add_argument("--rankcorr", type=Path, default=RESULTS / "rankcorr.json")
    parser.add_argument("--preset", default="long", help="rankcorr preset whose records to use")
    parser.add_argument("--truth-dir", type=Path, default=TRUTH)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--real-ladder", default=",".join(REAL_LADDER), help="sh:real's rungs")
    parser.add_argument(
        "--upper-rungs", default=",".join(UPPER_RUNGS), help="the rungs above a first one"
    )
    parser.add_argument("--real", default="", help="policies to run for real, comma-separated")
    parser.add_argument("--real-budget", default="30m", help="the real runs' time budget")
    parser.add_argument("--teacher", help="a finished teacher run for policies with gtn:K")
    parser.add_argument("--workers", type=int, default=2, help="the real runs' workers")
    parser.add_argument("--work", type=Path, default=Path(__file__).parent / "runs" / "budget")
    args = parser.parse_args(argv)
    real_ladder = tuple(r for r in args.real_ladder.split(",") if r)
    upper_rungs = tuple(r for r in args.upper_rungs.split(",") if r)
    if args.orders < 20:
        parser.error("--orders must be at least 20 (the spread needs them)")
    if args.pool is not None and args.pool < 2:
        parser.error("--pool must be at least 2 architectures")
    budgets = [parse_duration(b) for b in args.budgets.split(",") if b.strip()]
    records_in = [r for r in json.loads(args.rankcorr.read_text())
                  if r.get("preset") == args.preset]  # fmt: skip
    sets = scored_sets(records_in)
    if not sets:
        raise SystemExit(
            f"no {args.preset} proxy records with scores in {args.rankcorr}; run "
            f"python -m benchmarks.rankcorr --preset {args.preset} first"
        )
    real_names = [n.strip() for n in args.real.split(",") if n.strip()]
    real_budget = parse_duration(args.real_budget)
    if real_names and real_budget not in budgets:
        budgets.append(real_budget)  # the simulation's expectation beside each real run
    records: list[dict[str, Any]] = []
    for truth_name, proxies in sets.items():
        if not (args.truth_dir / f"{truth_name}.json").is_file():
            print(f"[search_budget] {truth_name}: no truth file; skipped", flush=True)
            continue
        simulated = budget_set(
            truth_name, proxies, budgets, orders=args.orders, amortise=args.amortise,
            eta=args.eta, seed=args.seed, truth_dir=args.truth_dir, real_ladder=real_ladder,
            upper_rungs=upper_rungs, pool=args.pool,
        )  # fmt: skip
        records += simulated
        if real_names:
            records += real_runs(
                real_names, truth_name, proxies, simulated, budget=real_budget, eta=args.eta,
                seed=args.seed, teacher=args.teacher, workers=args.workers,
                truth_dir=args.truth_dir, work=args.work, real_ladder=real_ladder,
                upper_rungs=upper_rungs,
            )  # fmt: skip
    merged = write_records(args.out, "search_budget", records, record_key, render_table)
    print(render_table(merged))


if __name__ == "__main__":
    main()
