"""Numba kernel of the boosted trees' decision function (``nogil``; :mod:`.boost` validates)."""
from __future__ import annotations

import numpy as np

from .._numba import njit


@njit
def tree_scores(X, feature, threshold, left, right, value, tree_offset, tree_class, baseline, out, a, b):
    """out[i, c] = baseline[c] + the sum over the trees t of class c of the value of the leaf
    that sample i reaches in t, for the samples i in [a, b).

    X : (N, F) float32 or float64; feature, left, right : (M,) int32, -1 at leaves (children
    hold global node indices); threshold, value : (M,) float64; tree_offset : (T + 1,) int64,
    tree t = nodes [tree_offset[t], tree_offset[t + 1]); tree_class : (T,) int32;
    baseline : (L,) float64; out : (N, L) float32. A sample goes left when x <= threshold.
    Each sum is taken in float64, in the order of the trees, then rounded once into ``out``.
    """
    L = baseline.shape[0]
    acc = np.empty(L, np.float64)
    for i in range(a, b):
        for c in range(L):
            acc[c] = baseline[c]
        for t in range(tree_class.shape[0]):
            n = tree_offset[t]
            while left[n] >= 0:
                if X[i, feature[n]] <= threshold[n]:
                    n = left[n]
                else:
                    n = right[n]
            acc[tree_class[t]] += value[n]
        for c in range(L):
            out[i, c] = acc[c]
