"""Numba kernels of the fast mean field (``@njit`` only; :mod:`.meanfield` threads them).

All kernels' lattice vertices live in one array A (kernel k in rows base_k .. base_k + M_k,
the last of which stays zero), so one scatter splats every kernel, and one pass per pixel
slices every kernel and takes the softmax.
"""
from __future__ import annotations

import numpy as np

from .._numba import njit
from ._softmax_kernels import exp_rows_into


@njit
def fill_columns(off, bary, neighbors, alpha, w, pre, post, base, c0, offset, splat_weight, weight):
    """Write one lattice kernel's columns ``c0 .. c0 + d`` of the shared mean-field arrays.

    off, bary : (N, d+1) the lattice's vertices and barycentric weights; neighbors (d+1, M, 2)
    alpha : the lattice's scale; w : the kernel weight; base : its first row in the shared array
    pre, post : whether the normaliser multiplies before / after the filter (``pairwise.normalizer_sides``);
        n = 1 / (K 1), or 1 / sqrt(K 1) when both, from this lattice's filter of ones
    offset, splat_weight, weight : (N, S) shared arrays: base + off, bary * n_pre, bary * w * alpha * n_post
    """
    N, d1 = off.shape
    M = neighbors.shape[1]
    a = np.zeros(M + 1, np.float32)  # row M, the absent neighbour, stays zero
    b = np.zeros(M + 1, np.float32)
    normalized = pre or post
    if normalized:
        for i in range(N):  # K 1: splat, blur, slice a column of ones
            for s in range(d1):
                a[off[i, s]] += bary[i, s]
        for j in range(d1):
            for m in range(M):
                b[m] = a[m] + np.float32(0.5) * (a[neighbors[j, m, 0]] + a[neighbors[j, m, 1]])
            a, b = b, a
    for i in range(N):
        n_pre = np.float32(1.0)
        n_post = np.float32(1.0)
        if normalized:
            k1 = np.float32(0.0)
            for s in range(d1):
                k1 += np.float32(bary[i, s] * alpha) * a[off[i, s]]
            k1 += np.float32(1e-20)
            n = np.float32(1.0) / (np.sqrt(k1) if pre and post else k1)
            if pre:
                n_pre = n
            if post:
                n_post = n
        scale = n_post * np.float32(w * alpha)
        for s in range(d1):
            offset[i, c0 + s] = base + off[i, s]
            splat_weight[i, c0 + s] = bary[i, s] * n_pre
            weight[i, c0 + s] = bary[i, s] * scale


_BLOCK = 64  # pixels per block of update_rows


@njit
def update_rows(A, offset, weight, minus_unary, Q, i0, i1):
    """Q_i = softmax(-U_i + sum_s weight[i, s] * A[offset[i, s]]) for pixels ``[i0, i1)``: the
    Potts update, fused.

    Blocks of ``_BLOCK`` pixels: a block's energies go to a local buffer, minus each row's
    maximum, then through ``exp_nonpositive`` in one long loop (which vectorises, unlike one
    per pixel), then are normalised into Q.
    """
    L = Q.shape[1]
    E = np.empty((_BLOCK, L), np.float32)
    X = np.empty((_BLOCK, L), np.float32)
    for a in range(i0, i1, _BLOCK):
        _update_block(A, offset, weight, minus_unary, Q, a, min(i1, a + _BLOCK), E, X)


@njit
def _update_block(A, offset, weight, minus_unary, Q, i0, i1, E, X):
    """:func:`update_rows` for pixels ``[i0, i1)``, at most ``_BLOCK``; E, X (_BLOCK, L) scratch."""
    L = Q.shape[1]
    S = offset.shape[1]
    n = i1 - i0
    for k in range(n):
        i = i0 + k
        e = E[k]
        for v in range(L):
            e[v] = minus_unary[i, v]
        s = 0
        while s + 3 <= S:  # three slots a pass: a third of the passes over e
            w0, w1, w2 = weight[i, s], weight[i, s + 1], weight[i, s + 2]
            r0, r1, r2 = offset[i, s], offset[i, s + 1], offset[i, s + 2]
            for v in range(L):
                e[v] += w0 * A[r0, v] + w1 * A[r1, v] + w2 * A[r2, v]
            s += 3
        while s < S:
            w = weight[i, s]
            row = offset[i, s]
            for v in range(L):
                e[v] += w * A[row, v]
            s += 1
        mx = e[0]
        for v in range(1, L):
            mx = max(mx, e[v])
        for v in range(L):
            e[v] -= mx
    exp_rows_into(E.reshape(_BLOCK * L)[: n * L], X.reshape(_BLOCK * L)[: n * L], Q[i0:i1])
