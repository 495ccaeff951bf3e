"""The regret-against-seconds plot of simulated searches (:mod:`gtnas.analysis.simulate`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from gtnas.analysis.simulate import BudgetOutcome
from gtnas.reports.curves import _save


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
