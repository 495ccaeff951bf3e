"""Final training of a found architecture on real data, with exact resume.

Run folder layout (``gtnas arch train GENOTYPE --out RUN``)::

    RUN/config.json        the resolved FinalTrainConfig (a blueprint preset resolved to its
                           fields), plus a "data" section (image shape, classes, mean/std) so
                           the network can be rebuilt without the data set
    RUN/genotype.json      the genotype envelope {"space", "genotype", "options"}
    RUN/checkpoints/       atomic safetensors + JSON checkpoints (gtnas.runtime.checkpoint)
    RUN/metrics.jsonl      a record per epoch ("kind": "epoch") and every k steps ("step")
    RUN/model.safetensors  final weights: the state_dict, BatchNorm running statistics included
    RUN/result.json        validation and test accuracy, parameters, FLOPs, timings and the
                           machine that measured them

The loop is a plain function a reader can follow: each optimiser step takes the next batch of
this epoch's permutation, augments it, and makes one SGD step whose learning rate the cosine
schedule gives for that step. The validation split is scored after each epoch (BatchNorm in
eval mode, no augmentation); the test split is touched once, after the last epoch.

Exact resume: every random choice has its own source. Weights come from a generator seeded
with ``derive_seed(seed, "init")``; epoch ``e``'s data order from a fresh generator seeded with
``derive_seed(seed, "order", e)``, so it is recomputed, not stored; augmentation draws from one
CPU generator whose state each checkpoint records with the optimiser (momentum buffers), the
step, the position in the epoch and the epoch's running sums. A run killed at any moment and
resumed gives the same weights and metrics, bit for bit (on the CPU; on CUDA as far as its
kernels are deterministic), as a run that was never stopped.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors.torch import save as save_safetensors
from torch import nn

from gtnas.config import config_from_dict, config_to_dict
from gtnas.data import Dataset
from gtnas.errors import ConfigError, GtnasError
from gtnas.learners.layers import init_learner
from gtnas.runtime.device import resolve_device
from gtnas.runtime.files import atomic_write_bytes, atomic_write_text
from gtnas.runtime.machine import cpu_capability, cpu_name
from gtnas.runtime.nonfinite import SkipGuard
from gtnas.runtime.progress import progress_bar
from gtnas.runtime.run_folder import CONFIG_FILE, RunFolder
from gtnas.seeding import derive_seed, make_generator, seed_everything
from gtnas.spaces.base import SearchSpace
from gtnas.training.augment import create_augmentation, padding_fill, policy_name
from gtnas.training.measure import count_flops, count_parameters
from gtnas.training.recipe import FinalTrainConfig, learning_rate_factor

GENOTYPE_FILE = "genotype.json"
MODEL_FILE = "model.safetensors"
RESULT_FILE = "result.json"
DATA_SECTION = "data"  # the part of config.json that is not FinalTrainConfig
MODEL_PREFIX = "model/"  # checkpoint tensor names of the network's state_dict
# Record fields that measure time: they differ between an interrupted and an unbroken run.
TIMING_KEYS = frozenset({"seconds", "elapsed", "images_per_second"})


@dataclass
class FinalTrainResult:
    run_dir: Path
    finished: bool  # False when stop_after_steps ended the session early
    steps: int  # optimiser steps taken so far (over all sessions)
    epochs: int  # epochs completed
    val_accuracy: float | None  # of the final network; None until finished
    test_accuracy: float | None
    parameters: int
    flops: int  # per image, 2 per multiply-accumulate (see gtnas.training.measure)
    train_seconds: float  # time in optimiser steps, summed over sessions
    skipped_steps: int  # non-finite steps skipped
    history: list[dict[str, Any]]  # the metrics.jsonl records


def load_train_config(run_dir: Path) -> FinalTrainConfig:
    """The FinalTrainConfig saved in ``run_dir/config.json``."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        raise GtnasError(f"{run_dir} is not a gtnas arch train run (no {CONFIG_FILE})")
    try:
        values = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise GtnasError(f"{path} is not valid JSON ({exc.msg}, line {exc.lineno})") from None
    if not isinstance(values, dict):
        raise GtnasError(f"{path} must hold a JSON object")
    values.pop(DATA_SECTION, None)
    return config_from_dict(FinalTrainConfig, values)


def build_network(
    space: SearchSpace, genotype: Any, dataset: Dataset, config: FinalTrainConfig
) -> nn.Module:
    """The BatchNorm network of ``genotype`` at ``config.blueprint``, initialised from the
    run's seed (the same weights on every machine)."""
    network = space.build(
        genotype,
        dataset.image_shape,
        dataset.num_classes,
        norm="bn",
        blueprint=space.resolve_blueprint(config.blueprint),
    )
    return init_learner(network, make_generator(derive_seed(config.seed, "init")))


def make_optimizer(network: nn.Module, config: FinalTrainConfig) -> torch.optim.SGD:
    """SGD with (Nesterov) momentum; weight decay on conv/linear weights only, not on
    BatchNorm scales or biases (1-D parameters), as in most NAS final-training recipes."""
    parameters = [p for p in network.parameters() if p.requires_grad]
    decay = [p for p in parameters if p.ndim > 1]
    no_decay = [p for p in parameters if p.ndim <= 1]
    return torch.optim.SGD(
        [
            {"params": decay, "weight_decay": config.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=config.lr,
        momentum=config.momentum,
        nesterov=config.nesterov,
    )


@torch.no_grad()
def evaluate(
    network: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int
) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of ``network`` in eval mode (BatchNorm running
    statistics) on images (N, C, H, W) and labels (N,); restores training mode after."""
    was_training = network.training
    network.eval()
    total_loss = torch.zeros((), dtype=torch.float64, device=images.device)
    correct = torch.zeros((), dtype=torch.int64, device=images.device)
    for start in range(0, labels.shape[0], batch_size):
        logits = network(images[start : start + batch_size])  # (b, classes)
        batch_labels = labels[start : start + batch_size]
        total_loss += F.cross_entropy(logits.float(), batch_labels, reduction="sum").double()
        correct += (logits.argmax(dim=1) == batch_labels).sum()
    network.train(was_training)
    count = max(1, labels.shape[0])
    return float(total_loss) / count, int(correct) / count


def train_network(
    space: SearchSpace,
    genotype: Any,
    dataset: Dataset,
    config: FinalTrainConfig,
    run_dir: Path,
    *,
    resume: bool = False,
    show_progress: bool = True,
    stop_after_steps: int | None = None,
) -> FinalTrainResult:
    """Train ``genotype``'s network on ``dataset`` (loaded from ``config.dataset``) from scratch
    and write the run folder ``run_dir``.

    With ``resume``, continue from the newest checkpoint in ``run_dir`` exactly as if the run
    had never stopped (``config`` and ``genotype`` must be the saved ones). ``stop_after_steps``
    ends this session once that many optimiser steps have been taken in total, leaving a
    checkpoint to resume from (for tests and time-boxed jobs).
    """
    run_dir = Path(run_dir)
    device = resolve_device(config.device)  # fail before touching the run folder
    augmentation = create_augmentation(config.augmentation, dataset.name)
    space.validate(genotype)
    # A preset name becomes its fields: config.json then rebuilds this network even after the
    # space's presets change, and resuming under a changed preset is caught as a changed config.
    preset = config.blueprint if isinstance(config.blueprint, str) else None
    config = dataclasses.replace(
        config, blueprint=config_to_dict(space.resolve_blueprint(config.blueprint))
    )
    envelope = space.to_json(genotype)
    folder = RunFolder(run_dir, command="gtnas arch train", finished=(RESULT_FILE,))
    checkpoint = folder.open(resume)
    if resume:
        _check_same_run(run_dir, config, envelope)
    folder.create()

    seed_everything(config.seed)  # library code we do not control draws from the globals
    network = build_network(space, genotype, dataset, config)
    parameters = count_parameters(network)
    flops = count_flops(network, dataset.image_shape)
    # The spaces' forward passes keep activations channels_last (faster small convolutions on
    # the CPU); weights in the same layout spare oneDNN a reorder of every convolution's
    # weights and weight gradients each step: 6-14% per truth-recipe step on one AVX2 core
    # (`python -m benchmarks.truth_step`). The same numbers up to rounding; checkpoints and
    # model.safetensors store every tensor contiguous, so files do not depend on it.
    network.to(device, memory_format=torch.channels_last).train()
    if not resume:
        _write_json(run_dir / CONFIG_FILE, _config_document(config, dataset))
        _write_json(run_dir / GENOTYPE_FILE, envelope)

    session = _open_session(config, folder, network, dataset, device, checkpoint)
    if resume:
        folder.keep_log_until(checkpoint, key="step")
    total = session.total_steps
    end_step = total if stop_after_steps is None else min(total, stop_after_steps)
    description = f"training {space.name} on {dataset.name}"
    with progress_bar(
        total - session.progress["step"], description, disable=not show_progress
    ) as bar:
        _train_epochs(session, augmentation, end_step, bar)

    progress = session.progress
    finished = progress["epoch"] >= config.epochs
    val_accuracy = test_accuracy = None
    if finished:
        result = _finish(session, space, genotype, dataset, preset, parameters, flops)
        val_accuracy, test_accuracy = result["val_accuracy"], result["test_accuracy"]
    return FinalTrainResult(
        run_dir=run_dir,
        finished=finished,
        steps=progress["step"],
        epochs=progress["epoch"],
        val_accuracy=val_accuracy,
        test_accuracy=test_accuracy,
        parameters=parameters,
        flops=flops,
        train_seconds=progress["train_seconds"],
        skipped_steps=session.guard.skipped_total,
        history=folder.metrics.read(),
    )


@dataclass
class _Session:
    """One session of a final-training run: what the loop reads and advances. ``progress``
    is where the run stands; a checkpoint holds all of it."""

    config: FinalTrainConfig
    folder: RunFolder
    network: nn.Module
    optimizer: torch.optim.SGD
    generators: dict[str, torch.Generator]  # {"augment": the augmentation's generator}
    guard: _NonFiniteGuard
    progress: dict[str, Any]
    device: torch.device
    train: tuple[torch.Tensor, torch.Tensor]  # (N, C, H, W), (N,) on the device
    val: tuple[torch.Tensor, torch.Tensor]
    fill: torch.Tensor  # (C,) padding of the crops
    batch_size: int
    steps_per_epoch: int
    total_steps: int
    warmup_steps: int

    def lr(self, step: int) -> float:
        factor = learning_rate_factor(step, self.total_steps, self.warmup_steps)
        return self.config.lr * factor

    def checkpoint(self) -> None:
        self.folder.save(
            self.progress["step"],
            tensors={MODEL_PREFIX + k: v for k, v in self.network.state_dict().items()},
            state={
                "optimizer": self.optimizer.state_dict(),
                "guard": [self.guard.skipped_total, self.guard.consecutive],
                "progress": self.progress,
            },
            generators=self.generators,
        )


def _open_session(
    config: FinalTrainConfig,
    folder: RunFolder,
    network: nn.Module,
    dataset: Dataset,
    device: torch.device,
    checkpoint: Any,
) -> _Session:
    """The session's data, optimiser and generators, restored from ``checkpoint`` if any."""
    train_images, train_labels, val_images, val_labels = _real_data(dataset, config, device)
    examples = train_labels.shape[0]
    batch_size = min(config.batch_size, examples)
    # Whole batches only: a last, tiny batch would give BatchNorm noisy statistics.
    steps_per_epoch = examples // batch_size
    session = _Session(
        config=config,
        folder=folder,
        network=network,
        optimizer=make_optimizer(network, config),
        generators={"augment": make_generator(derive_seed(config.seed, "augment"))},
        guard=_NonFiniteGuard(config.max_nonfinite),
        progress={
            "step": 0,  # optimiser steps taken
            "epoch": 0,  # the epoch in progress (0-based)
            "position": 0,  # batches of that epoch already taken
            "epoch_sums": _empty_sums(),  # running sums of the epoch in progress
            "train_seconds": 0.0,
            "images_seen": 0,
        },
        device=device,
        train=(train_images, train_labels),
        val=(val_images, val_labels),
        fill=padding_fill(dataset.mean, dataset.std).to(device),
        batch_size=batch_size,
        steps_per_epoch=steps_per_epoch,
        total_steps=config.epochs * steps_per_epoch,
        warmup_steps=round(config.warmup_epochs * steps_per_epoch),
    )
    if checkpoint is not None:
        state = folder.restore(checkpoint, session.generators)
        model_state = {
            name[len(MODEL_PREFIX) :]: tensor
            for name, tensor in checkpoint.tensors.items()
            if name.startswith(MODEL_PREFIX)
        }
        network.load_state_dict(model_state, strict=True)  # copies keep the weights' layout
        session.optimizer.load_state_dict(state["optimizer"])
        _match_layouts(session.optimizer)
        session.guard.skipped_total, session.guard.consecutive = state["guard"]
        session.progress = state["progress"]
        session.progress.pop("elapsed", None)  # kept there by checkpoints before RunFolder
    return session


def _match_layouts(optimizer: torch.optim.Optimizer) -> None:
    """Give each restored optimiser buffer (momentum) its parameter's memory layout: a
    checkpoint stores them contiguous, while an uninterrupted run's buffers take the layout of
    their (channels_last) gradients. Same values; a resumed run then runs the same kernels."""
    for group in optimizer.param_groups:
        for parameter in group["params"]:
            state = optimizer.state.get(parameter, {})
            for key, value in state.items():
                if isinstance(value, torch.Tensor) and value.shape == parameter.shape:
                    state[key] = torch.empty_like(parameter).copy_(value)


def _train_epochs(s: _Session, augmentation: Any, end_step: int, bar: Any) -> None:
    """Epochs until the last or until ``end_step`` optimiser steps: each step takes the next
    batch of its epoch's permutation, augments it and makes one SGD step at the cosine
    schedule's rate; each finished epoch is validated (every ``eval_every_epochs``), logged and
    checkpointed."""
    config, progress, metrics = s.config, s.progress, s.folder.metrics
    train_images, train_labels = s.train
    examples = train_labels.shape[0]
    bn_backup = [b.clone() for b in s.network.buffers()]  # restored after a skipped step
    session_images, session_seconds = 0, 0.0
    stopped = False
    lr = s.lr(max(progress["step"] - 1, 0))
    while progress["epoch"] < config.epochs and not stopped:
        epoch = progress["epoch"]
        # Epoch e's order depends only on (seed, e): recomputed on resume, never stored.
        order = torch.randperm(
            examples, generator=make_generator(derive_seed(config.seed, "order", epoch))
        ).to(s.device)  # (examples,)
        while progress["position"] < s.steps_per_epoch:
            if progress["step"] >= end_step:
                stopped = True
                break
            position = progress["position"]
            index = order[position * s.batch_size : (position + 1) * s.batch_size]  # (B,)
            lr = s.lr(progress["step"])

            start = time.perf_counter()
            images = augmentation(train_images[index], s.generators["augment"], s.fill)
            loss, correct, grad_norm, finite = train_step(
                s.network, s.optimizer, images, train_labels[index], lr, config, bn_backup
            )
            seconds = time.perf_counter() - start

            _count_step(progress, index.shape[0], loss, correct, finite, seconds)
            session_images += index.shape[0]
            session_seconds += seconds
            sums = progress["epoch_sums"]
            s.guard.update(not finite, progress["step"], epoch)

            step = progress["step"]
            if config.log_every_steps and step % config.log_every_steps == 0:
                metrics.append(
                    {
                        "kind": "step",
                        "step": step,
                        "epoch": epoch + 1,
                        "loss": loss,
                        "accuracy": correct / index.shape[0],
                        "grad_norm": grad_norm,
                        "lr": lr,
                    }
                )
            bar.advance(
                1,
                loss=sums["loss"] / max(1, sums["examples"]),
                acc=sums["correct"] / max(1, sums["examples"]),
                lr=lr,
                img_per_s=round(session_images / max(session_seconds, 1e-9)),
            )
            if progress["position"] < s.steps_per_epoch and (
                step % config.checkpoint_every_steps == 0 or step == end_step
            ):
                s.checkpoint()

        if progress["position"] < s.steps_per_epoch:
            break  # stopped mid-epoch; checkpointed above
        record = _epoch_record(progress, epoch, lr)
        if (epoch + 1) % config.eval_every_epochs == 0 or epoch + 1 == config.epochs:
            record["val_loss"], record["val_accuracy"] = evaluate(
                s.network, *s.val, config.eval_batch_size
            )
        record["elapsed"] = s.folder.elapsed()
        metrics.append(record)
        progress["epoch"] += 1
        progress["position"] = 0
        progress["epoch_sums"] = _empty_sums()
        s.checkpoint()


def _finish(
    s: _Session,
    space: SearchSpace,
    genotype: Any,
    dataset: Dataset,
    preset: str | None,
    parameters: int,
    flops: int,
) -> dict[str, Any]:
    """Score the finished network (the test split touched here and nowhere else: once, after
    the last epoch), save its weights and write ``result.json``; returns the result."""
    config, progress = s.config, s.progress
    val_images, val_labels = s.val
    # The last epoch validated these very weights (its record is in metrics.jsonl, also
    # after a resume): reuse it rather than spend another pass over the validation split.
    last = [r for r in s.folder.metrics.read() if r.get("kind") == "epoch"]
    if last and last[-1].get("epoch") == config.epochs and "val_accuracy" in last[-1]:
        val_accuracy = last[-1]["val_accuracy"]
    else:
        _, val_accuracy = evaluate(s.network, val_images, val_labels, config.eval_batch_size)
    test_images, test_labels = dataset.test.images.to(s.device), dataset.test.labels.to(s.device)
    _, test_accuracy = evaluate(s.network, test_images, test_labels, config.eval_batch_size)
    _save_weights(s.folder.path / MODEL_FILE, s.network, space.format(genotype))
    train_seconds = progress["train_seconds"]
    result = {
        "genotype": space.format(genotype),
        "dataset": dataset.name,
        "val_accuracy": val_accuracy,
        "test_accuracy": test_accuracy,
        "parameters": parameters,
        "flops": flops,
        "multiply_accumulates": flops // 2,
        "blueprint_preset": preset,  # None: given as fields; config.json has the fields
        "epochs": config.epochs,
        "steps": progress["step"],
        "train_examples": int(s.train[1].shape[0]),
        "val_examples": int(val_labels.shape[0]),
        "test_examples": int(test_labels.shape[0]),
        "augmentation": policy_name(config.augmentation, dataset.name),
        "seconds_per_epoch": train_seconds / config.epochs,
        "train_seconds": train_seconds,
        "wall_seconds": s.folder.elapsed(),
        "images_per_second": progress["images_seen"] / max(train_seconds, 1e-9),
        "skipped_steps": s.guard.skipped_total,
        "device": str(s.device),
        # where the seconds above were measured (the session that finished the run)
        "machine": {
            "cpu": cpu_name(),
            "cpu_capability": cpu_capability(),
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "gpu": torch.cuda.get_device_name(s.device) if s.device.type == "cuda" else None,
        },
    }
    _write_json(s.folder.path / RESULT_FILE, result)
    return result


# --- one step ---------------------------------------------------------------------------------


def train_step(
    network: nn.Module,
    optimizer: torch.optim.Optimizer,
    images: torch.Tensor,
    labels: torch.Tensor,
    lr: float,
    config: FinalTrainConfig,
    bn_backup: list[torch.Tensor],
) -> tuple[float, int, float, bool]:
    """One SGD step at learning rate ``lr`` on a batch, images (B, C, H, W) and labels (B,).

    Returns (loss, correct predictions, gradient norm before clipping, finite) with a single
    device sync. A step whose loss or gradient is not finite changes nothing: the optimiser
    does not step and the network's buffers (BatchNorm running statistics, which the forward
    pass has already updated) are put back from ``bn_backup``, a same-shaped copy of
    ``network.buffers()`` that this function keeps current.
    """
    buffers = list(network.buffers())
    _copy_tensors(bn_backup, buffers)
    for group in optimizer.param_groups:
        group["lr"] = lr
    logits = network(images)  # (B, classes)
    loss = F.cross_entropy(logits, labels, label_smoothing=config.label_smoothing)
    loss.backward()
    parameters = [p for p in network.parameters() if p.grad is not None]
    # max_norm=inf measures the norm without scaling anything.
    max_norm = config.grad_clip if config.grad_clip > 0 else math.inf
    grad_norm = torch.nn.utils.clip_grad_norm_(parameters, max_norm)
    correct = (logits.detach().argmax(dim=1) == labels).sum()
    loss_value, correct_value, norm_value = torch.stack(
        [loss.detach().double(), correct.double(), grad_norm.detach().double()]
    ).tolist()
    finite = math.isfinite(loss_value) and math.isfinite(norm_value)
    if finite:
        optimizer.step()
    else:
        _copy_tensors(buffers, bn_backup)
    optimizer.zero_grad(set_to_none=True)
    return loss_value, int(correct_value), norm_value, finite


def _copy_tensors(targets: list[torch.Tensor], sources: list[torch.Tensor]) -> None:
    if targets:
        torch._foreach_copy_(targets, sources)  # one kernel per device and dtype, not per buffer


class _NonFiniteGuard(SkipGuard):
    """Counts skipped steps; a run of ``limit`` in a row stops training with a message."""

    def message(self, step: int, epoch: int) -> str:  # type: ignore[override]
        return (
            f"{self.consecutive} training steps in a row had a non-finite loss or gradient "
            f"(last at step {step}, epoch {epoch + 1}); start a new run with a lower --lr, "
            "a warm-up (--set warmup_epochs=1) or gradient clipping (--set grad_clip=5)"
        )


# --- bookkeeping ------------------------------------------------------------------------------


def _real_data(
    dataset: Dataset, config: FinalTrainConfig, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Training and validation images and labels on ``device``, cut to the configured subsets
    (the test split stays untouched until the end)."""
    train_images, train_labels = dataset.train.images, dataset.train.labels
    if config.train_subset is not None:
        train_images = train_images[: config.train_subset]
        train_labels = train_labels[: config.train_subset]
    if train_labels.shape[0] == 0:
        raise ConfigError("the training split is empty; check the data set and train_subset")
    val_count = len(dataset.val) if config.val_subset is None else config.val_subset
    return (
        train_images.to(device),
        train_labels.to(device),
        dataset.val.images[:val_count].to(device),
        dataset.val.labels[:val_count].to(device),
    )


def _count_step(
    progress: dict[str, Any], batch: int, loss: float, correct: int, finite: bool, seconds: float
) -> None:
    """Advance the run's position by one step and add the step to the epoch's sums."""
    progress["step"] += 1
    progress["position"] += 1
    progress["train_seconds"] += seconds
    progress["images_seen"] += batch
    sums = progress["epoch_sums"]
    sums["seconds"] += seconds
    if finite:
        sums["loss"] += loss * batch
        sums["correct"] += correct
        sums["examples"] += batch
    else:
        sums["skipped"] += 1


def _empty_sums() -> dict[str, Any]:
    return {"loss": 0.0, "correct": 0, "examples": 0, "skipped": 0, "seconds": 0.0}


def _epoch_record(progress: dict[str, Any], epoch: int, lr: float) -> dict[str, Any]:
    sums = progress["epoch_sums"]
    seen = max(1, sums["examples"])
    return {
        "kind": "epoch",
        "step": progress["step"],
        "epoch": epoch + 1,
        "train_loss": sums["loss"] / seen if sums["examples"] else math.nan,
        "train_accuracy": sums["correct"] / seen,
        "lr": lr,
        "skipped": sums["skipped"],
        "seconds": sums["seconds"],  # in optimiser steps, validation not included
        "images_per_second": sums["examples"] / max(sums["seconds"], 1e-9),
    }


def _check_same_run(run_dir: Path, config: FinalTrainConfig, envelope: dict[str, Any]) -> None:
    """A resume continues the saved run: the same config and genotype."""
    if config_to_dict(load_train_config(run_dir)) != config_to_dict(config):
        raise ConfigError(
            f"the config differs from the one saved in {run_dir}/{CONFIG_FILE}; "
            "resume with the saved config (gtnas arch train --resume --out RUN)"
        )
    if _read_json(run_dir / GENOTYPE_FILE) != envelope:
        raise ConfigError(
            f"the genotype differs from the one saved in {run_dir}/{GENOTYPE_FILE}; "
            "resume without a genotype (gtnas arch train --resume --out RUN)"
        )


def _config_document(config: FinalTrainConfig, dataset: Dataset) -> dict[str, Any]:
    """config.json: the FinalTrainConfig, plus what a loader needs to rebuild the network
    without loading the data set (gtnas.export.load_network reads it)."""
    return {
        **config_to_dict(config),
        DATA_SECTION: {
            "image_shape": list(dataset.image_shape),
            "num_classes": dataset.num_classes,
            "mean": list(dataset.mean),
            "std": list(dataset.std),
            "class_names": list(dataset.class_names),
        },
    }


def _save_weights(path: Path, network: nn.Module, genotype_text: str) -> None:
    """The state_dict as safetensors (CPU copies: safetensors refuses shared storage), tagged
    with the genotype as gtnas.export expects."""
    tensors = {
        name: tensor.detach().to("cpu", memory_format=torch.contiguous_format, copy=True)
        for name, tensor in network.state_dict().items()
    }
    metadata = {"format": "gtnas-network", "genotype": genotype_text}
    atomic_write_bytes(path, save_safetensors(tensors, metadata=metadata))


def _write_json(path: Path, document: dict[str, Any]) -> None:
    atomic_write_text(path, json.dumps(document, indent=2, allow_nan=False) + "\n")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise GtnasError(f"{path} is missing; the run folder is incomplete") from None
    except json.JSONDecodeError as exc:
        raise GtnasError(f"{path} is not valid JSON ({exc.msg}, line {exc.lineno})") from None
