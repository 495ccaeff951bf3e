"""A found network as files: save it, and load it back without running code from any file.

An export folder (written by :func:`save_network`, e.g. through ``gtnas arch export``) holds::

    genotype.json      the genotype envelope {"space", "genotype", "options"}
    network.json       how to rebuild it: image shape, classes, the resolved blueprint, norm,
                       the input normalisation (mean / std) and class names when known
    model.safetensors  the state_dict: weights and BatchNorm running statistics
    model.onnx         (``gtnas arch export`` only) the same network for ONNX runtimes

:func:`load_network` reads such a folder or a final-training run folder of ``gtnas arch train``
(genotype.json + config.json + model.safetensors). Only JSON and safetensors are read; nothing
is unpickled or executed, so a folder from someone else is safe to load::

    from gtnas.export import load_network

    net = load_network("exported/")  # or a `gtnas arch train` run folder; in eval mode
    logits = net(images)  # (B, C, H, W) normalised with network.json's mean / std -> (B, classes)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors
from torch import nn

from gtnas import __version__
from gtnas.config import config_to_dict
from gtnas.data.catalog import resolve
from gtnas.errors import GtnasError
from gtnas.runtime.files import atomic_write_bytes, atomic_write_text
from gtnas.runtime.run_folder import CONFIG_FILE
from gtnas.spaces.base import NORMS, SearchSpace, genotype_from_json

FORMAT_VERSION = 1
GENOTYPE_FILE = "genotype.json"
NETWORK_FILE = "network.json"
WEIGHTS_FILE = "model.safetensors"
RUN_CONFIG_FILE = CONFIG_FILE  # present in a `gtnas arch train` run folder instead of network
# Keys save_network writes itself; ``extra`` may not override them.
_RESERVED = frozenset(
    {"format", "image_shape", "num_classes", "blueprint", "norm", "gtnas_version", "parameters"}
)
_SHOW = 5  # names listed per kind of mismatch; the rest are counted


@dataclass
class LoadedNetwork:
    """A network read back from a folder, with what it was built from."""

    module: nn.Module  # in eval mode, on the CPU
    space: SearchSpace
    genotype: Any
    image_shape: tuple[int, int, int]  # (C, H, W)
    num_classes: int
    blueprint: Any  # the space's resolved Blueprint
    norm: str
    # network.json's remaining fields (mean, std, class_names, dataset, ...), or for a run
    # folder what its config.json tells about the data set
    info: dict[str, Any] = field(default_factory=dict)


def save_network(
    directory: str | Path,
    space: SearchSpace,
    genotype: Any,
    module: nn.Module,
    *,
    image_shape: tuple[int, int, int],
    num_classes: int,
    blueprint: str | Any,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write genotype.json, network.json and model.safetensors into ``directory``; return it.

    ``module`` must be ``space.build(genotype, image_shape, num_classes, norm="bn",
    blueprint=blueprint)`` (checked: its state_dict must match a fresh build, so the folder
    always loads). ``extra`` adds JSON fields to network.json, e.g. ``mean``, ``std`` (the
    input normalisation the network was trained with), ``class_names``, ``dataset``.
    """
    directory = Path(directory)
    extra = dict(extra or {})
    clash = sorted(_RESERVED & extra.keys())
    if clash:
        raise ValueError(f"extra may not set {', '.join(clash)}; save_network writes them")
    resolved = space.resolve_blueprint(blueprint)
    image_shape = tuple(int(d) for d in image_shape)  # type: ignore[assignment]
    reference = space.build(genotype, image_shape, num_classes, norm="bn", blueprint=resolved)
    state = {name: tensor.detach() for name, tensor in module.state_dict().items()}
    problem = _mismatch(reference.state_dict(), state)
    if problem:
        raise GtnasError(f"the module is not the network of {space.format(genotype)}: {problem}")

    # Copies on the CPU: safetensors refuses tensors that share storage (views, tied weights).
    tensors = {
        name: tensor.to("cpu", memory_format=torch.contiguous_format, copy=True)
        for name, tensor in state.items()
    }
    metadata = {"format": "gtnas-network", "genotype": space.format(genotype)}
    network = {
        "format": FORMAT_VERSION,
        "image_shape": list(image_shape),
        "num_classes": int(num_classes),
        "blueprint": config_to_dict(resolved),
        "norm": "bn",
        "parameters": sum(p.numel() for p in module.parameters()),  # shared ones once
        "gtnas_version": _version(),
        **extra,
    }
    directory.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(directory / WEIGHTS_FILE, save_safetensors(tensors, metadata=metadata))
    atomic_write_text(
        directory / NETWORK_FILE, json.dumps(network, indent=2, allow_nan=False) + "\n"
    )
    atomic_write_text(
        directory / GENOTYPE_FILE, json.dumps(space.to_json(genotype), indent=2) + "\n"
    )
    return directory


def save_loaded(
    directory: str | Path, loaded: LoadedNetwork, *, extra: dict[str, Any] | None = None
) -> Path:
    """Write a network read by :func:`read_network` as an export folder ``directory``, keeping
    what its source knew about the data (mean, std, class names...) plus ``extra``."""
    return save_network(
        directory,
        loaded.space,
        loaded.genotype,
        loaded.module,
        image_shape=loaded.image_shape,
        num_classes=loaded.num_classes,
        blueprint=loaded.blueprint,
        extra={**loaded.info, **(extra or {})},
    )


def load_network(directory: str | Path) -> nn.Module:
    """The network saved in ``directory`` (an export folder or an ``arch train`` run folder),
    rebuilt from its genotype and loaded with its weights; on the CPU, in eval mode."""
    return read_network(directory).module


def read_network(directory: str | Path) -> LoadedNetwork:
    """Like :func:`load_network`, with the genotype, shapes and data-set facts it was built from.

    Raises :class:`GtnasError` naming the file when one is missing, corrupt, or when the
    weights do not fit the genotype.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise GtnasError(f"{directory} is not a folder; give an export or `arch train` run folder")
    envelope = _read_json(directory / GENOTYPE_FILE, directory)
    try:
        space, genotype = genotype_from_json(envelope)
    except GtnasError as exc:
        raise GtnasError(f"{directory / GENOTYPE_FILE}: {exc}") from None

    if (directory / NETWORK_FILE).is_file():
        network = _read_json(directory / NETWORK_FILE, directory)
        image_shape, num_classes, blueprint, norm, info = _from_network_json(network, directory)
    elif (directory / RUN_CONFIG_FILE).is_file():
        config = _read_json(directory / RUN_CONFIG_FILE, directory)
        image_shape, num_classes, blueprint, info = _from_run_config(config, directory)
        norm = "bn"  # final training always builds the BatchNorm network
    else:
        raise GtnasError(
            f"{directory} holds {GENOTYPE_FILE} but neither {NETWORK_FILE} (export folder) nor "
            f"{RUN_CONFIG_FILE} (`gtnas arch train` run folder)"
        )
    try:
        resolved = space.resolve_blueprint(blueprint)
    except GtnasError as exc:
        raise GtnasError(f"{directory}: {exc}") from None
    module = space.build(genotype, image_shape, num_classes, norm=norm, blueprint=resolved)

    weights_path = directory / WEIGHTS_FILE
    if not weights_path.is_file():
        hint = (
            "the run has not finished"
            if not (directory / NETWORK_FILE).is_file()
            else "the export is incomplete; export it again"
        )
        raise GtnasError(f"{weights_path} is missing: {hint}")
    try:
        blob = weights_path.read_bytes()
        tensors = load_safetensors(blob)
    except OSError as exc:
        raise GtnasError(f"{weights_path} cannot be read ({exc.strerror or exc})") from None
    except (SafetensorError, ValueError, RuntimeError) as exc:
        reason = " ".join(str(exc).split())
        raise GtnasError(f"{weights_path} is not a valid safetensors file ({reason})") from None

    saved_for = _metadata(blob).get("genotype")
    if saved_for is not None and saved_for != space.format(genotype):
        # Two genotypes can have identical tensors (e.g. skip vs. pooling, neither has weights),
        # so the name recorded at save time is the only way to catch a swapped genotype.json.
        raise GtnasError(
            f"{WEIGHTS_FILE} does not match {GENOTYPE_FILE}: the weights were saved for "
            f"{saved_for}, the genotype file holds {space.format(genotype)} (in {directory})"
        )
    problem = _mismatch(module.state_dict(), tensors)
    if problem:
        raise GtnasError(
            f"{WEIGHTS_FILE} does not match {GENOTYPE_FILE}: {problem} (in {directory})"
        )
    module.load_state_dict(tensors, strict=True)
    module.eval()
    return LoadedNetwork(
        module=module,
        space=space,
        genotype=genotype,
        image_shape=image_shape,
        num_classes=num_classes,
        blueprint=resolved,
        norm=norm,
        info=info,
    )


# --- reading the two kinds of description ---------------------------------------------------


def _from_network_json(
    network: dict[str, Any], directory: Path
) -> tuple[tuple[int, int, int], int, Any, str, dict[str, Any]]:
    where = directory / NETWORK_FILE
    if network.get("format") != FORMAT_VERSION:
        raise GtnasError(
            f"{where} has format {network.get('format')!r}; this gtnas reads format "
            f"{FORMAT_VERSION} (export the network again with this version)"
        )
    missing = [k for k in ("image_shape", "num_classes", "blueprint") if k not in network]
    if missing:
        raise GtnasError(f"{where} lacks {', '.join(missing)}; export the network again")
    norm = network.get("norm", "bn")
    if norm not in NORMS:
        raise GtnasError(f"{where}: norm {norm!r} is not one of {', '.join(NORMS)}")
    image_shape = _image_shape(network["image_shape"], where)
    num_classes = _positive_int(network["num_classes"], "num_classes", where)
    info = {k: v for k, v in network.items() if k not in _RESERVED}
    return image_shape, num_classes, network["blueprint"], norm, info


def _from_run_config(
    config: dict[str, Any], directory: Path
) -> tuple[tuple[int, int, int], int, Any, dict[str, Any]]:
    """Shape, classes and blueprint of an ``arch train`` run: its config.json holds the
    FinalTrainConfig (``blueprint``, ``dataset``) and a ``data`` section (``image_shape``,
    ``num_classes``, ``mean``, ``std``, ``class_names``); without that section, the registered
    data set's shape and classes are used."""
    where = directory / RUN_CONFIG_FILE
    if "blueprint" not in config:
        raise GtnasError(f"{where} names no blueprint; is {directory} a `gtnas arch train` run?")
    data = config.get("data")
    if not isinstance(data, dict):
        data = {}
    dataset_name = config.get("dataset")
    info: dict[str, Any] = {"dataset": dataset_name} if isinstance(dataset_name, str) else {}
    if not {"image_shape", "num_classes"} <= data.keys() and isinstance(dataset_name, str):
        try:
            spec = resolve(dataset_name)
        except GtnasError:
            spec = None  # e.g. a user folder that has moved
        if spec is not None and spec.image_shape is not None:
            data = {
                "image_shape": list(spec.image_shape),
                "num_classes": spec.num_classes,
                "class_names": list(spec.class_names),
                **({"mean": list(spec.mean), "std": list(spec.std)} if spec.mean else {}),
                **data,
            }
    if not {"image_shape", "num_classes"} <= data.keys():
        raise GtnasError(
            f"{where} records neither the image shape nor a registered data set "
            f"(dataset {dataset_name!r}); cannot tell what network to build"
        )
    info.update({k: data[k] for k in ("mean", "std", "class_names") if k in data})
    return (
        _image_shape(data["image_shape"], where),
        _positive_int(data["num_classes"], "num_classes", where),
        config["blueprint"],
        info,
    )


def _image_shape(value: Any, where: Path) -> tuple[int, int, int]:
    if (
        not isinstance(value, list | tuple)
        or len(value) != 3
        or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in value)
    ):
        raise GtnasError(f"{where}: image_shape must be [C, H, W] positive integers, got {value!r}")
    return (value[0], value[1], value[2])


def _positive_int(value: Any, key: str, where: Path) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise GtnasError(f"{where}: {key} must be a positive integer, got {value!r}")
    return value


def _read_json(path: Path, directory: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise GtnasError(
            f"{directory} is not a saved gtnas network: {path.name} is missing (expected an "
            "export folder of `gtnas arch export` or a run folder of `gtnas arch train`)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise GtnasError(f"{path} cannot be read ({exc})") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise GtnasError(f"{path} is not valid JSON ({exc.msg}, line {exc.lineno})") from None
    if not isinstance(value, dict):
        raise GtnasError(f"{path} must hold a JSON object")
    return value


# --- weights ----------------------------------------------------------------------------------


def _mismatch(expected: dict[str, torch.Tensor], found: dict[str, torch.Tensor]) -> str:
    """'' when ``found`` has exactly the names and shapes of ``expected``, else one line saying
    what is missing, unexpected and of the wrong shape."""
    missing = [name for name in expected if name not in found]
    unexpected = [name for name in found if name not in expected]
    shapes = [
        f"{name} {tuple(found[name].shape)} should be {tuple(expected[name].shape)}"
        for name in expected
        if name in found and found[name].shape != expected[name].shape
    ]
    parts = [
        f"{label} {_listing(names)}"
        for label, names in (("missing", missing), ("unexpected", unexpected), ("shape", shapes))
        if names
    ]
    return " / ".join(parts)


def _listing(names: list[str]) -> str:
    shown = ", ".join(names[:_SHOW])
    return shown + (f" and {len(names) - _SHOW} more" if len(names) > _SHOW else "")


def _metadata(blob: bytes) -> dict[str, str]:
    """The ``__metadata__`` of a safetensors blob (8-byte little-endian header length, then
    the JSON header)."""
    try:
        length = int.from_bytes(blob[:8], "little")
        header = json.loads(blob[8 : 8 + length])
        metadata = header.get("__metadata__") or {}
    except (ValueError, AttributeError):
        return {}
    return metadata if isinstance(metadata, dict) else {}


def _version() -> str:
    return __version__
