"""Mean-field inference for the fully connected CRF: the readable loop and the fast engine.

With pairwise kernels k_m (normalised Gaussian filters, :mod:`.pairwise`) and label
compatibilities mu_m (L, L), one parallel update of every pixel is::

    Q_i(l) ∝ exp( -U_i(l) - sum_m sum_l' mu_m(l, l') (K_m Q)_i(l') )

:func:`mean_field` writes this out with NumPy, one kernel at a time (any filter: exact or
lattice); it is the reference. :class:`LatticeMeanField` computes the same with every
kernel's lattice in one vertex array::

    A      = splat(pre_m * Q) for every m     (one parallel scatter)
    A      = blur_m(A)                        (per kernel, along its d+1 directions)
    Q_i    = softmax(-U_i + sum_m w_m post_m,i alpha_m sum_r weight_m[i, r] A[offset_m[i, r]])
                                              (slice, exp and normalisation in one pass)

for Potts (mu_m = -w_m I up to a per-pixel constant), and with a general mu, shared by the
kernels (one slice of all their columns) or one per kernel (each kernel's columns sliced
apart). Its kernels are serial and release the GIL; they run on row ranges (or one lattice
each) in the thread pool of ``minideeplab._numba`` (``set_num_threads``), and the results do
not depend on the number of threads.
"""
from __future__ import annotations

import numpy as np

from .._numba import in_threads, side_by_side
from ._meanfield_kernels import fill_columns, update_rows
from ._softmax_kernels import exp_normalize_rows
from .lattice import blur, slice_into, splat, splat_scratch
from .pairwise import normalizer_sides
from .softmax import padded_energies, padded_label_count, softmax_into


# ------------------------------------------------------------------ the readable loop
def mean_field_energies(minus_unary, Q, kernels, compats):
    """``-U - sum_m (K_m Q) mu_m^T``, (N, L) float64: the energies whose softmax is the next Q.

    minus_unary : (N, L) -U; Q : (N, L) beliefs; kernels : objects with ``apply(Q) -> (N, L)``
    (:class:`~.pairwise.GaussianKernel`); compats : one (L, L) mu_m per kernel, its weight
    included (Potts with weight w: ``-w * eye(L)``)
    """
    energies = np.array(minus_unary, dtype=np.float64)
    for kernel, mu in zip(kernels, compats):
        energies -= np.asarray(kernel.apply(Q), dtype=np.float64) @ np.asarray(mu, np.float64).T
    return energies


def mean_field(unary, kernels, compats, n_iter, history=None):
    """``n_iter`` parallel mean-field updates from Q = softmax(-U).

    Parameters
    ----------
    unary : (N, L) energies U
    kernels, compats : as in :func:`mean_field_energies`
    history : optional list; Q after each iteration (and the initial Q) are appended

    Returns
    -------
    Q : (N, L) float32
    """
    minus_unary = np.ascontiguousarray(-np.asarray(unary), dtype=np.float32)
    Q = softmax_into(minus_unary, np.empty_like(minus_unary))
    if history is not None:
        history.append(Q.copy())
    for _ in range(n_iter):
        energies = mean_field_energies(minus_unary, Q, kernels, compats)
        softmax_into(energies.astype(np.float32), Q)
        if history is not None:
            history.append(Q.copy())
    return Q


# ------------------------------------------------------------------ the fast engine
class LatticeMeanField:
    """Mean field over several lattice kernels sharing one vertex array.

    Parameters
    ----------
    lattices : list of :class:`~minideeplab.crf.Lattice` (same N)
    weights : kernel weights w_m
    normalizations : one constant per kernel (``pairwise.NO_NORMALIZATION`` ... ``NORMALIZE_SYMMETRIC``)
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
        self.columns = []  # (first, last + 1) column of each kernel in offset / weight
        tasks = []
        base, column = 0, 0
        for lat, w, normalization in zip(lattices, weights, normalizations):
            pre, post = normalizer_sides(normalization)
            tasks.append(lambda lat=lat, w=w, pre=pre, post=post, base=base, column=column: fill_columns(
                lat._offset, lat._weight, lat._neighbors, lat.alpha, float(w), pre, post, base, column,
                self.offset, self.splat_weight, self.weight))
            self.blocks.append((base, lat._neighbors))  # (the writable arrays: one compiled kernel)
            self.columns.append((column, column + lat.dim + 1))
            base += lat.n_vertices + 1
            column += lat.dim + 1
        side_by_side(tasks)  # each kernel writes its own columns
        self.n_rows = base
        self.N = N

    def _filtered(self, Q, A, B, scratch):
        splat(Q, self.offset, self.splat_weight, A, scratch)
        # the kernels' blocks are disjoint rows: blur them side by side
        side_by_side([lambda base=base, nb=nb: blur(A, B, base, nb, False) for base, nb in self.blocks])

    def _buffers(self, n_labels):
        A = np.zeros((self.n_rows, n_labels), np.float32)
        B = np.zeros_like(A)  # each block's last row stays zero: the absent neighbour
        return A, B, splat_scratch(A.shape)

    def potts(self, logp, n_iter, history=None):
        """``n_iter`` Potts updates from Q = softmax(-U).

        logp : (L, N) float32 log-probabilities, i.e. -U, label-major (as probabilities come)
        history : optional list; Q after each iteration (and the initial Q) are appended

        Returns Q (N, L padded to a multiple of 8) float32, Q = 0 exactly on the padded
        labels; ``Q[:, :L]`` is the result.
        """
        L, N = logp.shape
        minus_unary, shifted = padded_energies(logp, padded_label_count(L))
        Q = np.empty_like(minus_unary)
        in_threads(lambda a, b: exp_normalize_rows(shifted[a:b], Q[a:b]), N)  # out of place: vectorises
        if history is not None:
            history.append(Q.copy())
        A, B, scratch = self._buffers(Q.shape[1])
        for _ in range(n_iter):
            self._filtered(Q, A, B, scratch)
            in_threads(lambda a, b: update_rows(A, self.offset, self.weight, minus_unary, Q, a, b), N)
            if history is not None:
                history.append(Q.copy())
        return Q

    def general(self, unary, n_iter, mu, history=None):
        """``n_iter`` updates with the label compatibility ``mu`` from Q = softmax(-U); ``unary``
        (N, L); ``mu`` an (L, L) matrix shared by the kernels, or one (L, L) matrix per kernel (a
        list, or an (M, L, L) array for M kernels). Returns Q (N, L) float32."""
        minus_unary = np.ascontiguousarray(-unary, dtype=np.float32)
        Q = softmax_into(minus_unary, np.empty_like(minus_unary))
        if history is not None:
            history.append(Q.copy())
        A, B, scratch = self._buffers(Q.shape[1])
        message = np.empty_like(minus_unary)
        if isinstance(mu, (list, tuple)) or np.ndim(mu) == 3:  # per kernel: its own columns and matrix
            if len(mu) != len(self.columns):
                raise ValueError(f"mu must hold one matrix per kernel ({len(self.columns)}), got {len(mu)}")
            parts = [(np.ascontiguousarray(self.offset[:, a:b]), np.ascontiguousarray(self.weight[:, a:b]),
                      np.asarray(m, np.float32).T) for (a, b), m in zip(self.columns, mu)]
        else:  # E = -U - (sum_m w_m K_m Q) mu^T: one slice of every kernel's columns
            parts = [(self.offset, self.weight, np.asarray(mu, np.float32).T)]
        for _ in range(n_iter):  # E = -U - sum_m (w_m K_m Q) mu_m^T
            self._filtered(Q, A, B, scratch)
            energies = minus_unary.copy()
            for offset, weight, mu_t in parts:
                slice_into(A, offset, weight, message)
                energies -= message @ mu_t
            softmax_into(energies, Q)
            if history is not None:
                history.append(Q.copy())
        return Q
