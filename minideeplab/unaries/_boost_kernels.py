"""Numba kernel of the boosted trees' decision function (``nogil``; :mod:`.boost` validates)."""
from __future__ import annotations

import numpy as np

from .._numba import njit

BLOCK = 128  # samples per block: 128 rows of 406 float32 features are 208 kB


@njit
def tree_scores(X, feature, threshold, left, right, value, tree_offset, tree_class, baseline, out, a, b):
    """out[i, c] = baseline[c] + the sum over the trees t of class c of the value of the leaf
    that sample i reaches in t, for the samples i in [a, b).

    X : (N, F) float32 or float64; feature, left, right : (M,) int32, -1 at leaves (children
    hold global node indices); threshold, value : (M,) float64; tree_offset : (T + 1,) int64,
    tree t = nodes [tree_offset[t], tree_offset[t + 1]); tree_class : (T,) int32;
    baseline : (L,) float64; out : (N, L) float32. A sample goes left when x <= threshold.
    Each sum is taken in float64, in the order of the trees, then rounded once into ``out``.

    The samples go in blocks of ``BLOCK``, each tree walked by the whole block before the
    next: the tree's nodes stay in the L1 cache and the block's rows in L2, instead of every
    sample streaming all the trees' nodes from memory.
    """
    L = baseline.shape[0]
    acc = np.empty((BLOCK, L), np.float64)
    for start in range(a, b, BLOCK):
        stop = min(start + BLOCK, b)
        for i in range(start, stop):
            for c in range(L):
                acc[i - start, c] = baseline[c]
        for t in range(tree_class.shape[0]):
            root, c = tree_offset[t], tree_class[t]
            for i in range(start, stop):
                n = root
                while left[n] >= 0:
                    if X[i, feature[n]] <= threshold[n]:
                        n = left[n]
                    else:
                        n = right[n]
                acc[i - start, c] += value[n]
        for i in range(start, stop):
            for c in range(L):
                out[i, c] = acc[i - start, c]
