"""3x3 convolution (stride 1, padding = dilation) computed directly, for layers with few channels.

With a handful of channels, im2col's column matrix is nine times the input and the products
that read it have that handful of rows: the time goes into memory traffic, not arithmetic
(``benchmarks/bench_conv.py``: 20-45 GFLOP/s forward + backward on DeepLab's conv1 and conv2
at widths 1/8 and 1/4, against a 160-310 GFLOP/s machine peak). Here each output row is
summed straight from the nine input rows it reads (:mod:`._direct_kernels`), without columns:

    out[n, f, u, v] = b[f] + sum_c sum_ij w[f, c, i, j] * x[n, c, u + (i - 1) d, v + (j - 1) d]

The input gradient is the same sum over the zero-padded ``dout`` with the kernel flipped and its
two channel axes swapped (a stride-1 "same" convolution is its own transpose up to that flip),
and the weight gradient is nine dot products per (f, c) pair. ``conv2d_direct_forward/backward``
is the twin of ``conv.conv2d_im2col_forward/backward`` for these layers: the same result up to
rounding. A ``Conv2d`` layer runs this pair where :func:`applies` says so (see
:meth:`minideeplab.nn.layers.Conv2d.algorithm_for`).
"""
from __future__ import annotations

import numpy as np

from ._fast import in_rows
from .winograd import fits

MAX_CHANNELS = 8
"""Layers with at most this many input and output channels run the direct pair on ``"auto"``
(width 1/8's conv1_1 and conv1_2); 0 turns it off. Measured forward + backward, batch 8, 2
threads (``benchmarks/RESULTS.md``, 2026-12-03): direct against im2col 3.6 / 6.0 ms on width
1/8's conv1_1 (3 -> 8 channels, 129 x 129) and 11.4 / 18.0 ms on its conv1_2 (8 -> 8); slower
from 16 channels on (8 -> 16 on 65 x 65: 6.5 / 4.4 ms; 16 -> 16 on 129 x 129: 43.1 / 38.1 ms).
A whole width-1/8 training iteration (batch 8, crop 129), runs taking turns: 0.185-0.190 s
with 8 against 0.204-0.215 s with 0 (2026-12-05). The two pairs agree to float32 rounding (outputs and
gradients to 1e-6), so a width-1/8 training follows another float32 trajectory with one than
with the other; the lessons that train such nets were checked on both (``benchmarks/RESULTS.md``)."""


def applies(x, w, stride, padding, dilation):
    """True when a ``Conv2d`` layer on ``"auto"`` runs this pair: :func:`.winograd.fits` (3x3,
    stride 1, padding = dilation), ``x`` a float32 or float64 NumPy array ``(N, C, H, W)``,
    ``w`` ``(F, C, 3, 3)`` of the same dtype, and at most ``MAX_CHANNELS`` input and output
    channels."""
    return (isinstance(x, np.ndarray) and x.ndim == 4 and np.ndim(w) == 4 and fits(w.shape[2:], stride, padding,
                                                                                  dilation)
            and x.dtype in (np.float32, np.float64) and getattr(w, "dtype", None) == x.dtype
            and x.shape[1] == w.shape[1] and max(w.shape[0], w.shape[1]) <= MAX_CHANNELS)


def _padded(a, d):
    """(N, C, H + 2d, W + 2d) copy of ``a`` with a zero border of width d."""
    N, C, H, W = a.shape
    out = np.zeros((N, C, H + 2 * d, W + 2 * d), a.dtype)
    out[:, :, d:d + H, d:d + W] = a
    return out


def _conv(xp, w, b, d, H, W):
    """The forward kernel over the rows of every image. xp : (N, C, H + 2d, W + 2d), w : (F, C, 3, 3),
    b : (F,), all C-contiguous and of one dtype; returns (N, F, H, W)."""
    from ._direct_kernels import direct_forward

    N, F = xp.shape[0], w.shape[0]
    out = np.empty((N, F, H, W), xp.dtype)
    in_rows(lambda lo, hi: direct_forward(xp, w, b, out, d, lo, hi), N * H, out.size)
    return out


def conv2d_direct_forward(x, w, b=None, dilation=1):
    """3x3 convolution, stride 1, padding and dilation ``dilation``, summed directly.

    Parameters
    ----------
    x : (N, C, H, W) float32 or float64 NumPy array
    w : (F, C, 3, 3) array (cast to ``x``'s dtype)
    b : (F,) array or None
    dilation : int >= 1 (the padding is the same)

    Returns
    -------
    out : (N, F, H, W) array (the size is kept)
    cache : what :func:`conv2d_direct_backward` needs (the padded input, not a copy of ``x``)
    """
    if np.ndim(x) != 4 or np.ndim(w) != 4 or tuple(np.shape(w)[1:]) != (np.shape(x)[1], 3, 3):
        raise ValueError(f"x must be (N, C, H, W) and w (F, C, 3, 3) with the same C; got x {np.shape(x)}, "
                         f"w {np.shape(w)}")
    if isinstance(dilation, bool) or not isinstance(dilation, (int, np.integer)) or dilation < 1:
        raise ValueError(f"dilation must be a positive int, got {dilation!r}")
    if not isinstance(x, np.ndarray) or x.dtype not in (np.float32, np.float64):
        raise TypeError(f"x must be a float32 or float64 NumPy array, got {type(x).__name__} "
                        f"of dtype {getattr(x, 'dtype', None)}")
    d = int(dilation)
    N, C, H, W = x.shape
    F = np.shape(w)[0]
    if b is not None and tuple(np.shape(b)) != (F,):
        raise ValueError(f"b must have shape ({F},), got {tuple(np.shape(b))}")
    w = np.ascontiguousarray(w, dtype=x.dtype)
    bias = np.zeros(F, x.dtype) if b is None else np.ascontiguousarray(b, dtype=x.dtype)
    xp = _padded(x, d)
    out = _conv(xp, w, bias, d, H, W)
    return out, (xp, w, d, out.shape, b is not None)


def conv2d_direct_backward(dout, cache, input_grad=True):
    """Gradients of :func:`conv2d_direct_forward`.

    Parameters
    ----------
    dout : (N, F, H, W) upstream gradient, a NumPy array
    cache : from :func:`conv2d_direct_forward`
    input_grad : False skips ``dx``

    Returns
    -------
    dx : (N, C, H, W) or None, dw : (F, C, 3, 3), db : (F,) or None
    """
    from ._direct_kernels import direct_weight_grad

    xp, w, d, out_shape, has_bias = cache
    if not isinstance(dout, np.ndarray) or tuple(dout.shape) != out_shape:
        raise ValueError(f"dout must be a NumPy array of shape {out_shape}, got {type(dout).__name__} "
                         f"of shape {getattr(dout, 'shape', None)}")
    N, F, H, W = dout.shape
    C = w.shape[1]
    dout = np.ascontiguousarray(dout, dtype=xp.dtype)
    db = dout.sum(axis=(0, 2, 3)) if has_bias else None
    dw = np.empty_like(w)
    in_rows(lambda lo, hi: direct_weight_grad(xp, dout, dw, d, lo, hi), F * C, dout.size * 9)
    if not input_grad:
        return None, dw, db
    w_t = np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))  # (C, F, 3, 3), flipped
    dx = _conv(_padded(dout, d), w_t, np.zeros(C, xp.dtype), d, H, W)
    return dx, dw, db
