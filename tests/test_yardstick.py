"""The yardstick around every proxy: the truth set's noise ceiling (against SciPy) and the free
floor (params, and flops against a hand count)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from gtnas.analysis.ceiling import (
    beats_floor,
    floor_of,
    for_the_mean,
    fraction_of_ceiling,
    noise_ceiling,
    with_floor,
)
from gtnas.analysis.rankcorr import ProxyScores, correlate
from gtnas.analysis.truthset import TRUTH_FORMAT, load_truth
from gtnas.search.proxies import ProxyContext, create_proxy
from gtnas.spaces import create_space
from gtnas.spaces.nb201 import NB201Blueprint


def _seeded_truth(path: Path, n: int = 12, with_second: int | None = None) -> dict:
    """A format-2 set: two seeds that agree only roughly (the second is the first plus noise)."""
    rng = np.random.default_rng(3)
    space = create_space("nb201")
    genotypes: list[str] = []
    generator = np.random.default_rng(5)
    while len(genotypes) < n:
        ops = tuple(space.ops[i] for i in generator.integers(0, len(space.ops), 6))
        text = f"nb201:{space.to_string(space.from_decisions([space.ops.index(o) for o in ops]))}"
        if text not in genotypes:
            genotypes.append(text)
    first = 0.85 + 0.05 * rng.random(n)
    second = first + 0.01 * rng.standard_normal(n)
    records = []
    for i, genotype in enumerate(genotypes):
        seeds = [{"seed": 0, "val_accuracy": float(first[i]), "test_accuracy": float(first[i]),
                  "seconds": 1.0, "train_seconds": 1.0}]  # fmt: skip
        if with_second is None or i < with_second:
            seeds.append({"seed": 1, "val_accuracy": float(second[i]),
                          "test_accuracy": float(second[i]), "seconds": 1.0,
                          "train_seconds": 1.0})  # fmt: skip
        mean = float(np.mean([s["test_accuracy"] for s in seeds]))
        records.append({"genotype": genotype, "val_accuracy": mean, "test_accuracy": mean,
                        "seconds": 1.0, "parameters": 1000 + i, "seeds": seeds})  # fmt: skip
    document = {"format": TRUTH_FORMAT, "dataset": "mnist", "space": "nb201",
                "space_options": {}, "blueprint": "tiny", "epochs": 1, "train_subset": None,
                "seed": 0, "seeds": [0, 1], "records": records}  # fmt: skip
    path.write_text(json.dumps(document))
    return document


def test_noise_ceiling_is_the_seed_vs_seed_correlation_scipy_gives(tmp_path: Path) -> None:
    document = _seeded_truth(tmp_path / "set.json", n=12, with_second=10)
    truth = load_truth(tmp_path / "set.json")
    ceiling = noise_ceiling(truth, truth_metric="test", top_fraction=0.5, resamples=200)
    assert ceiling is not None and ceiling.seeds == (0, 1) and ceiling.n == 10
    a = np.array([r["seeds"][0]["test_accuracy"] for r in document["records"][:10]])
    b = np.array([r["seeds"][1]["test_accuracy"] for r in document["records"][:10]])
    assert ceiling.measure("spearman_all") == pytest.approx(stats.spearmanr(a, b).statistic)
    assert ceiling.measure("kendall_all") == pytest.approx(stats.kendalltau(a, b).statistic)
    top = np.argsort(-a, kind="mergesort")[:5]  # the first seed's top half
    assert ceiling.measure("spearman_top") == pytest.approx(
        stats.spearmanr(a[top], b[top]).statistic
    )
    assert ceiling.measure("kendall_top") == pytest.approx(
        stats.kendalltau(a[top], b[top]).statistic
    )
    low, high = ceiling.correlation.correlation.ci95_all
    assert low <= ceiling.measure("spearman_all") <= high
    saved = ceiling.to_json()
    assert saved["seeds"] == [0, 1] and saved["n"] == 10 and "seconds_per_evaluation" not in saved


def test_no_ceiling_without_two_seeds() -> None:
    root = Path(__file__).resolve().parents[1] / "truth"
    assert noise_ceiling(load_truth(root / "mnist-nb201-n100-e3.json")) is None


@pytest.mark.parametrize("noise", [0.4, 1.0, 2.0])
def test_the_ceiling_for_the_mean_matches_a_simulation(noise: float) -> None:
    """Networks' expected accuracies T and two trainings T + noise: from the seed-vs-seed
    agreement alone, the ceiling for the mean predicts how T ranks against the two seeds'
    mean, as measured directly."""
    rng = np.random.default_rng(0)
    expected = rng.normal(size=20_000)
    first, second = (expected + noise * rng.normal(size=expected.size) for _ in range(2))
    mean = (first + second) / 2
    for name, measure in (("spearman_all", stats.spearmanr), ("kendall_all", stats.kendalltau)):
        seed_vs_seed = float(measure(first, second)[0])
        direct = float(measure(expected, mean)[0])
        assert for_the_mean(seed_vs_seed, name) == pytest.approx(direct, abs=0.01), name
        assert for_the_mean(seed_vs_seed, name) > seed_vs_seed
    assert for_the_mean(0.0, "spearman_top") is None
    assert for_the_mean(1.0, "kendall_top") == pytest.approx(1.0)


def test_fraction_of_ceiling_and_the_floor(tmp_path: Path) -> None:
    _seeded_truth(tmp_path / "set.json")
    truth = load_truth(tmp_path / "set.json")
    values = truth.accuracies("test")  # the seed mean
    ceiling = noise_ceiling(truth, resamples=50)
    assert ceiling is not None

    def scored(name: str, scores: list[float]) -> object:
        proxy = ProxyScores(proxy=name, scores=scores, seconds=None, steps=None)
        return correlate(proxy, values, resamples=50)

    perfect = scored("oracle", values)
    params = scored("params", list(range(len(values))))
    flops = scored("flops", [-v for v in range(len(values))])
    fractions = fraction_of_ceiling(perfect, ceiling)
    assert fractions["spearman_all"] == pytest.approx(1 / ceiling.for_mean("spearman_all"))
    low, high = ceiling.for_mean_interval("spearman_all")
    assert low <= ceiling.for_mean("spearman_all") <= high
    document = ceiling.to_json()["for_the_seed_mean"]
    assert document["seeds_averaged"] == 2
    assert document["spearman_top"] == ceiling.for_mean("spearman_top")
    assert fraction_of_ceiling(perfect, None)["spearman_top"] is None
    floor = floor_of([perfect, params, flops])
    assert floor["spearman_all"] == max(params.measure("spearman_all"),
                                        flops.measure("spearman_all"))  # fmt: skip
    assert beats_floor(perfect, floor) == dict.fromkeys(floor, True)
    assert not any(beats_floor(params, floor).values())  # no proxy beats itself
    assert floor_of([perfect]) == {}
    assert with_floor(["gtn:32", "flops"]) == ["gtn:32", "flops", "params"]


def test_flops_proxy_matches_a_hand_count() -> None:
    """nb201 at 8 channels, one cell per stage, a 3x3-pooled head, on a 28x28x1 image; the cell
    has one 3x3 conv (edge 1<-0), one 1x1 conv (edge 2<-1) and skips. 2 FLOPs per MAC."""
    space = create_space("nb201")
    text = "|nor_conv_3x3~0|+|none~0|nor_conv_1x1~1|+|skip_connect~0|none~1|skip_connect~2|"
    genotype = space.parse(text)
    c = 8
    cell = lambda ch, hw: 2 * ch * ch * 9 * hw + 2 * ch * ch * hw  # noqa: E731
    flops = (
        2 * 1 * c * 9 * 28 * 28  # stem 3x3, 1 -> C at 28x28
        + cell(c, 28 * 28)
        + 2 * c * 2 * c * 9 * 14 * 14 + 2 * (2 * c) ** 2 * 9 * 14 * 14 + 2 * c * 2 * c * 14 * 14
        + cell(2 * c, 14 * 14)  # reduction C -> 2C (3x3 s2, 3x3, 1x1 shortcut), stage 2
        + 2 * 2 * c * 4 * c * 9 * 7 * 7 + 2 * (4 * c) ** 2 * 9 * 7 * 7 + 2 * 2 * c * 4 * c * 7 * 7
        + cell(4 * c, 7 * 7)  # reduction 2C -> 4C, stage 3
        + 2 * (4 * c * 3 * 3) * 10  # head: pool to 3x3, flatten, linear
    )  # fmt: skip
    context = ProxyContext(
        space=space,
        blueprint=NB201Blueprint(channels=c, cells_per_stage=1, head_pool=3),
        image_shape=(1, 28, 28),
        num_classes=10,
        train=(None, None),  # type: ignore[arg-type]
        val=(None, None),  # type: ignore[arg-type]
    )
    assert create_proxy("flops").score(genotype, context, seed=0).score == flops
