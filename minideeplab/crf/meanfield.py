"""Fast mean field: every kernel's lattice in one vertex array, fused slice + softmax.

For kernels m = 1..K with lattices (offset_m, weight_m, neighbors_m) and normalisers
``pre_m``/``post_m`` (see ``crf.kernels``), one iteration is::

    A      = splat(pre_m * Q) for every m     (one parallel scatter)
    A      = blur_m(A)                        (per kernel, along its d+1 directions)
    Q_i    = softmax(-U_i + sum_m w_m post_m,i alpha_m sum_r weight_m[i, r] A[offset_m[i, r]])
                                              (slice, exp and normalisation in one pass)

which is the Potts mean-field update of ``dense.mean_field`` with lattice kernels.
"""
from __future__ import annotations

import numpy as np

from .._numba import get_num_threads
from ._kernels import mf_blur, mf_slice, mf_splat, mf_update, softmax_into
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
        if any(lat.n_points != N for lat in lattices):
            raise ValueError("all lattices must have the same number of points")
        S = sum(lat.dim + 1 for lat in lattices)
        self.offset = np.empty((N, S), np.int32)        # vertex rows in the shared array
        self.splat_weight = np.empty((N, S), np.float32)  # barycentric weight * pre-normaliser
        self.weight = np.empty((N, S), np.float32)        # bary * w * alpha * post-normaliser
        self.blocks = []  # (base row, neighbors) per kernel
        base, c = 0, 0
        for lat, w, t in zip(lattices, weights, normalizations):
            cols = slice(c, c + lat.dim + 1)
            # K 1 with this lattice, for the normalisers
            k1 = lat.filter(np.ones((N, 1), np.float32))[:, 0] + np.float32(1e-20)
            n = 1.0 / np.sqrt(k1) if t == NORMALIZE_SYMMETRIC else 1.0 / k1
            one = np.ones(N, np.float32)
            pre = n if t in (NORMALIZE_SYMMETRIC, NORMALIZE_BEFORE) else one
            post = n if t in (NORMALIZE_SYMMETRIC, NORMALIZE_AFTER) else one
            np.add(lat._offset, base, out=self.offset[:, cols])
            np.multiply(lat._weight, pre[:, None], out=self.splat_weight[:, cols])
            np.multiply(lat._weight, (post * np.float32(w * lat._alpha))[:, None], out=self.weight[:, cols])
            self.blocks.append((base, lat._neighbors))
            base += lat.n_vertices + 1
            c += lat.dim + 1
        self.n_rows = base
        self.N = N

    def _filtered(self, Q, A, B, scratch):
        mf_splat(Q, self.offset, self.splat_weight, A, scratch)
        for base, nb in self.blocks:
            mf_blur(A, B, base, nb, False)

    def run(self, unary, n_iter, mu=None, history=None):
        """``n_iter`` updates from Q = softmax(-U); ``unary`` (N, L). Returns Q (N, L) float32."""
        L0 = unary.shape[1]
        if mu is None and L0 % 8:
            # pad the labels to a multiple of 8 so the inner loops vectorise without a
            # remainder; padded labels have energy -inf, hence Q = 0 exactly
            L = L0 + 8 - L0 % 8
            neg = np.full((unary.shape[0], L), -np.inf, np.float32)
            neg[:, :L0] = -unary
            hist = [] if history is not None else None
            Q = self._run(neg, n_iter, None, hist)
            if history is not None:
                history.extend(np.ascontiguousarray(q[:, :L0]) for q in hist)
            return np.ascontiguousarray(Q[:, :L0])
        return self._run(np.ascontiguousarray(-unary, dtype=np.float32), n_iter, mu, history)

    def _run(self, neg, n_iter, mu, history):
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
                mf_update(A, self.offset, self.weight, neg, Q)
            else:  # E = -U - mu (sum_m w_m K_m Q)
                mf_slice(A, self.offset, self.weight, msg)
                E = (neg - msg @ np.asarray(mu, np.float32).T).astype(np.float32)
                softmax_into(E, Q)
            if history is not None:
                history.append(Q.copy())
        return Q
