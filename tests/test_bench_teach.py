"""The teacher benchmark's bookkeeping: named variants of a preset get their own settings,
run folder and record, and never replace the preset's own record."""

from __future__ import annotations

import json
from types import ModuleType

import pytest

MACHINE = {"cpu": "Intel(R) Xeon(R) Processor", "cores": 2}


@pytest.fixture
def teach(benchmark_module, monkeypatch: pytest.MonkeyPatch, tmp_path) -> ModuleType:
    module = benchmark_module("teach")
    monkeypatch.setattr(module, "RESULTS", tmp_path)
    monkeypatch.setitem(module.VARIANTS, "probe", {"meta": {"iterations": 7, "meta_lr": 0.01}})
    return module


def record(variant: str | None, acc: float) -> dict:
    return {
        "preset": "paper",
        "variant": variant,
        "dataset": "mnist",
        "teacher": "gtn",
        "inner_steps": 32,
        "learners": 10,
        "acc_mean": acc,
        "acc_std": 0.001,
        "sampled_acc_mean": None,
        "real_acc_mean": 0.96,
        "real_acc_std": 0.003,
        "real_steps_to_match": 384,
        "meta_iterations": 7,
        "meta_train_seconds": 100.0,
        "seconds_per_meta_iteration": 13.0,
        "meta_overhead": 3.6,
        "peak_memory_mb": 1000.0,
        "machine": MACHINE,
    }


def test_a_variant_changes_the_preset_settings_on_top_of_the_teacher_overrides(teach) -> None:
    plain = teach.preset_config("paper", "mnist", "gtn", 0)
    changed = teach.preset_config("paper", "mnist", "gtn", 0, variant="probe")
    assert (plain.meta.iterations, plain.meta.meta_lr) == (100, 0.03)
    assert (changed.meta.iterations, changed.meta.meta_lr) == (7, 0.01)
    # the preset's teacher override (the warm start) still applies
    assert changed.teacher_options.init == plain.teacher_options.init == "real"
    # and explicit overrides (--iterations) come last
    assert teach.preset_config("paper", "mnist", "gtn", 0, {"meta": {"iterations": 9}},
                               "probe").meta.iterations == 9  # fmt: skip


def test_a_variant_record_is_kept_beside_the_preset_record(teach, tmp_path) -> None:
    teach.write_results([record(None, 0.988)])
    teach.write_results([record("probe", 0.985)])
    teach.write_results([record("probe", 0.986)])  # a re-run replaces its own record only
    saved = json.loads((tmp_path / "teach.json").read_text())
    assert [(r["variant"], r["acc_mean"]) for r in saved] == [(None, 0.988), ("probe", 0.986)]
    table = (tmp_path / "teach.md").read_text()
    assert "| paper | mnist | gtn | 32 | 10 | 98.80" in table
    assert "| paper/probe | mnist | gtn | 32 | 10 | 98.60" in table


def test_records_from_before_variants_existed_keep_their_key(teach) -> None:
    old = record(None, 0.988)
    del old["variant"]
    assert teach.record_key(old) == teach.record_key(record(None, 0.5))
    assert teach.record_label(record("probe", 0.5)) == "paper/probe mnist gtn"


@pytest.mark.usefixtures("one_thread", "mnist")
def test_an_interrupted_run_continues_its_schedule_and_an_extended_one_is_marked(
    teach, tmp_path
) -> None:
    # --extend resumes from the last checkpoint either way; only a changed meta.iterations
    # stretches the cosine schedule and is reported as extended from the checkpoint.
    from dataclasses import replace

    from gtnas.meta.run import run_meta_training
    from tiny_runs import tiny_config

    config = tiny_config(iterations=6)
    run_dir = tmp_path / "run"
    # "interrupted" after its checkpoint at iteration 5
    run_meta_training(config, run_dir, show_progress=False, stop_after=5)
    assert teach.stretched_at(run_dir, config) is None
    longer = replace(config, meta=replace(config.meta, iterations=10))
    assert teach.stretched_at(run_dir, longer) == 5
    # the extension interrupted in its turn (its folder now says 10 iterations) and continued
    run_meta_training(longer, run_dir, show_progress=False, stop_after=7, resume=True)
    assert teach.stretched_at(run_dir, longer) == 5


def test_time_to_a_target_is_the_first_validation_that_reaches_it(teach) -> None:
    history = [
        {"iteration": 0, "val_acc": 0.80, "elapsed": 600.0},  # the warm start counts
        {"iteration": 1, "elapsed": 630.0},  # no validation at this iteration
        {"iteration": 10, "val_acc": 0.875, "elapsed": 900.0},
        {"iteration": 20, "val_acc": 0.872, "elapsed": 1200.0},
        {"iteration": 30, "val_acc": 0.881, "elapsed": 1500.0},
    ]
    fashion = teach.TARGETS["fashion-mnist"]
    assert teach.seconds_to(history, fashion) == {"0.87": 900.0, "0.88": 1500.0}
    assert teach.seconds_to(history, teach.TARGETS["mnist"]) == {"0.98": None, "0.989": None}
