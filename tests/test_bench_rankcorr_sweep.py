"""The meta-iteration sweep's smoke preset end to end (`python -m benchmarks.rankcorr_sweep`):
one teacher trained on from its checkpoint stage by stage, each stage's gtn:T correlations
agreeing with scipy on the scores it wrote, and a re-run training and scoring nothing."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats

from pictures import assert_picture

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["--preset", "smoke", "--datasets", "mnist"]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory, run_benchmark, mnist) -> Path:
    out = tmp_path_factory.mktemp("bench-sweep")
    run_benchmark("rankcorr_sweep", [*ARGS, "--out", str(out), "--runs", str(out / "runs")],
                  OMP_NUM_THREADS="1")  # fmt: skip
    return out


def _records(out: Path) -> list[dict[str, Any]]:
    return json.loads((out / "rankcorr_sweep.json").read_text())


def _metrics(snapshot: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (snapshot / "metrics.jsonl").read_text().splitlines()]


def test_each_stage_trains_the_same_teacher_further(smoke: Path) -> None:
    records = _records(smoke)
    stages = [r for r in records if r["kind"] == "stage"]
    assert [(r["proxy"], r["meta_iterations"]) for r in stages] == [("gtn:3", 2), ("gtn:3", 4)]
    assert sorted(r["proxy"] for r in records if r["kind"] == "control") == ["real:3", "synflow"]
    assert all(r["n_architectures"] + r["missing"] == 8 and len(r["scores"]) == 8 for r in records)
    # a new snapshot, a new score cache: the stages' scores were not read from one study
    assert stages[0]["study"] != stages[1]["study"]
    first, second = (_metrics(smoke / "runs" / "mnist" / f"teacher-smoke-it{n}") for n in (2, 4))
    assert [m["iteration"] for m in second] == [1, 2, 3, 4]
    # trained further from the first stage's checkpoint, not again from scratch
    assert [m["meta_loss"] for m in second[:2]] == [m["meta_loss"] for m in first]
    assert stages[1]["meta_train_seconds"] > stages[0]["meta_train_seconds"] > 0
    assert_picture(smoke / stages[0]["plot"])
    assert "| smoke | mnist | gtn:3 | 4 |" in (smoke / "rankcorr_sweep.md").read_text()


def test_correlations_match_scipy(smoke: Path) -> None:
    truth = json.loads((ROOT / "truth" / "mnist-nb201-n100-e3.json").read_text())
    accuracy = np.array([r["test_accuracy"] for r in truth["records"][:8]])
    for record in _records(smoke):
        keep = [i for i, s in enumerate(record["scores"]) if s is not None]
        if len(keep) < 8:
            continue  # -inf or unscored: placed below the rest by the module, not redone here
        scores = np.array(record["scores"], dtype=float)
        assert record["spearman_all"] == pytest.approx(
            stats.spearmanr(scores, accuracy).statistic, abs=1e-9, nan_ok=True
        )
        top = np.argsort(-scores, kind="mergesort")[: math.ceil(0.5 * len(scores))]
        expected = stats.spearmanr(scores[top], accuracy[top]).statistic
        if record["spearman_top50"] is None:
            assert math.isnan(expected)
        else:
            assert record["spearman_top50"] == pytest.approx(expected, abs=1e-9)


def test_a_rerun_trains_and_scores_nothing(smoke: Path, run_benchmark) -> None:
    snapshot = smoke / "runs" / "mnist" / "teacher-smoke-it4" / "teacher.safetensors"
    stamp = snapshot.stat().st_mtime_ns
    before = _records(smoke)
    out = smoke / "again"
    run_benchmark("rankcorr_sweep", [*ARGS, "--out", str(out), "--runs", str(smoke / "runs")],
                  OMP_NUM_THREADS="1")  # fmt: skip
    assert snapshot.stat().st_mtime_ns == stamp
    after = _records(out)
    # the seconds too: a re-scored study would have timed its evaluations afresh
    fields = ("proxy", "meta_iterations", "scores", "spearman_all", "study", "seconds_per_eval")
    assert [[r[f] for f in fields] for r in after] == [[r[f] for f in fields] for r in before]


def test_repeats_score_with_the_mean_of_several_learners(smoke: Path, run_benchmark) -> None:
    out = smoke / "repeats"
    run_benchmark("rankcorr_sweep",
                  [*ARGS, "--repeats", "2", "--out", str(out), "--runs", str(smoke / "runs")],
                  OMP_NUM_THREADS="1")  # fmt: skip
    single = {(r["proxy"], r["meta_iterations"]): r for r in _records(smoke)}
    records = _records(out)
    assert sorted((r["proxy"], r["repeats"]) for r in records) == [
        ("gtn:3x2", 2), ("gtn:3x2", 2), ("real:3x2", 2), ("synflow", 1)
    ]  # fmt: skip
    for r in records:
        assert r["n_architectures"] + r["missing"] == 8
        if r["proxy"] == "synflow":  # not trained: the same scores
            assert r["scores"] == single[("synflow", None)]["scores"]
        else:  # another proxy, its own study, other (averaged) scores
            base = single[(r["proxy"].removesuffix("x2"), r["meta_iterations"])]
            assert r["study"] != base["study"] and r["scores"] != base["scores"]
    assert (out / "rankcorr_sweep" / "smoke-mnist-x2.png").is_file()
    for r in records:
        if r["proxy"] == "synflow":
            assert "by_repeats" not in r
            continue
        repeats = np.array(r["repeat_scores"], dtype=float)  # (architectures, 2)
        assert np.allclose(repeats.mean(axis=1), r["scores"])
        assert r["repeat_agreement"] == pytest.approx(
            stats.spearmanr(repeats[:, 0], repeats[:, 1]).statistic, abs=1e-9
        )
        # learner 0 alone is the single-learner proxy, scored in a study of its own
        one, both = r["by_repeats"]
        base = single[(r["proxy"].removesuffix("x2"), r["meta_iterations"])]
        assert list(repeats[:, 0]) == base["scores"]
        assert one["spearman_all"] == pytest.approx(base["spearman_all"], abs=1e-12)
        assert both["spearman_all"] == pytest.approx(r["spearman_all"], abs=1e-12)


def test_schedule_scores_real_data_with_each_snapshots_schedule(smoke: Path, run_benchmark) -> None:
    out = smoke / "schedule"
    run_benchmark("rankcorr_sweep",
                  [*ARGS, "--schedule", "--out", str(out), "--runs", str(smoke / "runs")],
                  OMP_NUM_THREADS="1")  # fmt: skip
    before = {(r["proxy"], r["meta_iterations"]): r for r in _records(smoke)}
    records = _records(out)
    schedules = [r for r in records if r["kind"] == "schedule"]
    assert [(r["proxy"], r["meta_iterations"]) for r in schedules] == [
        ("gtn-schedule:3", 2), ("gtn-schedule:3", 4)
    ]  # fmt: skip
    for r in schedules:
        stage = before[("gtn:3", r["meta_iterations"])]
        assert r["teacher"] == stage["teacher"] and r["n_architectures"] + r["missing"] == 8
        # real images instead of the teacher's: a study of its own, other scores
        assert r["study"] != stage["study"] and r["scores"] != stage["scores"]
    assert schedules[0]["study"] != schedules[1]["study"]  # each snapshot's own schedule
    # the gtn stages and controls were read from their caches, not scored again
    others = [r for r in records if r["kind"] != "schedule"]
    assert len(others) == 4
    for r in others:
        assert r["scores"] == before[(r["proxy"], r["meta_iterations"])]["scores"]


@pytest.mark.parametrize("stages", ["80,40", "40,40", "0,40", "forty"])
def test_bad_stages_are_refused(stages: str, benchmark_module, capsys) -> None:
    bench = benchmark_module("rankcorr_sweep")
    with pytest.raises(SystemExit):
        bench.main(["--preset", "smoke", "--stages", stages])
    assert "--stages" in capsys.readouterr().err
