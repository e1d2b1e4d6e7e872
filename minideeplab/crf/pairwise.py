"""Gaussian pairwise kernels over feature sets, filtered by the lattice or exactly.

A pairwise kernel filters label beliefs ``Q`` (N, L) over features ``f`` (N, d) with
``k(i, j) = exp(-|f_i - f_j|^2 / 2)`` (j = i included) and one of the four
normalisations of Krähenbühl's code (pydensecrf's constants)::

    NO_NORMALIZATION     K Q
    NORMALIZE_BEFORE     K (n Q)       n = 1 / (K 1)
    NORMALIZE_AFTER      n (K Q)       n = 1 / (K 1)
    NORMALIZE_SYMMETRIC  n (K (n Q))   n = 1 / sqrt(K 1)      (the default, DeepLab's)

These integer constants are the one encoding; :func:`normalizer_sides` says on which side(s)
of K the normaliser multiplies, for the readable kernel here and the fused one of
:mod:`.meanfield` alike. ``dense_crf`` names them with the strings of :data:`NORMALIZATIONS`.

A scale error of the lattice cancels in the normalised forms (it is ~0.9 for d = 2 and
~0.6 for d = 5 in the raw sums).
"""
from __future__ import annotations

import numpy as np
from scipy.spatial.distance import cdist

from ._checks import check_method
from .lattice import Lattice

NO_NORMALIZATION, NORMALIZE_BEFORE, NORMALIZE_AFTER, NORMALIZE_SYMMETRIC = 0, 1, 2, 3
NORMALIZATIONS = {"none": NO_NORMALIZATION, "before": NORMALIZE_BEFORE, "after": NORMALIZE_AFTER,
                  "symmetric": NORMALIZE_SYMMETRIC}
EXACT_MAX_POINTS = 4096
"""Largest N for exact filtering: the (N, N) kernel matrix is kept in memory (64 MiB)."""


def normalization_constant(name):
    """The constant of a normalisation name ("symmetric", "before", "after" or "none")."""
    if name not in NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {list(NORMALIZATIONS)}, got {name!r}")
    return NORMALIZATIONS[name]


def normalizer_sides(normalization, transpose=False):
    """``(pre, post)``: whether n multiplies before K (on Q) and after it (on K Q).

    Both for the symmetric form, where n = 1 / sqrt(K 1); otherwise n = 1 / (K 1). The
    transposed operator swaps the sides of "before" and "after".
    """
    if normalization not in (0, 1, 2, 3):
        raise ValueError(f"normalization must be one of 0, 1, 2, 3 (NO_NORMALIZATION ... NORMALIZE_SYMMETRIC), "
                         f"got {normalization!r}")
    before = normalization in (NORMALIZE_BEFORE, NORMALIZE_SYMMETRIC)
    after = normalization in (NORMALIZE_AFTER, NORMALIZE_SYMMETRIC)
    return (after, before) if transpose else (before, after)


class ExactFilter:
    """The O(N^2) Gaussian filter with the :class:`Lattice` interface (small N only)."""

    def __init__(self, features):
        f = np.asarray(features, dtype=np.float64)
        if f.shape[0] > EXACT_MAX_POINTS:
            raise ValueError(f"method='exact' builds an (N, N) kernel and allows N <= {EXACT_MAX_POINTS} "
                             f"points (e.g. 64x64 pixels); got N = {f.shape[0]}. Use method='lattice'.")
        dist2 = cdist(f, f, "sqeuclidean")  # sums of squared differences: huge ones overflow to inf, not NaN
        self.K = np.exp(-0.5 * dist2)
        self.n_points, self.dim = f.shape

    def filter(self, values, transpose=False):
        v = np.asarray(values, dtype=np.float64)
        return (self.K.T if transpose else self.K) @ v


class GaussianKernel:
    """One pairwise kernel: a filter (lattice or exact) and its normalisation.

    Parameters
    ----------
    features : (N, d) already divided by the standard deviations
    normalization : one of the four constants above
    method : "lattice" or "exact"
    """

    def __init__(self, features, normalization=NORMALIZE_SYMMETRIC, method="lattice"):
        check_method(method)
        normalizer_sides(normalization)  # validates
        self._init(Lattice(features) if method == "lattice" else ExactFilter(features), normalization)

    @classmethod
    def on(cls, filt, normalization=NORMALIZE_SYMMETRIC):
        """The kernel of an existing :class:`Lattice` or :class:`ExactFilter`."""
        normalizer_sides(normalization)
        kernel = cls.__new__(cls)
        kernel._init(filt, normalization)
        return kernel

    def _init(self, filt, normalization):
        self.filt = filt
        self.normalization = normalization
        k1 = np.asarray(filt.filter(np.ones((filt.n_points, 1))), dtype=np.float64)[:, 0]  # K 1
        root = normalization == NORMALIZE_SYMMETRIC
        norm = (1.0 / np.sqrt(k1 + 1e-20)) if root else (1.0 / (k1 + 1e-20))
        self.norm = norm[:, None].astype(np.float64 if isinstance(filt, ExactFilter) else np.float32)

    def apply(self, Q, transpose=False):
        """Filter ``Q`` (N, V) with the normalisation."""
        pre, post = normalizer_sides(self.normalization, transpose)
        x = Q * self.norm if pre else Q
        x = self.filt.filter(x, transpose)
        return x * self.norm if post else x
