"""benchmarks.teacher_ranking at toy size: every variant meta-trained and scored, every proxy
judged on the same architectures (the calibration ones left out), the ceiling and the floor
beside, and a re-run that trains and scores nothing again."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from scipy import stats

from gtnas.analysis.ceiling import for_the_mean
from seeded_truth import write_seeded_truth

pytestmark = pytest.mark.slow
VARIANTS = "fixed-step,fixed-step-rank"


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory, run_benchmark, mnist) -> Path:
    out = tmp_path_factory.mktemp("bench-teacher-ranking")
    write_seeded_truth(out / "truth" / "mnist-smoke-seeded.json", 8)
    args = ["--preset", "smoke", "--variants", VARIANTS, "--truth-dir", str(out / "truth"),
            "--out", str(out), "--runs", str(out / "runs"),
            "--scores", str(out / "scores")]  # fmt: skip
    run_benchmark("teacher_ranking", args, OMP_NUM_THREADS="1")
    return out


def _records(out: Path) -> list[dict]:
    return json.loads((out / "teacher_ranking.json").read_text())


def test_every_proxy_is_judged_on_the_architectures_left_after_calibration(smoke: Path) -> None:
    truth = json.loads((smoke / "truth" / "mnist-smoke-seeded.json").read_text())["records"]
    judged = truth[3:]  # the smoke preset calibrates on 3
    proxies = {r["proxy"]: r for r in _records(smoke) if r["kind"] == "proxy"}
    gtn = ["gtn:3 (fixed-step)", "gtn:3 (fixed-step-rank)"]
    assert set(proxies) == {*gtn, "real:3", "real:6", "synflow", "params", "flops",
                            "fitted:params+synflow", "rankavg:params+synflow",
                            *(f"fitted:{g}+params+synflow" for g in gtn),
                            *(f"rankavg:{g}+{w}" for g in gtn
                              for w in ("params", "synflow", "params+synflow")),
                            *(f"{p} x2" for p in (*gtn, "real:3", "real:6"))}  # fmt: skip
    for g in gtn:  # weights fitted on the calibration architectures, a split of one
        fitted = proxies[f"fitted:{g}+params+synflow"]
        assert fitted["components"] == [g, "params", "synflow"]
        assert sum(fitted["weights"]) == pytest.approx(1)
        assert proxies[f"rankavg:{g}+params"]["weights"] is None
    assert {r["n"] for r in proxies.values()} == {len(judged)}
    (ceiling,) = [r for r in _records(smoke) if r["kind"] == "ceiling"]
    first = [r["seeds"][0]["test_accuracy"] for r in judged]
    second = [r["seeds"][1]["test_accuracy"] for r in judged]
    assert ceiling["spearman_all"] == pytest.approx(stats.spearmanr(first, second).statistic)
    for record in proxies.values():
        assert record["left_out"] == 3 and record["truth_architectures"] == 8
        # over the ceiling for the seeds' mean, carried in the ceiling record
        limit = ceiling["for_the_seed_mean"]["spearman_all"]
        assert limit == pytest.approx(for_the_mean(ceiling["spearman_all"], "spearman_all"))
        assert record["of_ceiling"]["spearman_all"] == pytest.approx(record["spearman_all"] / limit)


def test_each_proxy_is_given_over_the_scoring_seeds(smoke: Path) -> None:
    records = _records(smoke)
    truth = json.loads((smoke / "truth" / "mnist-smoke-seeded.json").read_text())["records"]
    test = [r["test_accuracy"] for r in truth[3:]]
    proxies = {r["proxy"]: r for r in records if r["kind"] == "proxy"}
    assert {tuple(r["score_seeds"]) for r in records} == {(0, 1)}  # the smoke preset's 2
    for name in ("real:3", "gtn:3 (fixed-step-rank)"):
        r = proxies[name]
        assert r["spearman_all_by_seed"][0] == pytest.approx(r["spearman_all"])  # seed 0's
        assert r["spearman_all_mean"] == pytest.approx(np.mean(r["spearman_all_by_seed"]))
        assert r["spearman_all_sd"] == pytest.approx(np.std(r["spearman_all_by_seed"], ddof=1))
    # seed 1 is a scoring of its own: its Spearman is the one of that seed's study's scores
    study = sqlite3.connect(smoke / "scores" / "mnist" / "studies.db")  # --scores, per data set
    names = [n for (n,) in study.execute("select study_name from studies")]
    assert any(n.endswith("-s1") and "real-3" in n for n in names), names
    # the free floor is seed-independent, so its spread is nil
    assert proxies["params"]["spearman_all_sd"] == pytest.approx(0)
    assert proxies["params"]["spearman_all_mean"] == pytest.approx(
        proxies["params"]["spearman_all"]
    )
    assert len(test) == proxies["params"]["n"]


def test_each_teacher_is_placed_on_the_real_data_curve(smoke: Path) -> None:
    proxies = {r["proxy"]: r for r in _records(smoke) if r["kind"] == "proxy"}
    curve = {k: proxies[f"real:{k}"] for k in (3, 6)}
    for name in ("gtn:3 (fixed-step)", "gtn:3 (fixed-step-rank)"):
        record = proxies[name]
        for measure in ("spearman_all", "spearman_top"):
            s = record["speedup"][measure]
            assert s["gtn_correlation"] == pytest.approx(record[f"{measure}_mean"])
            assert s["gtn_seconds"] == pytest.approx(record["seconds_per_evaluation_mean"])
            reals = [curve[k][f"{measure}_mean"] for k in (3, 6)]
            if s["bound"] == "at most":  # real:3 already ranks as well
                assert reals[0] >= s["gtn_correlation"] and s["real_steps_at_match"] == 3
            elif s["bound"] == "at least":  # no measured K does
                assert max(reals) < s["gtn_correlation"] and s["real_steps_at_match"] == 6
            else:
                assert reals[0] < s["gtn_correlation"] <= reals[1]
                assert 3 < s["real_steps_at_match"] <= 6
            cost = (
                record["teacher"]["meta_train_seconds"] + record["teacher"]["calibration_seconds"]
            )
            assert s["gtn_seconds_amortised"] == pytest.approx(s["gtn_seconds"] + cost / 1000)
    assert "Real data against each teacher" in (smoke / "teacher_ranking.md").read_text()


def test_the_ranking_variant_is_calibrated_and_the_other_is_not(smoke: Path) -> None:
    truth = json.loads((smoke / "truth" / "mnist-smoke-seeded.json").read_text())["records"]
    proxies = {r["proxy"]: r for r in _records(smoke) if r["kind"] == "proxy"}
    ranked = proxies["gtn:3 (fixed-step-rank)"]["teacher"]
    plain = proxies["gtn:3 (fixed-step)"]["teacher"]
    assert ranked["config"]["calibration"] == {
        r["genotype"]: r["val_accuracy"] for r in truth[:3]
    }  # the validation accuracies, never the test split
    assert ranked["config"]["meta"]["rank_weight"] == 1.0 and ranked["rank_tau_last10"] is not None
    # their cost: every seed's training (the toy set: 1 s each, 2 seeds, 3 architectures)
    assert ranked["calibration_seconds"] == pytest.approx(6.0)
    assert plain["config"]["calibration"] == {} and plain["calibration_architectures"] == 0
    for teacher in (ranked, plain):
        assert teacher["config"]["teacher_options"]["learn_schedule"] is False
        assert teacher["meta_iterations"] == 2
    assert "gtn:3 (fixed-step-rank)" in (smoke / "teacher_ranking.md").read_text()


def test_a_rerun_trains_and_scores_nothing_again(smoke: Path, run_benchmark) -> None:
    teacher = smoke / "runs" / "smoke" / "mnist" / "teacher-fixed-step" / "teacher.safetensors"
    before = teacher.stat().st_mtime_ns
    args = ["--preset", "smoke", "--variants", VARIANTS, "--truth-dir", str(smoke / "truth"),
            "--out", str(smoke / "again"), "--runs", str(smoke / "runs"),
            "--scores", str(smoke / "scores")]  # fmt: skip
    run_benchmark("teacher_ranking", args, OMP_NUM_THREADS="1")
    assert teacher.stat().st_mtime_ns == before
    again = {r["proxy"]: r["spearman_all"] for r in _records(smoke / "again") if r.get("proxy")}
    assert again == {r["proxy"]: r["spearman_all"] for r in _records(smoke) if r.get("proxy")}


def test_a_fresh_machine_reads_the_kept_teachers_and_scores(smoke: Path, run_benchmark) -> None:
    """Run folders and score studies live on one machine; the teachers' files and every score
    kept under --out (committed) let a fresh one judge again without training or scoring."""
    kept = smoke / "teachers" / "smoke" / "mnist" / "teacher-fixed-step-rank"
    assert {p.name for p in kept.iterdir()} >= {"teacher.json", "teacher.safetensors",
                                                "config.json", "metrics.jsonl"}  # fmt: skip
    archives = sorted((smoke / "scores").glob("*.json"))
    assert any("-gtn-3-" in a.name for a in archives) and any(
        "-real-3-" in a.name for a in archives
    )
    fresh = smoke / "fresh"
    args = ["--preset", "smoke", "--variants", VARIANTS, "--truth-dir", str(smoke / "truth"),
            "--out", str(smoke), "--runs", str(fresh / "runs"),
            "--scores", str(fresh / "scores")]  # fmt: skip
    before = _records(smoke)
    run_benchmark("teacher_ranking", args, OMP_NUM_THREADS="1")
    restored = fresh / "runs" / "smoke" / "mnist" / "teacher-fixed-step-rank"
    assert (restored / "teacher.safetensors").read_bytes() == (
        kept / "teacher.safetensors"
    ).read_bytes()
    assert not (restored / "checkpoints").exists()  # not trained here
    with sqlite3.connect(fresh / "scores" / "mnist" / "studies.db") as db:
        assert db.execute("select count(*) from trials").fetchone() == (0,)  # nothing scored
    after = {r["proxy"]: r["spearman_all"] for r in _records(smoke) if r.get("proxy")}
    assert after == {r["proxy"]: r["spearman_all"] for r in before if r.get("proxy")}


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


def test_over_teachers_averages_each_teachers_seed_mean(benchmark_module) -> None:
    bench: ModuleType = benchmark_module("teacher_ranking")

    def record(seed: int, proxy: str, all_: float, top: float, archs: int = 30) -> dict:
        return {"preset": "cpu", "dataset": "fashion-mnist", "kind": "proxy", "seed": seed,
                "proxy": proxy, "truth_architectures": archs, "score_seeds": [seed, seed + 1],
                "spearman_all": 0.0, "spearman_top": 0.0,
                "spearman_all_mean": all_, "spearman_top_mean": top}  # fmt: skip

    g = "gtn:32 (fixed-step-rank)"
    records = [record(0, g, 0.7, 0.3), record(1, g, 0.9, 0.5),
               record(2, g, 0.1, 0.1, archs=20),  # judged on fewer architectures: left out
               record(0, "real:32", 0.6, 0.2), record(1, "real:32", 0.6, 0.2)]  # fmt: skip
    (row,) = bench.over_teachers(records)  # real:K has no teacher to vary
    assert row["proxy"] == g and row["teachers"] == [0, 1]
    assert row["spearman_all_mean"] == pytest.approx(0.8)
    assert row["spearman_top_sd"] == pytest.approx(np.std([0.3, 0.5], ddof=1))
    assert "## Over teachers" in "\n".join(bench.over_teachers_lines(records))


def test_averaged_learners_is_the_mean_of_every_subset_of_seeds(benchmark_module) -> None:
    bench: ModuleType = benchmark_module("teacher_ranking")
    from gtnas.analysis.rankcorr import ProxyScores

    seeds = [ProxyScores(proxy="real:8", scores=[0.1 * s, 0.5, None], seconds=2.0, steps=8)
             for s in range(3)]  # fmt: skip
    averaged = bench.averaged_learners("real:8", [{"real:8": p} for p in seeds], 2)
    assert len(averaged) == 3  # C(3, 2)
    assert averaged[0].scores == pytest.approx([0.05, 0.5, None])  # seeds 0 and 1
    assert averaged[2].scores[0] == pytest.approx(0.15)  # seeds 1 and 2
    assert averaged[0].seconds == pytest.approx(4.0) and averaged[0].steps == 16


def test_averaged_learner_rows_sit_beside_the_single_ones(smoke: Path) -> None:
    proxies = {r["proxy"]: r for r in _records(smoke) if r["kind"] == "proxy"}
    for name in ("real:3", "gtn:3 (fixed-step-rank)"):
        r = proxies[f"{name} x2"]  # the smoke preset averages its 2 seeds' learners
        assert r["averaged_learners"] == 2
        assert r["seconds_per_evaluation"] == pytest.approx(
            2 * proxies[name]["seconds_per_evaluation_mean"], rel=0.01
        )
    assert "params x2" not in proxies  # a free proxy has no learners to average


def test_teachers_meta_train_on_the_asked_device(benchmark_module, tmp_path: Path) -> None:
    bench: ModuleType = benchmark_module("teacher_ranking")
    from gtnas.analysis.truthset import load_truth

    truth = load_truth(write_seeded_truth(tmp_path / "t.json", 8))
    recipes = bench.load_recipes()
    cpu = bench.teacher_config(recipes, "smoke", "fixed-step-rank", truth, 0)
    cuda = bench.teacher_config(recipes, "smoke", "fixed-step-rank", truth, 0, "cuda")
    assert (cpu.device, cuda.device) == ("cpu", "cuda")
    assert cpu.calibration == cuda.calibration and len(cpu.calibration) == 3


def test_a_row_left_from_a_smaller_set_says_so(benchmark_module) -> None:
    """The section's header names the newest judging; a proxy not re-run since the set grew
    keeps its row, marked with the architectures it was judged on."""
    bench: ModuleType = benchmark_module("teacher_ranking")

    def record(proxy: str, archs: int) -> dict:
        return {"preset": "cpu", "dataset": "fashion-mnist", "kind": "proxy", "seed": 0,
                "proxy": proxy, "truth": "fm-set", "truth_architectures": archs,
                "truth_complete": False, "left_out": 10, "score_seeds": [0, 1],
                "spearman_all": 0.5, "spearman_top": 0.3, "spearman_all_ci95": [0.1, 0.8],
                "spearman_top_ci95": [0.0, 0.6], "beats_floor": {},
                "seconds_per_evaluation": 1.0}  # fmt: skip

    text = bench.render_table([record("gtn:64 (fixed-step-rank-t64)", 43),
                               record("gtn:32 (fixed-step-rank)", 75)])  # fmt: skip
    assert "fm-set (75 architectures, a build under way; judged on 65" in text
    assert "| gtn:64 (fixed-step-rank-t64) (judged on 33 of an earlier 43) |" in text
    assert "| gtn:32 (fixed-step-rank) |" in text
