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


@njit
def bias_relu(out, b, mask, r0, r1):
    """In place, for the planes r in [r0, r1): v = out[r] + b[r % C], out[r] = max(v, 0),
    mask[r] = v > 0. out, mask : (R, P), R = N * C; b : (C,)."""
    C = b.shape[0]
    for r in range(r0, r1):
        o, m, bias = out[r], mask[r], b[r % C]
        for i in range(o.shape[0]):
            v = o[i] + bias
            keep = v > 0
            m[i] = keep
            o[i] = v if keep else 0.0


@njit
def bias_relu_values(out, b, r0, r1):
    """:func:`bias_relu` without the mask (inference)."""
    C = b.shape[0]
    for r in range(r0, r1):
        o, bias = out[r], b[r % C]
        for i in range(o.shape[0]):
            v = o[i] + bias
            o[i] = v if v > 0 else 0.0
