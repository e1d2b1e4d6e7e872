"""Numba kernels of the Winograd F(2x2, 3x3) convolution (``nogil``; ``nn.winograd`` validates
and splits the channel rows over the threads).

Tiles: output tile (ty, tx) covers output pixels (2 ty + u, 2 tx + v), u, v in {0, 1}; it reads
the input window (2 ty + i - 1, 2 tx + j - 1), i, j in 0..3 (padding 1). Transformed arrays are
(16, rows, P) with P = N * th * tw tiles, index ab = 4 a + b.

    V = B^T d B,   B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]
    y = A^T M A,   A^T = [[1, 1, 1, 0], [0, 1, -1, -1]]
"""
from __future__ import annotations

import numpy as np

from .._numba import njit


@njit
def input_transform(x, V, th, tw, r0, r1):
    """V[:, c, p] = B^T d B for the tiles of channels c in [r0, r1). x : (N, C, H, W)."""
    N, C, H, W = x.shape
    d = np.empty((4, 4), V.dtype)
    for c in range(r0, r1):
        for n in range(N):
            for ty in range(th):
                for tx in range(tw):
                    for i in range(4):
                        y = 2 * ty + i - 1
                        for j in range(4):
                            xx = 2 * tx + j - 1
                            d[i, j] = x[n, c, y, xx] if 0 <= y < H and 0 <= xx < W else 0.0
                    p = (n * th + ty) * tw + tx
                    for j in range(4):
                        a0, a1 = d[0, j] - d[2, j], d[1, j] + d[2, j]
                        a2, a3 = d[2, j] - d[1, j], d[1, j] - d[3, j]
                        d[0, j], d[1, j], d[2, j], d[3, j] = a0, a1, a2, a3
                    for i in range(4):
                        V[4 * i, c, p] = d[i, 0] - d[i, 2]
                        V[4 * i + 1, c, p] = d[i, 1] + d[i, 2]
                        V[4 * i + 2, c, p] = d[i, 2] - d[i, 1]
                        V[4 * i + 3, c, p] = d[i, 1] - d[i, 3]


@njit
def output_transform(M, out, th, tw, r0, r1):
    """out[n, f] = A^T M A tile by tile, for channels f in [r0, r1). out : (N, F, Ho, Wo)."""
    N, F, Ho, Wo = out.shape
    m = np.empty((4, 4), M.dtype)
    for f in range(r0, r1):
        for n in range(N):
            for ty in range(th):
                for tx in range(tw):
                    p = (n * th + ty) * tw + tx
                    for k in range(16):
                        m[k // 4, k % 4] = M[k, f, p]
                    for i in range(2):
                        y = 2 * ty + i
                        if y >= Ho:
                            break
                        if i == 0:
                            r = (m[0, 0] + m[1, 0] + m[2, 0], m[0, 1] + m[1, 1] + m[2, 1],
                                 m[0, 2] + m[1, 2] + m[2, 2], m[0, 3] + m[1, 3] + m[2, 3])
                        else:
                            r = (m[1, 0] - m[2, 0] - m[3, 0], m[1, 1] - m[2, 1] - m[3, 1],
                                 m[1, 2] - m[2, 2] - m[3, 2], m[1, 3] - m[2, 3] - m[3, 3])
                        out[n, f, y, 2 * tx] = r[0] + r[1] + r[2]
                        if 2 * tx + 1 < Wo:
                            out[n, f, y, 2 * tx + 1] = r[1] - r[2] - r[3]


@njit
def output_grad_transform(dout, dM, th, tw, r0, r1):
    """dM[:, f, p] = A g A^T, g the tile of dout (zero beyond the image): the adjoint of
    :func:`output_transform`, for channels f in [r0, r1)."""
    N, F, Ho, Wo = dout.shape
    for f in range(r0, r1):
        for n in range(N):
            for ty in range(th):
                for tx in range(tw):
                    p = (n * th + ty) * tw + tx
                    y, x = 2 * ty, 2 * tx
                    g00 = dout[n, f, y, x]
                    g01 = dout[n, f, y, x + 1] if x + 1 < Wo else 0.0
                    g10 = dout[n, f, y + 1, x] if y + 1 < Ho else 0.0
                    g11 = dout[n, f, y + 1, x + 1] if y + 1 < Ho and x + 1 < Wo else 0.0
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
def input_grad_transform(dV, dx, th, tw, r0, r1):
    """dx[n, c] = the sum over tiles of B dV B^T at each tile's window (the adjoint of
    :func:`input_transform`; padding dropped), for channels c in [r0, r1). dx is overwritten."""
    N, C, H, W = dx.shape
    t = np.empty((4, 4), dV.dtype)
    for c in range(r0, r1):
        for n in range(N):
            for y in range(H):
                for x in range(W):
                    dx[n, c, y, x] = 0.0
            for ty in range(th):
                for tx in range(tw):
                    p = (n * th + ty) * tw + tx
                    for a in range(4):  # t = dV B^T (columns), then B t (rows)
                        v0, v1, v2, v3 = dV[4 * a, c, p], dV[4 * a + 1, c, p], dV[4 * a + 2, c, p], dV[4 * a + 3, c, p]
                        t[a, 0] = v0
                        t[a, 1] = v1 - v2 + v3
                        t[a, 2] = -v0 + v1 + v2
                        t[a, 3] = -v3
                    for j in range(4):
                        xx = 2 * tx + j - 1
                        if xx < 0 or xx >= W:
                            continue
                        col = (t[0, j], t[1, j] - t[2, j] + t[3, j], -t[0, j] + t[1, j] + t[2, j], -t[3, j])
                        for i in range(4):
                            y = 2 * ty + i - 1
                            if 0 <= y < H:
                                dx[n, c, y, xx] += col[i]
