"""Numba settings in one place.

Kernels are compiled with ``cache=True``: the first call in a fresh environment
compiles and writes the cache next to the package (or, where that folder is
read-only, to Numba's user-wide cache, ``~/.cache`` or ``NUMBA_CACHE_DIR``), and later
processes load the machine code from disk. ``NUMBA_DISABLE_JIT=1`` runs every kernel
as plain Python (slow; the tests use it once on small inputs).
"""
from __future__ import annotations

import numba
import numpy as np

KERNEL_OPTIONS = dict(cache=True, nogil=True, error_model="numpy")


def njit(*args, **kwargs):
    """``numba.njit`` with the project's options (serial kernels: the threads are ours, below)."""
    opts = dict(KERNEL_OPTIONS, **kwargs)
    if args and callable(args[0]):
        return numba.njit(**opts)(args[0])
    return numba.njit(*args, **opts)


def set_num_threads(n: int) -> None:
    """Threads of :func:`in_threads` and :func:`side_by_side` (default: all cores)."""
    numba.set_num_threads(int(n))


def get_num_threads() -> int:
    return numba.get_num_threads()


_POOL = None


def in_threads(fn, n, min_rows=16384):
    """Run ``fn(a, b)`` on row blocks ``[a, b)`` of ``range(n)`` in the kernel threads.

    For ``nogil`` kernels and NumPy ufuncs, which release the GIL: parallel without a
    ``prange`` kernel (whose compilation is slow). Fewer than ``min_rows`` rows run in
    this thread.
    """
    T = get_num_threads()
    if T < 2 or n < min_rows:
        fn(0, n)
        return
    b = np.linspace(0, n, T + 1).astype(np.int64)
    side_by_side([lambda t=t: fn(int(b[t]), int(b[t + 1])) for t in range(T)])


def side_by_side(tasks):
    """Run the callables (``nogil`` kernels) side by side, the first in this thread and the
    others in the pool's threads; their results, in order."""
    T = get_num_threads()
    if T < 2 or len(tasks) < 2:
        return [t() for t in tasks]
    futures = [_pool(T).submit(t) for t in tasks[1:]]  # the first runs in this thread
    first = tasks[0]()
    return [first] + [f.result() for f in futures]


def _pool(T):
    global _POOL
    if _POOL is None or _POOL._max_workers < T:
        from concurrent.futures import ThreadPoolExecutor

        _POOL = ThreadPoolExecutor(max_workers=T, thread_name_prefix="minideeplab")
    return _POOL


def restart_pool():
    """Let the pool's threads finish and go; the next :func:`side_by_side` starts new ones from
    its calling thread, which copy that thread's floating-point mode (:mod:`minideeplab.denormal`)."""
    global _POOL
    if _POOL is not None:
        _POOL.shutdown(wait=True)
        _POOL = None
