"""How many cores this process may use: what threads and workers are shared out of.

Kept free of torch, as the command line imports it when it starts (``gtnas --help`` stays
fast)."""

from __future__ import annotations

import os


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
