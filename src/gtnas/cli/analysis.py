"""``gtnas rank-corr`` (proxies against a truth set, the paper's figure 5) and ``gtnas speedup``
(how much faster gtn:K ranks architectures than real data)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from gtnas.errors import ConfigError

console = Console()
DEFAULT_OUT = Path("runs/rankcorr")

TRUTH_HELP = "A truth-set JSON (truth/*.json, or `gtnas truth export`)."
METRIC_HELP = (
    "Truth to correlate with: test (default, to report; the paper correlates with final "
    "accuracy) or val (to choose a proxy or recipe: the test split never chooses)."
)
OUT_HELP = "Folder for the JSON, the plots and the score cache (studies.db)."
REAL_BATCH_HELP = "Batch size of real:K (default: 128; a teacher's, to compare at equal batch)."
EVAL_EXAMPLES_HELP = "Validation images a trained proxy learner is scored on."

# The options both commands take (typer's Annotated form: the default stays in the signature).
Truth = Annotated[Path, typer.Option("--truth", help=TRUTH_HELP)]
TruthMetric = Annotated[str, typer.Option("--truth-metric", help=METRIC_HELP)]
Top = Annotated[float, typer.Option(help="The proxy's top fraction for the top-k correlations.")]
Out = Annotated[Path, typer.Option("--out", "-o", help=OUT_HELP)]
Storage = Annotated[
    str, typer.Option(help="Optuna storage URL. (default: sqlite:///OUT/studies.db)")
]
Blueprint = Annotated[
    str,
    typer.Option(
        help="Network size every proxy scores at. "
        "(default: gtn:K at the teacher's, the others at the truth set's)"
    ),
]
Workers = Annotated[int, typer.Option(help="Parallel evaluation processes.")]
Threads = Annotated[int, typer.Option(help="Torch threads per worker; 0: cores / workers.")]
Device = Annotated[str, typer.Option(help="cpu, cuda, cuda:N.")]
Seed = Annotated[int, typer.Option(help="Seed of the proxies' learners and data.")]
RealBatchSize = Annotated[int, typer.Option(help=REAL_BATCH_HELP)]
RealLr = Annotated[float, typer.Option(help="Fix the real:K learning rate (default: tuned).")]
EvalExamples = Annotated[int, typer.Option(help=EVAL_EXAMPLES_HELP)]
Resamples = Annotated[int, typer.Option(help="Bootstrap resamples for the 95% intervals.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress lines.")]
ARCHIVE_HELP = (
    "Also keep the scores as JSON here, one file per scoring study (small enough to commit); "
    "a fresh machine reads them instead of scoring again."
)
Archive = Annotated[Path, typer.Option(help=ARCHIVE_HELP)]


def _options(**values: Any) -> Any:
    """The ScoringOptions the three analysis commands share (a teacher run as a string; the
    options left unset take ScoringOptions' defaults)."""
    from gtnas.analysis.rankcorr import ScoringOptions

    for key in ("teacher", "archive"):
        if values.get(key) is not None:
            values[key] = str(values[key])
    return ScoringOptions(**{k: v for k, v in values.items() if v is not None})


def _scored(
    truth_path: Path,
    proxies: list[str],
    out: Path,
    options: Any,
    storage: str | None,
    quiet: bool,
) -> tuple[Any, dict[str, Any]]:
    from gtnas.analysis.rankcorr import score_truth_set
    from gtnas.analysis.truthset import load_truth

    truth = load_truth(truth_path)
    counter = {"done": 0}

    def on_stage(message: str) -> None:
        counter["done"] = 0
        if not quiet:
            console.print(f"[bold]{message}[/]", highlight=False)

    def on_result(record: Any) -> None:
        counter["done"] += 1
        if not quiet and counter["done"] % 25 == 0:
            console.print(f"  {counter['done']} scored", highlight=False)

    hooks = {"stage": on_stage, "result": on_result}
    scores = score_truth_set(truth, proxies, out, options, storage=storage, hooks=hooks)
    return _without_calibration(truth, scores, options.teacher, quiet)


def _without_calibration(
    truth: Any, scores: dict[str, Any], teacher: str | None, quiet: bool
) -> tuple[Any, dict[str, Any]]:
    """Leave out the architectures a teacher's ranking objective was fitted on (its run's
    calibration set): a proxy is never judged on them."""
    from gtnas.analysis.rankcorr import teacher_calibration, without_architectures

    left_out = teacher_calibration(truth, teacher)
    if not left_out:
        return truth, scores
    if not quiet:
        console.print(
            f"left out the {len(left_out)} architectures the teacher's ranking objective was "
            f"fitted on (its calibration set); {len(truth) - len(left_out)} remain",
            highlight=False,
        )
    return without_architectures(truth, scores, left_out)


def _check_metric(truth_metric: str, top: float) -> None:
    """Fail on bad options before anything is scored."""
    if truth_metric not in ("test", "val"):
        raise ConfigError(f"--truth-metric must be test or val, got {truth_metric!r}")
    if not 0 < top <= 1:
        raise ConfigError(f"--top must be a fraction in (0, 1], got {top}")


def rank_corr(
    truth: Truth,
    proxy: list[str] = typer.Option(
        ...,
        "--proxy",
        help="gtn:K, real:K, synflow, naswot, params, train:E, gtn:KxR (mean of R learners), "
        "gtn-schedule:K (real data, the teacher's lr/momentum), or a rank average such as "
        "rankavg:gtn:128+synflow (repeatable).",
    ),
    teacher: Path = typer.Option(
        None, help="Trained teacher run for gtn:K and gtn-schedule:K proxies."
    ),
    truth_metric: TruthMetric = "test",
    top: Top = 0.5,
    out: Out = DEFAULT_OUT,
    storage: Storage = None,
    blueprint: Blueprint = None,
    workers: Workers = 1,
    threads: Threads = 0,
    device: Device = "cpu",
    seed: Seed = 0,
    real_lr: RealLr = None,
    real_batch_size: RealBatchSize = None,
    eval_examples: EvalExamples = 2000,
    archive: Archive = None,
    resamples: Resamples = 1000,
    quiet: Quiet = False,
) -> None:
    """How well proxies rank a truth set's architectures (Spearman, Kendall; all and top 50%).

    Over all architectures and over the proxy's top 50% (the paper's measure), with bootstrap
    95% intervals, the truth set's noise ceiling and the free floor (params, flops); a scatter
    plot per proxy with its top 10% highlighted.

    Scores are cached in a study per proxy: a re-run costs nothing.
    """
    from gtnas.analysis.rankcorr import correlate, correlation_document, dumps, paired, safe_name
    from gtnas.reports.proxy_plots import plot_rank_scatter
    from gtnas.runtime.files import atomic_write_text

    _check_metric(truth_metric, top)
    options = _options(
        blueprint=blueprint, teacher=teacher, seed=seed, workers=workers, threads=threads,
        device=device, real_lr=real_lr, real_batch_size=real_batch_size,
        eval_examples=eval_examples, archive=archive,
    )  # fmt: skip
    from gtnas.analysis.ceiling import noise_ceiling, with_floor, yardstick_json

    truth_set, scores = _scored(truth, with_floor(proxy), out, options, storage, quiet)
    values = truth_set.accuracies(truth_metric)
    correlations = [
        correlate(s, values, truth_metric=truth_metric, top_fraction=top, resamples=resamples)
        for s in scores.values()
    ]
    ceiling = noise_ceiling(
        truth_set, truth_metric=truth_metric, top_fraction=top, resamples=resamples
    )
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{truth_set.name}-{truth_metric}"
    document = correlation_document(
        truth_set, correlations, scores, top_fraction=top, **yardstick_json(correlations, ceiling)
    )
    path = out / f"rankcorr-{stem}.json"
    atomic_write_text(path, dumps(document))
    for correlation in correlations:
        x, y = paired(scores[correlation.proxy], values)
        scored = [
            v for v in scores[correlation.proxy].scores if v is not None and not math.isnan(v)
        ]
        plot_rank_scatter(
            x,
            y,
            out / f"scatter-{stem}-{safe_name(correlation.proxy)}.png",
            correlation=correlation,
            truth_label=f"{truth_metric} accuracy",
            no_signal=[v == -math.inf for v in scored],
        )
    title = f"{truth_set.name}: proxies vs {truth_metric} accuracy ({_truth_label(truth_set)})"
    console.print(_table(correlations, title, ceiling))
    for name, repeated in scores.items():
        agreement = repeated.repeat_agreement()
        if agreement is not None:  # gtn:KxR: how noisy one of its learners is
            console.print(
                f"{name}: two of its single learners rank the architectures alike to Spearman "
                f"{agreement:.3f} (mean over pairs)",
                highlight=False,
            )
    console.print(f"wrote {path} and the scatter plots in {out}", highlight=False)


def _truth_label(truth: Any) -> str:
    seeds = truth.training_seeds()
    return "mean of seeds " + ", ".join(map(str, seeds)) if len(seeds) > 1 else f"seed {seeds[0]}"


def _table(correlations: list[Any], title: str, ceiling: Any = None) -> Table:
    """Every proxy with its intervals, the noise ceiling above them and each proxy's fraction
    of it, and a mark where a proxy does not beat the free floor (params, flops)."""
    from gtnas.analysis.ceiling import beats_floor, floor_of, fraction_of_ceiling

    floor = floor_of(correlations)
    table = Table(title=title, caption=_caption(ceiling, floor))
    columns = ("proxy", "n", "Spearman", "Kendall", "Spearman top", "Kendall top",
               "of ceiling (all / top)", "s/eval")  # fmt: skip
    for column in columns:
        table.add_column(column, justify="left" if column == "proxy" else "right")
    if ceiling is not None:
        r = ceiling.correlation.correlation
        table.add_row(
            f"noise ceiling (seed {ceiling.seeds[0]} vs {ceiling.seeds[1]})",
            f"{r.n}",
            _with_ci(r.spearman_all, r.ci95_all),
            _with_ci(r.kendall_all, ceiling.correlation.kendall_ci95_all),
            _with_ci(r.spearman_top, r.ci95_top),
            _with_ci(r.kendall_top, ceiling.correlation.kendall_ci95_top),
            "-",
            "",
        )
        cells = [_mean_ceiling(ceiling, name) for name in
                 ("spearman_all", "kendall_all", "spearman_top", "kendall_top")]  # fmt: skip
        table.add_row(f"ceiling for the mean of {ceiling.averaged} seeds", f"{r.n}", *cells,
                      "1 / 1", "", style="bold")  # fmt: skip
    for c in correlations:
        r = c.correlation
        fractions = fraction_of_ceiling(c, ceiling)
        beats = beats_floor(c, floor) if c.proxy not in ("params", "flops") else {}
        mark = {name: "" if beats.get(name, True) else " ≤floor" for name in fractions}
        table.add_row(
            c.proxy,
            f"{r.n}" + (f" ({c.missing} missing)" if c.missing else ""),
            _with_ci(r.spearman_all, r.ci95_all) + mark["spearman_all"],
            _with_ci(r.kendall_all, c.kendall_ci95_all) + mark["kendall_all"],
            _with_ci(r.spearman_top, r.ci95_top) + mark["spearman_top"],
            _with_ci(r.kendall_top, c.kendall_ci95_top) + mark["kendall_top"],
            " / ".join(_fraction(fractions[k]) for k in ("spearman_all", "spearman_top")),
            "" if c.seconds is None else f"{c.seconds:.3g}",
            style="dim" if c.proxy in ("params", "flops") else None,
        )
    return table


def _caption(ceiling: Any, floor: dict[str, float]) -> str:
    parts = []
    if ceiling is None:
        parts.append("no noise ceiling: the truth set has one training seed per architecture")
    else:
        parts.append(
            f"noise ceiling over the {ceiling.n} architectures with two seeds; proxies are "
            "judged against the seeds' mean, whose ceiling (a perfect proxy's expected figure, "
            "Spearman-Brown) is the fraction's denominator"
        )
    if floor:
        parts.append("≤floor: no better than params or flops (free) on that measure")
    return "; ".join(parts)


def _mean_ceiling(ceiling: Any, name: str) -> str:
    value = ceiling.for_mean(name)
    if value is None:
        return "-"
    low, high = ceiling.for_mean_interval(name)
    return f"{value:.3f} [{_or_dash(low)}, {_or_dash(high)}]"


def _or_dash(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _fraction(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _with_ci(value: float, interval: tuple[float, float]) -> str:
    return f"{value:.3f} [{interval[0]:.2f}, {interval[1]:.2f}]"


def speedup(
    truth: Truth,
    teacher: Path = typer.Option(..., help="Trained teacher run (gtn:K; its meta-training time)."),
    ks: str = typer.Option("16,32,64,128,256,512,1200", help="The K of the real:K curve."),
    gtn: str = typer.Option(
        "gtn:128", help="The GTN proxy compared: gtn:K, or a rank average with one."
    ),
    proxy: list[str] = typer.Option(
        None,
        "--proxy",
        help="Also place these on the same axes (repeatable). "
        "(default: synflow, naswot, rankavg:GTN+synflow)",
    ),
    measure: str = typer.Option(
        "spearman_top", help="spearman_top (the paper's), spearman_all, kendall_top, kendall_all."
    ),
    evaluations: int = typer.Option(
        None, help="Evaluations the meta-training time is spread over. (default: the set's size)"
    ),
    truth_metric: TruthMetric = "test",
    top: Top = 0.5,
    out: Out = DEFAULT_OUT,
    storage: Storage = None,
    blueprint: Blueprint = None,
    workers: Workers = 1,
    threads: Threads = 0,
    device: Device = "cpu",
    seed: Seed = 0,
    real_lr: float = typer.Option(
        None, help="Fix the real:K learning rate (default: tuned per K)."
    ),
    real_batch_size: RealBatchSize = None,
    eval_examples: EvalExamples = 2000,
    archive: Archive = None,
    resamples: Resamples = 1000,
    quiet: Quiet = False,
) -> None:
    """How much faster gtn:K ranks a truth set than real data, in steps and in seconds.

    The K (steps) and seconds at which real:K ranks the truth set as well as gtn:K, their
    ratios to gtn's, and the seconds ratio with the teacher's meta-training time amortised;
    one plot of correlation against cost for all proxies.
    """
    from gtnas.analysis.rankcorr import MEASURES, parse_proxies
    from gtnas.analysis.speedup import analyse_speedup, speedup_proxies, teacher_cost_seconds
    from gtnas.analysis.truthset import load_truth

    _check_metric(truth_metric, top)
    try:
        steps = [int(k) for k in ks.split(",") if k.strip()]
    except ValueError:
        raise ConfigError(f"--ks expects integers separated by commas, got {ks!r}") from None
    if measure not in MEASURES:
        raise ConfigError(f"--measure must be one of {', '.join(MEASURES)}, got {measure!r}")
    real, others, asked = speedup_proxies(steps, gtn, list(proxy) if proxy else None)
    parse_proxies(asked)  # bad names fail before anything runs
    options = _options(
        blueprint=blueprint, teacher=teacher, seed=seed, workers=workers, threads=threads,
        device=device, real_lr=real_lr, real_batch_size=real_batch_size,
        eval_examples=eval_examples, archive=archive,
    )  # fmt: skip
    truth_set, scores = _scored(truth, asked, out, options, storage, quiet)
    analysis = analyse_speedup(
        truth_set,
        scores,
        real=real,
        gtn=gtn,
        others=others,
        measure=measure,
        truth_metric=truth_metric,
        top_fraction=top,
        resamples=resamples,
        meta_seconds=teacher_cost_seconds(teacher, load_truth(truth)) if teacher else None,
        evaluations=evaluations,
    )
    from gtnas.reports.proxy_plots import write_speedup

    path, plot = write_speedup(analysis, out)
    console.print(
        _table(
            list(analysis.correlations.values()),
            f"{truth_set.name}: proxies vs {truth_metric} ({_truth_label(truth_set)})",
            analysis.ceiling,
        )
    )
    console.print(_speedup_table(analysis.speedup, gtn))
    console.print(f"wrote {path} and {plot}", highlight=False)


def _speedup_table(result: Any, gtn: str) -> Table:
    table = Table(title=f"speed-up of {gtn} over real:K ({result.measure})")
    table.add_column("")
    table.add_column("value", justify="right")
    bound = "" if result.match.bound == "interpolated" else f" ({result.match.bound})"
    amortised = result.amortised_seconds_factor
    rows = [
        (f"{gtn} correlation", f"{result.gtn.correlation:.3f}"),
        ("real steps to match", f"{result.match.steps:.0f}{bound}"),
        ("speed-up in steps", f"{result.steps_factor:.2f}x{bound}"),
        ("real seconds per evaluation at match", f"{result.match.seconds:.3g}"),
        (f"{gtn} seconds per evaluation", f"{result.gtn.seconds:.3g}"),
        ("speed-up in seconds", f"{result.seconds_factor:.2f}x{bound}"),
        (
            "teacher's cost, seconds (meta-training, calibration trainings)",
            "unknown" if result.meta_seconds is None else f"{result.meta_seconds:.0f}",
        ),
        (
            f"speed-up in seconds, that cost / {result.evaluations} evaluations",
            "unknown" if amortised is None else f"{amortised:.2f}x{bound}",
        ),
    ]
    for row in rows:
        table.add_row(*row)
    return table


def simulate(
    truth: Truth,
    proxy: list[str] = typer.Option(
        ...,
        "--proxy",
        help="A proxy to search with (repeatable; params and flops are always added).",
    ),
    budget: str = typer.Option(
        "10m,30m,100m", help="Search budgets, comma-separated: 90s, 10m, 1.5h, or seconds."
    ),
    teacher: Path = typer.Option(
        None, help="Trained teacher run for gtn:K proxies (its meta-training is a set-up cost)."
    ),
    orders: int = typer.Option(100, help="Random search orders simulated per proxy."),
    pool: int = typer.Option(
        None,
        help="Each search draws from a random pool of this many of the set's architectures, "
        "its regret to the pool's best: many small spaces, so that a proxy cheap enough to "
        "score the whole set is judged by its pick over many spaces, not one. (default: the "
        "whole set)",
    ),
    amortise: int = typer.Option(
        1000,
        help="Also show set-up costs (meta-training) spread over this many evaluations; 0: no.",
    ),
    ladder: list[str] = typer.Option(
        [],
        "--ladder",
        help="Also simulate successive halving up a ladder of proxies, cheap to dear: "
        "NAME=P1,P2,... e.g. sh-gtn=gtn:32,real:256,real:1200 (repeatable).",
    ),
    eta: int = typer.Option(3, help="The ladders' reduction factor (the best 1/eta climb)."),
    truth_metric: TruthMetric = "test",
    out: Out = Path("runs/simulate"),
    storage: Storage = None,
    blueprint: Blueprint = None,
    workers: Workers = 1,
    threads: Threads = 0,
    device: Device = "cpu",
    seed: Seed = 0,
    real_lr: RealLr = None,
    real_batch_size: RealBatchSize = None,
    eval_examples: EvalExamples = 2000,
    archive: Archive = None,
    quiet: Quiet = False,
) -> None:
    """Replay random search on a truth set per proxy and budget: what it returns, its regret.

    Each proxy pays its measured seconds per evaluation (and a teacher's meta-training); at
    each budget, the truth accuracy of what the search returns and its regret to the set's
    best, over many random orders, and a regret-against-seconds plot.

    Scores come from the same cached scoring studies as rank-corr (a re-run costs nothing).
    """
    from gtnas.analysis.ceiling import with_floor
    from gtnas.analysis.simulate import run_simulation, setup_seconds
    from gtnas.analysis.speedup import teacher_cost_seconds
    from gtnas.analysis.truthset import load_truth
    from gtnas.reports.proxy_plots import plot_regret_curves
    from gtnas.runtime.durations import format_duration, parse_duration
    from gtnas.runtime.files import atomic_write_text
    from gtnas.search.proxies.population import plain_proxies

    _check_metric(truth_metric, 0.5)
    budgets = [parse_duration(b) for b in budget.split(",") if b.strip()]
    if not budgets:
        raise ConfigError("--budget needs at least one duration, e.g. 10m,30m")
    if orders < 1 or amortise < 0:
        raise ConfigError("--orders must be at least 1 and --amortise at least 0")
    options = _options(
        blueprint=blueprint, teacher=teacher, seed=seed, workers=workers, threads=threads,
        device=device, real_lr=real_lr, real_batch_size=real_batch_size,
        eval_examples=eval_examples, archive=archive,
    )  # fmt: skip
    ladders = parse_ladders(ladder)
    if eta < 2:
        raise ConfigError(f"--eta must be at least 2, got {eta}")
    rungs = [rung for steps in ladders.values() for rung in steps]
    asked = [*with_floor(proxy), *rungs]
    # a rank average is simulated from its components' scores (ranked among what is drawn)
    scored_proxies = list(dict.fromkeys([*asked, *plain_proxies(asked)]))
    truth_set, scores = _scored(truth, scored_proxies, out, options, storage, quiet)
    meta = teacher_cost_seconds(teacher, load_truth(truth)) if teacher else None
    infos = {name: s.info for name, s in scores.items()}
    setups = {name: setup_seconds(name, infos, meta) for name in scores}
    result = run_simulation(
        truth_set.accuracies(truth_metric),
        {name: (s.scores, s.costs or [s.seconds] * len(s.scores)) for name, s in scores.items()},
        budgets,
        setups=setups,
        amortise=amortise or None,
        orders=orders,
        seed=seed,
        ladders=ladders,
        eta=eta,
        proxies=with_floor(proxy),
        pool=pool,
    )
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{truth_set.name}-{truth_metric}"
    document = {
        "truth": truth_set.name,
        "truth_digest": truth_set.digest(),
        "truth_metric": truth_metric,
        "orders": orders,
        "seed": seed,
        "amortise": amortise or None,
        **result.to_json(),
    }
    path = out / f"simulate-{stem}.json"
    space = "" if pool is None else f", each in a random pool of {pool}"
    atomic_write_text(path, json.dumps(document, indent=1, allow_nan=False) + "\n")
    plot = plot_regret_curves(
        out / f"simulate-{stem}.png",
        result.curves,
        title=f"{truth_set.name}: simulated search by budget ({orders} orders{space}, seed {seed})",
        marks=budgets,
    )
    table = Table(title=f"{truth_set.name}: simulated search ({truth_metric} accuracy, "
                  f"best {100 * result.best:.2f}%, {orders} orders{space})")  # fmt: skip
    for column in ("policy", "budget", "returned accuracy", "regret", "evaluations", "set-up"):
        table.add_column(column, justify="left" if column == "policy" else "right")
    for name, outcomes in result.outcomes.items():
        policy = result.policies[name]
        for outcome in outcomes:
            summary = outcome.summary()
            accuracy, regret = summary["accuracy"], summary["regret"]
            none = f" ({outcome.unscored} unscored)" if outcome.unscored else ""
            table.add_row(
                name,
                format_duration(outcome.budget),
                f"{100 * accuracy['mean']:.2f}% ± {100 * accuracy['std']:.2f}",
                f"{100 * regret['mean']:.2f} ± {100 * regret['std']:.2f}",
                f"{summary['evaluations_mean']:.1f}{none}",
                format_duration(policy.setup_seconds) if policy.setup_seconds else "",
            )
    console.print(table)
    console.print(f"wrote {path} and {plot}", highlight=False)


def parse_ladders(specs: list[str]) -> dict[str, tuple[str, ...]]:
    """``["sh-gtn=gtn:32,real:256"]`` -> ``{"sh-gtn": ("gtn:32", "real:256")}``."""
    ladders: dict[str, tuple[str, ...]] = {}
    for spec in specs:
        name, equals, rungs = spec.partition("=")
        steps = tuple(r.strip() for r in rungs.split(",") if r.strip())
        if not equals or not name.strip() or not steps:
            raise ConfigError(f"--ladder {spec!r}: write NAME=P1,P2,... e.g. sh=gtn:32,real:256")
        ladders[f"sh:{name.strip()}"] = steps
    return ladders
