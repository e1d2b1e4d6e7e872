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

from .._numba import njit


@njit
def maxpool_forward(x, out, arg, kh, kw, sh, sw, ph, pw, r0, r1):
    """out[r], arg[r] for the planes r in [r0, r1). x : (R, H, W); out, arg : (R, H', W')."""
    _, H, W = x.shape
    _, Ho, Wo = out.shape
    for r in range(r0, r1):
        for oy in range(Ho):
            y0 = oy * sh - ph
            i0, i1 = max(0, -y0), min(kh, H - y0)
            for ox in range(Wo):
                x0 = ox * sw - pw
                j0, j1 = max(0, -x0), min(kw, W - x0)
                best = x[r, y0 + i0, x0 + j0]
                win = i0 * kw + j0
                for i in range(i0, i1):
                    for j in range(j0, j1):
                        v = x[r, y0 + i, x0 + j]
                        if v > best or (v != v and best == best):
                            best = v
                            win = i * kw + j
                out[r, oy, ox] = best
                arg[r, oy, ox] = win


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
