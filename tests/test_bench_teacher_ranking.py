"""benchmarks.teacher_ranking at toy size: every variant meta-trained and scored, every proxy
judged on the same architectures (the calibration ones left out), the ceiling and the floor
beside, and a re-run that trains and scores nothing again."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import pytest
from scipy import stats

from seeded_truth import write_seeded_truth

pytestmark = pytest.mark.slow
VARIANTS = "fixed-step,fixed-step-rank"


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory, run_benchmark, mnist) -> Path:
    out = tmp_path_factory.mktemp("bench-teacher-ranking")
    write_seeded_truth(out / "truth" / "mnist-smoke-seeded.json", 8)
    args = ["--preset", "smoke", "--variants", VARIANTS, "--truth-dir", str(out / "truth"),
            "--out", str(out), "--runs", str(out / "runs")]  # fmt: skip
    run_benchmark("teacher_ranking", args, OMP_NUM_THREADS="1")
    return out


def _records(out: Path) -> list[dict]:
    return json.loads((out / "teacher_ranking.json").read_text())


def test_every_proxy_is_judged_on_the_architectures_left_after_calibration(smoke: Path) -> None:
    truth = json.loads((smoke / "truth" / "mnist-smoke-seeded.json").read_text())["records"]
    judged = truth[3:]  # the smoke preset calibrates on 3
    proxies = {r["proxy"]: r for r in _records(smoke) if r["kind"] == "proxy"}
    gtn = ["gtn:3 (fixed-step)", "gtn:3 (fixed-step-rank)"]
    assert set(proxies) == {*gtn, "real:3", "params", "flops", "fitted:params",
                            *(f"fitted:{g}+params" for g in gtn),
                            *(f"rankavg:{g}+params" for g in gtn)}  # fmt: skip
    for g in gtn:  # weights fitted on the calibration architectures, a split of one
        fitted = proxies[f"fitted:{g}+params"]
        assert fitted["components"] == [g, "params"] and sum(fitted["weights"]) == pytest.approx(1)
        assert proxies[f"rankavg:{g}+params"]["weights"] is None
    assert {r["n"] for r in proxies.values()} == {len(judged)}
    (ceiling,) = [r for r in _records(smoke) if r["kind"] == "ceiling"]
    first = [r["seeds"][0]["test_accuracy"] for r in judged]
    second = [r["seeds"][1]["test_accuracy"] for r in judged]
    assert ceiling["spearman_all"] == pytest.approx(stats.spearmanr(first, second).statistic)
    for record in proxies.values():
        assert record["left_out"] == 3 and record["truth_architectures"] == 8
        assert record["of_ceiling"]["spearman_all"] == pytest.approx(
            record["spearman_all"] / ceiling["spearman_all"]
        )


def test_the_ranking_variant_is_calibrated_and_the_other_is_not(smoke: Path) -> None:
    truth = json.loads((smoke / "truth" / "mnist-smoke-seeded.json").read_text())["records"]
    proxies = {r["proxy"]: r for r in _records(smoke) if r["kind"] == "proxy"}
    ranked = proxies["gtn:3 (fixed-step-rank)"]["teacher"]
    plain = proxies["gtn:3 (fixed-step)"]["teacher"]
    assert ranked["config"]["calibration"] == {
        r["genotype"]: r["val_accuracy"] for r in truth[:3]
    }  # the validation accuracies, never the test split
    assert ranked["config"]["meta"]["rank_weight"] == 1.0 and ranked["rank_tau_last10"] is not None
    assert plain["config"]["calibration"] == {} and plain["calibration_architectures"] == 0
    for teacher in (ranked, plain):
        assert teacher["config"]["teacher_options"]["learn_schedule"] is False
        assert teacher["meta_iterations"] == 2
    assert "gtn:3 (fixed-step-rank)" in (smoke / "teacher_ranking.md").read_text()


def test_a_rerun_trains_and_scores_nothing_again(smoke: Path, run_benchmark) -> None:
    teacher = smoke / "runs" / "smoke" / "mnist" / "teacher-fixed-step" / "teacher.safetensors"
    before = teacher.stat().st_mtime_ns
    args = ["--preset", "smoke", "--variants", VARIANTS, "--truth-dir", str(smoke / "truth"),
            "--out", str(smoke / "again"), "--runs", str(smoke / "runs")]  # fmt: skip
    run_benchmark("teacher_ranking", args, OMP_NUM_THREADS="1")
    assert teacher.stat().st_mtime_ns == before
    again = {r["proxy"]: r["spearman_all"] for r in _records(smoke / "again") if r.get("proxy")}
    assert again == {r["proxy"]: r["spearman_all"] for r in _records(smoke) if r.get("proxy")}


def test_too_small_a_set_stops_before_training(benchmark_module, tmp_path: Path) -> None:
    bench: ModuleType = benchmark_module("teacher_ranking")
    from gtnas.analysis.truthset import load_truth

    truth = load_truth(write_seeded_truth(tmp_path / "t.json", 5))
    with pytest.raises(SystemExit, match="too few to calibrate on 3"):
        bench.calibration_of(truth, 3)


def test_train_only_trains_and_writes_no_results(run_benchmark, tmp_path: Path, mnist) -> None:
    write_seeded_truth(tmp_path / "truth" / "mnist-smoke-seeded.json", 8)
    args = ["--preset", "smoke", "--variants", "fixed-step", "--train-only",
            "--truth-dir", str(tmp_path / "truth"), "--out", str(tmp_path),
            "--runs", str(tmp_path / "runs")]  # fmt: skip
    run_benchmark("teacher_ranking", args, OMP_NUM_THREADS="1")
    assert (tmp_path / "runs" / "smoke" / "mnist" / "teacher-fixed-step" / "teacher.json").is_file()
    assert not (tmp_path / "teacher_ranking.json").exists()
