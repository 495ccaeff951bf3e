"""Saving and loading a trained teacher: ``teacher.safetensors`` (its meta-parameters and
buffers) next to ``teacher.json`` (what is needed to rebuild it). Nothing in either file is
executed when loading."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from gtnas.config import config_from_dict, config_to_dict
from gtnas.errors import GtnasError
from gtnas.runtime.files import atomic_write, atomic_write_text
from gtnas.teachers.base import Teacher, TeacherConfig, create_teacher

TENSORS, META = "teacher.safetensors", "teacher.json"


@dataclass(frozen=True)
class TeacherInfo:
    """What a saved teacher was trained for."""

    name: str
    config: TeacherConfig
    dataset: str
    image_shape: tuple[int, int, int]
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    class_names: tuple[str, ...] = ()


def save_teacher(folder: Path, teacher: Teacher, info: TeacherInfo) -> None:
    folder = Path(folder)
    tensors = {k: v.detach().cpu().contiguous() for k, v in teacher.state_dict().items()}
    atomic_write(folder / TENSORS, lambda tmp: save_file(tensors, str(tmp)))
    meta: dict[str, Any] = {
        "format": "gtnas-teacher/1",
        "name": info.name,
        "config": config_to_dict(info.config),
        "dataset": info.dataset,
        "image_shape": list(info.image_shape),
        "num_classes": info.num_classes,
        "mean": list(info.mean),
        "std": list(info.std),
        "class_names": list(info.class_names),
    }
    atomic_write_text(folder / META, json.dumps(meta, indent=2) + "\n")


def load_teacher(
    folder: Path,
    *,
    real_images: torch.Tensor | None = None,
    real_labels: torch.Tensor | None = None,
    device: torch.device | str = "cpu",
) -> tuple[Teacher, TeacherInfo]:
    folder = Path(folder)
    meta_path, tensor_path = folder / META, folder / TENSORS
    if not meta_path.is_file() or not tensor_path.is_file():
        raise GtnasError(
            f"no trained teacher in {folder} (expected {META} and {TENSORS}); "
            "train one with `gtnas teach train`"
        )
    try:
        meta = json.loads(meta_path.read_text())
        info = TeacherInfo(
            name=meta["name"],
            config=config_from_dict(TeacherConfig, meta["config"]),
            dataset=meta["dataset"],
            image_shape=tuple(meta["image_shape"]),
            num_classes=int(meta["num_classes"]),
            mean=tuple(meta["mean"]),
            std=tuple(meta["std"]),
            class_names=tuple(meta.get("class_names", ())),
        )
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise GtnasError(f"{meta_path} is not a valid teacher description ({exc})") from None
    teacher = create_teacher(
        info.name,
        info.config,
        info.image_shape,
        info.num_classes,
        real_images=real_images,
        real_labels=real_labels,
    )
    try:
        state = load_file(str(tensor_path))
    except (SafetensorError, OSError) as exc:
        raise GtnasError(f"{tensor_path} is corrupt ({exc}); re-run the training") from None
    try:
        teacher.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise GtnasError(f"{tensor_path} does not match {meta_path}: {first}") from None
    return teacher.to(device), info
