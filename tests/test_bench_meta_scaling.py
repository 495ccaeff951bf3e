"""The meta-scaling benchmark's smoke preset end to end (`python -m benchmarks.meta_scaling`):
every part writes its records, and a window of all T steps is the full meta-gradient."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.mark.slow
def test_smoke_preset_writes_every_part(tmp_path: Path, run_benchmark, mnist) -> None:
    run_benchmark("meta_scaling", ["--preset", "smoke", "--out", str(tmp_path),
                                   "--runs", str(tmp_path / "runs")])  # fmt: skip
    records = json.loads((tmp_path / "meta_scaling.json").read_text())
    scaling = [r for r in records if r["part"] == "scaling"]
    assert [(r["processes"], r["learners_per_process"]) for r in scaling] == [(1, 1), (1, 2),
                                                                              (2, 1)]  # fmt: skip
    for r in scaling:
        assert r["learners_per_second"] == pytest.approx(
            r["learners_per_step"] / r["seconds_per_iteration"]
        )
        assert r["peak_memory_mb"] > 100
    horizon = {(r["inner_steps"], r["mode"]) for r in records if r["part"] == "horizon"}
    assert horizon == {(4, "unroll"), (4, "checkpoint"), (8, "unroll"), (8, "checkpoint"),
                       (8, "truncated to 4")}  # fmt: skip
    cosines = {r["window"]: r for r in records if r.get("measure") == "cosine"}
    assert cosines[32]["cosine_mean"] == pytest.approx(1.0, abs=1e-5)  # W = T: the full one
    assert cosines[2]["cosine_mean"] < 0.999
    assert set(cosines[2]["cosine_by_group"]) >= {"generator", "curriculum"}
    equal = [r for r in records if r.get("measure") == "equal seconds"]
    assert [r["mode"] for r in equal] == ["full", "truncated to 8"]
    assert all(r["iterations"] >= 5 and 0 <= r["val_accuracy_mean"] <= 1 for r in equal)
    (determinism,) = [r for r in records if r["part"] == "determinism"]
    # on the CPU the option changes no kernel: the same seed gives the same meta-losses
    assert determinism["repeat_identical"] and determinism["off_vs_on_max_difference"] == 0
    assert determinism["cost_of_determinism"] == pytest.approx(
        determinism["seconds_on"] / determinism["seconds_off"]
    )
    table = (tmp_path / "meta_scaling.md").read_text()
    assert "## Learners per second" in table and "## Long horizons" in table
    assert "## Deterministic kernels" in table


def test_the_gpu_preset_puts_every_teacher_on_the_gpu(benchmark_module) -> None:
    bench = benchmark_module("meta_scaling")
    preset = bench.PRESETS["gpu"]
    assert (8, 1) in preset["layouts"] and (1, 8) in preset["layouts"]
    for name in preset["teachers"]:
        assert bench.teacher_values(preset, name)["device"] == "cuda"
    assert bench.teacher_values(bench.PRESETS["cpu"], "nb201")["device"] == "cpu"
