"""Numba kernels of ``im2col`` / ``col2im`` (``nogil``; ``nn.conv`` validates and splits the
(image, channel) planes over the threads).

The image is viewed as planes ``(R, H, W)``, R = N * C, and the columns as
``(R, kh, kw, H', W')``: ``col[r, i, j, oy, ox] = x[r, oy * sh - ph + i * dh, ox * sw - pw + j * dw]``,
``pad_value`` outside the image. Neither kernel builds the padded image: each row of a tap
copies (or adds) the span of ``ox`` that lands inside the image, found by :func:`_inside`.

The rows are short (17 pixels at DeepLab's conv4), so the loops work on the flat arrays with
unsigned offsets: Numba then emits no wrap-around test for negative indices, LLVM vectorises
the row loops, and no array view is made per row. (Indexing the 5-d array with ``ox + offset``
made both kernels 2-4x slower.)
"""
from __future__ import annotations

import numpy as np

from .._numba import njit


@njit
def _inside(offset, stride, size, n_out):
    """The range [lo, hi) of output positions o with 0 <= o * stride + offset < size, within
    [0, n_out] (empty, lo = hi, for a tap that only ever reads the padding)."""
    lo = 0 if offset >= 0 else min(n_out, (-offset + stride - 1) // stride)
    last = size - 1 - offset
    hi = 0 if last < 0 else min(n_out, last // stride + 1)
    return lo, max(lo, hi)


@njit
def _fill(flat, start, n, value):
    for t in range(np.uint64(n)):
        flat[start + t] = value


@njit
def im2col_planes(x, col, sh, sw, ph, pw, dh, dw, pad_value, r0, r1):
    """col[r] for the planes r in [r0, r1). x : (R, H, W); col : (R, kh, kw, H', W')."""
    _, H, W = x.shape
    _, kh, kw, Ho, Wo = col.shape
    src, dst = x.ravel(), col.ravel()
    step = np.uint64(sw)
    for r in range(r0, r1):
        for i in range(kh):
            ylo, yhi = _inside(i * dh - ph, sh, H, Ho)
            for j in range(kw):
                xoff = j * dw - pw
                xlo, xhi = _inside(xoff, sw, W, Wo)
                for oy in range(Ho):
                    out = np.uint64((((r * kh + i) * kw + j) * Ho + oy) * Wo)
                    if oy < ylo or oy >= yhi:
                        _fill(dst, out, Wo, pad_value)
                        continue
                    _fill(dst, out, xlo, pad_value)
                    if xhi == xlo:  # this tap only reads the padding
                        _fill(dst, out, Wo, pad_value)
                        continue
                    o = out + np.uint64(xlo)
                    s = np.uint64((r * H + oy * sh + i * dh - ph) * W + xlo * sw + xoff)
                    if sw == 1:
                        for t in range(np.uint64(xhi - xlo)):
                            dst[o + t] = src[s + t]
                    else:
                        for t in range(np.uint64(xhi - xlo)):
                            dst[o + t] = src[s + t * step]
                    _fill(dst, out + np.uint64(xhi), Wo - xhi, pad_value)


@njit
def col2im_planes(col, x, sh, sw, ph, pw, dh, dw, r0, r1):
    """x[r] (overwritten) = the sum of the columns that read each pixel, for r in [r0, r1)."""
    _, H, W = x.shape
    _, kh, kw, Ho, Wo = col.shape
    src, dst = col.ravel(), x.ravel()
    step = np.uint64(sw)
    for r in range(r0, r1):
        _fill(dst, np.uint64(r * H * W), H * W, 0.0)
        for i in range(kh):
            ylo, yhi = _inside(i * dh - ph, sh, H, Ho)
            for j in range(kw):
                xoff = j * dw - pw
                xlo, xhi = _inside(xoff, sw, W, Wo)
                if xhi == xlo:  # this tap only reads the padding
                    continue
                for oy in range(ylo, yhi):
                    s = np.uint64((((r * kh + i) * kw + j) * Ho + oy) * Wo + xlo)
                    o = np.uint64((r * H + oy * sh + i * dh - ph) * W + xlo * sw + xoff)
                    if sw == 1:
                        for t in range(np.uint64(xhi - xlo)):
                            dst[o + t] += src[s + t]
                    else:
                        for t in range(np.uint64(xhi - xlo)):
                            dst[o + t * step] += src[s + t]
