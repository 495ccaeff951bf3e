"""MetricsLog: JSONL append/read, truncation on resume, crash-torn last lines, nan/inf."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from gtnas.errors import GtnasError
from gtnas.runtime.metrics import MetricsLog


def test_append_read_and_plain_numbers(tmp_path: Path) -> None:
    log = MetricsLog(tmp_path / "run" / "metrics.jsonl")
    assert log.read() == []
    log.append({"iteration": 0, "meta_loss": np.float32(0.5), "lr": torch.tensor(0.25)})
    log.append({"iteration": 1, "meta_loss": math.nan, "grad": [math.inf, -math.inf]})
    lines = log.path.read_text().splitlines()
    assert all(json.loads(line) for line in lines)  # strict JSON, one object a line
    assert '"NaN"' in lines[1] and '"-Infinity"' in lines[1]
    first, second = log.read()
    assert first == {"iteration": 0, "meta_loss": 0.5, "lr": 0.25}
    assert math.isnan(second["meta_loss"]) and second["grad"] == [math.inf, -math.inf]


def test_truncate_after_drops_later_records_only(tmp_path: Path) -> None:
    log = MetricsLog(tmp_path / "metrics.jsonl")
    log.append({"event": "start"})
    for iteration in range(6):
        log.append({"iteration": iteration, "meta_loss": 1.0 / (iteration + 1)})
    assert log.truncate_after(3) == 2
    assert [r.get("iteration") for r in log.read()] == [None, 0, 1, 2, 3]
    log.append({"iteration": 4})
    assert [r.get("iteration") for r in log.read()][-2:] == [3, 4]
    assert MetricsLog(tmp_path / "absent.jsonl").truncate_after(3) == 0


def test_partial_last_line_is_ignored_then_removed(tmp_path: Path) -> None:
    log = MetricsLog(tmp_path / "metrics.jsonl")
    log.append({"iteration": 0})
    with open(log.path, "ab") as handle:
        handle.write(b'{"iteration": 1, "meta_lo')  # the crash
    assert log.read() == [{"iteration": 0}]
    log.append({"iteration": 1})
    assert log.read() == [{"iteration": 0}, {"iteration": 1}]
    assert log.path.read_bytes().count(b"\n") == 2

    with open(log.path, "ab") as handle:
        handle.write(b'{"iter')
    assert log.truncate_after(5) == 0
    assert log.path.read_bytes().endswith(b'{"iteration": 1}\n')


def test_corrupt_middle_line_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"iteration": 0}\ngarbage\n{"iteration": 2}\n')
    with pytest.raises(GtnasError, match=r"metrics\.jsonl line 2"):
        MetricsLog(path).read()
