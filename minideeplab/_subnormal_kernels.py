"""Numba kernel of :func:`minideeplab.subnormal.flush_subnormals` (``nogil``; the wrapper validates
and splits the flat array over the threads)."""
from __future__ import annotations

from ._numba import njit


@njit
def flush_range(a, tiny, i0, i1):
    """a[i] = 0 where |a[i]| < tiny, on the flat range [i0, i1) (NaN and infinities kept).
    ``tiny`` has the dtype of ``a``, so the select stays in that dtype."""
    a = a[i0:i1]
    zero = tiny - tiny
    for i in range(i1 - i0):  # from 0, one select and one store each
        v = a[i]
        a[i] = zero if abs(v) < tiny else v
