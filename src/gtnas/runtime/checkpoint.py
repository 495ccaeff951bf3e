"""Checkpoints that survive a crash at any moment and resume a run bit-for-bit.

A checkpoint is a pair of files in ``run_dir/checkpoints``: ``step-NNNNNNNN.safetensors``
(every tensor, as CPU copies) and ``step-NNNNNNNN.json`` (everything else, plus the SHA-256 of
the tensors file). ``latest.json`` names the newest complete pair and is rewritten only after
both files are on disk, so it is the commit point: a crash before it leaves the previous
checkpoint in charge, a crash after it leaves the new one.

Loading reads safetensors and JSON only; nothing in a checkpoint can run code (no pickle, no
``torch.load``). Optimizer, LR-scheduler and module ``state_dict()``s go into ``state`` as they
are: :func:`flatten_state` moves their tensors into the tensors file and encodes the rest
(tuples, integer dict keys, non-finite floats) so that ``load_state_dict`` gets back exactly what
was saved.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from gtnas.errors import GtnasError
from gtnas.runtime.files import atomic_write_bytes

FORMAT_VERSION = 1
STATE_TENSOR_PREFIX = "state"
_LATEST = "latest.json"
_PAIR_NAME = re.compile(r"^step-(\d{8})(-b)?\.(safetensors|json)$")

# Markers that tag JSON objects standing for values JSON cannot hold.
_TENSOR, _TUPLE, _DICT, _FLOAT = "__tensor__", "__tuple__", "__dict__", "__float__"
_MARKERS = frozenset({_TENSOR, _TUPLE, _DICT, _FLOAT})


CHECKPOINTS = "checkpoints"  # the folder of a run folder that holds its checkpoints


class CheckpointError(GtnasError):
    """A checkpoint file is missing, corrupt or inconsistent."""


@dataclass(frozen=True)
class Checkpoint:
    step: int
    tensors: dict[str, torch.Tensor]  # the ``tensors`` given to save_checkpoint, on CPU
    state: dict[str, Any]  # the ``state`` given to save_checkpoint, its tensors restored
    path: Path  # the step-NNNNNNNN.json file this came from


# --- encoding: state dicts <-> (named tensors, plain JSON) ---------------------------------


def flatten_state(obj: Any, prefix: str) -> tuple[dict[str, torch.Tensor], Any]:
    """Split ``obj`` (e.g. ``optimizer.state_dict()``) into named tensors and plain JSON.

    Tensors are named ``{prefix}/{path}`` (``optimizer/state/0/exp_avg``) and replaced by a
    reference. Tuples (Adam's ``betas``), dicts with non-string keys (the optimizer's per-param
    ``state``) and nan/inf are tagged so :func:`unflatten_state` rebuilds them exactly; NumPy
    scalars become Python numbers. Anything else (e.g. a lambda) raises ``TypeError`` naming
    where it is, rather than being silently dropped.
    """
    tensors: dict[str, torch.Tensor] = {}

    def encode(value: Any, path: tuple[str, ...]) -> Any:
        if isinstance(value, torch.Tensor):
            name = "/".join((prefix, *path))
            while name in tensors:  # keys containing "/" could make two paths read the same
                name += "_"
            tensors[name] = value
            return {_TENSOR: name}
        if value is None or isinstance(value, bool | int | str):
            return value
        if isinstance(value, float):
            return float(value) if math.isfinite(value) else {_FLOAT: repr(float(value))}
        if isinstance(value, np.generic):
            return encode(value.item(), path)
        if isinstance(value, tuple):
            return {_TUPLE: [encode(v, (*path, str(i))) for i, v in enumerate(value)]}
        if isinstance(value, list):
            return [encode(v, (*path, str(i))) for i, v in enumerate(value)]
        if isinstance(value, dict):
            if all(isinstance(k, str) for k in value) and not _MARKERS.intersection(value):
                return {k: encode(v, (*path, k)) for k, v in value.items()}
            return {
                _DICT: [[encode(k, path), encode(v, (*path, str(k)))] for k, v in value.items()]
            }
        where = "/".join((prefix, *path))
        raise TypeError(
            f"cannot checkpoint a {type(value).__name__} at {where}; "
            "use tensors, numbers, strings, lists, tuples and dicts"
        )

    return tensors, encode(obj, ())


def unflatten_state(tensors: dict[str, torch.Tensor], encoded: Any) -> Any:
    """Inverse of :func:`flatten_state`. Raises ``KeyError`` for a missing tensor and
    ``ValueError`` for a malformed tag."""

    def decode(value: Any) -> Any:
        if isinstance(value, list):
            return [decode(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((tag, inner),) = value.items()
            if tag == _TENSOR:
                if inner not in tensors:
                    raise KeyError(f"tensor {inner!r} is referenced but missing")
                return tensors[inner]
            if tag == _TUPLE:
                return tuple(decode(v) for v in inner)
            if tag == _DICT:
                return {_hashable(decode(k)): decode(v) for k, v in inner}
            if tag == _FLOAT:
                if inner not in ("nan", "inf", "-inf"):
                    raise ValueError(f"bad non-finite float {inner!r}")
                return float(inner)
        return {k: decode(v) for k, v in value.items()}

    return decode(encoded)


def _hashable(key: Any) -> Any:
    if isinstance(key, list | dict):
        raise ValueError(f"bad dict key {key!r}")
    return key


# --- saving ---------------------------------------------------------------------------------


def save_checkpoint(
    run_dir: Path,
    step: int,
    *,
    tensors: dict[str, torch.Tensor],
    state: dict[str, Any],
    keep: int = 2,
) -> Path:
    """Write checkpoint ``step`` and make it the latest; return its JSON file.

    ``tensors`` are stored under their own names (e.g. a model's ``state_dict()``). ``state`` is
    anything :func:`flatten_state` accepts: iteration, config, RNG states, metrics, and
    optimizer/scheduler ``state_dict()``s (their tensors are stored as ``state/...``). The
    ``keep`` newest pairs up to and including this one stay; older ones, pairs from a later
    step of an abandoned run (we resumed from an earlier one), and temp files a killed writer
    left behind are removed.
    """
    if keep < 1:
        raise ValueError(f"keep must be at least 1, got {keep}")
    if not 0 <= step < 10**8:
        raise ValueError(f"step must be in [0, 1e8), got {step}")
    state_tensors, encoded_state = flatten_state(state, STATE_TENSOR_PREFIX)
    clash = sorted(set(tensors) & set(state_tensors))
    if clash:
        raise ValueError(f"tensor names {clash} clash with tensors found inside state")
    # Copies, so tensors sharing storage (tied weights, views) are fine with safetensors and
    # later in-place updates by the caller cannot race the write.
    blob = save_safetensors(
        {name: _cpu_copy(t) for name, t in {**tensors, **state_tensors}.items()},
        metadata={"format": "gtnas-checkpoint"},
    )

    directory = Path(run_dir) / CHECKPOINTS
    directory.mkdir(parents=True, exist_ok=True)
    # Never overwrite the pair latest.json points at: a crash half-way would leave it naming
    # a new tensors file and an old JSON file. Re-saving that step uses the alternate name.
    previous = _committed_pair(directory)
    stem = f"step-{step:08d}"
    if previous is not None and previous[1] == stem:
        stem += "-b"
    tensors_path, state_path = directory / f"{stem}.safetensors", directory / f"{stem}.json"

    atomic_write_bytes(tensors_path, blob)
    document = {
        "format": FORMAT_VERSION,
        "step": step,
        "tensors_file": tensors_path.name,
        "tensors_sha256": hashlib.sha256(blob).hexdigest(),
        "tensor_names": sorted(tensors),
        "state": encoded_state,
    }
    atomic_write_bytes(state_path, _dumps(document))
    _fsync_dir(directory)  # both renames durable before the commit point
    latest = {"step": step, "tensors_file": tensors_path.name, "state_file": state_path.name}
    atomic_write_bytes(directory / _LATEST, _dumps(latest))
    _fsync_dir(directory)
    _prune(directory, step, stem, previous, keep)
    return state_path


def _cpu_copy(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.detach().to("cpu", memory_format=torch.contiguous_format, copy=True)


def _dumps(document: dict[str, Any]) -> bytes:
    return json.dumps(document, allow_nan=False).encode()


def _fsync_dir(directory: Path) -> None:
    """Make renames in ``directory`` durable (POSIX; a no-op where directories can't be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _prune(
    directory: Path, step: int, stem: str, previous: tuple[int, str] | None, keep: int
) -> None:
    """Keep this pair and the ``keep - 1`` newest committed ones before it.

    Any other pair is stale: older than that, a second copy of a step, or written after the
    checkpoint this run resumed from by a run that was later killed (a step after the
    previous commit that this run did not commit itself).
    """
    stems: dict[str, int] = {}
    for path in directory.iterdir():
        match = _PAIR_NAME.match(path.name)
        if match:
            stems[path.name.rsplit(".", 1)[0]] = int(match.group(1))
        elif path.name.startswith(".") and path.name.endswith(".tmp"):
            path.unlink(missing_ok=True)  # left by a writer that was killed mid-write
    older = {s: n for s, n in stems.items() if n < step}
    if previous is not None:
        previous_step, previous_stem = previous
        older = {s: n for s, n in older.items() if n < previous_step or s == previous_stem}
    newest_first = sorted(older, key=older.__getitem__, reverse=True)
    kept = {stem}
    for other in newest_first:
        if len(kept) == keep:
            break
        if older[other] not in {stems[k] for k in kept}:  # one pair per step
            kept.add(other)
    for other in set(stems) - kept:
        for suffix in (".safetensors", ".json"):
            (directory / f"{other}{suffix}").unlink(missing_ok=True)


# --- loading --------------------------------------------------------------------------------


def load_checkpoint(run_dir: Path) -> Checkpoint | None:
    """The latest checkpoint of ``run_dir``, or None if it has none yet.

    Raises :class:`CheckpointError` (one line naming the file and the fix) when a file is
    missing, unreadable, or does not match what the checkpoint recorded.
    """
    directory = Path(run_dir) / CHECKPOINTS
    latest_path = directory / _LATEST
    if not latest_path.exists():
        return None  # a first checkpoint that never got committed counts as none
    latest = _read_json(latest_path)
    try:
        step = int(latest["step"])
        state_path = directory / _plain_name(latest["state_file"])
        tensors_path = directory / _plain_name(latest["tensors_file"])
    except (KeyError, TypeError, ValueError) as exc:
        raise _error(latest_path, f"malformed ({exc})") from None

    document = _read_json(state_path)
    if document.get("format") != FORMAT_VERSION:
        raise _error(state_path, f"unknown format {document.get('format')!r}")
    if document.get("step") != step or document.get("tensors_file") != tensors_path.name:
        raise _error(state_path, f"does not match {latest_path.name}")
    try:
        blob = tensors_path.read_bytes()
    except OSError as exc:
        raise _error(tensors_path, f"cannot be read ({exc.strerror or exc})") from None
    if hashlib.sha256(blob).hexdigest() != document.get("tensors_sha256"):
        raise _error(tensors_path, "is corrupt (checksum mismatch)")
    try:
        all_tensors = load_safetensors(blob)
    except (SafetensorError, ValueError, RuntimeError) as exc:
        raise _error(tensors_path, f"is not a valid safetensors file ({exc})") from None
    try:
        names = document["tensor_names"]
        tensors = {name: all_tensors[name] for name in names}
        state = unflatten_state(all_tensors, document["state"])
    except (KeyError, TypeError, ValueError) as exc:
        raise _error(state_path, f"is inconsistent ({exc})") from None
    return Checkpoint(step=step, tensors=tensors, state=state, path=state_path)


def _committed_pair(directory: Path) -> tuple[int, str] | None:
    """(step, file stem) of the pair latest.json names, or None if there is no usable one."""
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError, AttributeError):
        latest = json.loads((directory / _LATEST).read_bytes())
        return int(latest["step"]), _plain_name(latest["state_file"]).rsplit(".", 1)[0]
    return None


def _plain_name(name: Any) -> str:
    """A file name from a checkpoint must stay inside the checkpoints folder."""
    if not isinstance(name, str) or not _PAIR_NAME.match(name):
        raise ValueError(f"bad file name {name!r}")
    return name


def _read_json(path: Path) -> dict[str, Any]:
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        raise _error(path, "is missing") from None
    except OSError as exc:
        raise _error(path, f"cannot be read ({exc.strerror or exc})") from None
    try:
        document = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _error(path, f"is not valid JSON ({exc})") from None
    if not isinstance(document, dict):
        raise _error(path, "is not a JSON object")
    return document


def _error(path: Path, problem: str) -> CheckpointError:
    problem = " ".join(problem.split())  # keep the message to one line
    return CheckpointError(
        f"checkpoint file {path} {problem}; delete {path.parent} to start over, "
        "or point --resume at another run"
    )
