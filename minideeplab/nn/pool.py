"""Max and average pooling with Caffe's rounding.

Caffe (and DeepLab) round the output size up and then drop a last window that
would start in the right/bottom padding::

    H' = ceil((H + 2 * pad - k) / stride) + 1;  if (H' - 1) * stride >= H + pad: H' -= 1

so 321 -> 161 -> 81 -> 41 with kernel 3, stride 2, pad 1. Average pooling divides by
the part of the window inside the padded image ``[-pad, H + pad)``, like Caffe
and PyTorch's ``ceil_mode=True, count_include_pad=True``.

Max pooling has two implementations behind one pair, chosen by the array type: float32 and
float64 NumPy arrays run the Numba kernels of :mod:`._pool_kernels` (one pass, the winner kept as a one-byte index
in its window), CuPy arrays the readable version (:func:`maxpool_windows`: ``im2col`` with -inf
padding, ``argmax`` over the window axis, one-hot routing back). Both keep the same cache, and
the tests hold them to each other and to Caffe's loops.
"""
from __future__ import annotations

import math

import numpy as np

from .._validate import check_dout, float_array, pair
from ..backend import get_array_module
from ._fast import in_rows, takes_kernels
from .conv import col2im, im2col


def pool_output_size(size: int, k: int, stride: int, pad: int) -> int:
    """Output length along one axis with Caffe's ceil rounding."""
    out = int(math.ceil((size + 2 * pad - k) / stride)) + 1
    if pad > 0 and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def _check(x, kernel_size, stride, padding):
    float_array(x, "x", 4)
    k = pair(kernel_size, "kernel_size", 1)
    s = pair(stride if stride is not None else k, "stride", 1)
    p = pair(padding, "padding", 0)
    if p[0] >= k[0] or p[1] >= k[1]:
        raise ValueError(f"padding {p} must be smaller than kernel_size {k}")
    H, W = x.shape[2:]
    if H + 2 * p[0] < k[0] or W + 2 * p[1] < k[1]:
        raise ValueError(f"x of spatial size {H}x{W} is smaller than kernel_size {k}")
    Ho, Wo = pool_output_size(H, k[0], s[0], p[0]), pool_output_size(W, k[1], s[1], p[1])
    return k, s, p, Ho, Wo


def _windows(x, k, s, p, Ho, Wo, pad_value):
    """(N, C, kh, kw, H', W') windows; pads the bottom/right further for ceil rounding."""
    xp = get_array_module(x)
    H, W = x.shape[2:]
    extra_h = max(0, (Ho - 1) * s[0] + k[0] - (H + 2 * p[0]))
    extra_w = max(0, (Wo - 1) * s[1] + k[1] - (W + 2 * p[1]))
    xpad = xp.pad(
        x,
        ((0, 0), (0, 0), (p[0], p[0] + extra_h), (p[1], p[1] + extra_w)),
        constant_values=pad_value,
    )
    return im2col(xpad, k[0], k[1], s, (0, 0), (1, 1))


def maxpool2d_forward(x, kernel_size, stride=None, padding=0):
    """Max pooling, Caffe rounding.

    Parameters
    ----------
    x : (N, C, H, W) floating array
    kernel_size, stride, padding : int or (int, int); stride defaults to kernel_size

    Returns
    -------
    out : (N, C, H', W'), cache
    """
    k, s, p, Ho, Wo = _check(x, kernel_size, stride, padding)
    pool = _maxpool_numba if takes_kernels(x) else maxpool_windows
    out, arg = pool(x, k, s, p, Ho, Wo)
    return out, (x.shape, arg, k, s, p)


def maxpool2d_values(x, kernel_size, stride=None, padding=0):
    """The output of :func:`maxpool2d_forward` without its cache, for inference (what the
    :class:`~minideeplab.nn.MaxPool2d` layer runs under ``no_grad``): NumPy float32/float64
    arrays take a Numba kernel that keeps no winner (``benchmarks/bench_pool.py``: 1.7-1.9x faster
    than the forward); others the readable windows.

    Parameters
    ----------
    x : (N, C, H, W) floating array
    kernel_size, stride, padding : int or (int, int); stride defaults to kernel_size

    Returns
    -------
    out : (N, C, H', W'), equal (``==``, NaN where a window holds one) to
        :func:`maxpool2d_forward`'s; where a window's maximum comes in two bit patterns (+0.0
        and -0.0) the kernel may return the other one
    """
    k, s, p, Ho, Wo = _check(x, kernel_size, stride, padding)
    if not takes_kernels(x):
        return maxpool_windows(x, k, s, p, Ho, Wo)[0]
    from ._pool_kernels import maxpool_values

    N, C, H, W = x.shape
    planes = np.ascontiguousarray(x).reshape(N * C, H, W)
    out = np.empty((N * C, Ho, Wo), x.dtype)
    in_rows(lambda r0, r1: maxpool_values(planes, out, *k, *s, *p, r0, r1), N * C, out.size * k[0] * k[1])
    return out.reshape(N, C, Ho, Wo)


def maxpool2d_backward(dout, cache):
    """Route each output gradient to the input pixel that won the max.

    Returns
    -------
    dx : (N, C, H, W)
    """
    shape, arg, k, s, p = cache
    check_dout(dout, arg.shape)
    unpool = _maxunpool_numba if takes_kernels(dout) and isinstance(arg, np.ndarray) else maxunpool_windows
    return unpool(dout, arg, shape, k, s, p)


def maxpool_windows(x, k, s, p, Ho, Wo):
    """The readable max pooling: ``im2col`` windows, ``argmax`` over each (first maximum wins,
    as in Caffe). Returns ``out`` and ``arg``, the winner's index ``i * kw + j`` in its window,
    both (N, C, H', W')."""
    xp = get_array_module(x)
    col = _windows(x, k, s, p, Ho, Wo, -xp.inf)
    N, C = x.shape[:2]
    col = col.reshape(N, C, k[0] * k[1], Ho, Wo)
    arg = col.argmax(axis=2)
    out = xp.take_along_axis(col, arg[:, :, None], axis=2)[:, :, 0]
    return out, arg


def maxunpool_windows(dout, arg, shape, k, s, p):
    """The readable backward of :func:`maxpool_windows`: one-hot windows, then ``col2im``."""
    xp = get_array_module(dout)
    N, C, H, W = shape
    Ho, Wo = arg.shape[2:]
    taps = xp.arange(k[0] * k[1]).reshape(1, 1, -1, 1, 1)
    dcol = (taps == arg[:, :, None]) * dout[:, :, None]  # one-hot routing (no put_along_axis: CuPy)
    dcol = dcol.reshape(N, C, k[0], k[1], Ho, Wo)
    return _col2im_pool(dcol, H, W, k, s, p)


def _maxpool_numba(x, k, s, p, Ho, Wo):
    from ._pool_kernels import maxpool_forward

    N, C, H, W = x.shape
    planes = np.ascontiguousarray(x).reshape(N * C, H, W)
    out = np.empty((N * C, Ho, Wo), x.dtype)
    arg = np.empty((N * C, Ho, Wo), np.int8 if k[0] * k[1] <= 127 else np.int32)
    in_rows(lambda r0, r1: maxpool_forward(planes, out, arg, *k, *s, *p, r0, r1), N * C, out.size * k[0] * k[1])
    return out.reshape(N, C, Ho, Wo), arg.reshape(N, C, Ho, Wo)


def _maxunpool_numba(dout, arg, shape, k, s, p):
    from ._pool_kernels import maxpool_backward

    N, C, H, W = shape
    Ho, Wo = arg.shape[2:]
    dplanes = np.ascontiguousarray(dout).reshape(N * C, Ho, Wo)
    args = np.ascontiguousarray(arg).reshape(N * C, Ho, Wo)
    dx = np.empty((N * C, H, W), dout.dtype)
    in_rows(lambda r0, r1: maxpool_backward(dplanes, args, dx, k[1], *s, *p, r0, r1), N * C, dx.size)
    return dx.reshape(N, C, H, W)


def _col2im_pool(dcol, H, W, k, s, p):
    Ho, Wo = dcol.shape[-2:]
    Hp = max(H + 2 * p[0], (Ho - 1) * s[0] + k[0])
    Wp = max(W + 2 * p[1], (Wo - 1) * s[1] + k[1])
    dx = col2im(dcol, Hp, Wp, s, (0, 0), (1, 1))
    return dx[:, :, p[0] : p[0] + H, p[1] : p[1] + W]


def _avg_divisor(xp, size, k, s, p, out, dtype):
    start = xp.arange(out) * s - p
    end = xp.minimum(start + k, size + p)
    return (end - start).astype(dtype)


def avgpool2d_forward(x, kernel_size, stride=None, padding=0):
    """Average pooling, Caffe rounding and divisor.

    Parameters
    ----------
    x : (N, C, H, W) floating array

    Returns
    -------
    out : (N, C, H', W'), cache
    """
    k, s, p, Ho, Wo = _check(x, kernel_size, stride, padding)
    xp = get_array_module(x)
    col = _windows(x, k, s, p, Ho, Wo, 0.0)
    div = _avg_divisor(xp, x.shape[2], k[0], s[0], p[0], Ho, x.dtype)[:, None] * _avg_divisor(
        xp, x.shape[3], k[1], s[1], p[1], Wo, x.dtype
    )[None, :]
    out = col.sum(axis=(2, 3)) / div
    return out, (x.shape, div, k, s, p)


def avgpool2d_backward(dout, cache):
    """Spread each output gradient evenly over its window.

    Returns
    -------
    dx : (N, C, H, W)
    """
    xp = get_array_module(dout)
    (N, C, H, W), div, k, s, p = cache
    check_dout(dout, (N, C) + tuple(div.shape))
    g = dout / div
    dcol = xp.broadcast_to(g[:, :, None, None], (N, C, k[0], k[1]) + g.shape[2:])
    return _col2im_pool(dcol, H, W, k, s, p)
