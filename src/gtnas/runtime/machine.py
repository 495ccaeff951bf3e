"""What CPU this is, for the descriptions stored beside recorded seconds.

The model name alone can hide a fourfold difference: two machines both called "AMD EPYC" here
ran the same proxy evaluations 4x apart, one with AVX-512 and one with AVX2 only. So a
description also carries the vector instructions PyTorch's CPU kernels use
(``torch.backends.cpu.get_cpu_capability()``: "AVX512", "AVX2", "DEFAULT", ...).
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

import torch


def usable_cores() -> int:
    """The cores this process may run on: its CPU affinity where the system has one (``taskset``,
    a container's cpuset, a test worker pinned to its core), else ``os.cpu_count()``. Threads
    and workers are shared out of these; counting the machine's cores instead would start
    more threads than the process can run, and each parallel region then waits on threads
    that are not scheduled."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # no affinity on this platform (macOS, Windows)
        return max(1, os.cpu_count() or 1)


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
