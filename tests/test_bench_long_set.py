"""benchmarks.long_set: the steps in order, each a command its benchmark accepts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from benchmarks import long_set

ROOT = Path(__file__).resolve().parents[1]


def test_the_steps_run_in_order_and_print_their_commands(capsys) -> None:
    long_set.main(["--dry-run"])
    lines = capsys.readouterr().out.splitlines()
    order = [line.split(":")[0].removeprefix("[long_set] ") for line in lines]
    # the teachers first: the rankcorr step scores the shipped one (a fresh machine has none)
    assert order == [*["train"] * 2, "rankcorr", *["teachers"] * 4, "simulate", "search-budget"]
    assert all("--train-only" in line for line in lines[:2]) and "--seed 1" in lines[1]
    # the validation split's tables follow the test split's, from the same caches
    assert [("--truth-metric val" in line) for line in lines[3:7]] == [False, False, True, True]
    long_set.main(["--dry-run", "--variants", "fixed-step-rank", "--second-seed", ""])
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0].removeprefix("[long_set] ") for line in lines] == [
        "train", "rankcorr", "teachers", "teachers", "simulate", "search-budget",
    ]  # fmt: skip
    with pytest.raises(SystemExit):
        long_set.main(["--dry-run", "--variants", "fixed-step"])
    long_set.main(["--dry-run", "--from", "simulate", "--truth-dir", "/tmp/t"])
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and all("--truth-dir /tmp/t" in line for line in lines)


def test_every_flag_is_one_its_benchmark_takes() -> None:
    for _, command in long_set.steps("truth"):
        module = command[1]
        shown = subprocess.run([sys.executable, "-m", module, "--help"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout  # fmt: skip
        for flag in (part for part in command[2:] if part.startswith("--")):
            assert flag in shown, (module, flag)
