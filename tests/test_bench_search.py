"""The search benchmark's smoke preset end to end (`python -m benchmarks.search`), checked
against the study it wrote, and the merging of its records into an existing results file."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

PROXIES = ["gtn:6", "real:6", "real:12", "synflow", "naswot"]  # the smoke preset's
STRATEGIES = ["random", "evolution", "reinforce", "tpe"]
TUNED_LRS = (0.01, 0.02, 0.05, 0.1, 0.2)  # tune_real_lr's grid


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory, run_benchmark, mnist) -> Path:
    """Run the smoke preset once, as a user would; returns its results folder (skipped, via
    the ``mnist`` fixture, where MNIST is not available)."""
    out = tmp_path_factory.mktemp("bench-search")
    run_benchmark("search", ["--preset", "smoke", "--out", str(out), "--runs", str(out / "runs")])
    return out


@pytest.fixture
def bench(benchmark_module) -> ModuleType:
    return benchmark_module("search")


def _records(out: Path) -> list[dict[str, Any]]:
    return json.loads((out / "search.json").read_text())


def _of(records: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [r for r in records if r["kind"] == kind]


@pytest.mark.slow
def test_smoke_preset_writes_every_record(smoke: Path) -> None:
    records = _records(smoke)
    assert all(r["preset"] == "smoke" and r["dataset"] == "mnist" for r in records)
    assert all(r["space"] == "nb201" and r["seed"] == 0 for r in records)
    assert all(r["machine"]["cores"] == os.cpu_count() for r in records)

    (teacher,) = _of(records, "teacher")
    assert (teacher["inner_steps"], teacher["batch_size"], teacher["meta_iterations"]) == (3, 16, 2)
    assert teacher["learner"] == "nb201" and not teacher["reused"]
    assert 0.0 <= teacher["val_accuracy"] <= 1.0 and teacher["meta_train_seconds"] > 0

    throughput = _of(records, "throughput")
    assert [r["proxy"] for r in throughput] == PROXIES
    genotypes = throughput[0]["genotypes"]
    assert len(genotypes) == 3 and len(set(genotypes)) == 3
    for record in throughput:
        assert record["genotypes"] == genotypes  # every proxy scored the same architectures
        assert record["n_architectures"] == 3
        assert record["evals_per_minute"] == pytest.approx(60 / record["seconds_per_eval"])
        if record["proxy"].startswith("real"):
            assert record["real_lr"] in TUNED_LRS
        else:
            assert record["real_lr"] is None
        if record["proxy"].startswith(("gtn", "real")):  # validation accuracies
            assert 0.0 <= record["score_mean"] <= 1.0
    # a zero-cost proxy trains nothing: faster than one that trains 12 steps
    speed = {r["proxy"]: r["evals_per_minute"] for r in throughput}
    assert speed["synflow"] > speed["real:12"]

    strategies = _of(records, "strategy")
    assert [r["strategy"] for r in strategies] == STRATEGIES
    for record in strategies:
        assert record["budget"] == record["evaluations"] == 4
        assert record["proxy"] == "gtn:6" and record["best_genotype"].startswith("nb201:")
        assert 0.0 <= record["final_val_accuracy"] <= 1.0
        assert 0.0 <= record["final_test_accuracy"] <= 1.0
        assert record["final"]["train_subset"] == 256 and record["final"]["epochs"] == 1
        assert record["teacher_run"] == teacher["run"]


@pytest.mark.slow
def test_each_strategy_final_trains_its_best_by_proxy(smoke: Path) -> None:
    from gtnas.search.study import Study, default_storage

    storage = default_storage(smoke / "runs" / "smoke")
    for record in _of(_records(smoke), "strategy"):
        study = Study.open(record["strategy"], storage, config=None, decision_sizes={})
        completed = study.completed()
        assert len(completed) == 4
        best = max(completed, key=lambda r: r.score)
        assert record["best_proxy_score"] == best.score
        assert record["best_genotype"] == best.genotype
        # the study's only final training is that architecture's, and the record quotes it
        (final,) = study.results("final").values()
        assert final["test_accuracy"] == record["final_test_accuracy"]


@pytest.mark.slow
def test_results_merge_by_key_and_the_table_has_both_sections(
    smoke: Path, bench: ModuleType, tmp_path: Path
) -> None:
    records = _records(smoke)
    bench.write_results(records, tmp_path)
    rerun = {**_of(records, "strategy")[0], "final_test_accuracy": 0.5}  # smoke/random again
    other = {**_of(records, "strategy")[0], "preset": "quick"}  # another preset: kept apart
    bench.write_results([rerun, other], tmp_path)
    merged = _records(tmp_path)
    assert len(merged) == len(records) + 1
    random_smoke = [r for r in merged if (r["preset"], r.get("strategy")) == ("smoke", "random")]
    assert [r["final_test_accuracy"] for r in random_smoke] == [0.5]
    table = (tmp_path / "search.md").read_text()
    assert "## Throughput" in table and "## Strategies" in table
    assert table.count("| smoke | mnist | nb201 | tiny | gtn:6 |") == 1
    assert "| quick | mnist | nb201 | random | 4 | gtn:6 |" in table
