"""Device choice: CPU by default, CUDA when present and asked for (``auto``)."""

from __future__ import annotations

import torch

from gtnas.errors import ConfigError


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` -> cuda if available else cpu; ``cpu``; ``cuda`` / ``cuda:N`` (checked)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} asked for but CUDA is not available; use --device cpu")
    return device
