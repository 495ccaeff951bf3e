"""The rank-correlation benchmark's smoke preset end to end (`python -m benchmarks.rankcorr`):
its records hold the issue's fields, its correlations agree with scipy computed from the
scores it wrote, and its speed-up agrees with its own curve."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from scipy import stats

from gtnas.analysis.ceiling import for_the_mean
from gtnas.runtime.durations import parse_duration
from pictures import assert_picture
from seeded_truth import write_seeded_truth

ROOT = Path(__file__).resolve().parents[1]
SMOKE_PROXIES = {"real:2", "real:4", "gtn:3", "synflow", "rankavg:gtn:3+synflow", "params", "flops"}
PROXY_FIELDS = {"dataset", "space", "proxy", "n_architectures", "spearman_all", "spearman_top50",
                "kendall_all", "ci95_top50", "seconds_per_eval"}  # fmt: skip


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory, run_benchmark, mnist) -> Path:
    out = tmp_path_factory.mktemp("bench-rankcorr")
    args = ["--preset", "smoke", "--datasets", "mnist"]
    args += ["--out", str(out), "--runs", str(out / "runs")]
    run_benchmark("rankcorr", args, OMP_NUM_THREADS="1")
    return out


@pytest.fixture
def bench(benchmark_module) -> ModuleType:
    return benchmark_module("rankcorr")


def _records(out: Path, kind: str) -> list[dict[str, Any]]:
    return [r for r in json.loads((out / "rankcorr.json").read_text()) if r["kind"] == kind]


def _scores_document(out: Path) -> dict[str, Any]:
    (path,) = (out / "runs" / "mnist" / "smoke").glob("speedup-*.json")
    return json.loads(path.read_text())


def test_smoke_records_hold_the_issue_fields(smoke: Path) -> None:
    proxies = _records(smoke, "proxy")
    assert {r["proxy"] for r in proxies} == SMOKE_PROXIES
    for record in proxies:
        assert set(record) >= PROXY_FIELDS
        assert record["dataset"] == "mnist" and record["space"] == "nb201"
        assert record["n_architectures"] + record["missing"] == 8
        low, high = record["ci95_top50"]
        assert -1 <= low <= high <= 1
        assert record["machine"]["cores"] >= 1
    (teacher,) = _records(smoke, "teacher")
    assert teacher["meta_iterations"] == 2 and teacher["blueprint"] == "tiny"
    (speedup,) = _records(smoke, "speedup")
    assert {"speedup_steps", "speedup_seconds", "targets"} <= set(speedup)
    for plot in speedup["plots"]:
        assert_picture(smoke / plot)
    assert "## Speed-up" in (smoke / "rankcorr.md").read_text()


def test_smoke_correlations_match_scipy(smoke: Path) -> None:
    """Spearman and Kendall recomputed by scipy from the written scores and the truth file."""
    document = _scores_document(smoke)
    truth = json.loads((ROOT / "truth" / "mnist-nb201-n100-e3.json").read_text())
    accuracy = np.array([r["test_accuracy"] for r in truth["records"][:8]])
    for record in _records(smoke, "proxy"):
        raw = document["scores"][record["proxy"]]
        keep = [i for i, s in enumerate(raw) if s is not None and s != "-inf"]
        if len(keep) < len(raw):
            continue  # -inf scores are placed below the rest by the module; not redone here
        scores = np.array([raw[i] for i in keep], dtype=float)
        truth_values = accuracy[keep]
        expected_all = stats.spearmanr(scores, truth_values).statistic
        assert record["spearman_all"] == pytest.approx(expected_all, abs=1e-9, nan_ok=True)
        expected_tau = stats.kendalltau(scores, truth_values).statistic
        assert record["kendall_all"] == pytest.approx(expected_tau, abs=1e-9, nan_ok=True)
        top = np.argsort(-scores, kind="mergesort")[: math.ceil(0.5 * len(scores))]
        expected_top = stats.spearmanr(scores[top], truth_values[top]).statistic
        if record["spearman_top50"] is None:
            assert math.isnan(expected_top)
        else:
            assert record["spearman_top50"] == pytest.approx(expected_top, abs=1e-9)


def test_smoke_speedup_agrees_with_its_curve(smoke: Path) -> None:
    (speedup,) = _records(smoke, "speedup")
    proxies = {r["proxy"]: r for r in _records(smoke, "proxy")}
    assert speedup["proxy"] == "gtn:3" and speedup["gtn_steps"] == 3
    assert speedup["gtn_correlation"] == proxies["gtn:3"]["spearman_top50"]
    assert speedup["speedup_steps"] == pytest.approx(speedup["real_steps_at_match"] / 3)
    assert speedup["speedup_seconds"] == pytest.approx(
        speedup["real_seconds_at_match"] / proxies["gtn:3"]["seconds_per_eval"]
    )
    assert speedup["meta_training_seconds"] > 0 and speedup["evaluations"] == 8
    real = sorted((p["steps"], p["spearman_top50"]) for n, p in proxies.items() if "real" in n)
    if speedup["bound"] == "interpolated":
        assert real[0][0] <= speedup["real_steps_at_match"] <= real[-1][0]


def test_results_of_other_presets_are_kept(
    bench: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def record(preset: str, kind: str, proxy: str | None, value: float) -> dict[str, Any]:
        return {"preset": preset, "kind": kind, "dataset": "mnist", "space": "nb201",
                "proxy": proxy, "value": value, "machine": {}}  # fmt: skip

    old = [record("quick", "proxy", "synflow", 1.0), record("smoke", "proxy", "synflow", 2.0)]
    (tmp_path / "rankcorr.json").write_text(json.dumps(old))
    monkeypatch.setattr(bench, "render_table", lambda records: "")  # tested by the smoke run
    bench.write_results([record("smoke", "proxy", "synflow", 3.0)], tmp_path)
    merged = json.loads((tmp_path / "rankcorr.json").read_text())
    assert sorted((r["preset"], r["value"]) for r in merged) == [("quick", 1.0), ("smoke", 3.0)]


def test_head3_is_the_nb201_search_head3_blueprint(bench: ModuleType) -> None:
    """The presets give the teacher's blueprint as fields (the score cache's name records
    them); they must stay the named preset's."""
    from gtnas.config import config_to_dict
    from gtnas.spaces.nb201 import NB201Space

    assert config_to_dict(NB201Space.blueprints["search-head3"]) == bench.HEAD3


@pytest.fixture(scope="module")
def smoke_long(tmp_path_factory: pytest.TempPathFactory, run_benchmark, mnist) -> Path:
    """The teacher-less long preset at toy size on a two-seed set written here."""
    out = tmp_path_factory.mktemp("bench-rankcorr-long")
    write_seeded_truth(out / "truth" / "mnist-smoke-seeded.json", 8)
    args = ["--preset", "smoke-long", "--datasets", "mnist", "--truth-dir", str(out / "truth")]
    args += ["--out", str(out), "--runs", str(out / "runs")]
    run_benchmark("rankcorr", args, OMP_NUM_THREADS="1")
    return out


def test_long_preset_records_carry_the_ceiling_and_the_floor(smoke_long: Path) -> None:
    truth = json.loads((smoke_long / "truth" / "mnist-smoke-seeded.json").read_text())
    first = [r["seeds"][0]["test_accuracy"] for r in truth["records"]]
    second = [r["seeds"][1]["test_accuracy"] for r in truth["records"]]
    (ceiling,) = _records(smoke_long, "ceiling")
    assert ceiling["truth"] == "mnist-smoke-seeded" and ceiling["truth_complete"] is False
    assert ceiling["spearman_all"] == pytest.approx(stats.spearmanr(first, second).statistic)
    proxies = {r["proxy"]: r for r in _records(smoke_long, "proxy")}
    assert set(proxies) == {"real:2", "real:4", "synflow", "params", "flops"}
    assert not _records(smoke_long, "teacher") and not _records(smoke_long, "speedup")
    floor = {m: max(proxies[p][m] for p in ("params", "flops"))
             for m in ("spearman_all", "spearman_top50")}  # fmt: skip
    for record in proxies.values():
        # over the ceiling for the seeds' mean (what proxies are judged against)
        limit = for_the_mean(ceiling["spearman_all"], "spearman_all")
        assert ceiling["for_the_seed_mean"]["spearman_all"] == pytest.approx(limit)
        assert record["of_ceiling"]["spearman_all"] == pytest.approx(record["spearman_all"] / limit)
        assert record["beats_floor"]["spearman_all"] == (
            record["spearman_all"] > floor["spearman_all"]
        )
    table = (smoke_long / "rankcorr.md").read_text()
    assert "### mnist-smoke-seeded" in table and "Noise ceiling (seed 0 vs seed 1" in table
    assert "a build under way" in table
    curve = smoke_long / "rankcorr" / "smoke-long-mnist-real-curve.png"
    assert_picture(curve, min_width=400)


@pytest.fixture(scope="module")
def smoke_long_teacher(tmp_path_factory: pytest.TempPathFactory, run_benchmark, mnist) -> Path:
    """The long preset given a calibrated teacher (the ranking variant of
    benchmarks.teacher_ranking at toy size, fitted on the set's first 3 architectures)."""
    out = tmp_path_factory.mktemp("bench-rankcorr-long-teacher")
    write_seeded_truth(out / "truth" / "mnist-smoke-seeded.json", 8)
    run_benchmark("teacher_ranking", ["--preset", "smoke", "--variants", "fixed-step-rank",
                                      "--train-only", "--truth-dir", str(out / "truth"),
                                      "--out", str(out), "--runs", str(out / "teachers")],
                  OMP_NUM_THREADS="1")  # fmt: skip
    teacher = out / "teachers" / "smoke" / "mnist" / "teacher-fixed-step-rank"
    args = ["--preset", "smoke-long", "--datasets", "mnist", "--truth-dir", str(out / "truth"),
            "--teacher", str(teacher), "--out", str(out), "--runs", str(out / "runs")]  # fmt: skip
    run_benchmark("rankcorr", args, OMP_NUM_THREADS="1")
    return out


def test_long_preset_judges_a_given_calibrated_teacher_on_the_rest(
    smoke_long_teacher: Path, run_benchmark
) -> None:
    """Its gtn:T and its rank averages with params and with synflow beside the yardstick, every
    proxy judged without the teacher's calibration architectures; its cost counts their truth
    trainings; the simulations search the same rest, synflow's ladder with a GTN rung."""
    out = smoke_long_teacher
    truth = json.loads((out / "truth" / "mnist-smoke-seeded.json").read_text())["records"]
    calibration = sorted(r["genotype"] for r in truth[:3])  # the smoke preset calibrates on 3
    proxies = {r["proxy"]: r for r in _records(out, "proxy")}
    assert {"gtn:3", "rankavg:gtn:3+params", "rankavg:gtn:3+synflow", "real:2", "real:4",
            "params", "flops"} <= set(proxies)  # fmt: skip
    for record in [*proxies.values(), *_records(out, "ceiling"), *_records(out, "speedup")]:
        assert record["left_out"] == calibration
    rest = np.array([r["test_accuracy"] for r in truth[3:]])
    for record in proxies.values():
        assert record["n_architectures"] == 5 and len(record["scores"]) == 5
    gtn = np.array(proxies["gtn:3"]["scores"], dtype=float)
    assert proxies["gtn:3"]["spearman_all"] == pytest.approx(stats.spearmanr(gtn, rest).statistic)
    synflow = np.array(proxies["synflow"]["scores"], dtype=float)
    mean_rank = (stats.rankdata(gtn) + stats.rankdata(synflow)) / 2  # SciPy's ranks, ties averaged
    combined = np.array(proxies["rankavg:gtn:3+synflow"]["scores"], dtype=float)
    assert stats.spearmanr(combined, mean_rank).statistic == pytest.approx(1.0)
    (teacher,) = _records(out, "teacher")
    assert teacher["reused"] and teacher["calibration_architectures"] == 3
    assert teacher["calibration_seconds"] == pytest.approx(3 * 2 * 1.0)  # 2 seeds of 1 s each
    (speedup,) = _records(out, "speedup")
    assert speedup["meta_training_seconds"] == pytest.approx(
        teacher["meta_train_seconds"] + teacher["calibration_seconds"]
    )
    run_benchmark("simulate", ["--rankcorr", str(out / "rankcorr.json"), "--truth-dir",
                               str(out / "truth"), "--out", str(out), "--budgets", "1d",
                               "--orders", "100"])  # fmt: skip
    whole = [r for r in json.loads((out / "simulate.json").read_text()) if r["policy"] in proxies]
    assert {r["policy"] for r in whole} >= {"gtn:3", "params"}
    assert {r["evaluations_mean"] for r in whole} == {5}  # the rest, all of it
    run_benchmark("search_budget", ["--rankcorr", str(out / "rankcorr.json"), "--preset",
                                    "smoke-long", "--truth-dir", str(out / "truth"), "--out",
                                    str(out), "--budgets", "1d", "--orders", "20", "--eta", "2",
                                    "--real-ladder", "real:2,real:4", "--upper-rungs",
                                    "real:4"])  # fmt: skip
    ladders = {r["policy"]: r["rungs"] for r in json.loads((out / "search_budget.json").read_text())
               if r["policy"].startswith("sh:")}  # fmt: skip
    assert ladders["sh:gtn-first"] == ["gtn:3", "real:4"]
    assert ladders["sh:synflow-first"] == ["synflow", "real:4"]
    assert ladders["sh:synflow-gtn"] == ["synflow", "gtn:3", "real:4"]


def test_simulate_benchmark_replays_the_recorded_scores(smoke_long: Path, run_benchmark) -> None:
    """benchmarks.simulate on the smoke-long records: a budget that pays for the whole set
    returns each proxy's best of it."""
    args = ["--rankcorr", str(smoke_long / "rankcorr.json"), "--truth-dir",
            str(smoke_long / "truth"), "--out", str(smoke_long), "--budgets", "1s,1d",
            "--orders", "100"]  # fmt: skip
    run_benchmark("simulate", args)
    records = json.loads((smoke_long / "simulate.json").read_text())
    proxies = {r["proxy"]: r for r in _records(smoke_long, "proxy")}
    truth = json.loads((smoke_long / "truth" / "mnist-smoke-seeded.json").read_text())
    accuracy = np.array([r["test_accuracy"] for r in truth["records"]])
    assert {r["policy"] for r in records} >= set(proxies)
    for record in records:
        assert record["orders"] == 100 and record["truth"] == "mnist-smoke-seeded"
        if record["budget_seconds"] != 86400 or record["policy"] not in proxies:
            continue
        raw = proxies[record["policy"]]["scores"]
        scores = np.array([-np.inf if v == "-inf" else v for v in raw], dtype=float)
        tied = accuracy.max() - accuracy[scores == scores.max()]
        assert record["evaluations_mean"] == 8
        assert tied.min() - 1e-12 <= record["regret"]["mean"] <= tied.max() + 1e-12
    table = (smoke_long / "simulate.md").read_text()
    assert "## mnist-smoke-seeded (a build under way)" in table
    assert (smoke_long / "simulate" / "mnist-smoke-seeded.png").stat().st_size > 10_000


def test_simulate_benchmark_judges_a_grown_set_on_what_its_records_cover(
    smoke_long: Path, run_benchmark, tmp_path: Path
) -> None:
    """Records scored on a set's first 8 simulate on those 8 when the file has grown to 10,
    and when its records have since changed places (a build continued elsewhere writes them in
    its own trial order), exactly as on the 8-record file: the records name their
    architectures."""
    write_seeded_truth(tmp_path / "grown" / "mnist-smoke-seeded.json", 10)
    moved = json.loads((tmp_path / "grown" / "mnist-smoke-seeded.json").read_text())
    first, second, *rest = moved["records"]
    moved["records"] = [*rest[:4], second, first, *rest[4:]]
    (tmp_path / "moved").mkdir()
    (tmp_path / "moved" / "mnist-smoke-seeded.json").write_text(json.dumps(moved))
    records = json.loads((smoke_long / "rankcorr.json").read_text())
    assert all(len(r["genotypes"]) == len(r["scores"]) for r in records if r.get("scores"))
    outcomes = []
    for truth_dir in (smoke_long / "truth", tmp_path / "grown", tmp_path / "moved"):
        out = tmp_path / truth_dir.name
        run_benchmark("simulate", ["--rankcorr", str(smoke_long / "rankcorr.json"),
                                   "--truth-dir", str(truth_dir), "--out", str(out),
                                   "--budgets", "1s,1d", "--orders", "100"])  # fmt: skip
        records = json.loads((out / "simulate.json").read_text())
        outcomes.append({(r["policy"], r["budget_seconds"]): r["accuracy"] for r in records})
    assert outcomes[0] == outcomes[1] == outcomes[2] and outcomes[0]


def test_search_budget_benchmark_replays_ladders_and_decides(
    smoke_long: Path, run_benchmark, benchmark_module
) -> None:
    """benchmarks.search_budget on the smoke-long records: random search with each proxy and
    successive halving up real:2 -> real:4 (and params -> real:4); a budget that pays for
    everything takes the whole bracket up the ladder; the default policy is decided at 30m."""
    args = ["--rankcorr", str(smoke_long / "rankcorr.json"), "--preset", "smoke-long",
            "--truth-dir", str(smoke_long / "truth"), "--out", str(smoke_long),
            "--budgets", "1s,30m,1d", "--orders", "50", "--eta", "2",
            "--real-ladder", "real:2,real:4", "--upper-rungs", "real:4"]  # fmt: skip
    run_benchmark("search_budget", args)
    budget_module = benchmark_module("search_budget")
    records = json.loads((smoke_long / "search_budget.json").read_text())
    policies = {r["policy"] for r in records}
    assert {"random+params", "random+synflow", "random+real:2", "sh:real",
            "sh:params-first", "sh:synflow-first"} <= policies  # fmt: skip
    whole = {r["policy"]: r for r in records if r["budget_seconds"] == 86400}
    assert whole["sh:real"]["rungs"] == ["real:2", "real:4"]
    assert whole["sh:real"]["evaluations_mean"] == 8 + 4  # all 8 on real:2, the best 4 on real:4
    assert whole["random+params"]["evaluations_mean"] == 8
    assert sum(bool(r.get("best_real_k")) for r in whole.values()) == 1
    table = (smoke_long / "search_budget.md").read_text()
    assert (
        "**Default policy** (best validation accuracy at 30 minutes on mnist-smoke-seeded)" in table
    )
    truth = json.loads((smoke_long / "truth" / "mnist-smoke-seeded.json").read_text())["records"]
    val = {r["val_accuracy"] for r in truth}
    assert all(r["val_accuracy"]["mean"] <= max(val) + 1e-12 for r in records)
    at_30m = [r for r in records if r["budget_seconds"] == 1800 and r["amortised_over"] is None]
    best = max(at_30m, key=lambda r: r["val_accuracy"]["mean"])  # chosen on validation
    assert f"`{best['policy']}`" in table.split("**Default policy**")[1].split("\n")[0]
    assert "sh:real [real:2 > real:4, eta 2]" in table
    assert "scored all the set's architectures, by budget (1s: " in table
    # what gtnas search would default to under each measured budget, and the ladders' brackets
    assert "Under a time budget `gtnas search` defaults to the policy decided" in table
    assert whole["sh:real"]["bracket"] == 8 and whole["random+params"]["bracket"] is None
    entries = budget_module.time_budget_defaults(records)
    assert [e["up_to"] for e in entries] == ["1s", "30m", "24h"]
    for entry in entries:
        at = next(r for r in records if r["policy"] == entry["policy"]
                  and r["budget_seconds"] == parse_duration(entry["up_to"]))  # fmt: skip
        assert entry["proxy"] == (at["rungs"][0] if at["rungs"]
                                  else at["policy"].removeprefix("random+"))  # fmt: skip
    # the same searches over random pools of 4 of the 8, kept beside the whole-set records
    run_benchmark("search_budget", [*args, "--pool", "4"])
    both = json.loads((smoke_long / "search_budget.json").read_text())
    pooled = [r for r in both if r.get("pool") == 4]
    assert len(pooled) == len(records) and len(both) == 2 * len(records)
    pooled_whole = {r["policy"]: r for r in pooled if r["budget_seconds"] == 86400}
    assert pooled_whole["random+params"]["evaluations_mean"] == 4
    assert pooled_whole["sh:real"]["evaluations_mean"] == 4 + 2
    table = (smoke_long / "search_budget.md").read_text()
    assert "8 architectures, each search in a random pool of 4" in table
    assert "Searching random pools of 4 instead (a check, not the decision)" in table
    assert f"`{best['policy']}`" in table.split("**Default policy**")[1].split("\n")[0]


def test_search_budget_runs_policies_for_real(smoke_long: Path, run_benchmark) -> None:
    """--real: random+params and sh:real searched for real within a few seconds, what each
    returned trained with the set's recipe at both seeds, beside the simulated expectation."""
    out = smoke_long / "real"
    # the same set with a smaller truth recipe (1 epoch on 1,000 images, not 3 on 10,000):
    # the returned architectures' four trainings take seconds, and nothing else reads it
    truth = json.loads((smoke_long / "truth" / "mnist-smoke-seeded.json").read_text())
    (out / "truth").mkdir(parents=True)
    (out / "truth" / "mnist-smoke-seeded.json").write_text(
        json.dumps({**truth, "epochs": 1, "train_subset": 1000})
    )
    args = ["--rankcorr", str(smoke_long / "rankcorr.json"), "--preset", "smoke-long",
            "--truth-dir", str(out / "truth"), "--out", str(out), "--budgets", "1d",
            "--orders", "20", "--eta", "2", "--real-ladder", "real:2,real:4",
            "--upper-rungs", "real:4", "--real", "random+params,sh:real",
            "--real-budget", "20s", "--workers", "1", "--work", str(out / "work")]  # fmt: skip
    run_benchmark("search_budget", args, OMP_NUM_THREADS="1")
    records = json.loads((out / "search_budget.json").read_text())
    real = {r["policy"]: r for r in records if r["kind"] == "search_budget_real"}
    assert set(real) == {"random+params", "sh:real"}
    for record in real.values():
        assert record["evaluations"] >= 1 and record["budget_seconds"] == 20
        assert record["trained"]["seeds"] == 2 and 0 < record["trained"]["test_accuracy"] <= 1
        assert record["simulated_accuracy"] is not None  # the 20 s budget was simulated too
    assert "## Real runs" in (out / "search_budget.md").read_text()


def test_proxy_seconds_times_every_proxy_on_the_same_architectures(
    smoke_long_teacher: Path, run_benchmark
) -> None:
    """benchmarks.proxy_seconds: the teacher's gtn:T and each proxy time the same 3
    architectures past the calibration cells; a GTN proxy's speed-up is real:K's mean seconds
    over its own, from the same run."""
    out = smoke_long_teacher / "seconds"
    teacher = smoke_long_teacher / "teachers" / "smoke" / "mnist" / "teacher-fixed-step-rank"
    args = ["--truth", str(smoke_long_teacher / "truth" / "mnist-smoke-seeded.json"),
            "--teacher", f"rank={teacher}", "--proxies", "real:2,real:4,synflow",
            "--architectures", "3", "--skip", "3", "--blueprint", "tiny",
            "--eval-examples", "200", "--out", str(out)]  # fmt: skip
    run_benchmark("proxy_seconds", args, OMP_NUM_THREADS="1")
    records = {r["proxy"]: r for r in json.loads((out / "proxy_seconds.json").read_text())}
    assert set(records) == {"gtn:3 (rank)", "real:2", "real:4", "synflow"}
    for record in records.values():
        assert len(record["seconds"]) == record["architectures"] == 3
        assert record["seconds_mean"] == pytest.approx(np.mean(record["seconds"]))
        assert min(record["seconds"]) > 0
    gtn = records["gtn:3 (rank)"]
    assert gtn["speedup_over"]["real:4"] == pytest.approx(
        records["real:4"]["seconds_mean"] / gtn["seconds_mean"]
    )
    assert "synflow" not in gtn["speedup_over"]
    table = (out / "proxy_seconds.md").read_text()
    assert "## mnist-smoke-seeded: 3 architectures" in table and "| gtn:3 (rank) |" in table


def test_search_budget_counts_a_rank_average_as_no_single_proxy(benchmark_module) -> None:
    budget = benchmark_module("search_budget")

    def record(policy: str, accuracy: float) -> dict[str, Any]:
        return {"kind": "search_budget", "budget_seconds": budget.DECIDING_BUDGET,
                "truth": "fashion-mnist-x", "amortised_over": None, "policy": policy,
                "accuracy": {"mean": accuracy}, "val_accuracy": {"mean": accuracy}}  # fmt: skip

    decided = budget.decide([record("random+params", 0.90), record("random+synflow", 0.91),
                             record("random+rankavg:gtn:32+synflow", 0.93)])  # fmt: skip
    assert decided["policy"] == "random+rankavg:gtn:32+synflow"
    assert decided["best_single_proxy"] == "random+synflow"
    assert decided["at_least_best_single"] and decided["above_params"]


def test_the_shipped_time_budget_defaults_are_the_benchmarks_decisions(benchmark_module) -> None:
    """src/gtnas/cli/search_time_defaults.json holds, for nb201 (the space of the set the
    defaults are decided on), the policy the committed search-budget records decide at each
    measured budget: re-running the benchmark on a grown set fails here until they agree."""
    budget = benchmark_module("search_budget")
    records = json.loads((ROOT / "benchmarks" / "results" / "search_budget.json").read_text())
    shipped = json.loads((ROOT / "src" / "gtnas" / "cli" / "search_time_defaults.json").read_text())
    decided = budget.time_budget_defaults(records)
    assert decided and shipped == {"nb201": decided}
    assert all("nb201" in entry["measured_on"] for entry in decided)
