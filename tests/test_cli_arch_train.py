"""``gtnas arch train`` through the CLI's entry point.

The command is registered in a throwaway ``arch`` group here, and that app is run by
:func:`gtnas.cli.app.main`, so errors go through the same one-line / exit-2 handling as the
real command. The data set is a small IDX folder of 8x8 images (fast); the network is nb201's
tiny one.
"""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
import typer

import gtnas.cli.app as cli_app
from gtnas.cli import arch_train
from gtnas.spaces import nb201

GENOTYPE = "nb201:|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|"  # noqa: E501


# One torch thread: tiny networks, where threads only add overhead (see conftest.one_thread).
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def main(monkeypatch):
    """``main(argv)`` of the gtnas CLI with an ``arch`` group holding only ``train``."""
    arch = typer.Typer(no_args_is_help=True)
    arch.command("train")(arch_train.train)

    @arch.command("noop")
    def _noop() -> None:
        """A second command, so Typer keeps ``train`` as a named sub-command."""

    root = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False)
    root.add_typer(arch, name="arch")

    @root.callback()
    def _root() -> None:
        """gtnas (test app)"""

    monkeypatch.setattr(cli_app, "app", root)
    return cli_app.main


@pytest.fixture
def digits(idx_folder, data_files):
    """``idx:<folder>`` of 120 training (100 train + 20 validation) and 20 test 8x8 images."""
    arrays = data_files.small_arrays(n_train=120, n_test=20, shape=(8, 8))
    folder, _ = idx_folder("digits", arrays=arrays)
    return f"idx:{folder}"


def quick(run, dataset):
    return [
        "arch", "train", GENOTYPE, "--out", str(run), "--dataset", dataset, "--epochs", "2",
        "--blueprint", "tiny", "--batch-size", "25", "--device", "cpu", "--quiet",
        "--set", "checkpoint_every_steps=3", "--set", "log_every_steps=1",
    ]  # fmt: skip


def test_train_writes_the_run_folder_and_a_summary(tmp_path, capsys, main, digits):
    run = tmp_path / "run"
    assert main(quick(run, digits)) == 0
    out = capsys.readouterr().out
    for words in ("validation accuracy", "test accuracy", "parameters", "FLOPs per image",
                  "seconds per epoch"):  # fmt: skip
        assert words in out, words
    for name in ("config.json", "genotype.json", "metrics.jsonl", "model.safetensors",
                 "result.json", "checkpoints/latest.json"):  # fmt: skip
        assert (run / name).is_file(), name
    result = json.loads((run / "result.json").read_text())
    assert result["epochs"] == 2 and result["steps"] == 2 * (100 // 25)
    assert result["train_examples"] == 100 and result["test_examples"] == 20
    assert result["augmentation"] == "crop2"  # auto for an IDX folder
    config = json.loads((run / "config.json").read_text())
    tiny = dataclasses.asdict(nb201.NB201Space.blueprints["tiny"])
    assert config["blueprint"] == tiny and result["blueprint_preset"] == "tiny"
    assert config["batch_size"] == 25
    assert config["data"]["image_shape"] == [1, 8, 8] and config["data"]["num_classes"] == 10

    # The run folder loads as a network (gtnas.export) that scores what result.json says.
    from gtnas.data import load_dataset
    from gtnas.export import load_network

    network = load_network(run)
    test = load_dataset(digits, quiet=True).test
    with torch.no_grad():
        accuracy = (network(test.images).argmax(1) == test.labels).float().mean().item()
    assert accuracy == pytest.approx(result["test_accuracy"])

    # A finished run resumes as a no-op; a fresh run refuses to overwrite it.
    assert main(["arch", "train", "--out", str(run), "--resume", "--quiet"]) == 0
    assert json.loads((run / "result.json").read_text())["test_accuracy"] == result["test_accuracy"]
    assert main(quick(run, digits)) == 2
    assert "already holds a run" in capsys.readouterr().err

    # The run's genotype.json and config.json reproduce it exactly.
    again = tmp_path / "again"
    args = ["arch", "train", str(run / "genotype.json"), "--out", str(again), "--quiet",
            "--config", str(run / "config.json")]  # fmt: skip
    assert main(args) == 0
    repeat = json.loads((again / "result.json").read_text())
    assert repeat["val_accuracy"] == result["val_accuracy"]
    assert repeat["test_accuracy"] == result["test_accuracy"]


def test_a_blueprint_dict_edits_the_chosen_preset(tmp_path, main, digits):
    run = tmp_path / "run"
    args = [*quick(run, digits), "--epochs", "1", "--set", "blueprint.channels=2"]
    assert main(args) == 0
    config = json.loads((run / "config.json").read_text())
    tiny = dataclasses.asdict(nb201.NB201Space.blueprints["tiny"])
    assert config["blueprint"] == {**tiny, "channels": 2}


@pytest.mark.parametrize(
    "args,message",
    [
        (["nb201:|bogus~0|"], "nb201 genotype"),
        (["nope:abc"], "must start with its space"),
        ([GENOTYPE, "--set", "bogus=1"], "unknown config key(s) bogus"),
        ([GENOTYPE, "--set", "lr=fast"], "lr='fast' has the wrong type"),
        ([GENOTYPE, "--set", "blueprint.bogus=1"], "unknown config key(s) blueprint.bogus"),
        ([GENOTYPE, "--blueprint", "huge"], "unknown blueprint 'huge'"),
        ([GENOTYPE, "--blueprint", "{oops"], "--blueprint JSON is malformed"),
        ([GENOTYPE, "--set", "augmentation=blur"], "unknown augmentation 'blur'"),
        ([GENOTYPE, "--epochs", "0"], "epochs must be at least 1"),
        ([GENOTYPE, "--device", "tpu"], "unknown device 'tpu'"),
        ([GENOTYPE, "--config", "/no/such.json"], "config file /no/such.json does not exist"),
        ([GENOTYPE, "--dataset", "idx:/no/such/folder"], "does not exist"),
        ([GENOTYPE, "--dataset", "imagenet"], "unknown data set 'imagenet'"),
        ([], "give the GENOTYPE"),
        (["--resume"], "not a gtnas arch train run"),
        (["--resume", "--epochs", "3"], "drop the other options"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, main, args, message):
    code = main(["arch", "train", "--out", str(tmp_path / "run"), "--quiet", *args])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert message in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_the_real_cli_has_arch_train(capsys):
    """Through the real ``gtnas`` app, where ``gtnas.cli.arch`` registers the command."""
    from gtnas.cli import arch as arch_cli

    assert "train" in [command.name for command in arch_cli.app.registered_commands]
    assert cli_app.main(["arch", "train", "--help"]) == 0
    assert "--resume" in capsys.readouterr().out
