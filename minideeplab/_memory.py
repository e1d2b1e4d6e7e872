"""Keep freed memory in the process, so that the next large array costs no page faults.

A training iteration allocates and frees the same few hundred arrays every time, many of
them megabytes large. glibc's ``malloc`` hands allocations above its mmap threshold (128 KiB
to 32 MiB, adjusted as it goes) to the kernel with ``mmap`` and gives them back with
``munmap`` when freed, and trims the top of its heap above 128 KiB; the next iteration then
pays a page fault (and the zeroing of a 4 KiB page) for every page it touches again. At
DeepLab-LargeFOV width 1/8, batch 8, crop 129 that was 23-35% of an iteration
(``benchmarks/RESULTS.md``). :func:`keep_freed_memory` sets both thresholds high, so that
freed memory stays in the heap and is reused. The process's peak memory is the same; its
resident memory no longer shrinks after a peak (up to ``trim`` bytes are kept).

``import minideeplab`` calls it once; set ``MINIDEEPLAB_KEEP_FREED_MEMORY=0`` in the
environment to leave ``malloc`` as it is. Elsewhere than glibc (macOS, Windows, musl) it
does nothing.
"""
from __future__ import annotations

import ctypes
import os
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3

MMAP_THRESHOLD = 1 << 30
"""Allocations up to 1 GiB come from the heap (the largest array of a width-1.0 iteration,
conv1_2's 321x321 columns, is 237 MiB)."""
TRIM_THRESHOLD = (1 << 31) - 1
"""Free memory at the top of the heap is returned to the system only beyond 2 GiB."""


def keep_freed_memory(mmap_threshold: int = MMAP_THRESHOLD, trim_threshold: int = TRIM_THRESHOLD) -> bool:
    """Tell glibc's ``malloc`` to keep freed memory for reuse (see the module docstring).

    Returns True when the settings were applied, False where there is no glibc ``mallopt``.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
        if not hasattr(libc, "gnu_get_libc_version"):  # musl has no mallopt tuning
            return False
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, int(mmap_threshold))) and bool(mallopt(M_TRIM_THRESHOLD, int(trim_threshold)))


def apply_default() -> bool:
    """What ``import minideeplab`` does: :func:`keep_freed_memory` unless
    ``MINIDEEPLAB_KEEP_FREED_MEMORY=0``."""
    if os.environ.get("MINIDEEPLAB_KEEP_FREED_MEMORY", "1").strip() in ("0", "false", "no", "off"):
        return False
    return keep_freed_memory()
