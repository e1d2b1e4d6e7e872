"""Texture-layout features (Shotton et al., IJCV 2009): "the share of texton t in a rectangle r
at an offset from the pixel", the feature that lets a classifier see context (a cow's pixel
has grass textons below it).

A feature is a pair (r, t): r = (dy0, dx0, dy1, dx1) relative to the pixel (rows y + dy0 ..
y + dy1 - 1, columns alike), t a texton. Its value at pixel i is the number of pixels of
texton t in r + i (clipped to the image) over the area of r, from the integral image of t's
indicator in four lookups.
"""
from __future__ import annotations

import numpy as np

from .._numba import in_threads


def random_layout_features(n, n_textons, rng, reach=60, min_side=4, max_side=40):
    """``n`` random (rectangle, texton) pairs: rectangles of sides in [min_side, max_side]
    within ``reach`` pixels of the pixel. Returns ``rects`` (n, 4) int64 and ``textons`` (n,)."""
    side = rng.integers(min_side, max_side + 1, size=(n, 2))
    corner = rng.integers(-reach, reach + 1, size=(n, 2))
    rects = np.column_stack([corner[:, 0], corner[:, 1], corner[:, 0] + side[:, 0], corner[:, 1] + side[:, 1]])
    return rects.astype(np.int64), rng.integers(0, n_textons, size=n)


def integral_images(texton_map, textons):
    """(T, H + 1, W + 1) int32: the integral image of each texton in ``textons`` in ``texton_map``."""
    tm = np.asarray(texton_map)
    ii = np.zeros((len(textons), tm.shape[0] + 1, tm.shape[1] + 1), np.int32)
    for k, t in enumerate(textons):
        ii[k, 1:, 1:] = (tm == t).cumsum(axis=0).cumsum(axis=1)
    return ii


def layout_features(texton_map, rects, textons):
    """The texture-layout features of every pixel.

    Parameters
    ----------
    texton_map : (H, W) integer texton indices
    rects : (F, 4) int rectangles (dy0, dx0, dy1, dx1), dy1 > dy0 and dx1 > dx0
    textons : (F,) the texton of each feature

    Returns
    -------
    (H, W, F) float32 shares in [0, 1]
    """
    from ._layout_kernels import layout_features as kernel

    tm = np.asarray(texton_map)
    rects = np.ascontiguousarray(rects, np.int64)
    textons = np.asarray(textons)
    if tm.ndim != 2 or not np.issubdtype(tm.dtype, np.integer):
        raise ValueError(f"texton_map must be an (H, W) integer array, got shape {tm.shape}, dtype {tm.dtype}")
    if rects.ndim != 2 or rects.shape[1] != 4 or textons.shape != (rects.shape[0],):
        raise ValueError(f"rects must be (F, 4) and textons (F,), got {rects.shape} and {textons.shape}")
    if np.any(rects[:, 2] <= rects[:, 0]) or np.any(rects[:, 3] <= rects[:, 1]):
        raise ValueError("every rectangle needs dy1 > dy0 and dx1 > dx0")
    used, which = np.unique(textons, return_inverse=True)
    ii = integral_images(tm, used)
    out = np.empty(tm.shape + (rects.shape[0],), np.float32)
    in_threads(lambda a, b: kernel(ii, which.astype(np.int64), rects, out, a, b), rects.shape[0], min_rows=2)
    return out
