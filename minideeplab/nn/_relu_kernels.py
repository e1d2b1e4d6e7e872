"""Numba kernels of the ReLU (``nogil``; ``nn.functional`` splits the flat arrays over the
threads). One pass each, where NumPy takes two (``x > 0``, then ``where``)."""
from __future__ import annotations

from .._numba import njit


@njit
def relu_forward(x, out, mask, i0, i1):
    """out = max(x, 0), mask = x > 0 on the flat range [i0, i1) (NaN: out 0, mask False)."""
    x, out, mask = x[i0:i1], out[i0:i1], mask[i0:i1]
    for i in range(i1 - i0):  # from 0: no wrap-around test, so LLVM vectorises
        v = x[i]
        keep = v > 0
        mask[i] = keep
        out[i] = v if keep else 0.0


@njit
def relu_values(x, out, i0, i1):
    """out = max(x, 0) alone on the flat range [i0, i1) (NaN: 0), for inference."""
    x, out = x[i0:i1], out[i0:i1]
    for i in range(i1 - i0):
        v = x[i]
        out[i] = v if v > 0 else 0.0


@njit
def relu_backward(dout, mask, dx, i0, i1):
    """dx = dout where mask, else 0, on the flat range [i0, i1)."""
    dout, mask, dx = dout[i0:i1], mask[i0:i1], dx[i0:i1]
    for i in range(i1 - i0):
        dx[i] = dout[i] if mask[i] else 0.0
