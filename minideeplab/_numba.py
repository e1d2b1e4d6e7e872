"""Numba settings in one place.

Kernels are compiled with ``cache=True``: the first call in a fresh environment
compiles and writes the cache next to the package (or, where that folder is
read-only, to Numba's user-wide cache, ``~/.cache`` or ``NUMBA_CACHE_DIR``), and later
processes load the machine code from disk. ``NUMBA_DISABLE_JIT=1`` runs every kernel
as plain Python (slow; the tests use it once on small inputs).
"""
from __future__ import annotations

import numba

KERNEL_OPTIONS = dict(cache=True, nogil=True, error_model="numpy")


def njit(*args, parallel=False, **kwargs):
    """``numba.njit`` with the project's options; ``parallel=True`` for ``prange`` kernels."""
    opts = dict(KERNEL_OPTIONS, parallel=parallel, **kwargs)
    if args and callable(args[0]):
        return numba.njit(**opts)(args[0])
    return numba.njit(*args, **opts)


prange = numba.prange


def set_num_threads(n: int) -> None:
    """Threads used by the parallel kernels (default: all cores)."""
    numba.set_num_threads(int(n))


def get_num_threads() -> int:
    return numba.get_num_threads()
