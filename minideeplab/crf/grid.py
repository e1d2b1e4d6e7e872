"""The grid CRF: mean field with a contrast-sensitive Potts term on the 4/8-neighbourhood.

Energy (the TextonBoost / GrabCut form of the pairwise term)::

    E(x) = sum_i U_i(x_i) + sum_{(i,j) neighbours} [x_i != x_j] (w_smooth + w_contrast exp(-beta |I_i - I_j|^2)) / |p_i - p_j|

with ``beta = 1 / (2 <|I_i - I_j|^2>)`` over the image's edges unless given. The
parallel mean-field update is::

    Q_i(l) ∝ exp( -U_i(l) + sum_{j in N(i)} w_ij Q_j(l) )

Only neighbours interact: long-range agreement must travel pixel by pixel, and thin
structures pay for their long boundary (the "shrinking bias").
"""
from __future__ import annotations

import numpy as np

from .._numba import in_threads
from ._checks import MAX_IMAGE_MAGNITUDE, check_image_probs, check_n_iter, check_weight
from ._grid_kernels import grid_step, normalize_into_padded
from .softmax import clipped_log, exp_inplace, padded_energies, padded_label_count


OFFSETS = np.array([(0, -1), (0, 1), (-1, 0), (1, 0), (-1, -1), (1, 1), (-1, 1), (1, -1)], np.int64)


def edge_weights(image, connectivity=4, w_smooth=1.0, w_contrast=3.0, beta=None):
    """Potts weights of the edges ``(wh, wv, wd, wa)`` and beta.

    wh (H, W-1): edge (y, x)-(y, x+1); wv (H-1, W): (y, x)-(y+1, x); wd (H-1, W-1):
    (y, x)-(y+1, x+1); wa (H-1, W-1): (y, x+1)-(y+1, x). wd/wa are empty for 4-connectivity.
    """
    # 8-bit images in float32 (exact: squared sums stay below 2^24), anything else in float64
    # (a float image's squares could overflow float32)
    small = np.issubdtype(image.dtype, np.integer) and image.dtype.itemsize == 1
    img = image.astype(np.float32 if small else np.float64)
    if img.ndim == 2:
        img = img[:, :, None]
    pairs = [(img[:, :-1] - img[:, 1:]), (img[:-1] - img[1:])]
    if connectivity == 8:
        pairs += [(img[:-1, :-1] - img[1:, 1:]), (img[:-1, 1:] - img[1:, :-1])]
    sq = [np.einsum("ijc,ijc->ij", d, d) for d in pairs]
    if beta is None:
        mean = sum(s.sum(dtype=np.float64) for s in sq) / max(sum(s.size for s in sq), 1)
        beta = 0.5 / mean if mean > 0 else 0.0
    ws = []
    for k, s in enumerate(sq):
        np.multiply(s, -beta, out=s, casting="same_kind")
        np.exp(s, out=s)
        dist = 1.0 if k < 2 else np.sqrt(2.0)
        ws.append((s * (w_contrast / dist) + w_smooth / dist).astype(np.float32, copy=False))
    if connectivity == 4:
        empty = np.zeros((0, 0), np.float32)
        ws += [empty, empty]
    return ws, beta


def neighbour_weights(ws, H, W, connectivity):
    """(K, H, W) weight of each pixel's k-th neighbour (``OFFSETS[k]``), 0 off the image."""
    wh, wv, wd, wa = ws
    K = connectivity
    out = np.zeros((K, H, W), np.float32)
    out[0, :, 1:] = wh          # left neighbour
    out[1, :, :-1] = wh         # right
    out[2, 1:, :] = wv          # up
    out[3, :-1, :] = wv         # down
    if K == 8:
        out[4, 1:, 1:] = wd     # up-left
        out[5, :-1, :-1] = wd   # down-right
        out[6, 1:, :-1] = wa    # up-right
        out[7, :-1, 1:] = wa    # down-left
    return out


def grid_crf(image, probs, *, n_iter=10, connectivity=4, w_smooth=1.0, w_contrast=3.0, beta=None,
             return_history=False):
    """Refine per-pixel probabilities with a grid CRF (mean field, no graph cuts).

    Parameters
    ----------
    image : (H, W, C) uint8 or float (C >= 1): the contrast term's colours
    probs : (L, H, W) probabilities summing to one over L; the unary is -log(max(probs, 1e-5))
    n_iter : mean-field iterations
    connectivity : 4 or 8 (diagonal edges weighted by 1/sqrt(2))
    w_smooth, w_contrast : the constant and the contrast-sensitive Potts weights
    beta : contrast scale; None = 1 / (2 * mean squared colour difference over edges)
    return_history : also return Q after every iteration (n_iter + 1 maps)

    Returns
    -------
    Q : (L, H, W) float32 (or ``(Q, history)``)
    """
    image, probs = check_image_probs(image, probs)
    n_iter = check_n_iter(n_iter)
    if isinstance(connectivity, bool) or not isinstance(connectivity, (int, np.integer)) or connectivity not in (4, 8):
        raise ValueError(f"connectivity must be 4 or 8 (an int), got {connectivity!r}")
    check_weight(w_smooth=w_smooth, w_contrast=w_contrast)
    if beta is not None:
        check_weight(maximum=np.finfo(np.float64).max, beta=beta)  # inf * 0 would be NaN on flat regions
    top = float(np.abs(image).max())
    if top > MAX_IMAGE_MAGNITUDE:
        raise ValueError(f"image values reach {top:.3g}; the grid CRF's contrast term needs them within "
                         f"{MAX_IMAGE_MAGNITUDE:g} in magnitude (rescale the image)")
    L, H, W = probs.shape
    ws, _ = edge_weights(image, connectivity, w_smooth, w_contrast, beta)
    weights = neighbour_weights(ws, H, W, connectivity)
    offsets = OFFSETS[:connectivity]
    # labels padded (energy -inf, so Q = 0 there): vectorised inner loops
    n_padded = padded_label_count(L)
    minus_unary, shifted = padded_energies(clipped_log(probs), n_padded)
    exp_inplace(shifted)
    minus_unary, exps = minus_unary.reshape(H, W, n_padded), shifted.reshape(H, W, n_padded)
    Qp = np.zeros((H + 2, W + 2, n_padded), np.float32)  # Q with a border of zeros
    Qnext = np.zeros_like(Qp)                             # the update reads Qp, writes Qnext
    in_threads(lambda a, b: normalize_into_padded(exps[a:b], Qp[a:b + 2]), H, min_rows=64)
    history = [Qp[1:-1, 1:-1, :L].copy()] if return_history else None
    for _ in range(n_iter):
        in_threads(lambda a, b: grid_step(minus_unary, Qp, weights, offsets, Qnext, a, b), H, min_rows=64)
        Qp, Qnext = Qnext, Qp
        if return_history:
            history.append(Qp[1:-1, 1:-1, :L].copy())
    out = np.ascontiguousarray(Qp[1:-1, 1:-1, :L].transpose(2, 0, 1))
    if return_history:
        return out, [np.ascontiguousarray(q.transpose(2, 0, 1)) for q in history]
    return out
