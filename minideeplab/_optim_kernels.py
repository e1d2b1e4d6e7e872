"""Numba kernels of the optimizers' updates (``nogil``; :mod:`minideeplab.optim` validates and
splits the flat arrays over the threads).

Each kernel does, element by element and in the same order, the float operations of the NumPy
expressions in ``optim.SGD.step`` and ``optim.Adam.step`` (which stay as the readable twins,
and run for CuPy arrays), then flushes the subnormal results as ``flush_subnormals`` does: one
pass over the arrays instead of six to nine, with no temporaries. The scalars come in the
arrays' dtype, as NumPy casts a Python float before it meets a float32 array, and nothing is
compiled with ``fastmath`` (no fused multiply-add), so the results are the same bits as the
twins'.
"""
from __future__ import annotations

import numpy as np

from ._numba import njit


@njit
def sgd_range(w, g, v, decay, wd, momentum, step, tiny, i0, i1):
    """Caffe's SGD update on the flat range [i0, i1) of ``w`` and its velocity ``v``::

        g' = g + wd * w   (only if ``decay``: the twin tests the Python float, not its cast)
        v  = momentum * v + step * g'      (step = lr * lr_mult)
        w  = w - v

    then |w|, |v| < tiny set to 0 (NaN and infinities kept)."""
    zero = tiny - tiny
    for i in range(i0, i1):
        gi = g[i]
        if decay:
            gi = gi + wd * w[i]
        vi = v[i] * momentum + step * gi
        wi = w[i] - vi
        v[i] = zero if abs(vi) < tiny else vi
        w[i] = zero if abs(wi) < tiny else wi


@njit
def adam_range(w, g, m, v, decay, wd, b1, one_minus_b1, b2, one_minus_b2, step, c2, eps, tiny, i0, i1):
    """Adam's update on the flat range [i0, i1) (``step`` = lr * lr_mult / (1 - b1^t),
    ``c2`` = 1 - b2^t)::

        g' = g + wd * w   (only if ``decay``)
        m  = b1 * m + (1 - b1) * g'
        v  = b2 * v + (1 - b2) * (g' * g')
        w  = w - step * m / (sqrt(v / c2) + eps)

    then |w|, |m|, |v| < tiny set to 0."""
    zero = tiny - tiny
    for i in range(i0, i1):
        gi = g[i]
        if decay:
            gi = gi + wd * w[i]
        mi = m[i] * b1 + one_minus_b1 * gi
        vi = v[i] * b2 + one_minus_b2 * (gi * gi)
        wi = w[i] - step * mi / (np.sqrt(vi / c2) + eps)
        m[i] = zero if abs(mi) < tiny else mi
        v[i] = zero if abs(vi) < tiny else vi
        w[i] = zero if abs(wi) < tiny else wi
