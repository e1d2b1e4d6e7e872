"""Fast mean field: every kernel's lattice in one vertex array, fused slice + softmax.

For kernels m = 1..K with lattices (offset_m, weight_m, neighbors_m) and normalisers
``pre_m``/``post_m`` (see ``crf.kernels``), one iteration is::

    A      = splat(pre_m * Q) for every m     (one parallel scatter)
    A      = blur_m(A)                        (per kernel, along its d+1 directions)
    Q_i    = softmax(-U_i + sum_m w_m post_m,i alpha_m sum_r weight_m[i, r] A[offset_m[i, r]])
                                              (slice, exp and normalisation in one pass)

which is the Potts mean-field update of ``dense.mean_field`` with lattice kernels. The
kernels are serial and release the GIL; they run on row ranges (or one lattice each) in the
thread pool of ``minideeplab._numba`` (``set_num_threads``).
"""
from __future__ import annotations

import numpy as np

from .._numba import get_num_threads
from ._kernels import (exp_normalize_rows, pixel_major_energies, in_threads, mf_blur, mf_columns, mf_slice, mf_splat, mf_update,
                       side_by_side, softmax_into)


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
        tasks = []
        base, c = 0, 0
        for lat, w, t in zip(lattices, weights, normalizations):
            tasks.append(lambda lat=lat, w=w, t=t, base=base, c=c: mf_columns(
                lat._offset, lat._weight, lat._neighbors, lat._alpha, float(w), int(t), base, c,
                self.offset, self.splat_weight, self.weight))
            self.blocks.append((base, lat._neighbors))
            base += lat.n_vertices + 1
            c += lat.dim + 1
        side_by_side(tasks)  # each kernel writes its own columns
        self.n_rows = base
        self.N = N

    def _filtered(self, Q, A, B, scratch):
        mf_splat(Q, self.offset, self.splat_weight, A, scratch)
        # the kernels' blocks are disjoint rows: blur them side by side
        side_by_side([lambda base=base, nb=nb: mf_blur(A, B, base, nb, False) for base, nb in self.blocks])

    def potts(self, logp, n_iter, history=None):
        """``n_iter`` Potts updates from Q = softmax(-U).

        logp : (L, N) float32 log-probabilities, i.e. -U, label-major (as probabilities come)
        history : optional list; Q after each iteration (and the initial Q) are appended

        Returns Q (N, Lp) float32 with the labels padded to a multiple of 8 (Q = 0 there,
        exactly); ``Q[:, :L]`` is the result.
        """
        L, N = logp.shape
        # pad the labels to a multiple of 8 so the inner loops vectorise without a remainder;
        # padded labels have energy -inf, hence Q = 0 exactly
        Lp = L + (-L) % 8
        neg = np.empty((N, Lp), np.float32)
        E = np.empty_like(neg)
        Q = np.empty_like(neg)
        in_threads(lambda a, b: pixel_major_energies(logp[:, a:b], neg[a:b], E[a:b]), N)  # E: -U minus its row max
        in_threads(lambda a, b: exp_normalize_rows(E[a:b], Q[a:b]), N)  # out of place: vectorises
        if history is not None:
            history.append(Q.copy())
        A = np.zeros((self.n_rows, Lp), np.float32)
        B = np.zeros_like(A)  # each block's last row stays zero: the absent neighbour
        scratch = np.empty((get_num_threads(), self.n_rows, Lp), np.float32)
        for _ in range(n_iter):
            self._filtered(Q, A, B, scratch)
            mf_update(A, self.offset, self.weight, neg, Q)
            if history is not None:
                history.append(Q.copy())
        return Q

    def general(self, unary, n_iter, mu, history=None):
        """``n_iter`` updates with the label compatibility ``mu`` (L, L) from Q = softmax(-U);
        ``unary`` (N, L). Returns Q (N, L) float32."""
        neg = np.ascontiguousarray(-unary, dtype=np.float32)
        Q = softmax_into(neg, np.empty_like(neg))
        if history is not None:
            history.append(Q.copy())
        A = np.zeros((self.n_rows, neg.shape[1]), np.float32)
        B = np.zeros_like(A)
        scratch = np.empty((get_num_threads(), self.n_rows, neg.shape[1]), np.float32)
        msg = np.empty_like(neg)
        mu_t = np.asarray(mu, np.float32).T
        for _ in range(n_iter):  # E = -U - mu (sum_m w_m K_m Q)
            self._filtered(Q, A, B, scratch)
            mf_slice(A, self.offset, self.weight, msg)
            softmax_into((neg - msg @ mu_t).astype(np.float32), Q)
            if history is not None:
                history.append(Q.copy())
        return Q
