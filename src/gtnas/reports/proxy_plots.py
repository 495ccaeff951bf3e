"""Plots of proxies against a truth set, as PNGs.

``plot_rank_scatter`` draws the GTN paper's figure 5: each architecture's proxy score against
its accuracy after real training, the proxy's top 10% in another colour, the rank correlations
in the title. ``plot_speedup`` draws correlation against cost: the real-data proxy over K as a
curve, gtn:K as a point (and, hollow, with its meta-training cost amortised), zero-cost proxies
and combinations as points, all on the same axes; a second panel puts the trained proxies
against steps. :func:`write_speedup` writes that plot with the analysis's JSON;
``plot_regret_curves`` draws simulated searches (:mod:`gtnas.analysis.simulate`), regret
against seconds. matplotlib is used through ``Figure`` (no pyplot state), as in
:mod:`gtnas.reports.curves`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from gtnas.analysis.ceiling import yardstick_json
from gtnas.analysis.rankcorr import ProxyCorrelation, correlation_document, dumps, top_indices
from gtnas.analysis.simulate import BudgetOutcome
from gtnas.analysis.speedup import INTERPOLATED, CurvePoint, Speedup, SpeedupAnalysis
from gtnas.reports.curves import _save
from gtnas.runtime.files import atomic_write_text

HIGHLIGHT = "#d62728"  # the proxy's top 10%
OTHERS = "#1f77b4"
MEASURE_LABELS = {
    "spearman_top": "Spearman, proxy's top fraction",
    "spearman_all": "Spearman, all architectures",
    "kendall_top": "Kendall, proxy's top fraction",
    "kendall_all": "Kendall, all architectures",
}


def plot_rank_scatter(
    proxy_scores: Sequence[float],
    truth: Sequence[float],
    path: Path,
    *,
    correlation: ProxyCorrelation,
    truth_label: str = "test accuracy",
    highlight: float = 0.1,
    no_signal: Sequence[bool] | None = None,
) -> Path:
    """Proxy score (x) against truth accuracy in % (y), one point per scored architecture.
    ``no_signal`` marks points whose score was -inf (drawn where :func:`gtnas.analysis.
    rankcorr.paired` put them, left of the rest)."""
    from matplotlib.figure import Figure

    x = np.asarray(proxy_scores, dtype=float)
    y = 100 * np.asarray(truth, dtype=float)
    top = np.zeros(len(x), dtype=bool)
    top[top_indices(x, highlight, minimum=1)] = True
    figure = Figure(figsize=(5.5, 4.2), layout="constrained")
    axes = figure.add_subplot()
    lowest = np.zeros(len(x), dtype=bool) if no_signal is None else np.asarray(no_signal)
    # A few broken architectures (e.g. NB-201 cells cut off from their input, at chance
    # accuracy) would squash the 1-2 points that separate the rest: draw them on the bottom
    # edge of an axis fitted to the others.
    q1, q3 = np.percentile(y, [25, 75]) if len(y) else (0.0, 0.0)
    fence = q1 - 3 * max(q3 - q1, 0.1)
    below = y < fence
    if below.any():
        span = float(y[~below].max() - y[~below].min()) if (~below).any() else 1.0
        bottom = float(y[~below].min()) - 0.08 * max(span, 0.5) if (~below).any() else fence
        axes.scatter(
            x[below], np.full(below.sum(), bottom), s=24, marker="v", color="#7f7f7f",
            label=f"{below.sum()} below the axis (down to {y.min():.1f}%)",
        )  # fmt: skip
        axes.set_ylim(bottom - 0.04 * max(span, 0.5), None)
    rest = ~top & ~lowest & ~below
    top &= ~below
    lowest &= ~below
    axes.scatter(x[rest], y[rest], s=14, color=OTHERS, alpha=0.6, label="other architectures")
    if lowest.any():
        axes.scatter(x[lowest], y[lowest], s=20, marker="x", color="#7f7f7f", label="score -inf")
    axes.scatter(x[top], y[top], s=22, color=HIGHLIGHT, label=f"top {100 * highlight:g}% by proxy")
    c = correlation.correlation
    share = f"{100 * correlation.top_fraction:g}%"
    axes.set_title(
        f"{correlation.proxy} (n={c.n})\n"
        f"Spearman {c.spearman_all:.2f}, Kendall {c.kendall_all:.2f}; "
        f"top {share}: Spearman {c.spearman_top:.2f}, Kendall {c.kendall_top:.2f}",
        fontsize=10,
    )
    axes.set_xlabel(f"proxy score ({correlation.proxy})")
    axes.set_ylabel(f"{truth_label} after real training (%)")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    return _save(figure, path)


def plot_speedup(
    path: Path,
    *,
    real: Sequence[CurvePoint],
    gtn: tuple[str, CurvePoint],
    others: Mapping[str, CurvePoint] | None = None,
    speedup: Speedup | None = None,
    measure: str = "spearman_top",
    title: str = "",
    ceiling: float | None = None,
) -> Path:
    """Correlation vs seconds per evaluation (left, log x) and vs training steps (right);
    ``ceiling``, the truth set's seed-vs-seed value of ``measure``, as a dashed line."""
    from matplotlib.figure import Figure

    others = others or {}
    figure = Figure(figsize=(10, 4.2), layout="constrained")
    by_seconds, by_steps = figure.subplots(1, 2, sharey=True)
    points = sorted(real, key=lambda p: p.steps)
    gtn_name, gtn_point = gtn
    for axes, cost in ((by_seconds, "seconds"), (by_steps, "steps")):
        xs = [getattr(p, cost) for p in points]
        ys = [p.correlation for p in points]
        axes.plot(xs, ys, "o-", color="#7f7f7f", label="real:K")
        for point, x in zip(points, xs, strict=True):
            axes.annotate(
                str(point.steps),
                (x, point.correlation),
                fontsize=7,
                xytext=(3, -9),
                textcoords="offset points",
            )
        axes.plot(
            getattr(gtn_point, cost),
            gtn_point.correlation,
            "*",
            color=HIGHLIGHT,
            markersize=13,
            label=gtn_name,
        )
        axes.axhline(gtn_point.correlation, color=HIGHLIGHT, linewidth=0.8, linestyle=":")
        if ceiling is not None:
            axes.axhline(ceiling, color="black", linewidth=1.0, linestyle="--",
                         label=f"noise ceiling (seed vs seed) {ceiling:.2f}")  # fmt: skip
        if speedup is not None:
            match = getattr(speedup.match, cost)
            axes.plot(
                match,
                gtn_point.correlation,
                "x",
                color="black",
                markersize=9,
                label=f"real matches ({speedup.match.bound})",
            )
        axes.set_xscale("log")
        if cost == "steps":  # label the measured K, not powers of ten
            ticks = sorted({p.steps for p in points} | {gtn_point.steps})
            axes.set_xticks(ticks, [str(k) for k in ticks], minor=False)
            axes.set_xticks([], minor=True)
        axes.set_xlabel(
            "seconds per evaluation (log)" if cost == "seconds" else "training steps K (log)"
        )
        axes.grid(alpha=0.3, which="both")
    amortised = speedup.amortised_gtn_seconds if speedup is not None else None
    if amortised is not None:
        by_seconds.plot(
            amortised,
            gtn_point.correlation,
            "*",
            markerfacecolor="none",
            color=HIGHLIGHT,
            markersize=13,
            label=f"{gtn_name} + meta-training / {speedup.evaluations}",
        )
    markers = iter("sD^vP<>ph")
    for name, point in others.items():  # zero-cost proxies and combinations: seconds only
        if point.seconds is None or math.isnan(point.correlation):
            continue
        by_seconds.plot(point.seconds, point.correlation, next(markers, "o"), label=name)
    by_seconds.set_ylabel(MEASURE_LABELS.get(measure, measure))
    by_seconds.set_title(title or "rank correlation against cost")
    if speedup is not None:
        bound = "" if speedup.match.bound == INTERPOLATED else f" {speedup.match.bound}"
        by_steps.set_title(
            f"speed-up{bound}: {speedup.steps_factor:.1f}x in steps, "
            f"{speedup.seconds_factor:.1f}x in seconds",
            fontsize=10,
        )
    by_seconds.legend(fontsize=7)
    by_steps.legend(fontsize=7)
    return _save(figure, path)


def plot_correlation_curves(
    path: Path,
    curves: Mapping[str, Sequence[tuple[int, float]]],
    lines: Mapping[str, float],
    *,
    title: str = "",
) -> Path:
    """Spearman against training steps K (log x), one curve per label, and reference values
    (the noise ceiling, the free floor) as horizontal lines: solid curves and dashed lines
    share a colour per measure ("all" / "top")."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 4.2), layout="constrained")
    axes = figure.add_subplot()
    colour = {"all": "#1f77b4", "top": "#d62728"}

    def of(label: str) -> str:
        return colour["top"] if "top" in label else colour["all"]

    for label, points in curves.items():
        ordered = sorted(points)
        axes.plot([k for k, _ in ordered], [v for _, v in ordered], "o-", color=of(label),
                  label=label)  # fmt: skip
    for label, value in lines.items():
        style = "--" if "ceiling" in label else ":"
        axes.axhline(value, color=of(label), linestyle=style, linewidth=1, label=label)
    ks = sorted({k for points in curves.values() for k, _ in points})
    axes.set_xscale("log")
    if ks:
        axes.set_xticks(ks, [str(k) for k in ks], minor=False)
        axes.set_xticks([], minor=True)
    axes.set_xlabel("training steps K (log)")
    axes.set_ylabel("Spearman with the truth")
    axes.grid(alpha=0.3, which="both")
    axes.legend(fontsize=7)
    if title:
        axes.set_title(title, fontsize=10)
    return _save(figure, path)


def write_speedup(analysis: SpeedupAnalysis, out: Path) -> tuple[Path, Path]:
    """``OUT/speedup-<set>-<metric>.json`` (correlations, every score, the speed-up) and the
    plot of correlation against seconds and steps beside it; returns both paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{analysis.truth.name}-{analysis.truth_metric}"
    others = {
        p: analysis.point(p)
        for p in analysis.others
        if p != analysis.gtn and analysis.correlations[p].seconds is not None
    }
    plot = plot_speedup(
        out / f"speedup-{stem}.png",
        real=[analysis.point(p) for p in analysis.real],
        gtn=(analysis.gtn, analysis.point(analysis.gtn)),
        others=others,
        speedup=analysis.speedup,
        measure=analysis.speedup.measure,
        ceiling=None
        if analysis.ceiling is None
        else analysis.ceiling.measure(analysis.speedup.measure),
        title=f"{analysis.truth.name}: {analysis.speedup.measure} against cost",
    )
    document = correlation_document(
        analysis.truth,
        list(analysis.correlations.values()),
        analysis.scores,
        top_fraction=analysis.top_fraction,
        speedup=analysis.speedup.to_json(),
        **yardstick_json(analysis.correlations.values(), analysis.ceiling),
    )
    path = out / f"speedup-{stem}.json"
    atomic_write_text(path, dumps(document))
    return path, plot


def plot_regret_curves(
    path: Path,
    curves: Mapping[str, Sequence[BudgetOutcome]],
    *,
    title: str = "",
    marks: Sequence[float] = (),
) -> Path:
    """Mean regret (percentage points of accuracy) of each policy against the budget in
    seconds (log x), with the 10-90% band over random orders; ``marks`` draws the asked
    budgets as vertical lines."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7.5, 4.5), layout="constrained")
    axes = figure.add_subplot()
    colours = [f"C{i}" for i in range(10)]
    for index, (name, outcomes) in enumerate(curves.items()):
        budgets = np.array([o.budget for o in outcomes])
        mean = np.array([100 * o.regret.mean() for o in outcomes])
        low = np.array([100 * np.quantile(o.regret, 0.1) for o in outcomes])
        high = np.array([100 * np.quantile(o.regret, 0.9) for o in outcomes])
        colour = colours[index % len(colours)]
        style = "--" if "set-up /" in name else "-"
        axes.plot(budgets, mean, style, color=colour, label=name)
        axes.fill_between(budgets, low, high, color=colour, alpha=0.12, linewidth=0)
    for budget in marks:
        axes.axvline(budget, color="#7f7f7f", linewidth=0.7, linestyle=":")
    axes.set_xscale("log")
    axes.set_xlabel("search budget, seconds (log)")
    axes.set_ylabel("regret: set's best minus returned (accuracy points)")
    axes.set_ylim(bottom=0)
    axes.grid(alpha=0.3, which="both")
    axes.legend(fontsize=7)
    if title:
        axes.set_title(title, fontsize=10)
    return _save(figure, path)
