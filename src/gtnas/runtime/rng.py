"""Capture and restore every random number generator a run draws from.

A resumed run only matches an uninterrupted one if each generator continues from exactly where
it stopped: Python's ``random``, NumPy's global generator, torch's global CPU (and CUDA)
generators, and the explicit ``torch.Generator``s our own code draws from (see
``gtnas.seeding``). Byte states go into the checkpoint's tensors; the rest is plain JSON.
"""

from __future__ import annotations

import random
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from gtnas.errors import GtnasError

PREFIX = "rng"


def capture_rng_state(
    generators: Mapping[str, torch.Generator] | None = None,
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Return ``(tensors, json_state)`` for every global generator and each named one.

    Tensor names start with ``rng/``; pass both halves to :func:`restore_rng_state`.
    """
    generators = generators or {}
    tensors = {f"{PREFIX}/torch": torch.get_rng_state()}
    cuda_states = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []
    for index, cuda_state in enumerate(cuda_states):
        tensors[f"{PREFIX}/cuda/{index}"] = cuda_state
    for name, generator in generators.items():
        tensors[f"{PREFIX}/generator/{name}"] = generator.get_state()

    version, internal, gauss_next = random.getstate()
    # Legacy tuple: ("MT19937", uint32[624] keys, position, has_gauss, cached_gaussian).
    bit_generator, keys, position, has_gauss, cached_gaussian = np.random.get_state()
    json_state = {
        "python": [version, list(internal), gauss_next],
        "numpy": [bit_generator, keys.tolist(), position, has_gauss, cached_gaussian],
        "cuda_devices": len(cuda_states),
        "generators": sorted(generators),
    }
    return tensors, json_state


def restore_rng_state(
    tensors: Mapping[str, torch.Tensor],
    json_state: Mapping[str, Any],
    generators: Mapping[str, torch.Generator] | None = None,
) -> None:
    """Put every generator back to the state :func:`capture_rng_state` recorded.

    Each of ``generators`` must have been captured under the same name. CUDA states are
    restored where the devices exist; on a machine without them a warning says the resumed
    run will not match the original exactly.
    """
    generators = generators or {}
    missing = sorted(set(generators) - set(json_state["generators"]))
    if missing:
        raise GtnasError(
            f"the checkpoint has no RNG state for generator(s) {', '.join(missing)}; "
            "it was written by a different version of this run, start it over"
        )
    version, internal, gauss_next = json_state["python"]
    random.setstate((version, tuple(internal), gauss_next))
    bit_generator, keys, position, has_gauss, cached_gaussian = json_state["numpy"]
    np.random.set_state(
        (bit_generator, np.asarray(keys, dtype=np.uint32), position, has_gauss, cached_gaussian)
    )
    torch.set_rng_state(_byte_state(tensors[f"{PREFIX}/torch"]))

    saved_cuda = int(json_state.get("cuda_devices", 0))
    present_cuda = torch.cuda.device_count() if torch.cuda.is_available() else 0
    for index in range(min(saved_cuda, present_cuda)):
        torch.cuda.set_rng_state(_byte_state(tensors[f"{PREFIX}/cuda/{index}"]), index)
    if saved_cuda > present_cuda:
        warnings.warn(
            f"checkpoint has RNG states for {saved_cuda} CUDA device(s) but {present_cuda} "
            "are present; the resumed run will not match the original exactly",
            stacklevel=2,
        )
    for name, generator in generators.items():
        generator.set_state(_byte_state(tensors[f"{PREFIX}/generator/{name}"]))


def _byte_state(tensor: torch.Tensor) -> torch.Tensor:
    """Generators want a contiguous CPU uint8 tensor, whatever device the caller moved it to."""
    return tensor.detach().to("cpu", torch.uint8).contiguous()
