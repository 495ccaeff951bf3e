"""A description of the machine a benchmark ran on, stored with every result."""

from __future__ import annotations

import contextlib
import os
import platform
from typing import Any

import torch

from gtnas.runtime.machine import cpu_capability, cpu_name


def describe_machine() -> dict[str, Any]:
    memory_gb = None
    with contextlib.suppress(ValueError, OSError):
        memory_gb = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    return {
        "cpu": cpu_name(),
        "cpu_capability": cpu_capability(),  # AVX512 / AVX2: 4x apart on one "AMD EPYC" name
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "memory_gb": memory_gb,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
    }
