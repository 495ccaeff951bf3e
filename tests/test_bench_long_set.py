"""benchmarks.long_set: the steps in order, each a command its benchmark accepts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from benchmarks import long_set

ROOT = Path(__file__).resolve().parents[1]


def test_the_steps_run_in_order_and_print_their_commands(capsys) -> None:
    long_set.main(["--dry-run"])
    lines = capsys.readouterr().out.splitlines()
    order = [line.split(":")[0].removeprefix("[long_set] ") for line in lines]
    assert order == ["rankcorr", *["teachers"] * 4, "simulate", "search-budget"]
    # the validation split's tables follow the test split's, from the same caches
    assert [("--truth-metric val" in line) for line in lines[1:5]] == [False, False, True, True]
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
