"""Numba kernel of the colour-rectangle features (``nogil``; :mod:`.textonboost` validates)."""
from __future__ import annotations

from .._numba import njit


@njit
def rect_means(integral, rects, out, r0, r1):
    """out[y, x, r * C + c] for the rectangles r in [r0, r1): the mean of channel c over the
    pixels of ``rects[r] = (dy0, dx0, dy1, dx1)`` offset from (y, x), clipped to the image.
    A rectangle whose rows (or columns) all fall outside keeps the nearest row (column).

    integral : (C, H + 1, W + 1) float64 integral images, ``integral[c, y, x]`` = the sum of
    channel c over rows < y, columns < x; rects : (R, 4) int64; out : (H, W, R * C) float32.
    """
    C, H1, W1 = integral.shape
    H, W = H1 - 1, W1 - 1
    for r in range(r0, r1):
        dy0, dx0, dy1, dx1 = rects[r, 0], rects[r, 1], rects[r, 2], rects[r, 3]
        for y in range(H):
            top = min(max(y + dy0, 0), H - 1)
            bottom = min(max(y + dy1, top + 1), H)
            for x in range(W):
                left = min(max(x + dx0, 0), W - 1)
                right = min(max(x + dx1, left + 1), W)
                inv_area = 1.0 / ((bottom - top) * (right - left))
                for c in range(C):
                    total = (integral[c, bottom, right] - integral[c, top, right]
                             - integral[c, bottom, left] + integral[c, top, left])
                    out[y, x, r * C + c] = total * inv_area
