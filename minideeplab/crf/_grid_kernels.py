"""Numba kernels of the grid CRF's mean field (``@njit`` only; :mod:`.grid` threads them)."""
from __future__ import annotations

import numpy as np

from .._numba import njit
from ._softmax_kernels import exp_rows_into


@njit
def grid_step(minus_unary, Qold, weights, offsets, Qnew, y0, y1):
    """One mean-field update of the grid CRF for rows ``[y0, y1)``, a row at a time.

    Qnew_i = softmax(-U_i + sum_k weights[k, i] Qold_{i + offset_k}).
    minus_unary : (H, W, L); Qold, Qnew : (H+2, W+2, L), Q padded by one pixel of zeros;
    weights : (K, H, W), zero where the neighbour falls outside the image;
    offsets : (K, 2) int (dy, dx), each in {-1, 0, 1}.
    """
    H, W, L = minus_unary.shape
    K = offsets.shape[0]
    row = np.empty((W, L), np.float32)   # one row's energies
    erow = np.empty((W, L), np.float32)  # their exp (out of place: a long loop the compiler
    flat, eflat = row.reshape(W * L), erow.reshape(W * L)  # vectorises; in place it would not)
    for y in range(y0, y1):
        for x in range(W):
            e = row[x]
            for v in range(L):
                e[v] = minus_unary[y, x, v]
            for k in range(K):
                w = weights[k, y, x]
                q = Qold[y + 1 + offsets[k, 0], x + 1 + offsets[k, 1]]
                for v in range(L):
                    e[v] += w * q[v]
            mx = e[0]
            for v in range(1, L):
                mx = max(mx, e[v])
            for v in range(L):
                e[v] -= mx
        exp_rows_into(flat, eflat, Qnew[y + 1, 1 : W + 1])


@njit
def normalize_into_padded(E, Qp):
    """Qp[y + 1, x + 1] = E[y, x] / sum(E[y, x]): the next Q, straight into the padded buffer."""
    H, W, L = E.shape
    for y in range(H):
        for x in range(W):
            tot = E[y, x, 0]
            for v in range(1, L):
                tot += E[y, x, v]
            inv = 1.0 / tot
            for v in range(L):
                Qp[y + 1, x + 1, v] = E[y, x, v] * inv
