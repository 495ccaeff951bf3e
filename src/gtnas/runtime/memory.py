"""The process's peak memory, for run records.

Why a helper: ``getrusage``'s ``ru_maxrss`` is the peak resident set of this process only, in
KiB on Linux and in bytes on macOS; a run resumed in a new process would report only its last
sitting, so :func:`gtnas.meta.run.run_meta_training` carries the largest value over sittings
in its checkpoints.
"""

from __future__ import annotations

import sys

import torch

try:
    import resource
except ImportError:  # pragma: no cover - Windows has no getrusage
    resource = None  # type: ignore[assignment]


def peak_memory_mb() -> float:
    """The largest resident set this process has had so far, in MiB (0.0 where unknown)."""
    if resource is None:  # pragma: no cover
        return 0.0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def peak_device_memory_mb(device: torch.device) -> float | None:
    """The most memory torch has held allocated on ``device`` so far, in MiB, where it is a
    GPU (the resident set above does not see GPU memory); None on the CPU."""
    if device.type != "cuda":
        return None
    return torch.cuda.max_memory_allocated(device) / 2**20
