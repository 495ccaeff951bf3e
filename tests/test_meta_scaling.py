"""Meta-training that scales: several learners per meta-step, data-parallel processes (gloo on
the CPU), and a killed rank."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from gtnas.config import write_config
from gtnas.errors import ConfigError
from gtnas.learners import create_learner_sampler
from gtnas.meta.meta_step import (
    MetaTrainConfig,
    learner_streams,
    mean_meta_gradient,
    sample_real_batches,
)
from gtnas.meta.run import run_meta_training
from gtnas.meta.unroll import meta_gradient
from gtnas.runtime.distributed import World
from gtnas.seeding import make_generator
from gtnas.teachers import create_teacher
from tiny_runs import TINY_LEARNER, tiny_config

pytestmark = pytest.mark.usefixtures("one_thread")
ROOT = Path(__file__).resolve().parents[1]


def _tiny_teacher(config):
    return create_teacher(
        "gtn", config.teacher_options, (1, 28, 28), 10, generator=make_generator(0)
    )


def test_two_learners_are_the_mean_of_two_single_learner_meta_gradients(mnist) -> None:
    config = tiny_config(1, learners_per_step=2)
    teacher = _tiny_teacher(config)
    sampler = create_learner_sampler("random-width", (1, 28, 28), 10, TINY_LEARNER)
    images, labels = mnist.train.images[:2000], mnist.train.labels[:2000]
    streams = learner_streams(config.meta, make_generator(99), seed=0, iteration=3)
    assert [j for j, _ in streams] == [0, 1]
    mean = mean_meta_gradient(
        teacher, sampler, images, labels, config.meta, streams, torch.device("cpu")
    )
    singles = []
    for _, stream in learner_streams(config.meta, make_generator(99), seed=0, iteration=3):
        learner = sampler.sample(stream)
        teacher.begin_episode(stream)
        steps = config.meta.scored_steps(teacher.inner_steps)
        real = sample_real_batches(images, labels, steps, 64, stream, torch.device("cpu"))
        singles.append(meta_gradient(learner, teacher, real))
    for got, a, b in zip(mean.grads, singles[0].grads, singles[1].grads, strict=True):
        torch.testing.assert_close(got, (a + b) / 2, rtol=1e-6, atol=1e-9)
    assert mean.meta_loss == pytest.approx((singles[0].meta_loss + singles[1].meta_loss) / 2)
    # the learners differ: their own architectures, weights and batches
    assert not torch.equal(singles[0].grads[0], singles[1].grads[0])
    # each process of two takes every other learner, and one learner alone keeps the run's stream
    assert [j for j, _ in learner_streams(config.meta, make_generator(0), 0, 3, World(1, 2))] == [1]
    single = learner_streams(MetaTrainConfig(), generator := make_generator(5), 0, 3)
    assert single == [(0, generator)]


def test_a_run_of_two_learners_learns_and_resumes_exactly(tmp_path: Path) -> None:
    config = tiny_config(10, learners_per_step=2, truncation=4)
    whole = run_meta_training(config, tmp_path / "whole", show_progress=False)
    assert all(h["learners"] == 2 for h in whole.history)
    run_meta_training(config, tmp_path / "cut", show_progress=False, stop_after=6)
    resumed = run_meta_training(config, tmp_path / "cut", show_progress=False, resume=True)
    keys = ("meta_loss", "grad_norm", "val_acc")
    assert [{k: h.get(k) for k in keys} for h in resumed.history] == [
        {k: h.get(k) for k in keys} for h in whole.history
    ]
    with pytest.raises(ValueError, match="learners_per_step must be >= 1"):
        MetaTrainConfig(learners_per_step=0)


def _config_file(tmp_path: Path, config) -> Path:
    path = tmp_path / "config.json"
    write_config(config, path)
    return path


def _gtnas(*args: str, env: dict | None = None) -> subprocess.Popen:
    environment = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.Popen(
        [sys.executable, "-m", "gtnas", *args], cwd=ROOT, env=environment,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _teacher(run: Path) -> dict[str, torch.Tensor]:
    return load_file(run / "teacher.safetensors")


def _history(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_two_gloo_processes_compute_what_one_process_of_two_learners_does(
    tmp_path: Path, mnist
) -> None:
    config = tiny_config(6, learners_per_step=2)
    one = run_meta_training(config, tmp_path / "one", show_progress=False)
    path = _config_file(tmp_path, config)
    process = _gtnas("teach", "train", "--config", str(path), "--out", str(tmp_path / "two"),
                     "--nproc", "2", "--quiet")  # fmt: skip
    out, err = process.communicate(timeout=600)
    assert process.returncode == 0, err[-2000:]
    assert "processes=2" in out and out.count("done:") == 1  # rank 0 alone reports
    two = _history(tmp_path / "two")
    assert all(h["processes"] == 2 for h in two)
    for a, b in zip(one.history, two, strict=True):
        assert a["meta_loss"] == pytest.approx(b["meta_loss"], rel=1e-5)
        assert a.get("val_acc") == b.get("val_acc")
    for name, tensor in _teacher(tmp_path / "one").items():
        torch.testing.assert_close(_teacher(tmp_path / "two")[name], tensor, rtol=1e-5, atol=1e-6)


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
def test_a_killed_rank_stops_the_job_with_one_line_and_it_resumes_on_one_process(
    tmp_path: Path, mnist
) -> None:
    config = tiny_config(30, learners_per_step=2, final_lr_fraction=1.0)
    whole = run_meta_training(config, tmp_path / "whole", show_progress=False)
    run = tmp_path / "run"
    process = _gtnas("teach", "train", "--config", str(_config_file(tmp_path, config)),
                     "--out", str(run), "--nproc", "2", "--quiet")  # fmt: skip
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # past the checkpoint at 5: kill rank 1
        if (run / "metrics.jsonl").exists() and len(_history(run)) >= 7:
            ranks = _children(process.pid)
            assert len(ranks) == 2
            os.kill(ranks[1], signal.SIGKILL)
            break
        time.sleep(0.02)
    _, err = process.communicate(timeout=300)
    assert process.returncode == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err  # the launcher's line; the other rank was stopped quietly
    assert lines[-1].startswith("error: rank 1 of 2 was killed by SIGKILL"), err
    assert "--resume" in lines[-1]
    assert not (run / "teacher.safetensors").exists()
    # the same run continued by one process: learners 0 and 1 of every step, as before
    resumed = _gtnas("teach", "train", "--out", str(run), "--resume", "--quiet")
    _, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err[-2000:]
    history = _history(run)
    assert [h["iteration"] for h in history] == list(range(1, 31))
    assert {h["processes"] for h in history} == {1, 2}
    for a, b in zip(whole.history, history, strict=True):
        assert a["meta_loss"] == pytest.approx(b["meta_loss"], rel=1e-5)
    for name, tensor in _teacher(tmp_path / "whole").items():
        torch.testing.assert_close(_teacher(run)[name], tensor, rtol=1e-5, atol=1e-6)


def test_more_processes_than_learners_is_refused(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(ConfigError, match="at least the number of processes"):
        run_meta_training(tiny_config(1), tmp_path / "run", show_progress=False)
    monkeypatch.delenv("WORLD_SIZE")


def test_the_deterministic_option_changes_no_cpu_number_and_restores_the_flags(tmp_path) -> None:
    from gtnas.runtime.device import deterministic

    seen = []
    before = os.environ.get("CUBLAS_WORKSPACE_CONFIG")
    config = replace(tiny_config(3), deterministic=True)
    run = run_meta_training(config, tmp_path / "on", show_progress=False,
                            on_iteration=lambda _: seen.append(
                                torch.are_deterministic_algorithms_enabled()))  # fmt: skip
    plain = run_meta_training(tiny_config(3), tmp_path / "off", show_progress=False)
    assert seen == [True, True, True] and not torch.are_deterministic_algorithms_enabled()
    assert [h["meta_loss"] for h in run.history] == [h["meta_loss"] for h in plain.history]
    assert os.environ.get("CUBLAS_WORKSPACE_CONFIG") == before
    with deterministic(True):
        assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
    assert not torch.backends.cudnn.deterministic
