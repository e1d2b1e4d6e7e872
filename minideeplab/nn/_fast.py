"""What the layer ops share to run their Numba kernels: which arrays the kernels take, and how
their rows are split over the threads."""
from __future__ import annotations

import numpy as np


def takes_kernels(a) -> bool:
    """The Numba kernels take float32 and float64 NumPy arrays; CuPy and float16 arrays take the
    readable versions."""
    return isinstance(a, np.ndarray) and a.dtype in (np.float32, np.float64)


def in_rows(fn, rows, work):
    """``fn(lo, hi)`` over row blocks of ``range(rows)`` in the kernel threads, or in this thread
    when the whole job (``work`` elements) is too small to be worth handing out."""
    from .._numba import in_threads  # Numba is imported on first use, not with minideeplab.nn

    in_threads(fn, rows, min_rows=1 if work >= 1 << 16 else rows + 1)
