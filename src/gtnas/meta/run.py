"""A meta-training run: composes the configs, owns the run folder, and resumes exactly.

Run folder layout::

    RUN/config.json          resolved configuration (written first)
    RUN/metrics.jsonl        one record per outer iteration
    RUN/checkpoints/         atomic safetensors + JSON checkpoints (latest.json -> newest)
    RUN/teacher.safetensors  the trained teacher ...
    RUN/teacher.json         ... and what is needed to rebuild it
    RUN/plots/               meta-training curve, curriculum grid

In a run of several processes (``torchrun`` or ``gtnas teach train --nproc N``; see
:mod:`gtnas.runtime.distributed`) every rank computes its share of each meta-step's learners
and holds the same teacher; rank 0 alone writes the run folder, validates and shows progress,
and every rank resumes from the same checkpoint.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from gtnas.config import config_from_dict, config_to_dict, write_config
from gtnas.data import load_dataset
from gtnas.data.catalog import check_name
from gtnas.errors import ConfigError, GtnasError
from gtnas.learners import (
    LEARNER_SAMPLERS,
    ConvLearnerConfig,
    LearnerSampler,
    create_learner_sampler,
)
from gtnas.learners.conv_grad import compute_dtype
from gtnas.meta.meta_step import (
    CONV_DTYPES,
    MetaTrainConfig,
    NonFiniteGuard,
    learner_streams,
    make_meta_optimizer,
    meta_train_step,
    validate_teacher,
    validation_seed,
)
from gtnas.runtime import distributed
from gtnas.runtime.allocator import keep_freed_memory
from gtnas.runtime.checkpoint import Checkpoint
from gtnas.runtime.device import deterministic, resolve_device
from gtnas.runtime.memory import peak_device_memory_mb, peak_memory_mb
from gtnas.runtime.metrics import MetricsLog
from gtnas.runtime.progress import progress_bar
from gtnas.runtime.run_folder import CONFIG_FILE, METRICS_FILE, RunFolder
from gtnas.seeding import derive_seed, make_generator, seed_everything
from gtnas.spaces import SEARCH_SPACES, create_space
from gtnas.spaces.sampler import CalibrationSampler, SpaceLearnerSampler
from gtnas.teachers import TEACHERS, Teacher, TeacherConfig, create_teacher
from gtnas.teachers.store import TeacherInfo, load_teacher, save_teacher


@dataclass(frozen=True)
class TeachRunConfig:
    dataset: str = "mnist"
    teacher: str = "gtn"  # a registered teacher: gtn, gtn-nocurriculum, pixels, real
    # A learner sampler (fixed, random-width) or a search space (gtn-cell, nb201, randwire):
    # then every outer iteration meta-trains on a learner sampled from that space.
    learner: str = "fixed"
    # network size when `learner` is a search space: a preset name, or the space's Blueprint
    # fields as a dict (e.g. {"channels": 8, "cells_per_stage": 1, "head_pool": 7} for nb201)
    blueprint: str | dict[str, Any] = "search"
    space_options: dict[str, Any] = field(default_factory=dict)  # the space's own options
    seed: int = 0
    device: str = "auto"
    # Same-seed runs identical on the GPU too (cuDNN's and torch's deterministic algorithms;
    # gtnas.runtime.device.deterministic), at some cost in speed; CPU runs are without it.
    deterministic: bool = False
    checkpoint_every: int = 25  # outer iterations between checkpoints
    # ...and a checkpoint at the first iteration that ends this many minutes after the last
    # one (None: by count alone), so a kill loses minutes, not checkpoint_every slow
    # iterations. Both say where a run is saved, not what it computes: a resume may change them.
    checkpoint_minutes: float | None = 10.0
    train_subset: int = 0  # meta-train on the first N training examples only (0: all)
    # Calibration architectures of the ranking-aware meta-objective (meta.rank_weight > 0):
    # genotype ("<space>:<string>") -> its validation accuracy after real training, e.g. the
    # first architectures of a truth set (gtnas teach train --calibration); meta-training then
    # draws its learners from these alone, and a proxy must not be judged on them.
    calibration: dict[str, float] = field(default_factory=dict)
    teacher_options: TeacherConfig = field(default_factory=TeacherConfig)
    learner_options: ConvLearnerConfig = field(default_factory=ConvLearnerConfig)
    meta: MetaTrainConfig = field(default_factory=MetaTrainConfig)

    def __post_init__(self) -> None:
        check_name(self.dataset)  # before a run folder is made for it
        if self.teacher not in TEACHERS:
            raise ValueError(f"unknown teacher {self.teacher!r}; choose from {TEACHERS.names()}")
        if self.checkpoint_every < 1:
            raise ValueError("checkpoint_every must be >= 1")
        if self.checkpoint_minutes is not None and not self.checkpoint_minutes > 0:
            raise ValueError(
                f"checkpoint_minutes must be positive (or null), got {self.checkpoint_minutes}"
            )
        if self.meta.rank_weight > 0 and len(self.calibration) < 2:
            raise ValueError(
                "meta.rank_weight > 0 needs at least 2 calibration architectures "
                "(gtnas teach train --calibration TRUTH.json --calibration-count N)"
            )


def make_learner_sampler(
    config: TeachRunConfig, image_shape: tuple[int, int, int], num_classes: int
) -> LearnerSampler:
    """The run's learner sampler: a registered one, or architectures from a search space."""

    if config.learner in SEARCH_SPACES:
        space = create_space(config.learner, config.space_options)
        if config.calibration:
            prefix = f"{space.name}:"
            accuracies = {g.removeprefix(prefix): a for g, a in config.calibration.items()}
            return CalibrationSampler(space, image_shape, num_classes, accuracies, config.blueprint)
        return SpaceLearnerSampler(space, image_shape, num_classes, config.blueprint)
    if config.learner not in LEARNER_SAMPLERS:
        raise ConfigError(
            f"unknown learner {config.learner!r}; choose a learner sampler "
            f"({', '.join(LEARNER_SAMPLERS.names())}) or a search space "
            f"({', '.join(SEARCH_SPACES.names())})"
        )
    return create_learner_sampler(config.learner, image_shape, num_classes, config.learner_options)


@dataclass
class TeachRunResult:
    run_dir: Path
    iterations: int
    seconds: float  # meta-training wall time (summed over resumed sessions)
    skipped: int  # non-finite meta-steps skipped
    history: list[dict[str, Any]]
    # the largest resident set of the processes that trained it (over resumed sessions), MiB
    peak_memory_mb: float = 0.0


OnIteration = Callable[[dict[str, Any]], None]


def load_run_config(run_dir: Path) -> TeachRunConfig:
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        raise GtnasError(f"{run_dir} is not a gtnas teach run (no config.json)")
    try:
        values = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise GtnasError(f"{path} is not valid JSON ({exc})") from None
    return config_from_dict(TeachRunConfig, values)


def check_resumable(
    saved: TeachRunConfig, config: TeachRunConfig, run_dir: Path, checkpoint: Checkpoint | None
) -> None:
    """Refuse to resume ``saved`` with ``config`` unless they differ at most in
    ``meta.iterations`` and the checkpoint cadence, and the new total does not fall behind the
    newest checkpoint.

    Changing the total is how a finished run is trained further: the iterations already done
    stay as they were (an annealed run's meta-lr then rises again to where a run of the new
    length would be: a warm restart), which is why nothing else that computes may change.
    The cadence (``checkpoint_every``, ``checkpoint_minutes``) only says where a run is saved
    (a checkpoint reads the random streams, it draws nothing), so a resume may set its own."""
    same_length = replace(
        config,
        meta=replace(config.meta, iterations=saved.meta.iterations),
        checkpoint_every=saved.checkpoint_every,
        checkpoint_minutes=saved.checkpoint_minutes,
    )
    if config_to_dict(same_length) != config_to_dict(saved):
        raise ConfigError(
            f"the config differs from the one saved in {run_dir}/config.json; resume with the "
            "saved config (gtnas teach train --resume --out RUN), changing --iterations at most"
        )
    done = 0 if checkpoint is None else checkpoint.step
    if config.meta.iterations < done:
        raise ConfigError(
            f"{run_dir} is already at iteration {done}; --iterations must be at least that"
        )


def run_meta_training(
    config: TeachRunConfig,
    run_dir: Path,
    *,
    resume: bool = False,
    show_progress: bool = True,
    on_iteration: OnIteration | None = None,
    stop_after: int | None = None,
    out_of_time: Callable[[], bool] | None = None,
) -> TeachRunResult:
    """Meta-train ``config.teacher`` and write everything into ``run_dir``.

    With ``resume``, continue from the newest checkpoint in ``run_dir`` exactly as if the run
    had never stopped. A resumed ``config`` may differ from the saved one in
    ``meta.iterations`` only: that extends (or shortens, down to the checkpoint) the run, and
    the cosine meta-lr schedule is stretched over the new total, so iterations after the
    checkpoint get the meta-lr the longer run would have given them (see
    :func:`check_resumable`). ``stop_after`` ends this session after that many iterations in
    total (the run can be resumed later); used by tests and by time-boxed jobs.
    ``out_of_time()``, asked after each iteration (rank 0's answer holds for every rank), ends
    the session there, checkpointed, when it says so (a search's time budget). A session that
    ends before ``meta.iterations`` writes no teacher file: the result's ``iterations`` says
    where it stopped.
    """
    device = resolve_device(config.device)  # fail before touching the run folder
    processes = distributed.environment_world_size()
    if config.meta.learners_per_step < processes:
        raise ConfigError(
            f"meta.learners_per_step ({config.meta.learners_per_step}) must be at least the "
            f"number of processes ({processes}): each process trains its share of them; "
            f"pass --learners-per-step {processes} (or a multiple)"
        )
    world = distributed.join(device)
    device = distributed.rank_device(device, world)
    with (
        compute_dtype(conv_compute_dtype(config.meta.conv_dtype, device)),
        deterministic(config.deterministic),
    ):
        return _meta_train(
            config, Path(run_dir), device, resume, show_progress and world.main, on_iteration,
            stop_after, world, out_of_time,
        )  # fmt: skip


def conv_compute_dtype(name: str, device: torch.device) -> torch.dtype | None:
    """The compute dtype of ``meta.conv_dtype`` (None: float32), or a ConfigError where it
    would not run or not pay: off the CPU, or on a CPU without bfloat16 units, where oneDNN
    emulates it slower than float32."""
    dtype = CONV_DTYPES[name]
    if dtype is None:
        return None
    if device.type != "cpu":
        raise ConfigError(
            f"meta.conv_dtype={name} is for CPUs; on {device.type} use meta.conv_dtype=float32"
        )
    if not bf16_supported():
        raise ConfigError(
            f"meta.conv_dtype={name}: this CPU has no bfloat16 units (AMX or AVX512-BF16), "
            "where it runs slower than float32; use meta.conv_dtype=float32"
        )
    return dtype


def bf16_supported() -> bool:
    """Whether this CPU has bfloat16 units (AMX or AVX512-BF16), read from /proc/cpuinfo; off
    Linux, oneDNN's own check (which also passes plain AVX-512, where it emulates them)."""
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return re.search(r"\b(amx_bf16|avx512_bf16)\b", cpuinfo) is not None


def _meta_train(
    config: TeachRunConfig,
    run_dir: Path,
    device: torch.device,
    resume: bool,
    show_progress: bool,
    on_iteration: OnIteration | None,
    stop_after: int | None,
    world: distributed.World,
    out_of_time: Callable[[], bool] | None = None,
) -> TeachRunResult:
    folder = RunFolder(run_dir, command="gtnas teach train", writes=world.main)
    checkpoint = folder.open(resume)
    if resume:
        check_resumable(load_run_config(run_dir), config, run_dir, checkpoint)
    world.barrier()  # every rank has looked at the folder before rank 0 writes into it
    folder.create()
    if folder.writes:  # rank 0 alone writes the run folder
        write_config(config, run_dir / CONFIG_FILE)

    keep_freed_memory()  # a meta-gradient frees and re-allocates gigabytes (see the module)
    seed_everything(config.seed)
    dataset = load_dataset(config.dataset, quiet=not show_progress)
    s = _open_session(config, folder, dataset, device, world, checkpoint)
    if resume:
        folder.keep_log_until(checkpoint, key="iteration", start=-1)
    # every rank starts from rank 0's teacher (they are built and restored alike; this makes
    # sure of it)
    world.broadcast_(list(s.teacher.state_dict().values()))

    if checkpoint is None and config.teacher_options.init == "real":
        _warm_start(s, show_progress, on_iteration)
    total = config.meta.iterations
    end = total if stop_after is None else min(total, stop_after)
    last = s.start_iteration
    saved_at = time.monotonic()
    minutes = config.checkpoint_minutes

    def overdue() -> bool:  # rank 0's clock decides for every rank (see _rank0_says)
        return minutes is not None and _rank0_says(
            lambda: time.monotonic() - saved_at >= 60 * minutes, world, device
        )

    with progress_bar(
        end - s.start_iteration, f"meta-training {config.teacher}", disable=not show_progress
    ) as bar:
        for iteration in range(s.start_iteration + 1, end + 1):
            record = _meta_iteration(s, iteration)
            s.log(record)  # before the checkpoint: a resume keeps the records up to it
            stop = iteration < end and _out_of_time(out_of_time, world, device)
            if iteration % config.checkpoint_every == 0 or iteration == end or stop or overdue():
                s.checkpoint(iteration)
                saved_at = time.monotonic()
            last = iteration
            bar.advance(1, meta_loss=record["meta_loss"], val_acc=record.get("val_acc"))
            if on_iteration is not None and folder.writes:
                on_iteration(record)
            if stop:
                break

    if last == total and folder.writes:
        info = TeacherInfo(
            name=config.teacher,
            config=config.teacher_options,
            dataset=config.dataset,
            image_shape=dataset.image_shape,
            num_classes=dataset.num_classes,
            mean=dataset.mean,
            std=dataset.std,
            class_names=tuple(dataset.class_names),
        )
        save_teacher(run_dir, s.teacher, info)
    world.barrier()  # the other ranks read the finished folder only after rank 0 wrote it
    return TeachRunResult(
        run_dir, last, folder.elapsed(), s.guard.skipped_total, folder.metrics.read(),
        peak_memory_mb=s.peak(),
    )  # fmt: skip


def _out_of_time(
    out_of_time: Callable[[], bool] | None, world: distributed.World, device: torch.device
) -> bool:
    """Rank 0's answer, the same on every rank (ranks that stopped apart would wait forever
    on each other's gradients)."""
    return out_of_time is not None and _rank0_says(out_of_time, world, device)


def _rank0_says(
    question: Callable[[], bool], world: distributed.World, device: torch.device
) -> bool:
    """``question()`` asked on rank 0 alone and its answer broadcast: every rank must call
    this at the same iterations (a clock read apart would make ranks diverge)."""
    flag = torch.tensor([1.0 if world.main and question() else 0.0], device=device)
    world.broadcast_([flag])
    return bool(flag.item())


@dataclass
class _MetaSession:
    """One session of a meta-training run: the teacher and everything that advances it."""

    config: TeachRunConfig
    folder: RunFolder
    world: distributed.World
    device: torch.device
    teacher: Teacher
    sampler: LearnerSampler
    optimizer: torch.optim.Optimizer
    scheduler: Any  # the cosine meta-lr schedule (torch LambdaLR)
    guard: NonFiniteGuard
    generator: torch.Generator  # the run's stream (and one learner's, at one per step)
    train: tuple[torch.Tensor, torch.Tensor]  # real training images (N, C, H, W), labels (N,)
    val: tuple[torch.Tensor, torch.Tensor]  # the validation images a fresh learner is read on
    start_iteration: int = 0
    peak_before: float = 0.0  # MB, of the earlier sessions
    device_peak_before: float = 0.0  # MB of GPU allocations, of the earlier sessions

    def peak(self) -> float:
        return max(self.peak_before, peak_memory_mb())

    def device_peak(self) -> float | None:
        """The GPU's peak allocations over the run's sittings (MiB); None on the CPU."""
        now = peak_device_memory_mb(self.device)
        return None if now is None else max(self.device_peak_before, now)

    def validate(self, iteration: int) -> float:
        """One fresh learner's validation accuracy, seeded apart from training."""
        seed = validation_seed(self.config.seed, iteration)
        return validate_teacher(self.teacher, self.sampler, *self.val, seed, self.device)

    def log(self, record: dict[str, Any]) -> None:
        if self.folder.writes:  # rank 0 alone
            self.folder.metrics.append(record)

    def checkpoint(self, iteration: int) -> None:
        guard = self.guard
        self.folder.save(
            iteration,
            tensors={},
            state={
                "iteration": iteration,
                "teacher": self.teacher.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "guard": {"skipped_total": guard.skipped_total, "consecutive": guard.consecutive},
                "peak_memory_mb": self.peak(),
                "peak_device_memory_mb": self.device_peak(),
            },
            generators={"train": self.generator},
        )


def _open_session(
    config: TeachRunConfig,
    folder: RunFolder,
    dataset: Any,
    device: torch.device,
    world: distributed.World,
    checkpoint: Checkpoint | None,
) -> _MetaSession:
    """The run's data, teacher, learner sampler and meta-optimiser, restored from
    ``checkpoint`` if any."""
    train_images, train_labels = dataset.train.images, dataset.train.labels
    if config.train_subset:
        train_images = train_images[: config.train_subset]
        train_labels = train_labels[: config.train_subset]
    train_images, train_labels = train_images.to(device), train_labels.to(device)
    val_n = config.meta.eval_examples
    val = (dataset.val.images[:val_n].to(device), dataset.val.labels[:val_n].to(device))

    generator = make_generator(config.seed)
    teacher = create_teacher(
        config.teacher,
        config.teacher_options,
        dataset.image_shape,
        dataset.num_classes,
        real_images=train_images,
        real_labels=train_labels,
        generator=generator,
    ).to(device)
    optimizer, scheduler = make_meta_optimizer(teacher, config.meta)
    s = _MetaSession(
        config=config,
        folder=folder,
        world=world,
        device=device,
        teacher=teacher,
        sampler=make_learner_sampler(config, dataset.image_shape, dataset.num_classes),
        optimizer=optimizer,
        scheduler=scheduler,
        guard=NonFiniteGuard(config.meta.max_nonfinite),
        generator=generator,
        train=(train_images, train_labels),
        val=val,
    )
    if checkpoint is not None:
        state = folder.restore(checkpoint, {"train": generator})
        teacher.load_state_dict(state["teacher"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        # The optimizer's saved learning rates are the old schedule's; set them from this
        # config's schedule (the same numbers unless meta.iterations changed).
        for group, base_lr, lr_lambda in zip(
            optimizer.param_groups, scheduler.base_lrs, scheduler.lr_lambdas, strict=True
        ):
            group["lr"] = base_lr * lr_lambda(scheduler.last_epoch)
        s.guard = NonFiniteGuard(config.meta.max_nonfinite, **state["guard"])
        s.start_iteration = checkpoint.step
        s.peak_before = state.get("peak_memory_mb", 0.0)  # absent in checkpoints before 12-04
        s.device_peak_before = state.get("peak_device_memory_mb") or 0.0  # before 12-05
    return s


def _warm_start(s: _MetaSession, show_progress: bool, on_iteration: OnIteration | None) -> None:
    """Iteration 0: the warm start from real data, logged and checkpointed like an iteration
    so that a resumed run does not fit again and its time counts towards the run's."""
    config = s.config
    record = warm_start_teacher(
        s.teacher,
        *s.train,
        epochs=config.teacher_options.init_epochs,
        seed=config.seed,
        show_progress=show_progress,
    )
    s.world.broadcast_(list(s.teacher.state_dict().values()))  # fits agree; make sure
    if config.meta.eval_every and s.folder.writes:
        record["val_acc"] = s.validate(0)
    record["elapsed"] = s.folder.elapsed()
    s.log(record)
    s.checkpoint(0)
    if on_iteration is not None and s.folder.writes:
        on_iteration(record)


def _meta_iteration(s: _MetaSession, iteration: int) -> dict[str, Any]:
    """One meta-step and its metrics record (validated every ``meta.eval_every``)."""
    config, meta, world = s.config, s.config.meta, s.world
    s.teacher.train()
    step = meta_train_step(
        s.teacher,
        s.sampler,
        *s.train,
        s.optimizer,
        meta,
        s.generator,
        s.device,
        streams=learner_streams(meta, s.generator, config.seed, iteration, world),
        world=world,
    )
    # the base meta-lr of this iteration (groups may scale it: meta.lr_scale)
    meta_lr = meta.meta_lr * s.scheduler.lr_lambdas[0](s.scheduler.last_epoch)
    s.scheduler.step()
    s.guard.update(step.skipped, iteration)
    record: dict[str, Any] = {
        "iteration": iteration,
        "meta_loss": step.meta_loss,
        "final_loss": step.final_loss,
        "grad_norm": step.grad_norm,
        "skipped": step.skipped,
        "meta_lr": meta_lr,
        "seconds": step.seconds,
    }
    if meta.learners_per_step > 1 or world.distributed:
        record.update(learners=meta.learners_per_step, processes=world.size)
    if step.rank_loss is not None:
        record.update(rank_loss=step.rank_loss, rank_tau=step.rank_tau)
    every = meta.eval_every
    if s.folder.writes and every and (iteration % every == 0 or iteration == meta.iterations):
        record["val_acc"] = s.validate(iteration)
    record["elapsed"] = s.folder.elapsed()
    return record


def meta_training_seconds(run_dir: Path) -> float | None:
    """Wall time of a teacher's meta-training over all its sessions (the last ``elapsed`` in
    its metrics log, the warm start included); None when the run has no log."""
    path = Path(run_dir) / METRICS_FILE
    if not path.is_file():
        return None
    elapsed = [r["elapsed"] for r in MetricsLog(path).read() if "elapsed" in r]
    return float(elapsed[-1]) if elapsed else None


def warm_start_teacher(
    teacher: Teacher,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    epochs: int,
    seed: int,
    show_progress: bool = True,
) -> dict[str, Any]:
    """Fit ``teacher`` to real training images before meta-training (``init="real"``) and
    return the run's iteration-0 record. Its randomness is derived from ``seed`` apart from
    the meta-training stream, so a warm-started run meta-trains on the same learners and
    batches as a random-start one."""
    start = time.perf_counter()
    with progress_bar(epochs, f"warm start of {teacher.name}", disable=not show_progress) as bar:
        mse = teacher.warm_start(
            images,
            labels,
            epochs=epochs,
            generator=make_generator(derive_seed(seed, "warm-start")),
            on_epoch=lambda epoch, mse: bar.advance(1, mse=mse),
        )
    return {"iteration": 0, "warm_start_mse": mse, "seconds": time.perf_counter() - start}


def teacher_from_run(
    run_dir: Path, device: str | torch.device = "cpu"
) -> tuple[Teacher, TeacherInfo]:
    """Load the trained teacher of a finished run (the real-data teacher needs its data)."""

    run_dir = Path(run_dir)
    config = load_run_config(run_dir)
    real_images = real_labels = None
    if config.teacher == "real":
        dataset = load_dataset(config.dataset, quiet=True)
        real_images, real_labels = dataset.train.images, dataset.train.labels
    return load_teacher(run_dir, real_images=real_images, real_labels=real_labels, device=device)
