"""Subnormal numbers flushed to zero: weights and optimizer state that decay towards zero.

A float32 below 2^-126 (about 1.2e-38) in magnitude is subnormal. CPUs handle such numbers in
microcode, so every multiplication that touches one is tens of times slower, and a matrix
product whose operand holds many of them slows as a whole. Weight decay shrinks the weights
that get no gradient (those of a ReLU that never fires, say) geometrically towards zero, so a
long training run leaves many of them subnormal: the shipped MSRC model holds 642,894 of its
1,287,141 weights subnormal (56-66% of each layer from conv4_2 to conv5_3), which made its
inference 3.8x and its training iteration 2.6x slower than with those weights at zero, for
bit-identical scores (``benchmarks/RESULTS.md``).

A subnormal weight w times an activation x adds |w x| < 1.2e-38 |x| to a sum: with activations
of any size a network produces, far under that sum's float32 rounding (the shipped model's
scores are the same bits either way). So the arrays themselves are flushed: by the optimizers
after every update, and by ``load_state_dict`` for files written before. That holds in any
process; the CPU's flush-to-zero mode (:mod:`.denormal`, which the command line turns on) also
zeroes the subnormal *products* of normal numbers, which no stored array shows. Only float32
and float64 arrays are flushed: float16's smallest normal number (6.1e-5) is a value a weight
may well hold.
"""
from __future__ import annotations

import numpy as np

from ._numba import in_threads
from ._validate import is_array
from .backend import get_array_module


def flush_subnormals(a):
    """Set the subnormal entries of the float32 or float64 array ``a`` to zero, in place.

    ``a``: a writeable NumPy or CuPy array, any shape (0-d included); NaN and infinities are
    kept; other floating dtypes (float16) are left as they are. C-contiguous NumPy arrays go
    through a Numba kernel on the threads (one pass), others through
    :func:`flush_subnormals_reference`.
    Returns ``a``.
    """
    xp = get_array_module(a)
    if not is_array(a) or isinstance(a, np.generic) or not xp.issubdtype(a.dtype, xp.floating):
        raise TypeError(f"a must be a floating-point array (not a scalar), got {type(a).__name__} "
                        f"of dtype {getattr(a, 'dtype', None)}")
    if xp is np and not a.flags.writeable:
        raise ValueError("a must be writeable: it is flushed in place")
    if a.dtype not in (xp.float32, xp.float64):
        return a
    if xp is np and a.flags.c_contiguous:
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
