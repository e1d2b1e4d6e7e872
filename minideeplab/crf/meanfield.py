"""Fast mean field: every kernel's lattice in one vertex array, fused slice + softmax.

For kernels m = 1..K with lattices (offset_m, weight_m, neighbors_m) and normalisers
``pre_m``/``post_m`` (see ``crf.kernels``), one iteration is::

    A      = splat(pre_m * Q) for every m     (one parallel scatter)
    A      = blur_m(A)                        (per kernel, along its d+1 directions)
    Q_i    = softmax(-U_i + sum_m w_m post_m,i alpha_m sum_r weight_m[i, r] A[offset_m[i, r]])

which is the Potts mean-field update of ``dense.mean_field`` with lattice kernels.
"""
from __future__ import annotations

import numpy as np

from .._numba import get_num_threads
from ._kernels import mf_blur, mf_slice, mf_splat, normalize_rows, softmax_into
from .kernels import NORMALIZE_AFTER, NORMALIZE_BEFORE, NORMALIZE_SYMMETRIC


class LatticeMeanField:
    """Mean field over several lattice kernels sharing one vertex array.

    Parameters
    ----------
    lattices : list of :class:`~minideeplab.crf.Lattice` (same N)
    weights : kernel weights w_m
    normalizations : one constant per kernel (NO_NORMALIZATION ... NORMALIZE_SYMMETRIC)
    """

    def __init__(self, lattices, weights, normalizations):
        N = lattices[0].n_points
        offs, wts, sws = [], [], []
        self.blocks = []  # (base row, neighbors) per kernel
        base = 0
        for lat, w, t in zip(lattices, weights, normalizations):
            if lat.n_points != N:
                raise ValueError("all lattices must have the same number of points")
            M = lat.n_vertices
            d1 = lat.dim + 1
            alpha = 1.0 / (1.0 + 2.0 ** (-lat.dim))
            # K 1 with this lattice, for the normalisers
            ones = np.ones((N, 1), np.float32)
            k1 = lat.filter(ones)[:, 0].astype(np.float64)
            n = 1.0 / np.sqrt(k1 + 1e-20) if t == NORMALIZE_SYMMETRIC else 1.0 / (k1 + 1e-20)
            pre = n if t in (NORMALIZE_SYMMETRIC, NORMALIZE_BEFORE) else np.ones(N)
            post = n if t in (NORMALIZE_SYMMETRIC, NORMALIZE_AFTER) else np.ones(N)
            offs.append(lat._offset + base)
            sws.append((lat._weight * pre[:, None]).astype(np.float32))
            wts.append((lat._weight * (w * alpha) * post[:, None]).astype(np.float32))
            self.blocks.append((base, lat._neighbors))
            base += M + 1
        self.n_rows = base
        self.splat_weight = np.ascontiguousarray(np.concatenate(sws, axis=1), dtype=np.float32)
        self.offset = np.ascontiguousarray(np.concatenate(offs, axis=1), dtype=np.int32)
        self.weight = np.ascontiguousarray(np.concatenate(wts, axis=1), dtype=np.float32)
        self.N = N

    def _filtered(self, Q, A, B, scratch):
        mf_splat(Q, self.offset, self.splat_weight, A, scratch)
        for base, nb in self.blocks:
            mf_blur(A, B, base, nb, False)

    def run(self, unary, n_iter, mu=None, history=None):
        """``n_iter`` updates from Q = softmax(-U); ``unary`` (N, L). Returns Q (N, L) float32."""
        neg = np.ascontiguousarray(-unary, dtype=np.float32)
        L = neg.shape[1]
        Q = np.empty_like(neg)
        softmax_into(neg, Q)
        if history is not None:
            history.append(Q.copy())
        A = np.zeros((self.n_rows, L), np.float32)
        B = np.zeros_like(A)
        scratch = np.empty((get_num_threads(), self.n_rows, L), np.float32)
        msg = np.empty_like(neg) if mu is not None else None
        for _ in range(n_iter):
            self._filtered(Q, A, B, scratch)
            if mu is None:
                mf_slice(A, self.offset, self.weight, Q, neg, True)  # Q holds E for a moment
                np.exp(Q, out=Q)
                normalize_rows(Q)
            else:  # E = -U - mu (sum_m w_m K_m Q)
                mf_slice(A, self.offset, self.weight, msg, neg, False)
                E = (neg - msg @ np.asarray(mu, np.float32).T).astype(np.float32)
                softmax_into(E, Q)
            if history is not None:
                history.append(Q.copy())
        return Q
