"""Device choice: CPU by default, CUDA when present and asked for (``auto``)."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator

import torch

import gtnas.runtime.kernels  # noqa: F401  (torch's math set-up on one thread, before any run)
from gtnas.errors import ConfigError

_DEVICE = re.compile(r"^(cpu|cuda(:\d+)?|mps)$")


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` -> cuda if available else cpu; ``cpu``; ``cuda`` / ``cuda:N``; ``mps``."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not _DEVICE.match(name):
        raise ConfigError(f"unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(
                f"device {name!r} asked for but CUDA is not available; use --device cpu"
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(f"device {name!r} does not exist ({torch.cuda.device_count()} GPUs)")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("device 'mps' asked for but MPS is not available; use --device cpu")
    return device


@contextlib.contextmanager
def deterministic(enabled: bool) -> Iterator[None]:
    """Same-seed runs give the same numbers on the GPU too, at some cost in speed: cuDNN's
    deterministic kernels without autotuning, torch's deterministic algorithms (an operation
    that has none is an error, not a silent difference) and the cuBLAS workspace setting
    they need. CPU runs are deterministic without it (same threads, same machine). The
    previous settings come back after the block."""
    if not enabled:
        yield
        return
    saved = (
        torch.backends.cudnn.deterministic,
        torch.backends.cudnn.benchmark,
        torch.are_deterministic_algorithms_enabled(),
        os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
    )
    # read by cuBLAS when a handle is made: before the run's first matrix product on the GPU
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    torch.use_deterministic_algorithms(True)
    try:
        yield
    except RuntimeError as exc:
        if "deterministic" in str(exc):
            raise ConfigError(
                f"an operation has no deterministic implementation on this device "
                f"({str(exc).splitlines()[0]}); run without deterministic=true"
            ) from None
        raise
    finally:
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved[:2]
        torch.use_deterministic_algorithms(saved[2])
        if saved[3] is None:
            os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
        else:
            os.environ["CUBLAS_WORKSPACE_CONFIG"] = saved[3]
