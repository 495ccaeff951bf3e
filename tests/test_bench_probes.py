"""The probes' side-by-side driver (`python -m benchmarks.probes --jobs N --deadline S`): each
probe in its own process, finished ones judged, unfinished ones stopped at the deadline with
their curves so far."""

from __future__ import annotations

import time
from typing import Any

import pytest

pytestmark = pytest.mark.slow


def test_side_by_side_keeps_finished_probes_and_stops_late_ones(
    benchmark_module, mnist, shared_data_root, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    probes = benchmark_module("probes")
    from gtnas.config import config_from_dict, config_to_dict, merge_values
    from gtnas.meta.run import TeachRunConfig

    monkeypatch.setenv("GTNAS_DATA", str(shared_data_root))  # the children's data cache
    tiny = merge_values(
        probes.load_probe_set("defaults")["scale"],
        {
            "teacher_options": {"inner_steps": 4},
            "meta": {"eval_every": 1, "eval_examples": 500},
            "checkpoint_every": 1,
        },
    )
    jobs = []
    for name, iterations in (("short", 3), ("long", 100_000)):
        values = merge_values(
            merge_values(config_to_dict(TeachRunConfig()), tiny),
            {"meta": {"iterations": iterations}},
        )
        jobs.append(
            {
                "name": name,
                "values": values,
                "config": config_from_dict(TeachRunConfig, values),
                "run_dir": str(tmp_path / name),
                "stop_after": None,
                "learners": 2,
            }
        )
    records: dict[str, dict[str, Any]] = {}
    # The driver's clock passes its deadline (an hour, never reached on the real clock) the
    # moment the short probe has finished and the long one has logged an iteration: the test
    # holds however busy the machine is (with a real 40 s deadline, a loaded machine once
    # finished 1 of the short probe's 3 iterations in time).
    real = time.monotonic

    def clock() -> float:
        ready = (tmp_path / "short" / "probe.json").is_file() and any(
            "iteration" in r for r in probes.read_metrics(tmp_path / "long")
        )
        return real() + (1e6 if ready else 0.0)

    monkeypatch.setattr(time, "monotonic", clock)
    probes.run_side_by_side(jobs, 2, 3600, lambda r: records.__setitem__(r["probe"], r))
    monkeypatch.setattr(time, "monotonic", real)

    short, long = records["short"], records["long"]
    # the finished probe: its whole curve and the final judging, as run_probe gives them
    assert [i for i, _ in short["val_acc_by_iteration"]] == [1, 2, 3]
    assert "stopped" not in short
    assert short["final_val"]["learners"] == 2 and 0 < short["final_val"]["mean"] <= 1
    # the stopped one: the curve it had, no judging, and said so
    assert long["stopped"] is True and "final_val" not in long
    iterations = [i for i, _ in long["val_acc_by_iteration"]]
    assert iterations == list(range(1, len(iterations) + 1)) and 0 < len(iterations) < 100_000
    assert long["seconds"] > 0
    assert long["config"]["meta"]["iterations"] == 100_000
