"""What a truth-set file holds, in a few lines (``gtnas truth show FILE``): its recipe and
progress, the spread of its accuracies, how well its two seeds agree (the noise ceiling, on
both splits) and where its trainings ran. For checking a file before committing it, e.g. one
that came back from another machine."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

import numpy as np

from gtnas.analysis.ceiling import noise_ceiling
from gtnas.analysis.truthset import TruthSet, load_truth, read_truth_document

_MACHINE_KEYS = ("cpu", "cpu_capability", "device", "torch", "platform", "workers")


def truth_summary(path: Path, *, resamples: int = 1000, seed: int = 0) -> dict[str, Any]:
    """The summary of the truth file at ``path`` as a JSON-able dict (accuracies as
    fractions); every problem with the file is one :class:`gtnas.errors.GtnasError` line."""
    document = read_truth_document(path)
    truth = load_truth(path)
    summary: dict[str, Any] = {
        "name": truth.name,
        "format": document["format"],
        "dataset": truth.dataset,
        "space": truth.space,
        "blueprint": truth.blueprint,
        "epochs": truth.epochs,
        "steps": truth.steps,
        "train_subset": truth.train_subset,
        "training_seeds": truth.training_seeds(),
        "architectures": len(truth),
        "planned": document.get("planned"),
        "complete": truth.complete,
        "failed": len(document.get("failures") or []),
        "accuracy": {metric: _spread(truth, metric) for metric in ("val", "test")},
        "best": _best(truth),
        "noise_ceiling": {},
        "machines": _machines(document, truth),
    }
    for metric in ("val", "test"):
        ceiling = noise_ceiling(truth, truth_metric=metric, resamples=resamples, seed=seed)
        if ceiling is not None:
            summary["noise_ceiling"][metric] = ceiling.to_json()
    return summary


def _spread(truth: TruthSet, metric: str) -> dict[str, Any]:
    """Min / median / max of the seed means; the spread of one training: the standard
    deviation of the difference between two seeds of a network, divided by sqrt(2); and both
    spreads over the top half by seed mean, whose ratio bounds the top-half noise ceiling (the
    networks there differ by a few tenths of a point, as much as two seeds of one do)."""
    values = truth.accuracies(metric)
    _, first, second = truth.seed_pairs(metric)
    top = np.argsort(-(first + second), kind="mergesort")[: len(first) // 2]  # (n_pairs // 2,)
    return {
        "min": min(values),
        "median": statistics.median(values),
        "max": max(values),
        "sd_between_networks": statistics.stdev(values) if len(values) > 1 else None,
        "sd_of_one_training": _one_training(first, second),
        "top_half": {
            "architectures": len(top),
            "sd_between_networks": (
                float(np.std((first[top] + second[top]) / 2, ddof=1)) if len(top) > 2 else None
            ),
            "sd_of_one_training": _one_training(first[top], second[top]),
        },
    }


def _one_training(first: np.ndarray, second: np.ndarray) -> float | None:
    """One training's standard deviation from pairs of seeds: sd(first - second) / sqrt(2)."""
    return float(np.std(first - second, ddof=1) / np.sqrt(2)) if len(first) > 2 else None


def _best(truth: TruthSet) -> dict[str, Any]:
    """The architecture with the best validation accuracy (the split that chooses)."""
    record = max(truth.records, key=lambda r: r.val_accuracy)
    return {
        "genotype": record.genotype,
        "val_accuracy": record.val_accuracy,
        "test_accuracy": record.test_accuracy,
    }


def _machines(document: dict[str, Any], truth: TruthSet) -> list[dict[str, Any]]:
    """Each machine the file names (its ``machine``, then ``other_machines``) with the
    trainings its records say ran there; trainings that do not say come last."""
    named = [document.get("machine") or {}, *(document.get("other_machines") or [])]
    counts: dict[int | None, int] = {}
    for record in truth.records:
        for result in record.seeds:
            counts[result.machine] = counts.get(result.machine, 0) + 1
    machines = [
        {"index": i, **{k: m[k] for k in _MACHINE_KEYS if k in m}, "trainings": counts.get(i, 0)}
        for i, m in enumerate(named)
        if m
    ]
    if counts.get(None):
        machines.append({"index": None, "trainings": counts[None]})
    return machines


def render_summary(summary: dict[str, Any]) -> str:
    """The summary as the lines ``gtnas truth show`` prints."""
    done = f"{summary['architectures']}"
    if summary["planned"]:
        done += f" of {summary['planned']}"
    done += " (complete)" if summary["complete"] else " (a build under way)"
    steps = f", {summary['steps']} SGD steps" if summary["steps"] else ""
    images = "all" if summary["train_subset"] is None else f"{summary['train_subset']:,}"
    lines = [
        f"{summary['name']} ({summary['format']}): {summary['dataset']}, {summary['space']} at "
        f"{_blueprint(summary['blueprint'])}, {summary['epochs']} epochs on {images} training "
        f"images{steps}",
        f"architectures: {done}, {summary['failed']} failed; training seeds "
        f"{', '.join(str(s) for s in summary['training_seeds'])}",
    ]
    for metric, label in (("val", "validation"), ("test", "test")):
        a = summary["accuracy"][metric]
        one = a["sd_of_one_training"]
        lines.append(
            f"{label} accuracy (seed mean): {_pct(a['min'])} / {_pct(a['median'])} / "
            f"{_pct(a['max'])} (min / median / max)"
            + (f"; one training's spread {100 * one:.2f} points sd" if one is not None else "")
        )
        top = a["top_half"]
        if top["sd_between_networks"] is not None:
            lines.append(
                f"  its top half ({top['architectures']} with two seeds, by seed mean): networks "
                f"{100 * top['sd_between_networks']:.2f} points sd apart, one training's spread "
                f"{100 * top['sd_of_one_training']:.2f}"
            )
    best = summary["best"]
    lines.append(
        f"best by validation: {best['genotype']}  val {_pct(best['val_accuracy'])}  "
        f"test {_pct(best['test_accuracy'])}"
    )
    if not summary["noise_ceiling"]:
        lines.append("noise ceiling: none (fewer than 3 architectures with two seeds)")
    for metric, label in (("val", "validation"), ("test", "test")):
        c = summary["noise_ceiling"].get(metric)
        if c is None:
            continue
        mean = c["for_the_seed_mean"]
        lines.append(
            f"noise ceiling, {label} ({c['proxy']}, {c['n']} architectures): Spearman all "
            f"{_ci(c['spearman_all'], c['spearman_all_ci95'])}, top half "
            f"{_ci(c['spearman_top'], c['spearman_top_ci95'])}; for the seed mean "
            f"{_value(mean['spearman_all'])} / {_value(mean['spearman_top'])}"
        )
    for m in summary["machines"]:
        if m["index"] is None:
            lines.append(f"machine not recorded: {m['trainings']} trainings")
            continue
        where = ", ".join(f"{m[k]}" for k in _MACHINE_KEYS if k in m and k != "workers")
        workers = m.get("workers")
        workers = "" if workers is None else f", {workers} worker{'s' if workers != 1 else ''}"
        # a file's own machine may have only exported records trained before seeds said where
        trained = f"{m['trainings']} trainings" if m["trainings"] else "no training recorded"
        lines.append(f"machine {m['index']}: {where}{workers}: {trained}")
    return "\n".join(lines)


def _blueprint(blueprint: Any) -> str:
    return blueprint if isinstance(blueprint, str) else "a custom blueprint"


def _pct(value: float) -> str:
    return f"{100 * value:.2f}%"


def _value(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _ci(value: float, interval: list[float | None]) -> str:
    low, high = interval
    if low is None or high is None:
        return _value(value)
    return f"{value:.3f} [{low:.2f}, {high:.2f}]"
