"""Gaussian pairwise kernels over feature sets, filtered by the lattice or exactly.

A kernel filters label beliefs ``Q`` (N, L) over features ``f`` (N, d) with
``k(i, j) = exp(-|f_i - f_j|^2 / 2)`` (j = i included) and one of the four
normalisations of Krähenbühl's code (pydensecrf's constants)::

    NO_NORMALIZATION     K Q
    NORMALIZE_BEFORE     K (n Q)       n = 1 / (K 1)
    NORMALIZE_AFTER      n (K Q)       n = 1 / (K 1)
    NORMALIZE_SYMMETRIC  n (K (n Q))   n = 1 / sqrt(K 1)      (the default, DeepLab's)

A scale error of the lattice cancels in the normalised forms (it is ~0.9 for d = 2 and
~0.6 for d = 5 in the raw sums).
"""
from __future__ import annotations

import numpy as np

from .lattice import Lattice

NO_NORMALIZATION, NORMALIZE_BEFORE, NORMALIZE_AFTER, NORMALIZE_SYMMETRIC = 0, 1, 2, 3
CONST_KERNEL, DIAG_KERNEL, FULL_KERNEL = 0, 1, 2
NORMALIZATIONS = {"none": NO_NORMALIZATION, "before": NORMALIZE_BEFORE, "after": NORMALIZE_AFTER,
                  "symmetric": NORMALIZE_SYMMETRIC}
EXACT_MAX_POINTS = 4096
"""Largest N for exact filtering: the (N, N) kernel matrix is kept in memory (64 MiB)."""


class ExactFilter:
    """The O(N^2) Gaussian filter with the :class:`Lattice` interface (small N only)."""

    def __init__(self, features):
        f = np.asarray(features, dtype=np.float64)
        if f.shape[0] > EXACT_MAX_POINTS:
            raise ValueError(f"method='exact' builds an (N, N) kernel and allows N <= {EXACT_MAX_POINTS} "
                             f"points (e.g. 64x64 pixels); got N = {f.shape[0]}. Use method='lattice'.")
        sq = (f * f).sum(1)
        d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * f @ f.T, 0.0)
        self.K = np.exp(-0.5 * d2)
        self.n_points, self.dim = f.shape

    def filter(self, values, transpose=False):
        v = np.asarray(values, dtype=np.float64)
        return (self.K.T if transpose else self.K) @ v


class GaussianKernel:
    """One pairwise kernel: features, filter (lattice or exact) and normalisation.

    Parameters
    ----------
    features : (N, d) already divided by the standard deviations
    normalization : one of the four constants above
    method : "lattice" or "exact"
    """

    def __init__(self, features, normalization=NORMALIZE_SYMMETRIC, method="lattice"):
        if normalization not in (0, 1, 2, 3):
            raise ValueError(f"normalization must be one of 0, 1, 2, 3 (NO_NORMALIZATION ... NORMALIZE_SYMMETRIC), "
                             f"got {normalization!r}")
        if method not in ("lattice", "exact"):
            raise ValueError(f"method must be 'lattice' or 'exact', got {method!r}")
        self.filt = Lattice(features) if method == "lattice" else ExactFilter(features)
        self.normalization = normalization
        N = self.filt.n_points
        norm = np.asarray(self.filt.filter(np.ones((N, 1))), dtype=np.float64)[:, 0]
        if normalization == NORMALIZE_SYMMETRIC:
            self.norm = (1.0 / np.sqrt(norm + 1e-20))[:, None]
        else:
            self.norm = (1.0 / (norm + 1e-20))[:, None]
        dt = np.float32 if method == "lattice" else np.float64
        self.norm = self.norm.astype(dt)

    def apply(self, Q, transpose=False):
        """Filter ``Q`` (N, V) with the normalisation."""
        t = self.normalization
        pre = t == NORMALIZE_SYMMETRIC or (t == NORMALIZE_BEFORE and not transpose) or (t == NORMALIZE_AFTER and transpose)
        post = t == NORMALIZE_SYMMETRIC or (t == NORMALIZE_BEFORE and transpose) or (t == NORMALIZE_AFTER and not transpose)
        x = Q * self.norm if pre else Q
        x = self.filt.filter(x, transpose)
        return x * self.norm if post else x
