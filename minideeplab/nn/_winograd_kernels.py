"""Numba kernels of the Winograd F(2x2, 3x3) convolution (``nogil``; ``nn.winograd`` validates
and splits the channel rows over the threads).

The convolution is 3x3 with dilation d and padding d ("same" size; d = 1 is the plain 3x3
layer). Its output splits into d x d phases, the pixels (r + d i, s + d j), and within a phase
it is an ordinary 3x3 convolution with padding 1, so each phase is tiled on its own. Tile row R
in [0, d th) is phase R % d, tile row R // d of that phase: it covers output rows
y0 + d u, u in {0, 1}, with y0 = R % d + 2 d (R // d), and reads input rows y0 + d (i - 1),
i in 0..3 (columns alike). Transformed arrays are (16, rows, P), P = N (d th) (d tw) tiles,
index ab = 4 a + b.

    V = B^T t B,   B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]
    y = A^T M A,   A^T = [[1, 1, 1, 0], [0, 1, -1, -1]]
"""
from __future__ import annotations

import numpy as np

from .._numba import njit


@njit
def _origin(R, d):
    """First output row (column) of tile row (column) R."""
    return R % d + 2 * d * (R // d)


@njit
def input_transform(x, V, th, tw, d, r0, r1):
    """V[:, c, p] = B^T t B for the tiles t of channels c in [r0, r1). x : (N, C, H, W)."""
    N, C, H, W = x.shape
    TH, TW = d * th, d * tw
    t = np.empty((4, 4), V.dtype)
    for c in range(r0, r1):
        for n in range(N):
            for R in range(TH):
                y0 = _origin(R, d) - d
                for S in range(TW):
                    x0 = _origin(S, d) - d
                    if y0 >= 0 and x0 >= 0 and y0 + 3 * d < H and x0 + 3 * d < W:
                        for i in range(4):
                            for j in range(4):
                                t[i, j] = x[n, c, y0 + d * i, x0 + d * j]
                    else:
                        for i in range(4):
                            y = y0 + d * i
                            for j in range(4):
                                xx = x0 + d * j
                                t[i, j] = x[n, c, y, xx] if 0 <= y < H and 0 <= xx < W else 0.0
                    p = (n * TH + R) * TW + S
                    for j in range(4):
                        a0, a1 = t[0, j] - t[2, j], t[1, j] + t[2, j]
                        a2, a3 = t[2, j] - t[1, j], t[1, j] - t[3, j]
                        t[0, j], t[1, j], t[2, j], t[3, j] = a0, a1, a2, a3
                    for i in range(4):
                        V[4 * i, c, p] = t[i, 0] - t[i, 2]
                        V[4 * i + 1, c, p] = t[i, 1] + t[i, 2]
                        V[4 * i + 2, c, p] = t[i, 2] - t[i, 1]
                        V[4 * i + 3, c, p] = t[i, 1] - t[i, 3]


@njit
def output_transform(M, out, th, tw, d, r0, r1):
    """out[n, f] = A^T M A tile by tile, for channels f in [r0, r1). out : (N, F, Ho, Wo)."""
    N, F, Ho, Wo = out.shape
    TH, TW = d * th, d * tw
    m = np.empty((4, 4), M.dtype)
    for f in range(r0, r1):
        for n in range(N):
            for R in range(TH):
                y0 = _origin(R, d)
                if y0 >= Ho:
                    continue
                for S in range(TW):
                    x0 = _origin(S, d)
                    if x0 >= Wo:
                        continue
                    p = (n * TH + R) * TW + S
                    for k in range(16):
                        m[k // 4, k % 4] = M[k, f, p]
                    for i in range(2):
                        y = y0 + d * i
                        if y >= Ho:
                            break
                        if i == 0:
                            r = (m[0, 0] + m[1, 0] + m[2, 0], m[0, 1] + m[1, 1] + m[2, 1],
                                 m[0, 2] + m[1, 2] + m[2, 2], m[0, 3] + m[1, 3] + m[2, 3])
                        else:
                            r = (m[1, 0] - m[2, 0] - m[3, 0], m[1, 1] - m[2, 1] - m[3, 1],
                                 m[1, 2] - m[2, 2] - m[3, 2], m[1, 3] - m[2, 3] - m[3, 3])
                        out[n, f, y, x0] = r[0] + r[1] + r[2]
                        if x0 + d < Wo:
                            out[n, f, y, x0 + d] = r[1] - r[2] - r[3]


@njit
def output_grad_transform(dout, dM, th, tw, d, r0, r1):
    """dM[:, f, p] = A g A^T, g the tile of dout (zero beyond the image): the adjoint of
    :func:`output_transform`, for channels f in [r0, r1)."""
    N, F, Ho, Wo = dout.shape
    TH, TW = d * th, d * tw
    for f in range(r0, r1):
        for n in range(N):
            for R in range(TH):
                y = _origin(R, d)
                for S in range(TW):
                    x = _origin(S, d)
                    p = (n * TH + R) * TW + S
                    g00 = dout[n, f, y, x] if y < Ho and x < Wo else 0.0
                    g01 = dout[n, f, y, x + d] if y < Ho and x + d < Wo else 0.0
                    g10 = dout[n, f, y + d, x] if y + d < Ho and x < Wo else 0.0
                    g11 = dout[n, f, y + d, x + d] if y + d < Ho and x + d < Wo else 0.0
                    # rows of A g: (g0, g0 + g1, g0 - g1, -g1) for each column
                    for a in range(4):
                        if a == 0:
                            c0, c1 = g00, g01
                        elif a == 1:
                            c0, c1 = g00 + g10, g01 + g11
                        elif a == 2:
                            c0, c1 = g00 - g10, g01 - g11
                        else:
                            c0, c1 = -g10, -g11
                        dM[4 * a, f, p] = c0
                        dM[4 * a + 1, f, p] = c0 + c1
                        dM[4 * a + 2, f, p] = c0 - c1
                        dM[4 * a + 3, f, p] = -c1


@njit
def input_grad_transform(dV, dx, th, tw, d, r0, r1):
    """dx[n, c] = the sum over tiles of B dV B^T at each tile's window (the adjoint of
    :func:`input_transform`; padding dropped), for channels c in [r0, r1). dx is overwritten."""
    N, C, H, W = dx.shape
    TH, TW = d * th, d * tw
    t = np.empty((4, 4), dV.dtype)
    for c in range(r0, r1):
        for n in range(N):
            for y in range(H):
                for x in range(W):
                    dx[n, c, y, x] = 0.0
            for R in range(TH):
                y0 = _origin(R, d) - d
                for S in range(TW):
                    x0 = _origin(S, d) - d
                    p = (n * TH + R) * TW + S
                    for a in range(4):  # t = dV B^T (columns), then B t (rows)
                        v0, v1, v2, v3 = dV[4 * a, c, p], dV[4 * a + 1, c, p], dV[4 * a + 2, c, p], dV[4 * a + 3, c, p]
                        t[a, 0] = v0
                        t[a, 1] = v1 - v2 + v3
                        t[a, 2] = -v0 + v1 + v2
                        t[a, 3] = -v3
                    for j in range(4):
                        xx = x0 + d * j
                        if xx < 0 or xx >= W:
                            continue
                        col = (t[0, j], t[1, j] - t[2, j] + t[3, j], -t[0, j] + t[1, j] + t[2, j], -t[3, j])
                        for i in range(4):
                            y = y0 + d * i
                            if 0 <= y < H:
                                dx[n, c, y, xx] += col[i]


@njit
def kernel_transform(w, U, r0, r1):
    """U[4 a + b, f, c] = (G w[f, c] G^T)[a, b] for f in [r0, r1); G = [[1, 0, 0], [1/2, 1/2, 1/2],
    [1/2, -1/2, 1/2], [0, 0, 1]]. w : (F, C, 3, 3), U : (16, F, C)."""
    C = w.shape[1]
    t = np.empty((4, 3), U.dtype)
    for f in range(r0, r1):
        for c in range(C):
            for j in range(3):  # t = G w, column by column
                w0, w1, w2 = w[f, c, 0, j], w[f, c, 1, j], w[f, c, 2, j]
                t[0, j] = w0
                t[1, j] = 0.5 * (w0 + w1 + w2)
                t[2, j] = 0.5 * (w0 - w1 + w2)
                t[3, j] = w2
            for a in range(4):  # U = t G^T, row by row
                t0, t1, t2 = t[a, 0], t[a, 1], t[a, 2]
                U[4 * a, f, c] = t0
                U[4 * a + 1, f, c] = 0.5 * (t0 + t1 + t2)
                U[4 * a + 2, f, c] = 0.5 * (t0 - t1 + t2)
                U[4 * a + 3, f, c] = t2


@njit
def kernel_grad(dU, dw, r0, r1):
    """dw[f, c] = G^T dU[:, f, c] G (dU read as 4 x 4), the adjoint of :func:`kernel_transform`,
    for f in [r0, r1). dU : (16, F, C), dw : (F, C, 3, 3)."""
    C = dw.shape[1]
    t = np.empty((3, 4), dw.dtype)
    for f in range(r0, r1):
        for c in range(C):
            for b in range(4):  # t = G^T dU, column by column
                u0, u1, u2, u3 = dU[b, f, c], dU[4 + b, f, c], dU[8 + b, f, c], dU[12 + b, f, c]
                t[0, b] = u0 + 0.5 * (u1 + u2)
                t[1, b] = 0.5 * (u1 - u2)
                t[2, b] = 0.5 * (u1 + u2) + u3
            for i in range(3):  # dw = t G, row by row
                t0, t1, t2, t3 = t[i, 0], t[i, 1], t[i, 2], t[i, 3]
                dw[f, c, i, 0] = t0 + 0.5 * (t1 + t2)
                dw[f, c, i, 1] = 0.5 * (t1 - t2)
                dw[f, c, i, 2] = 0.5 * (t1 + t2) + t3
