"""Numba kernels of the direct 3x3 convolution (``nogil``; ``nn.direct`` validates, pads and
splits the rows over the threads).

The input comes padded by the dilation d, ``xp : (N, C, H + 2d, W + 2d)``, so that output pixel
(y, x) reads ``xp[n, c, y + i * d, x + j * d]`` for the taps (i, j) of the 3x3 kernel with no test
for the border. Each kernel's innermost loop runs along an image row and touches the nine taps of
one input channel at once: for the forward pass ``out[x] += sum_k w_k * row_k[x + offset_k]``,
nine loads and one store per nine multiply-adds, which LLVM vectorises along x. (An im2col
column matrix would first be written, nine times the input, then read back by the product.)

As in ``_im2col_kernels``, the loops index flat arrays from unsigned offsets: no wrap-around test
for negative indices, no view per row. Every array argument must be C-contiguous (``ravel`` of
another array is a copy, and writes into it would be lost): the wrapper makes them so.
"""
from __future__ import annotations

import numpy as np

from .._numba import njit


@njit
def direct_forward(xp, w, b, out, d, r0, r1):
    """out[n, :, y] for the rows r = n * H + y in [r0, r1).

    xp : (N, C, H + 2d, W + 2d), w : (F, C, 3, 3), b : (F,), out : (N, F, H, W)."""
    N, C, Hp, Wp = xp.shape
    F = w.shape[0]
    H, W = out.shape[2], out.shape[3]
    src, dst, wf = xp.ravel(), out.ravel(), w.ravel()
    d1, d2, n_x = np.uint64(d), np.uint64(2 * d), np.uint64(W)
    for r in range(r0, r1):
        n, y = r // H, r % H
        for f in range(F):
            o = np.uint64(((n * F + f) * H + y) * W)
            bias = b[f]
            for x in range(n_x):
                dst[o + x] = bias
            for c in range(C):
                s0 = np.uint64(((n * C + c) * Hp + y) * Wp)  # the rows of the taps i = 0, 1, 2
                s1 = s0 + np.uint64(d * Wp)
                s2 = s1 + np.uint64(d * Wp)
                k = (f * C + c) * 9
                w0, w1, w2 = wf[k], wf[k + 1], wf[k + 2]
                w3, w4, w5 = wf[k + 3], wf[k + 4], wf[k + 5]
                w6, w7, w8 = wf[k + 6], wf[k + 7], wf[k + 8]
                for x in range(n_x):
                    dst[o + x] += (w0 * src[s0 + x] + w1 * src[s0 + x + d1] + w2 * src[s0 + x + d2]
                                   + w3 * src[s1 + x] + w4 * src[s1 + x + d1] + w5 * src[s1 + x + d2]
                                   + w6 * src[s2 + x] + w7 * src[s2 + x + d1] + w8 * src[s2 + x + d2])


# The sums along a row may be reordered (vectorised): the same up to rounding, except where
# partial sums overflow (+-3e38 alternating in float32 can give NaN where the sum in order is 0;
# BLAS, in the im2col pair, does the same). NaN and inf inputs still propagate.
@njit(fastmath={"reassoc", "contract"})
def direct_weight_grad(xp, dout, dw, d, r0, r1):
    """dw[f, c] (overwritten) for the pairs r = f * C + c in [r0, r1): the nine sums over
    (n, y, x) of ``dout[n, f, y, x] * xp[n, c, y + i * d, x + j * d]``.

    xp : (N, C, H + 2d, W + 2d), dout : (N, F, H, W), dw : (F, C, 3, 3). The sums run in the
    array's dtype, one running sum per tap and row, added to the total row by row."""
    N, C, Hp, Wp = xp.shape
    F, H, W = dout.shape[1], dout.shape[2], dout.shape[3]
    src, g, out = xp.ravel(), dout.ravel(), dw.ravel()
    d1, d2, n_x = np.uint64(d), np.uint64(2 * d), np.uint64(W)
    zero = np.zeros(1, dw.dtype)[0]
    for r in range(r0, r1):
        f, c = r // C, r % C
        t0 = t1 = t2 = t3 = t4 = t5 = t6 = t7 = t8 = zero
        for n in range(N):
            for y in range(H):
                o = np.uint64(((n * F + f) * H + y) * W)
                s0 = np.uint64(((n * C + c) * Hp + y) * Wp)
                s1 = s0 + np.uint64(d * Wp)
                s2 = s1 + np.uint64(d * Wp)
                a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = a8 = zero
                for x in range(n_x):
                    gx = g[o + x]
                    a0 += gx * src[s0 + x]
                    a1 += gx * src[s0 + x + d1]
                    a2 += gx * src[s0 + x + d2]
                    a3 += gx * src[s1 + x]
                    a4 += gx * src[s1 + x + d1]
                    a5 += gx * src[s1 + x + d2]
                    a6 += gx * src[s2 + x]
                    a7 += gx * src[s2 + x + d1]
                    a8 += gx * src[s2 + x + d2]
                t0 += a0
                t1 += a1
                t2 += a2
                t3 += a3
                t4 += a4
                t5 += a5
                t6 += a6
                t7 += a7
                t8 += a8
        k = r * 9
        out[k], out[k + 1], out[k + 2] = t0, t1, t2
        out[k + 3], out[k + 4], out[k + 5] = t3, t4, t5
        out[k + 6], out[k + 7], out[k + 8] = t6, t7, t8
