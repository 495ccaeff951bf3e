"""`gtnas search` end to end at toy size, resume by --study, and `gtnas report`."""

from __future__ import annotations

import json
from pathlib import Path

from gtnas.cli.app import main
from gtnas.search.pipeline import SearchPipeline
from gtnas.search.study import Study, default_storage
from seeded_truth import ROOT, write_seeded_truth

TOY = [
    "--dataset", "mnist", "--space", "nb201", "--blueprint", "tiny", "--budget", "4",
    "--top-k", "1", "--epochs", "1", "--quiet",
    "--set", "teacher.iterations=2", "--set", "teacher.inner_steps=3",
    "--set", "teacher.batch_size=16", "--set", "teacher.eval_every=2",
    "--set", "final.train_subset=256", "--set", "final.blueprint=tiny",
    "--set", "eval_examples=300",
    # the nb201 default teacher ranks: its calibration architectures at toy size
    "--set", "teacher.calibration.count=3", "--set", "teacher.calibration.epochs=1",
    "--set", "teacher.calibration.seeds=1", "--set", "teacher.calibration.train_subset=256",
    "--set", "teacher.learners_per_step=2",
]  # fmt: skip


def test_search_end_to_end_then_resume_with_a_larger_budget(tmp_path: Path, mnist) -> None:
    out = tmp_path / "runs"
    args = ["search", *TOY, "--proxy", "gtn:6", "--extra-proxy", "synflow", "--out", str(out)]
    assert main([*args, "--study", "toy"]) == 0
    folder = out / "toy"
    assert (folder / "teacher" / "teacher.json").is_file()  # meta-trained on the space
    assert (folder / "best" / "model.safetensors").is_file()  # the best, exported
    onnx = json.loads((folder / "best" / "export.json").read_text())  # with ONNX, verified
    assert onnx["onnx"] == "model.onnx" and onnx["max_abs_difference_vs_pytorch"] < 1e-3
    assert (folder / "best" / "model.onnx").is_file()
    assert (folder / "report.html").is_file()
    study = Study.open("toy", default_storage(out), config=None, decision_sizes={})
    first = {r.genotype for r in study.completed()}
    assert len(first) == 4
    assert all({"gtn:6", "synflow"} <= r.scores.keys() for r in study.completed())
    (final,) = study.results("final").values()
    assert 0.0 <= final["test_accuracy"] <= 1.0
    # resume the study with a larger budget: the 4 are kept, 2 more are evaluated
    assert main(["search", "--study", "toy", "--out", str(out), "--budget", "6", "--quiet",
                 "--no-final"]) == 0  # fmt: skip
    study = Study.open("toy", default_storage(out), config=None, decision_sizes={})
    records = study.completed()
    assert len(records) == 6 and first <= {r.genotype for r in records}
    assert main(["report", "toy", "--out", str(out)]) == 0
    page = (folder / "report.html").read_text()
    assert "Search curves" in page and "nb201:|" in page
    # the teacher: assessed against real data at its steps, its plots embedded
    assert "The teacher" in page and "real data (lr" in page and "meta-training" in page
    assert (folder / "teacher" / "eval.json").is_file()


def test_nb201_searches_start_from_the_teacher_built_to_rank(tmp_path: Path, mnist) -> None:
    """Without --calibration the 3 calibration architectures are trained first (their
    validation accuracy, their time counted); the teacher is the recipe of
    configs/nb201-rank-search.json, meta-trained on them; a resume trains neither again."""
    out = tmp_path / "runs"
    # the default's shape (a rank average of the teacher's gtn:K and synflow) at toy size
    args = ["search", *TOY, "--proxy", "rankavg:gtn:3+synflow", "--top-k", "0", "--budget", "2",
            "--out", str(out), "--study", "r"]  # fmt: skip
    assert main(args) == 0
    study = Study.open("r", default_storage(out), config=None, decision_sizes={})
    assert all({"gtn:3", "synflow"} <= r.scores.keys() for r in study.completed())
    recipe = json.loads((ROOT / "configs" / "nb201-rank-search.json").read_text())["teacher"]
    stored = study.config["teacher"]
    for key in ("learn_schedule", "lr", "momentum", "rank_weight", "init", "soft_labels"):
        assert stored[key] == recipe[key], key  # TOY leaves them to the nb201 defaults
    (calibration,) = study.results("calibration").values()
    built = Study.open("calibration", default_storage(out / "r" / "calibration"), config=None,
                       decision_sizes={})  # fmt: skip
    trained = {r.genotype: r.scores["train:1"] for r in built.completed()}
    assert calibration["complete"] and calibration["accuracies"] == trained and len(trained) == 3
    assert calibration["seconds"] > 0
    teacher = json.loads((out / "r" / "teacher" / "config.json").read_text())
    assert teacher["calibration"] == trained and teacher["meta"]["rank_weight"] == 1.0
    assert not teacher["teacher_options"]["learn_schedule"]
    again = SearchPipeline("r", out, config=None, show_progress=False)
    assert again.setup_seconds() >= calibration["seconds"]
    before = (out / "r" / "teacher" / "teacher.safetensors").stat().st_mtime_ns
    assert main(["search", "--study", "r", "--out", str(out), "--budget", "3", "--quiet"]) == 0
    assert (out / "r" / "teacher" / "teacher.safetensors").stat().st_mtime_ns == before
    assert len(Study.open("calibration", default_storage(out / "r" / "calibration"),
                          config=None, decision_sizes={}).completed()) == 3  # fmt: skip


def test_a_truth_set_calibrates_instead(tmp_path: Path, mnist) -> None:
    truth = write_seeded_truth(tmp_path / "truth.json", 6)
    out = tmp_path / "runs"
    args = ["search", *TOY, "--proxy", "gtn:3", "--top-k", "0", "--budget", "1",
            "--calibration", str(truth), "--calibration-count", "4",
            "--out", str(out), "--study", "t"]  # fmt: skip
    assert main(args) == 0
    records = json.loads(truth.read_text())["records"][:4]
    teacher = json.loads((out / "t" / "teacher" / "config.json").read_text())
    assert teacher["calibration"] == {r["genotype"]: r["val_accuracy"] for r in records}
    assert not (out / "t" / "calibration").exists()  # nothing trained here


def test_a_truth_set_of_another_data_set_does_not_calibrate(tmp_path: Path, capsys) -> None:
    truth = write_seeded_truth(tmp_path / "truth.json", 6)  # mnist, blueprint tiny
    args = ["search", *TOY, "--dataset", "fashion-mnist", "--calibration", str(truth),
            "--out", str(tmp_path / "runs"), "--study", "w"]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "trained with dataset 'mnist'" in err and len(err.strip().splitlines()) == 1, err


def test_the_nb201_defaults_are_the_named_recipe() -> None:
    from gtnas.cli.search import space_defaults

    named = json.loads((ROOT / "configs" / "nb201-rank-search.json").read_text())
    assert {k: v for k, v in named.items() if k not in ("dataset", "space")} == space_defaults(
        "nb201"
    )
    assert space_defaults("gtn-cell") == {}
    # the demo states every key the nb201 recipe sets, so it stays the teacher it measured
    demo = json.loads((ROOT / "configs" / "search-demo.json").read_text())["teacher"]
    assert set(space_defaults("nb201")["teacher"]) - {"calibration"} <= set(demo)


def test_a_ladder_search_and_its_report(tmp_path: Path, mnist) -> None:
    """sh on a two-rung ladder at toy size: the rungs' trials, the final training of the
    survivors, and a report with every section a ladder search has."""
    out = tmp_path / "runs"
    args = ["search", *TOY, "--proxy", "synflow", "--scheduler", "sh", "--ladder", "real:4",
            "--eta", "2", "--budget", "6", "--top-k", "3", "--extra-proxy", "params",
            "--out", str(out), "--study", "ladder"]  # fmt: skip
    assert main(args) == 0
    study = Study.open("ladder", default_storage(out), config=None, decision_sizes={})
    rungs = [r.rung for r in study.records() if r.rung is not None]
    assert rungs.count(0) == 6 and rungs.count(1) == 3
    assert len(study.results("final")) == 3  # the three that climbed
    page = (out / "ladder" / "report.html").read_text()
    for section in ("ladder", "curves", "proxies", "top", "config"):
        assert f"<h2 id='{section}'>" in page, section
    assert "params (final network) (free floor)" in page and "}}" not in page


def test_resume_refuses_a_changed_space(tmp_path: Path, mnist, capsys) -> None:
    out = tmp_path / "runs"
    args = ["search", *TOY, "--proxy", "params", "--top-k", "0", "--out", str(out)]
    assert main([*args, "--study", "s"]) == 0
    capsys.readouterr()
    assert main(["search", "--study", "s", "--out", str(out), "--space", "randwire"]) == 2
    message = capsys.readouterr().err
    assert "space='nb201', not 'randwire'" in message and len(message.strip().splitlines()) == 1


def test_bad_search_options_are_one_line_errors(tmp_path: Path, capsys) -> None:
    for bad, expected in (
        (["--proxy", "flopz"], "unknown proxy 'flopz'"),
        (["--strategy", "annealing"], "unknown strategy 'annealing'"),
        (["--set", "budgett=3"], "budgett"),
        (["--space", "darts"], "unknown search space 'darts'"),
        (["--dataset", "mnsit"], "unknown data set 'mnsit'"),
    ):
        assert main(["search", "--out", str(tmp_path), *bad]) == 2
        err = capsys.readouterr().err
        assert expected in err and len(err.strip().splitlines()) == 1, err
    # refused before a run folder (or a teacher's config in it) was made
    assert not any(tmp_path.iterdir()), list(tmp_path.iterdir())
    assert main(["report", "nothing", "--out", str(tmp_path / "none")]) == 2
    assert "no study storage" in capsys.readouterr().err


def test_config_is_recorded_with_the_study(tmp_path: Path, mnist) -> None:
    out = tmp_path / "runs"
    assert main(["search", *TOY, "--proxy", "params", "--top-k", "0", "--out", str(out),
                 "--study", "c"]) == 0  # fmt: skip
    config = Study.open("c", default_storage(out), config=None, decision_sizes={}).config
    assert config["space"] == "nb201" and config["budget"] == 4
    json.dumps(config)  # plain JSON


def test_a_time_budget_spent_on_the_set_up_stops_it_kept(tmp_path: Path, mnist, capsys) -> None:
    """A budget that runs out while the teacher is prepared ends the search with one line
    saying where (nothing was scored), the work kept: the same study with more time resumes."""
    out = tmp_path / "runs"
    truth = write_seeded_truth(tmp_path / "truth.json", 6)
    given = ["search", *TOY, "--proxy", "gtn:3", "--top-k", "0", "--budget", "2",
             "--time-budget", "0.001s", "--out", str(out)]  # fmt: skip
    assert main([*given, "--study", "calib"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "time budget" in err, err
    assert "training calibration architectures (0 of 3 trained" in err
    assert main([*given, "--calibration", str(truth), "--study", "meta"]) == 2
    err = capsys.readouterr().err.strip()
    assert "meta-training the teacher (iteration 1 of 2, checkpointed" in err, err
    assert not (out / "meta" / "teacher" / "teacher.safetensors").exists()
    assert main(["search", "--study", "meta", "--out", str(out), "--time-budget", "1h",
                 "--quiet"]) == 0  # fmt: skip
    assert (out / "meta" / "teacher" / "teacher.safetensors").is_file()
    study = Study.open("meta", default_storage(out), config=None, decision_sizes={})
    assert len(study.completed()) == 2


def _time_defaults(tmp_path: Path, monkeypatch) -> None:
    """A time-budget table of three entries in place of the shipped one (whose values follow
    the benchmark's records)."""
    import gtnas.cli.search as cli_search

    about = {"measured_on": "a-set"}
    table = {"nb201": [
        {"up_to": "100m", "policy": "random+real:16", **about, "proxy": "real:16"},
        {"up_to": "10m", "policy": "random+params", **about, "proxy": "params"},
        {"up_to": "30m", "policy": "sh:real", **about, "proxy": "real:16",
         "ladder": ["real:64"], "scheduler": "sh", "eta": 3, "budget": 27},
    ]}  # fmt: skip
    path = tmp_path / "time_defaults.json"
    path.write_text(json.dumps(table))
    monkeypatch.setattr(cli_search, "TIME_DEFAULTS_FILE", path)


def test_a_time_budget_picks_the_policy_measured_best_at_it(tmp_path: Path, monkeypatch) -> None:
    from gtnas.cli.search import new_study_values, space_defaults

    _time_defaults(tmp_path, monkeypatch)

    def values(**overrides):
        return new_study_values({"space": "nb201", **overrides})

    # the smallest measured budget that covers the search's: 5m -> 10m, 30m -> 30m, 31m -> 100m
    assert values(time_budget=300.0)[0]["proxy"] == "params"
    ladder, entry = values(time_budget=1800.0)
    assert entry["policy"] == "sh:real" and ladder["scheduler"] == "sh"
    assert (ladder["proxy"], ladder["ladder"], ladder["eta"], ladder["budget"]) == (
        "real:16", ["real:64"], 3, 27)  # fmt: skip
    assert "policy" not in ladder and "up_to" not in ladder  # what the entry says of itself
    assert values(time_budget=1860.0)[0]["proxy"] == "real:16"
    # beyond the table, without a time budget, or a policy chosen: the space's recipe
    recipe = space_defaults("nb201")["proxy"]
    for chosen in ({"time_budget": 3 * 3600.0}, {}, {"time_budget": 60.0, "teacher": {"run": "T"}},
                   {"time_budget": 60.0,
                    "teacher": {"calibration": {"accuracies": {"nb201:x": 0.9}}}}):  # fmt: skip
        got, entry = values(**chosen)
        assert entry is None and got["proxy"] == recipe, chosen
    got, entry = values(time_budget=60.0, proxy="synflow")
    assert entry is None and got["proxy"] == "synflow"
    got, entry = values(time_budget=60.0, scheduler="sh", ladder=["real:4"])
    assert entry is None and got["proxy"] == recipe and got["ladder"] == ["real:4"]
    # the user's other values still win over an entry's
    assert values(time_budget=1800.0, budget=9)[0]["budget"] == 9
    assert new_study_values({"space": "gtn-cell", "time_budget": 60.0})[1] is None


def test_a_time_budgeted_nb201_search_runs_the_measured_policy(
    tmp_path: Path, monkeypatch, mnist, capsys
) -> None:
    """No teacher is trained: the search scores with the 10m entry's proxy and says why."""
    import optuna

    _time_defaults(tmp_path, monkeypatch)
    out = tmp_path / "runs"
    args = ["search", *[a for a in TOY if a != "--quiet"], "--time-budget", "10m", "--no-final",
            "--out", str(out), "--study", "tb"]  # fmt: skip
    assert main(args) == 0
    printed = " ".join(capsys.readouterr().out.split())
    assert "nb201 under a 10m time budget: random+params, the policy measured best up to 10m" in (
        printed
    )
    from gtnas.search.study import CONFIG_KEY

    stored = optuna.load_study(study_name="tb", storage=default_storage(out))
    assert stored.user_attrs[CONFIG_KEY]["proxy"] == "params"
    assert Study.open("tb", default_storage(out), config=None, decision_sizes={}).completed()
    assert not (out / "tb" / "teacher").exists() and not (out / "tb" / "calibration").exists()
