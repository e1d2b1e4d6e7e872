"""Numba kernel of the texture-layout features (``nogil``; :mod:`.layout` validates)."""
from __future__ import annotations

from .._numba import njit


@njit
def layout_features(integral, which, rects, out, f0, f1):
    """out[y, x, f] for the features f in [f0, f1): the count of texton ``which[f]``'s pixels in
    the rectangle ``rects[f] = (dy0, dx0, dy1, dx1)`` offset from (y, x), clipped to the image,
    divided by the rectangle's full area.

    integral : (T, H + 1, W + 1) int32 integral images, ``integral[k, y, x]`` = pixels of the k-th
    texton in rows < y, columns < x; which : (F,) index into integral; rects : (F, 4) int64.
    """
    _, H1, W1 = integral.shape
    H, W = H1 - 1, W1 - 1
    for f in range(f0, f1):
        k = which[f]
        dy0, dx0, dy1, dx1 = rects[f, 0], rects[f, 1], rects[f, 2], rects[f, 3]
        inv_area = 1.0 / ((dy1 - dy0) * (dx1 - dx0))
        for y in range(H):
            top, bottom = min(max(y + dy0, 0), H), min(max(y + dy1, 0), H)
            for x in range(W):
                left, right = min(max(x + dx0, 0), W), min(max(x + dx1, 0), W)
                count = (integral[k, bottom, right] - integral[k, top, right]
                         - integral[k, bottom, left] + integral[k, top, left])
                out[y, x, f] = count * inv_area
