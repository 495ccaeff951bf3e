"""``gtnas teach`` through its public entry point."""

import json

import pytest

from gtnas.cli.app import main

TINY = [
    "--inner-steps", "4", "--batch-size", "20", "--iterations", "3", "--device", "cpu", "--quiet",
    "--set", "learner_options.channels=[4,8]",
    "--set", "learner_options.fc=16", "--set", "train_subset=1000",
    "--set", "teacher_options.generator.noise_dim=8",
    "--set", "teacher_options.generator.hidden=16",
    "--set", "teacher_options.generator.channels=8",
    "--set", "teacher_options.generator.mid_channels=4",
    "--set", "meta.eval_every=3", "--set", "meta.eval_examples=200",
]  # fmt: skip


@pytest.mark.slow
def test_train_eval_show_and_resume(tmp_path, capsys, mnist):
    run = tmp_path / "run"
    assert main(["teach", "train", "--out", str(run), *TINY]) == 0
    for name in ("config.json", "metrics.jsonl", "teacher.safetensors", "teacher.json"):
        assert (run / name).is_file(), name
    assert (run / "plots" / "curriculum.png").stat().st_size > 1000
    assert (run / "plots" / "meta_training.png").stat().st_size > 1000
    config = json.loads((run / "config.json").read_text())
    assert config["teacher_options"]["inner_steps"] == 4 and config["meta"]["iterations"] == 3
    assert config["teacher_options"]["init"] == "real" and config["teacher_options"]["soft_labels"]

    code = main(["teach", "eval", str(run), "--learners", "2", "--no-sampled", "--no-match",
                 "--device", "cpu"])  # fmt: skip
    assert code == 0
    report = json.loads((run / "eval.json").read_text())
    assert report["split"] == "test" and report["default"]["n"] == 2
    assert 0.0 <= report["default"]["mean"] <= 1.0 and "real" in report
    assert (run / "plots" / "accuracy_vs_steps.png").is_file()
    assert "real data" in capsys.readouterr().out

    # A finished run resumes as a no-op, or trains further with --iterations; a fresh run
    # refuses to overwrite it.
    import torch

    before = torch.get_num_threads()
    try:  # --threads is no option of the run's config: a resume takes it
        assert main(["teach", "train", "--out", str(run), "--resume", "--threads", "2"]) == 0
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert main(["teach", "train", "--out", str(run), "--resume", "--iterations", "4"]) == 0
    lines = (run / "metrics.jsonl").read_text().splitlines()
    # iteration 0: the warm start from real data of the CLI's default recipe
    assert [json.loads(line)["iteration"] for line in lines] == [0, 1, 2, 3, 4]
    assert json.loads((run / "config.json").read_text())["meta"]["iterations"] == 4
    assert main(["teach", "train", "--out", str(run), *TINY]) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert main(["teach", "show", str(run)]) == 0


@pytest.mark.parametrize(
    "args,message",
    [
        (["--set", "meta.bogus=1"], "unknown config key(s) meta.bogus"),
        (["--teacher", "nope"], "unknown teacher 'nope'"),
        (["--set", "meta.meta_lr=fast"], "meta.meta_lr='fast' has the wrong type"),
        (["--set", "novalue"], "--set expects KEY=VALUE"),
        (
            ["--set", "meta.meta_loss_weighting=log"],
            "meta_loss_weighting must be one of uniform, linear, inverse-loss, got 'log'",
        ),
        (["--config", "/no/such.json"], "config file /no/such.json does not exist"),
        (["--device", "tpu"], "unknown device 'tpu'"),
        (["--threads", "-1"], "--threads must be 0 (the default) or more"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, args, message):
    code = main(["teach", "train", "--out", str(tmp_path / "r"), "--quiet", *args])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert message in err and len(err.splitlines()) == 1, err


def test_resume_rejects_other_options_and_missing_runs(tmp_path, capsys):
    assert main(["teach", "train", "--out", str(tmp_path), "--resume", "--meta-lr", "1"]) == 2
    assert "drop the other options" in capsys.readouterr().err
    assert main(["teach", "train", "--out", str(tmp_path), "--resume", "--seed", "0"]) == 2
    assert main(["teach", "train", "--out", str(tmp_path), "--resume", "--set", "seed=1"]) == 2
    assert "drop the other options" in capsys.readouterr().err
    assert main(["teach", "train", "--out", str(tmp_path / "none"), "--resume"]) == 2
    assert main(["teach", "eval", str(tmp_path / "none")]) == 2
    assert main(["teach", "show", str(tmp_path / "none")]) == 2
    assert "not a gtnas teach run" in capsys.readouterr().err
    assert not (tmp_path / "none").exists()  # nothing drawn into a folder that is no run
    assert main(["teach", "train", "--out", str(tmp_path / "d"), "--dataset", "mnsit"]) == 2
    assert "unknown data set 'mnsit'" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


def test_teach_list_names_every_teacher(capsys):
    assert main(["teach", "list"]) == 0
    out = capsys.readouterr().out
    for name in ("gtn", "gtn-nocurriculum", "pixels", "real", "random-width"):
        assert name in out
