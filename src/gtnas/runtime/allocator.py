"""Keep freed memory in the process instead of handing it back to the OS (glibc ``malloc``).

Why: a meta-gradient builds and frees gigabytes of tensors of a few to 30 MB each (the graph of
32 inner steps with their double backward). glibc serves such sizes with ``mmap`` or returns
them to the OS by trimming the heap once they are freed, so the next allocation of the same
size starts on fresh pages and pays a page fault per 4 KiB page when it is first written. In
the virtual machines gtnas runs on a fault costs several microseconds: a paper-size ``pixels``
meta-training iteration took 575,000-765,000 minor faults and 10.7-14.7 s, and 4-34 faults
and 9.3-9.8 s once freed memory was kept (6 iterations each, one session; the GTN's did not
fault either way). Whether glibc faults depends on what the process allocated before, as its
mmap threshold adapts to the chunks it frees (``benchmarks.overhead`` happens not to), so
the settings are made explicit here. The PyTorch CPU performance guide makes the same point and
recommends a caching ``malloc`` (jemalloc, tcmalloc); two ``mallopt`` settings give glibc's
allocator that behaviour without a library to install:

- ``M_MMAP_THRESHOLD`` 32 MiB (glibc's upper limit): allocations below it come from the heap,
  whose freed chunks are reused, instead of from ``mmap``, which unmaps them on free;
- ``M_TRIM_THRESHOLD`` 1 GiB: up to that much free memory at the top of the heap stays
  mapped instead of being trimmed.

The cost is memory the process keeps after a peak (at most the peak it already reached).
Set ``GTNAS_KEEP_FREED_MEMORY=0`` to leave ``malloc`` as it is; a user's own
``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_`` environment settings are respected.
Elsewhere than glibc (macOS, musl) nothing is changed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform

# mallopt parameter numbers from glibc's <malloc.h>
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 1024 * 1024
TRIM_THRESHOLD = 1024 * 1024 * 1024

_applied: bool | None = None


def keep_freed_memory() -> bool:
    """Apply the two ``mallopt`` settings once per process; returns whether they are in force
    (False where opted out, overridden by the environment, or not on glibc)."""
    global _applied
    if _applied is None:
        _applied = _apply()
    return _applied


def _apply() -> bool:
    if os.environ.get("GTNAS_KEEP_FREED_MEMORY", "1") == "0":
        return False
    if "MALLOC_MMAP_THRESHOLD_" in os.environ or "MALLOC_TRIM_THRESHOLD_" in os.environ:
        return False
    if platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # mallopt returns 1 on success; setting either disables glibc's dynamic mmap threshold.
    return bool(
        mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
