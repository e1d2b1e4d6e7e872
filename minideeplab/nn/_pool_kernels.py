"""Numba kernels of max pooling (``nogil``; ``nn.pool`` validates and splits the planes over
the threads).

The input is viewed as planes ``(N * C, H, W)``. Output pixel (oy, ox) reads the window that
starts at (oy * sh - ph, ox * sw - pw); the parts of it outside the image are the padding,
which never wins (where the readable twin pads with -inf, a window of -inf values can lose
its gradient to the padding; here it goes to the window's first pixel). ``arg`` keeps the winner as its index in the window,
``i * kw + j`` (one byte per output for 3x3 windows): the first maximum in row-major order,
or the first NaN, as ``numpy.argmax`` picks.
"""
from __future__ import annotations

import numpy as np

from .._numba import njit


@njit
def _better(v, best):
    """v replaces the running maximum: larger, or the first NaN."""
    return v > best or (v != v and best == best)


@njit
def maxpool_forward(x, out, arg, kh, kw, sh, sw, ph, pw, r0, r1):
    """out[r], arg[r] for the planes r in [r0, r1). x : (R, H, W); out, arg : (R, H', W').

    Separable, as a max is: first the maximum of each row's kw-wide windows (``rowmax``, and the
    column ``rowarg`` that won), then the maximum of kh of those down each column. Taking the first
    winner in both passes gives the first winner in row-major order, as in one pass.
    """
    _, H, W = x.shape
    _, Ho, Wo = out.shape
    rowmax = np.empty((H, Wo), x.dtype)
    rowarg = np.empty((H, Wo), arg.dtype)
    inner_lo = (pw + sw - 1) // sw  # windows [inner_lo, inner_hi) lie inside the row
    inner_hi = max(inner_lo, min(Wo, (W - kw + pw) // sw + 1))
    for r in range(r0, r1):
        for y in range(H):
            src, m, a = x[r, y], rowmax[y], rowarg[y]
            for ox in range(Wo):  # the windows that overlap the padding
                if inner_lo <= ox < inner_hi:
                    continue
                x0 = ox * sw - pw
                j0, j1 = max(0, -x0), min(kw, W - x0)
                best, win = src[x0 + j0], j0
                for j in range(j0 + 1, j1):
                    if _better(src[x0 + j], best):
                        best, win = src[x0 + j], j
                m[ox], a[ox] = best, win
            inside, m, a = src[inner_lo * sw - pw:], m[inner_lo:], a[inner_lo:]
            for t in range(inner_hi - inner_lo):  # from 0, without branches: vectorised
                best, win = inside[t * sw], 0
                for j in range(1, kw):
                    v = inside[t * sw + j]
                    better = _better(v, best)
                    best = v if better else best
                    win = j if better else win
                m[t], a[t] = best, win
        for oy in range(Ho):
            y0 = oy * sh - ph
            i0, i1 = max(0, -y0), min(kh, H - y0)
            o, a = out[r, oy], arg[r, oy]
            first, first_arg = rowmax[y0 + i0], rowarg[y0 + i0]
            for t in range(Wo):
                o[t], a[t] = first[t], i0 * kw + first_arg[t]
            for i in range(i0 + 1, i1):
                row, row_arg = rowmax[y0 + i], rowarg[y0 + i]
                for t in range(Wo):
                    better = _better(row[t], o[t])
                    o[t] = row[t] if better else o[t]
                    a[t] = i * kw + row_arg[t] if better else a[t]


@njit
def maxpool_backward(dout, arg, dx, kw, sh, sw, ph, pw, r0, r1):
    """dx[r] (overwritten) for the planes r in [r0, r1): each dout goes to its window's winner."""
    _, H, W = dx.shape
    _, Ho, Wo = dout.shape
    for r in range(r0, r1):
        for y in range(H):
            for x in range(W):
                dx[r, y, x] = 0.0
        for oy in range(Ho):
            for ox in range(Wo):
                win = arg[r, oy, ox]
                dx[r, oy * sh - ph + win // kw, ox * sw - pw + win % kw] += dout[r, oy, ox]
