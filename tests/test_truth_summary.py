"""``gtnas truth show``: a truth file's summary against values computed here by hand."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import numpy as np
from scipy import stats

from gtnas.analysis.truth_summary import render_summary, truth_summary
from gtnas.analysis.truthset import TRUTH_FORMAT
from gtnas.cli.app import main

ROOT = Path(__file__).resolve().parents[1]


def _two_seed_file(path: Path) -> dict:
    """Eight architectures with two seeds each: six from one machine, two from another, two
    recorded before builds noted machines; one failure; a build under way."""
    rng = np.random.default_rng(3)
    shipped = json.loads((ROOT / "truth" / "mnist-nb201-n100-e3.json").read_text())
    records = []
    for i, source in enumerate(shipped["records"][:8]):
        base = 0.8 + 0.01 * i
        seeds = []
        for seed in (0, 1):
            item = {"seed": seed, "val_accuracy": round(base + rng.normal(0, 0.004), 4),
                    "test_accuracy": round(base + rng.normal(0, 0.006), 4),
                    "seconds": 1.0, "train_seconds": 1.0}  # fmt: skip
            if i >= 2:
                item["machine"] = 0 if i < 6 else 1
            seeds.append(item)
        records.append({
            "genotype": source["genotype"], "seconds": 1.0, "train_seconds": 1.0,
            "parameters": 1, "seeds": seeds,
            "val_accuracy": sum(s["val_accuracy"] for s in seeds) / 2,
            "test_accuracy": sum(s["test_accuracy"] for s in seeds) / 2,
        })  # fmt: skip
    document = {
        "format": TRUTH_FORMAT, "dataset": "mnist", "space": "nb201", "space_options": {},
        "blueprint": "search-head3", "epochs": 7, "train_subset": None, "seed": 0,
        "seeds": [0, 1], "steps": 2730, "planned": 10, "complete": False,
        "machine": {"cpu": "here", "device": "cpu", "workers": 2},
        "other_machines": [{"cpu": "there", "device": "cuda", "workers": 7}],
        "failures": [{"genotype": "nb201:|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
                      "error": "x"}],
        "records": records,
    }  # fmt: skip
    path.write_text(json.dumps(document))
    return document


def test_summary_against_hand_computed_values(tmp_path: Path) -> None:
    document = _two_seed_file(tmp_path / "set.json")
    summary = truth_summary(tmp_path / "set.json", resamples=50)
    assert (summary["architectures"], summary["planned"], summary["complete"]) == (8, 10, False)
    assert summary["failed"] == 1 and summary["training_seeds"] == [0, 1]
    records = document["records"]
    val = [r["val_accuracy"] for r in records]
    assert summary["accuracy"]["val"]["median"] == statistics.median(val)
    assert summary["accuracy"]["val"]["max"] == max(val)
    differences = np.array([r["seeds"][0]["test_accuracy"] - r["seeds"][1]["test_accuracy"]
                            for r in records])  # fmt: skip
    assert np.isclose(
        summary["accuracy"]["test"]["sd_of_one_training"], differences.std(ddof=1) / np.sqrt(2)
    )
    # the top half by seed mean: the 4 networks of highest test mean, their spread of means
    # and one training's spread among them
    by_mean = sorted(records, key=lambda r: r["test_accuracy"], reverse=True)[:4]
    top = summary["accuracy"]["test"]["top_half"]
    assert top["architectures"] == 4
    assert np.isclose(
        top["sd_between_networks"], statistics.stdev(r["test_accuracy"] for r in by_mean)
    )
    top_differences = [r["seeds"][0]["test_accuracy"] - r["seeds"][1]["test_accuracy"]
                       for r in by_mean]  # fmt: skip
    assert np.isclose(top["sd_of_one_training"], statistics.stdev(top_differences) / np.sqrt(2))
    first = [r["seeds"][0]["val_accuracy"] for r in records]
    second = [r["seeds"][1]["val_accuracy"] for r in records]
    ceiling = summary["noise_ceiling"]["val"]
    assert np.isclose(ceiling["spearman_all"], stats.spearmanr(first, second).statistic)
    assert summary["best"]["genotype"] == records[int(np.argmax(val))]["genotype"]
    assert [(m["index"], m.get("cpu"), m["trainings"]) for m in summary["machines"]] == [
        (0, "here", 8),
        (1, "there", 4),
        (None, None, 4),
    ]
    text = render_summary(summary)
    assert "8 of 10 (a build under way), 1 failed" in text
    assert "its top half (4 with two seeds, by seed mean): networks " in text
    assert "machine 1: there, cuda, 7 workers: 4 trainings" in text
    assert "machine not recorded: 4 trainings" in text


def test_cli_show_prints_the_summary_and_json(tmp_path: Path, capsys) -> None:
    _two_seed_file(tmp_path / "set.json")
    assert main(["truth", "show", str(tmp_path / "set.json"), "--resamples", "50"]) == 0
    out = capsys.readouterr().out
    assert "noise ceiling, validation (seed 0 vs seed 1, 8 architectures)" in out
    assert main(["truth", "show", str(tmp_path / "set.json"), "--json", "--resamples", "50"]) == 0
    assert json.loads(capsys.readouterr().out)["architectures"] == 8
    # a first-generation file has one seed: no ceiling, every training without a machine
    assert main(["truth", "show", str(ROOT / "truth" / "mnist-nb201-n100-e3.json")]) == 0
    out = capsys.readouterr().out
    assert "noise ceiling: none" in out and "machine not recorded: 100 trainings" in out
    assert "machine 0: AMD EPYC" in out and ": no training recorded" in out  # it exported
    assert main(["truth", "show", str(tmp_path / "missing.json")]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and len(err.strip().splitlines()) == 1
