"""Subnormal numbers flushed to zero: weights and optimizer state that decay towards zero.

A float32 below 2^-126 (about 1.2e-38) in magnitude is subnormal. CPUs handle such numbers in
microcode, so every multiplication that touches one is tens of times slower, and a matrix
product whose operand holds many of them slows as a whole. Weight decay shrinks the weights
that get no gradient (those of a ReLU that never fires, say) geometrically towards zero, so a
long training run leaves many of them subnormal: the shipped MSRC model holds 63% subnormal
weights in conv4 and conv5, which made its inference 3.7x and its training iteration 2.8x
slower than with those weights at zero, for bit-identical scores (``benchmarks/RESULTS.md``).

A subnormal weight changes no score it feeds: its products are below 1e-37, far under the
rounding of any sum they enter. A CPU's flush-to-zero mode would zero them in the arithmetic;
NumPy cannot set that mode for OpenBLAS's threads, so the arrays themselves are flushed: by
the optimizers after every update, and by ``models.load_model`` for files written before.
"""
from __future__ import annotations

import numpy as np

from ._numba import in_threads
from .backend import get_array_module


def flush_subnormals(a):
    """Set the subnormal entries of the floating-point array ``a`` to zero, in place.

    ``a``: NumPy or CuPy, any shape; NaN and infinities are kept. C-contiguous NumPy float32 and
    float64 arrays go through a Numba kernel on the threads (one pass), others through
    :func:`flush_subnormals_reference`. Returns ``a``.
    """
    xp = get_array_module(a)
    if not hasattr(a, "dtype") or not xp.issubdtype(a.dtype, xp.floating):
        raise TypeError(f"a must be a floating-point array, got {type(a).__name__} "
                        f"of dtype {getattr(a, 'dtype', None)}")
    if xp is np and a.flags.c_contiguous and a.flags.writeable and a.dtype in (np.float32, np.float64):
        from ._subnormal_kernels import flush_range

        flat, tiny = a.reshape(-1), a.dtype.type(np.finfo(a.dtype).tiny)
        in_threads(lambda i0, i1: flush_range(flat, tiny, i0, i1), flat.size)
        return a
    return flush_subnormals_reference(a)


def flush_subnormals_reference(a):
    """The readable twin: ``a[|a| < tiny] = 0`` (tiny: the dtype's smallest normal number)."""
    xp = get_array_module(a)
    a[xp.abs(a) < xp.finfo(a.dtype).tiny] = 0
    return a
