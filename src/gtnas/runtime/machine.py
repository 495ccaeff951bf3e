"""What CPU this is, for the descriptions stored beside recorded seconds.

The model name alone can hide a fourfold difference: two machines both called "AMD EPYC" here
ran the same proxy evaluations 4x apart, one with AVX-512 and one with AVX2 only. So a
description also carries the vector instructions PyTorch's CPU kernels use
(``torch.backends.cpu.get_cpu_capability()``: "AVX512", "AVX2", "DEFAULT", ...).
"""

from __future__ import annotations

import platform
from pathlib import Path

import torch


def cpu_name() -> str:
    """The first ``model name`` of /proc/cpuinfo, else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_capability() -> str:
    """The instruction set PyTorch's CPU kernels were dispatched to on this machine."""
    try:
        return str(torch.backends.cpu.get_cpu_capability())
    except (AttributeError, RuntimeError):  # an older torch
        return "unknown"
