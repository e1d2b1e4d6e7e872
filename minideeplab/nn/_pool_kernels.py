"""Numba kernels of max pooling (``nogil``; ``nn.pool`` validates and splits the planes over
the threads).

The input is viewed as planes ``(N * C, H, W)``. Output pixel (oy, ox) reads the window that
starts at (oy * sh - ph, ox * sw - pw); the parts of it outside the image are the padding,
which never wins (where the readable twin pads with -inf, a window of -inf values can lose
its gradient to the padding; here it goes to the window's first pixel inside). ``arg`` keeps
the winner as its index in the window, ``i * kw + j`` (one byte per output for 3x3 windows):
the first maximum in row-major order, or the first NaN, as ``numpy.argmax`` picks.

A window with no pixel inside (Caffe keeps the last one where the padding is 0 and the stride
exceeds the kernel: 5 -> 3 with kernel 1, stride 3) gives -inf and index 0, as the twin's
-inf padding does, and its gradient goes nowhere.

Both kernels are separable, as a max is: for each output row, first the maximum down each
column of the kh rows it reads (one contiguous pass per row, which LLVM vectorises), then the
maximum of each kw-wide window along that row, whose strided reads now cover H' rows, not H.
"""
from __future__ import annotations

import numpy as np

from .._numba import njit


@njit
def _first_nan_or_larger(v, best):
    """v replaces the running maximum: larger, or the first NaN. Bitwise, not ``or``/``and``: no
    branch, so the loop down the columns vectorises."""
    return (v > best) | ((v != v) & (best == best))


@njit
def _inside(size, n_out, stride, pad):
    """How many windows along an axis hold a pixel of the image: those that start before its
    end (windows start at o * stride - pad > -kernel, so none lies wholly before it)."""
    return min(n_out, (size - 1 + pad) // stride + 1)


@njit
def _wins(v, vi, best, bi):
    """Along a row: the column maximum v, found in window row vi, beats the running winner
    (best, found in row bi, in an earlier column) in row-major order: larger; equal and in
    an earlier row; or a NaN where the winner is a number or a NaN of a later row. 1 or 0, in
    integer arithmetic: no branch (after a ReLU, ties of zeros are common, and branches on
    them mispredict; ``benchmarks/bench_pool.py``)."""
    earlier = np.int64(vi < bi)
    return (np.int64(v > best) | (np.int64(v == best) & earlier)
            | (np.int64(v != v) & (np.int64(best == best) | earlier)))


@njit
def maxpool_forward(x, out, arg, kh, kw, sh, sw, ph, pw, r0, r1):
    """out[r], arg[r] for the planes r in [r0, r1). x : (R, H, W); out, arg : (R, H', W')."""
    _, H, W = x.shape
    _, Ho, Wo = out.shape
    colmax = np.empty(W, x.dtype)  # per output row: the maximum down each column,
    colarg = np.empty(W, np.int32)  # and the window row i that holds it
    rows, cols = _inside(H, Ho, sh, ph), _inside(W, Wo, sw, pw)
    for r in range(r0, r1):
        for oy in range(Ho):
            o, a = out[r, oy], arg[r, oy]
            if oy >= rows:  # the window's rows all lie below the image
                for ox in range(Wo):
                    o[ox], a[ox] = -np.inf, 0
                continue
            y0 = oy * sh - ph
            i0, i1 = max(0, -y0), min(kh, H - y0)
            top = x[r, y0 + i0]
            for t in range(W):
                colmax[t], colarg[t] = top[t], i0
            for i in range(i0 + 1, i1):
                row, row_i = x[r, y0 + i], np.int32(i)  # colarg's own type,
                for t in range(W):
                    v, best = row[t], colmax[t]
                    better = _first_nan_or_larger(v, best)
                    colarg[t] = row_i if better else colarg[t]  # and colarg first: the loop vectorises
                    colmax[t] = v if better else best
            for ox in range(cols, Wo):  # right of the image
                o[ox], a[ox] = -np.inf, 0
            for ox in range(cols):
                x0 = ox * sw - pw
                j0, j1 = max(0, -x0), min(kw, W - x0)
                t = x0 + j0  # the winning column so far, moved by arithmetic, not a select
                for j in range(j0 + 1, j1):
                    u = x0 + j
                    t += _wins(colmax[u], colarg[u], colmax[t], colarg[t]) * (u - t)
                o[ox], a[ox] = colmax[t], colarg[t] * kw + (t - x0)


@njit
def maxpool_values(x, out, kh, kw, sh, sw, ph, pw, r0, r1):
    """out[r] alone (no winners: inference) for the planes r in [r0, r1). The same passes as
    :func:`maxpool_forward` without the rows of the running maxima, and a NaN replaces a NaN:
    the same values as compared by ``==`` (NaN where the window holds one), but where a window's
    maximum comes in several bit patterns (+0.0 and -0.0, NaNs of other signs or payloads) it
    may return another of them."""
    _, H, W = x.shape
    _, Ho, Wo = out.shape
    colmax = np.empty(W, x.dtype)
    rows, cols = _inside(H, Ho, sh, ph), _inside(W, Wo, sw, pw)
    for r in range(r0, r1):
        for oy in range(Ho):
            o = out[r, oy]
            if oy >= rows:
                for ox in range(Wo):
                    o[ox] = -np.inf
                continue
            y0 = oy * sh - ph
            i0, i1 = max(0, -y0), min(kh, H - y0)
            top = x[r, y0 + i0]
            for t in range(W):
                colmax[t] = top[t]
            for i in range(i0 + 1, i1):
                row = x[r, y0 + i]
                for t in range(W):
                    v, best = row[t], colmax[t]
                    colmax[t] = v if (v > best or v != v) else best  # any NaN: no first to keep
            for ox in range(cols, Wo):
                o[ox] = -np.inf
            for ox in range(cols):
                x0 = ox * sw - pw
                j0, j1 = max(0, -x0), min(kw, W - x0)
                best = colmax[x0 + j0]
                for j in range(j0 + 1, j1):
                    v = colmax[x0 + j]
                    best = v if (v > best or v != v) else best
                o[ox] = best


@njit
def maxpool_backward(dout, arg, dx, kw, sh, sw, ph, pw, r0, r1):
    """dx[r] (overwritten) for the planes r in [r0, r1): each dout goes to its window's winner
    (nowhere for a window with no pixel inside)."""
    _, H, W = dx.shape
    _, Ho, Wo = dout.shape
    for r in range(r0, r1):
        for y in range(H):
            for x in range(W):
                dx[r, y, x] = 0.0
        for oy in range(Ho):
            for ox in range(Wo):
                win = arg[r, oy, ox]
                y, x = oy * sh - ph + win // kw, ox * sw - pw + win % kw
                if y < H and x < W:  # a winner is never above or left of the image
                    dx[r, y, x] += dout[r, oy, ox]
