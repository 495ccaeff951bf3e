"""``gtnas rank-corr`` (proxies against a truth set, the paper's figure 5) and ``gtnas speedup``
(how much faster gtn:K ranks architectures than real data)."""

from __future__ import annotations

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
    "Truth to correlate with: test (default; the paper correlates with final accuracy, and a "
    "truth set is a reporting artefact, never used to choose) or val."
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
EvalExamples = Annotated[int, typer.Option(help=EVAL_EXAMPLES_HELP)]
Resamples = Annotated[int, typer.Option(help="Bootstrap resamples for the 95% intervals.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress lines.")]


def _options(**values: Any) -> Any:
    from gtnas.analysis.rankcorr import ScoringOptions

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
    return truth, score_truth_set(truth, proxies, out, options, storage=storage, hooks=hooks)


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
    real_lr: float = typer.Option(None, help="Fix the real:K learning rate (default: tuned)."),
    real_batch_size: RealBatchSize = None,
    eval_examples: EvalExamples = 2000,
    resamples: Resamples = 1000,
    quiet: Quiet = False,
) -> None:
    """Rank correlation of proxies with a truth set: Spearman and Kendall over all
    architectures and over the proxy's top 50% (the paper's measure), with bootstrap 95%
    intervals; a scatter plot per proxy with its top 10% highlighted.

    Scores are cached in a study per proxy: a re-run costs nothing.
    """
    from gtnas.analysis.rankcorr import correlate, correlation_document, dumps, paired, safe_name
    from gtnas.reports.rankcorr import plot_rank_scatter
    from gtnas.runtime.files import atomic_write_text

    _check_metric(truth_metric, top)
    options = _options(
        blueprint=blueprint,
        teacher=str(teacher) if teacher else None,
        seed=seed,
        workers=workers,
        threads=threads,
        device=device,
        real_lr=real_lr,
        real_batch_size=real_batch_size,
        eval_examples=eval_examples,
    )
    truth_set, scores = _scored(truth, list(proxy), out, options, storage, quiet)
    values = truth_set.accuracies(truth_metric)
    correlations = [
        correlate(s, values, truth_metric=truth_metric, top_fraction=top, resamples=resamples)
        for s in scores.values()
    ]
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{truth_set.name}-{truth_metric}"
    document = correlation_document(truth_set, correlations, scores, top_fraction=top)
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
    console.print(_table(correlations, f"{truth_set.name}: proxies vs {truth_metric} accuracy"))
    for name, repeated in scores.items():
        agreement = repeated.repeat_agreement()
        if agreement is not None:  # gtn:KxR: how noisy one of its learners is
            console.print(
                f"{name}: two of its single learners rank the architectures alike to Spearman "
                f"{agreement:.3f} (mean over pairs)",
                highlight=False,
            )
    console.print(f"wrote {path} and the scatter plots in {out}", highlight=False)


def _table(correlations: list[Any], title: str) -> Table:
    table = Table(title=title)
    for column in ("proxy", "n", "Spearman", "Kendall", "Spearman top", "Kendall top", "s/eval"):
        table.add_column(column, justify="left" if column == "proxy" else "right")
    for c in correlations:
        r = c.correlation
        table.add_row(
            c.proxy,
            f"{r.n}" + (f" ({c.missing} missing)" if c.missing else ""),
            _with_ci(r.spearman_all, r.ci95_all),
            _with_ci(r.kendall_all, c.kendall_ci95_all),
            _with_ci(r.spearman_top, r.ci95_top),
            _with_ci(r.kendall_top, c.kendall_ci95_top),
            "" if c.seconds is None else f"{c.seconds:.3g}",
        )
    return table


def _with_ci(value: float, interval: tuple[float, float]) -> str:
    return f"{value:.3f} [{interval[0]:.2f}, {interval[1]:.2f}]"


def speedup(
    truth: Truth,
    teacher: Path = typer.Option(..., help="Trained teacher run (gtn:K; its meta-training time)."),
    ks: str = typer.Option("16,32,64,128,256,512,1200", help="The K of the real:K curve."),
    gtn: str = typer.Option("gtn:128", help="The GTN proxy compared."),
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
    resamples: Resamples = 1000,
    quiet: Quiet = False,
) -> None:
    """Speed-up of gtn:K over real data: the K (steps) and seconds at which real:K ranks the
    truth set as well as gtn:K, their ratios to gtn's, and the seconds ratio with the teacher's
    meta-training time amortised; one plot of correlation against cost for all proxies.
    """
    from gtnas.analysis.rankcorr import MEASURES, parse_proxies
    from gtnas.analysis.speedup import (
        analyse_speedup,
        speedup_proxies,
        teacher_meta_seconds,
        write_speedup,
    )

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
        blueprint=blueprint,
        teacher=str(teacher),
        seed=seed,
        workers=workers,
        threads=threads,
        device=device,
        real_lr=real_lr,
        real_batch_size=real_batch_size,
        eval_examples=eval_examples,
    )
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
        meta_seconds=teacher_meta_seconds(teacher),
        evaluations=evaluations,
    )
    path, plot = write_speedup(analysis, out)
    console.print(
        _table(list(analysis.correlations.values()), f"{truth_set.name}: proxies vs {truth_metric}")
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
            "teacher meta-training seconds",
            "unknown" if result.meta_seconds is None else f"{result.meta_seconds:.0f}",
        ),
        (
            f"speed-up in seconds, meta-training / {result.evaluations} evaluations",
            "unknown" if amortised is None else f"{amortised:.2f}x{bound}",
        ),
    ]
    for row in rows:
        table.add_row(*row)
    return table
