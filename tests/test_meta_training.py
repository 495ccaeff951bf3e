"""Meta-training behaviour: it teaches, it resumes exactly, it survives non-finite steps."""

import math
import multiprocessing
import os
import signal
from dataclasses import replace

import pytest
import torch

from gtnas.errors import GtnasError, NonFiniteError
from gtnas.learners import create_learner_sampler
from gtnas.meta.fresh_learners import evaluate_teacher
from gtnas.meta.meta_step import NonFiniteGuard, sample_real_batches
from gtnas.meta.run import run_meta_training, teacher_from_run
from gtnas.teachers import create_teacher
from tiny_runs import TINY_LEARNER, tiny_config

# Runs are compared bit for bit (see conftest.one_thread).
pytestmark = pytest.mark.usefixtures("one_thread")


def fresh_learner_accuracy(teacher, mnist, learners=4) -> float:
    sampler = create_learner_sampler("fixed", (1, 28, 28), 10, TINY_LEARNER)
    results = evaluate_teacher(
        teacher,
        sampler,
        mnist.val.images[:2000],
        mnist.val.labels[:2000],
        learners=learners,
        seed=123,
        sampled=False,
    )
    return sum(r.accuracy for r in results) / len(results)


@pytest.mark.slow
def test_short_meta_training_beats_the_untrained_teacher(tmp_path, mnist):
    config = tiny_config(50)
    run_meta_training(config, tmp_path / "run", show_progress=False)
    trained, _ = teacher_from_run(tmp_path / "run")
    untrained = create_teacher(
        "gtn", config.teacher_options, (1, 28, 28), 10, generator=torch.Generator().manual_seed(0)
    )
    before = fresh_learner_accuracy(untrained, mnist)
    after = fresh_learner_accuracy(trained, mnist)
    assert after > before + 0.15, (before, after)


def _metrics_by_iteration(history):
    keys = ("meta_loss", "final_loss", "grad_norm", "val_acc", "meta_lr")
    return {h["iteration"]: {k: h.get(k) for k in keys} for h in history}


def test_resumed_run_matches_uninterrupted_run(tmp_path):
    config = tiny_config(12)
    whole = run_meta_training(config, tmp_path / "whole", show_progress=False)
    # A time-boxed session that stops after 7 iterations, then a second one that resumes.
    # (A crash past the last checkpoint is covered by the SIGKILL test below.)
    run_meta_training(config, tmp_path / "cut", show_progress=False, stop_after=7)
    resumed = run_meta_training(config, tmp_path / "cut", show_progress=False, resume=True)
    assert _metrics_by_iteration(resumed.history) == _metrics_by_iteration(whole.history)
    a = (tmp_path / "whole" / "teacher.safetensors").read_bytes()
    b = (tmp_path / "cut" / "teacher.safetensors").read_bytes()
    assert a == b


def test_a_time_budget_stops_at_an_iteration_checkpointed_and_a_resume_finishes(tmp_path):
    """out_of_time (a search's time budget) ends the session after the iteration where it
    first says so, checkpointed there (7 is not a multiple of checkpoint_every), with no
    teacher file; resuming finishes the run as if it had never stopped."""
    from gtnas.runtime.checkpoint import load_checkpoint

    config = tiny_config(12)
    whole = run_meta_training(config, tmp_path / "whole", show_progress=False)
    asked = []

    def out_of_time() -> bool:
        asked.append(1)
        return len(asked) >= 7

    cut = run_meta_training(config, tmp_path / "cut", show_progress=False,
                            out_of_time=out_of_time)  # fmt: skip
    assert cut.iterations == 7 and load_checkpoint(tmp_path / "cut").step == 7
    assert not (tmp_path / "cut" / "teacher.safetensors").exists()
    resumed = run_meta_training(config, tmp_path / "cut", show_progress=False, resume=True)
    assert resumed.iterations == 12
    assert _metrics_by_iteration(resumed.history) == _metrics_by_iteration(whole.history)
    a = (tmp_path / "whole" / "teacher.safetensors").read_bytes()
    assert (tmp_path / "cut" / "teacher.safetensors").read_bytes() == a


def test_a_checkpoint_comes_by_the_clock_and_a_resume_may_change_the_cadence(tmp_path):
    """checkpoint_minutes saves at the first iteration past the interval, whatever
    checkpoint_every says: a run killed at iteration 3 (every 100) resumes from 3, under
    another cadence, exactly as the unbroken run; by count alone the same kill leaves no
    checkpoint."""
    from gtnas.runtime.checkpoint import load_checkpoint

    class Killed(Exception):
        pass

    def kill_at_3(record):
        if record["iteration"] == 3:
            raise Killed

    by_count = replace(tiny_config(6), checkpoint_every=100, checkpoint_minutes=None)
    with pytest.raises(Killed):
        run_meta_training(by_count, tmp_path / "count", show_progress=False, on_iteration=kill_at_3)
    assert load_checkpoint(tmp_path / "count") is None

    by_clock = replace(by_count, checkpoint_minutes=1e-9)  # overdue after every iteration
    with pytest.raises(Killed):
        run_meta_training(by_clock, tmp_path / "clock", show_progress=False, on_iteration=kill_at_3)
    assert load_checkpoint(tmp_path / "clock").step == 3
    resumed = run_meta_training(
        replace(by_clock, checkpoint_every=2, checkpoint_minutes=None),
        tmp_path / "clock",
        show_progress=False,
        resume=True,
    )
    whole = run_meta_training(tiny_config(6), tmp_path / "whole", show_progress=False)
    assert _metrics_by_iteration(resumed.history) == _metrics_by_iteration(whole.history)
    a = (tmp_path / "whole" / "teacher.safetensors").read_bytes()
    assert (tmp_path / "clock" / "teacher.safetensors").read_bytes() == a
    with pytest.raises(GtnasError, match="config differs"):  # what computes may not change
        run_meta_training(replace(by_clock, seed=1), tmp_path / "clock", resume=True)


def test_a_resumed_run_reports_the_peak_memory_of_all_its_sittings(tmp_path, monkeypatch):
    # getrusage's peak is per process: a resumed run carries the earlier sittings' peak.
    import gtnas.meta.run as run_module

    config = tiny_config(4)
    monkeypatch.setattr(run_module, "peak_memory_mb", lambda: 900.0)
    first = run_meta_training(config, tmp_path / "run", show_progress=False, stop_after=2)
    monkeypatch.setattr(run_module, "peak_memory_mb", lambda: 300.0)
    resumed = run_meta_training(config, tmp_path / "run", show_progress=False, resume=True)
    assert (first.peak_memory_mb, resumed.peak_memory_mb) == (900.0, 900.0)
    monkeypatch.undo()
    fresh = run_meta_training(config, tmp_path / "fresh", show_progress=False)
    assert fresh.peak_memory_mb > 50  # the real helper: torch alone takes more


def test_the_gpu_peak_is_carried_across_sittings_and_absent_on_the_cpu(tmp_path, monkeypatch):
    # The resident set does not see GPU memory: a run records the GPU's own peak allocations
    # (here stood in for, on the CPU), the largest over its sittings like the host's.
    import gtnas.meta.run as run_module
    from gtnas.runtime.checkpoint import load_checkpoint
    from gtnas.runtime.memory import peak_device_memory_mb

    assert peak_device_memory_mb(torch.device("cpu")) is None
    config = tiny_config(4)
    monkeypatch.setattr(run_module, "peak_device_memory_mb", lambda device: 700.0)
    run_meta_training(config, tmp_path / "run", show_progress=False, stop_after=2)
    monkeypatch.setattr(run_module, "peak_device_memory_mb", lambda device: 200.0)
    run_meta_training(config, tmp_path / "run", show_progress=False, resume=True)
    assert load_checkpoint(tmp_path / "run").state["peak_device_memory_mb"] == 700.0
    monkeypatch.undo()
    run_meta_training(config, tmp_path / "cpu", show_progress=False)
    assert load_checkpoint(tmp_path / "cpu").state["peak_device_memory_mb"] is None


def test_a_finished_run_trained_further_continues_exactly(tmp_path):
    # At a constant meta-lr a 5-iteration run extended to 12 must be the 12-iteration run.
    flat = run_meta_training(
        tiny_config(12, final_lr_fraction=1.0), tmp_path / "whole", show_progress=False
    )
    run_meta_training(
        tiny_config(5, final_lr_fraction=1.0), tmp_path / "short", show_progress=False
    )
    longer = run_meta_training(
        tiny_config(12, final_lr_fraction=1.0), tmp_path / "short", show_progress=False, resume=True
    )
    assert _metrics_by_iteration(longer.history) == _metrics_by_iteration(flat.history)
    a = (tmp_path / "whole" / "teacher.safetensors").read_bytes()
    assert (tmp_path / "short" / "teacher.safetensors").read_bytes() == a
    # With the cosine decay, the iterations after the old end get the longer run's meta-lr
    # (a warm restart), the ones before keep theirs.
    whole = run_meta_training(tiny_config(12), tmp_path / "cosine", show_progress=False)
    short = run_meta_training(tiny_config(5), tmp_path / "cut", show_progress=False)
    extended = run_meta_training(
        tiny_config(12), tmp_path / "cut", show_progress=False, resume=True
    )
    lr = {h["iteration"]: h["meta_lr"] for h in extended.history}
    assert [lr[i] for i in range(1, 6)] == [h["meta_lr"] for h in short.history]
    assert [lr[i] for i in range(6, 13)] == [h["meta_lr"] for h in whole.history[5:]]
    assert lr[6] > lr[5]
    with pytest.raises(GtnasError, match="already at iteration 12"):
        run_meta_training(tiny_config(8), tmp_path / "cut", show_progress=False, resume=True)


def _run_until_killed(config, run_dir, threads):  # pragma: no cover - runs in a child process
    # The parent's torch thread count (one, see conftest.one_thread): float reductions split
    # across another number of threads round differently, and the point is bit-equality.
    torch.set_num_threads(threads)

    def kill_at(record):
        if record["iteration"] == 8:  # after the checkpoint at 5, before the one at 10
            os.kill(os.getpid(), signal.SIGKILL)

    run_meta_training(config, run_dir, show_progress=False, on_iteration=kill_at)


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_result(tmp_path):
    config = tiny_config(12)
    whole = run_meta_training(config, tmp_path / "whole", show_progress=False)
    context = multiprocessing.get_context("spawn")
    child = context.Process(
        target=_run_until_killed, args=(config, tmp_path / "killed", torch.get_num_threads())
    )
    child.start()
    child.join(300)
    assert child.exitcode == -signal.SIGKILL
    # The metrics log holds iterations past the last checkpoint; resuming must drop them.
    resumed = run_meta_training(config, tmp_path / "killed", show_progress=False, resume=True)
    assert _metrics_by_iteration(resumed.history) == _metrics_by_iteration(whole.history)


def test_non_finite_meta_gradient_is_skipped_not_applied(tmp_path, monkeypatch):
    import gtnas.meta.meta_step as trainer

    real_meta_gradient = trainer.meta_gradient
    calls = {"n": 0}

    def poisoned(*args, **kwargs):
        result = real_meta_gradient(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 2:  # poison the second iteration's meta-gradient
            result.grads = tuple(torch.full_like(g, math.nan) for g in result.grads)
        return result

    snapshots = []
    config = replace(tiny_config(3), checkpoint_every=1)
    monkeypatch.setattr(trainer, "meta_gradient", poisoned)

    def snapshot(record):
        from gtnas.runtime.checkpoint import load_checkpoint

        checkpoint = load_checkpoint(tmp_path / "run")
        snapshots.append({k: v.clone() for k, v in checkpoint.state["teacher"].items()})

    # on_iteration runs after the iteration's checkpoint: snapshots[k] is the teacher after k+1.
    result = run_meta_training(config, tmp_path / "run", show_progress=False, on_iteration=snapshot)
    skipped = [h["skipped"] for h in result.history]
    assert skipped == [False, True, False]
    trained, _ = teacher_from_run(tmp_path / "run")
    for tensor in trained.state_dict().values():
        assert torch.isfinite(tensor).all()
    # Iteration 2 was skipped: the teacher after it equals the teacher after iteration 1.
    after_1, after_2 = snapshots[0], snapshots[1]
    for key in after_1:
        assert torch.equal(after_1[key], after_2[key]), key


def test_a_run_of_non_finite_steps_stops_with_a_message():
    guard = NonFiniteGuard(limit=3)
    guard.update(True, 1)
    guard.update(False, 2)  # a good step resets the count
    guard.update(True, 3)
    guard.update(True, 4)
    with pytest.raises(NonFiniteError, match="3 consecutive meta-steps"):
        guard.update(True, 5)


def test_resume_refuses_a_different_config_and_a_fresh_run_refuses_an_existing_folder(tmp_path):
    config = tiny_config(2)
    run_meta_training(config, tmp_path / "run", show_progress=False)
    with pytest.raises(GtnasError, match="already holds a run"):
        run_meta_training(config, tmp_path / "run", show_progress=False)
    for other in (
        replace(config, seed=1),
        replace(config, meta=replace(config.meta, meta_lr=0.5, iterations=4)),
    ):
        with pytest.raises(GtnasError, match="differs"):
            run_meta_training(other, tmp_path / "run", show_progress=False, resume=True)
    with pytest.raises(GtnasError, match="nothing to resume"):
        run_meta_training(config, tmp_path / "empty", show_progress=False, resume=True)


def test_gradient_checkpointing_gives_the_same_run(tmp_path):
    a = run_meta_training(tiny_config(3), tmp_path / "a", show_progress=False)
    b = run_meta_training(
        tiny_config(3, gradient_checkpointing=True), tmp_path / "b", show_progress=False
    )
    # Same teacher, same learner: the first meta-step agrees to float32 rounding. (Exact
    # equality of the two modes is tested in float64 in test_meta_gradient.py.) Afterwards
    # Adam compounds rounding differences, so later steps only stay close.
    first_a, first_b = a.history[0], b.history[0]
    assert first_a["meta_loss"] == pytest.approx(first_b["meta_loss"], rel=1e-5)
    assert first_a["grad_norm"] == pytest.approx(first_b["grad_norm"], rel=1e-4)
    for ra, rb in zip(a.history[1:], b.history[1:], strict=True):
        assert ra["meta_loss"] == pytest.approx(rb["meta_loss"], rel=1e-2)
        assert ra["grad_norm"] == pytest.approx(rb["grad_norm"], rel=5e-2)


def test_real_batches_flipped_at_random_are_the_same_images_mirrored_or_not():
    images = torch.rand(50, 1, 6, 6)
    labels = torch.arange(50) % 10
    before = images.clone()
    cpu = torch.device("cpu")
    plain = sample_real_batches(images, labels, [1, 2], 64, torch.Generator().manual_seed(3), cpu)
    flipped = sample_real_batches(
        images, labels, [1, 2], 64, torch.Generator().manual_seed(3), cpu, flip=True
    )
    assert torch.equal(images, before)  # the data set is left alone
    # the first batch uses the same draw of examples; each image is itself or its mirror
    (x, y), (fx, fy) = plain[1], flipped[1]
    assert torch.equal(y, fy)
    same = (fx == x).flatten(1).all(1)
    mirrored = (fx == x.flip(-1)).flatten(1).all(1)
    assert bool((same | mirrored).all())
    assert 10 < int((mirrored & ~same).sum()) < 54  # about half of 64, not none or all
    # without the option the draws are the ones the sampler always made
    index = torch.randint(0, 50, (64,), generator=torch.Generator().manual_seed(3))
    assert torch.equal(x, images[index]) and torch.equal(y, labels[index])


def test_bfloat16_convolutions_meta_train_close_to_float32_and_only_inside_the_run(
    tmp_path, monkeypatch
):
    import gtnas.learners.conv_grad as conv_grad
    import gtnas.meta.run as run

    monkeypatch.setattr(run, "bf16_supported", lambda: True)  # any CPU computes it, some slowly
    seen = []  # the compute dtype while each iteration was logged

    def record(_: dict) -> None:
        seen.append(conv_grad._compute_dtype)

    exact = run_meta_training(tiny_config(3), tmp_path / "fp32", show_progress=False)
    config = tiny_config(3, conv_dtype="bfloat16")
    approx = run_meta_training(config, tmp_path / "bf16", show_progress=False, on_iteration=record)
    assert seen == [torch.bfloat16] * 3 and conv_grad._compute_dtype is None
    losses = [[h["meta_loss"] for h in r.history] for r in (exact, approx)]
    assert losses[0] != losses[1]  # the convolutions did round to bfloat16 ...
    assert losses[1] == pytest.approx(losses[0], rel=0.05)  # ... and learnt about the same


def test_bfloat16_convolutions_are_refused_where_they_would_not_pay(tmp_path, monkeypatch):
    import gtnas.meta.run as run
    from gtnas.errors import ConfigError

    with pytest.raises(ValueError, match="conv_dtype must be one of float32, bfloat16"):
        tiny_config(3, conv_dtype="float16")
    with pytest.raises(ConfigError, match=r"is for CPUs; on cuda use meta\.conv_dtype=float32"):
        run.conv_compute_dtype("bfloat16", torch.device("cuda"))
    monkeypatch.setattr(run, "bf16_supported", lambda: False)
    with pytest.raises(ConfigError, match="this CPU has no bfloat16 units"):
        run_meta_training(tiny_config(3, conv_dtype="bfloat16"), tmp_path / "run")
    assert not (tmp_path / "run").exists()  # refused before the run folder was made
