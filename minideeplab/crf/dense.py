"""The fully connected CRF of Krähenbühl & Koltun (NIPS 2011) with mean-field inference.

Energy over labellings x of the N pixels::

    E(x) = sum_i U_i(x_i) + sum_{i<j} mu(x_i, x_j) [ w1 exp(-|p_i-p_j|^2/2 theta_alpha^2 - |I_i-I_j|^2/2 theta_beta^2)
                                                  + w2 exp(-|p_i-p_j|^2/2 theta_gamma^2) ]

with U = -log P (the DCNN's probabilities) and Potts mu(l, l') = [l != l']. Mean field
iterates, for every pixel at once::

    Q_i(l) ∝ exp( -U_i(l) - sum_m w_m sum_l' mu(l, l') sum_j k_m(f_i, f_j) Q_j(l') )

The sums over j are Gaussian filters, computed with the permutohedral lattice in
O(N) (``method="lattice"``) or exactly in O(N^2) (``method="exact"``, small images).
As in Krähenbühl's code (and pydensecrf, and DeepLab), the filters include j = i and
are normalised symmetrically by default.
"""
from __future__ import annotations

import numpy as np

from .._validate import is_array
from ._kernels import softmax_into, transpose_into
from .kernels import NORMALIZATIONS, GaussianKernel
from .lattice import Lattice
from .meanfield import LatticeMeanField

PROB_CLIP = 1e-5
"""Probabilities are clipped to [PROB_CLIP, 1] before the log (pydensecrf's default)."""


def check_image_probs(image, probs):
    """Validate ``image`` (H, W, C) and ``probs`` (L, H, W); returns float64 views."""
    if not is_array(image) or not is_array(probs):
        raise TypeError("image and probs must be arrays")
    image, probs = np.asarray(image), np.asarray(probs)
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3:
        raise ValueError(f"image must have shape (H, W, C), got {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0 or image.shape[2] == 0:
        raise ValueError(f"image is empty: {image.shape}")
    if not (np.issubdtype(image.dtype, np.floating) or np.issubdtype(image.dtype, np.integer)):
        raise TypeError(f"image must be numeric, got dtype {image.dtype}")
    if probs.ndim != 3:
        raise ValueError(f"probs must have shape (L, H, W), got {probs.shape}")
    if probs.shape[1:] != image.shape[:2]:
        raise ValueError(f"probs {probs.shape} and image {image.shape} must agree on (H, W)")
    if probs.shape[0] < 1:
        raise ValueError("probs must have at least one label")
    if not np.issubdtype(probs.dtype, np.floating):
        raise TypeError(f"probs must be a floating-point array, got dtype {probs.dtype}")
    lo, hi = probs.min(), probs.max()  # NaN propagates through both
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise ValueError("probs contains NaN or infinite values")
    if np.issubdtype(image.dtype, np.floating) and not np.isfinite(image.min() + image.max()):
        raise ValueError("image contains NaN or infinite values")
    if lo < 0:
        raise ValueError(f"probs must be non-negative, found {lo}")
    sums = probs.sum(axis=0)
    if np.abs(sums - 1.0).max() > 1e-3:
        raise ValueError(f"probs must sum to one over labels (axis 0); sums range over [{sums.min():.4g}, {sums.max():.4g}]")
    return image, probs


def _check_positive(**kw):
    for name, v in kw.items():
        if not isinstance(v, (int, float, np.floating, np.integer)) or not np.isfinite(v) or v <= 0:
            raise ValueError(f"{name} must be a positive number, got {v!r}")


def _check_weight(**kw):
    for name, v in kw.items():
        if not isinstance(v, (int, float, np.floating, np.integer)) or not np.isfinite(v) or v < 0:
            raise ValueError(f"{name} must be a number >= 0, got {v!r}")


def check_n_iter(n_iter):
    if not isinstance(n_iter, (int, np.integer)) or isinstance(n_iter, bool):
        raise TypeError(f"n_iter must be an int, got {type(n_iter).__name__}")
    if n_iter < 0:
        raise ValueError(f"n_iter must be >= 0, got {n_iter}")
    return int(n_iter)


def _compat_matrix(compat, L):
    if isinstance(compat, str):
        if compat != "potts":
            raise ValueError(f"compat must be 'potts' or an (L, L) array, got {compat!r}")
        return None
    mu = np.asarray(compat, dtype=np.float64)
    if mu.shape != (L, L):
        raise ValueError(f"compat must be 'potts' or an ({L}, {L}) array for L = {L} labels, got shape {mu.shape}")
    if not np.all(np.isfinite(mu)):
        raise ValueError("compat contains NaN or infinite values")
    return mu


def pixel_features(image, H, W, theta_xy, theta_rgb=None):
    """(H*W, 2 [+ C]) features ``[x/theta_xy, y/theta_xy, I_c/theta_rgb...]`` in pixel order."""
    yy, xx = np.mgrid[0:H, 0:W]
    cols = [xx.reshape(-1) / theta_xy, yy.reshape(-1) / theta_xy]
    if theta_rgb is not None:
        chans = image.reshape(H * W, -1).astype(np.float64) / theta_rgb
        return np.column_stack(cols + [chans])
    return np.column_stack(cols)


def unary_from_probs(probs, clip=PROB_CLIP):
    """``-log(clip(probs))``, (L, H, W) -> (N, L) float32 in pixel order."""
    L = probs.shape[0]
    u = np.clip(probs.reshape(L, -1), clip, 1.0, dtype=np.float32)
    np.log(u, out=u)
    np.negative(u, out=u)
    return np.ascontiguousarray(u.T)


def mean_field(unary, kernels, weights, n_iter, mu=None, history=None):
    """Run ``n_iter`` parallel mean-field updates.

    Parameters
    ----------
    unary : (N, L) energies U
    kernels : list of objects with ``apply(Q) -> (N, L)`` (normalised Gaussian filtering)
    weights : list of kernel weights w_m
    mu : None for Potts, else the (L, L) label compatibility
    history : optional list; Q after each iteration (and the initial Q) are appended

    Returns
    -------
    Q : (N, L) float32
    """
    neg = np.ascontiguousarray(-unary, dtype=np.float32)
    Q = softmax_into(neg, np.empty_like(neg))
    if history is not None:
        history.append(Q.copy())
    mu = -np.eye(neg.shape[1]) if mu is None else mu  # Potts = -I up to a per-pixel constant
    for _ in range(n_iter):
        E = neg.astype(np.float64)
        for wm, k in zip(weights, kernels):
            E -= wm * (np.asarray(k.apply(Q), dtype=np.float64) @ mu.T)
        softmax_into(E.astype(np.float32), Q)
        if history is not None:
            history.append(Q.copy())
    return Q


def dense_crf(image, probs, *, n_iter=10, w_bilateral=4.0, theta_alpha=121.0, theta_beta=5.0,
              w_gaussian=3.0, theta_gamma=3.0, compat="potts", method="lattice",
              normalization="symmetric", return_history=False):
    """Refine per-pixel label probabilities with the fully connected CRF.

    Parameters
    ----------
    image : (H, W, C) array, uint8 RGB or float, any C >= 1 (the bilateral kernel's range features)
    probs : (L, H, W) probabilities (summing to one over L); the unary is -log(max(probs, 1e-5))
    n_iter : mean-field iterations (0 returns softmax(-U), i.e. the clipped probs)
    w_bilateral, theta_alpha, theta_beta : appearance kernel weight w1 and its position
        (pixels) and colour (intensity units) standard deviations
    w_gaussian, theta_gamma : smoothness kernel weight w2 and position std
    compat : "potts" or an (L, L) label compatibility mu (Potts = ``1 - eye(L)``)
    method : "lattice" (permutohedral, O(N)) or "exact" (O(N^2), at most 4096 pixels)
    normalization : "symmetric" (default), "before", "after" or "none" (see ``crf.kernels``)
    return_history : also return the list of Q after each iteration (n_iter + 1 maps,
        the first being softmax(-U))

    Returns
    -------
    Q : (L, H, W) float32, or ``(Q, history)`` with ``return_history=True``

    Notes
    -----
    The defaults are DeepLab-LargeFOV's cross-validated values on PASCAL VOC (w1=4,
    theta_alpha=121, theta_beta=5, w2=3, theta_gamma=3). pydensecrf's examples and
    Krähenbühl & Koltun's MSRC setting use ``addPairwiseGaussian(sxy=3, compat=3)`` and
    ``addPairwiseBilateral(sxy=80, srgb=13, compat=10)``, i.e. ``w_bilateral=10,
    theta_alpha=80, theta_beta=13, w_gaussian=3, theta_gamma=3``.
    """
    image, probs = check_image_probs(image, probs)
    n_iter = check_n_iter(n_iter)
    _check_positive(theta_alpha=theta_alpha, theta_beta=theta_beta, theta_gamma=theta_gamma)
    _check_weight(w_bilateral=w_bilateral, w_gaussian=w_gaussian)
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {list(NORMALIZATIONS)}, got {normalization!r}")
    if method not in ("lattice", "exact"):
        raise ValueError(f"method must be 'lattice' or 'exact', got {method!r}")
    L, H, W = probs.shape
    mu = _compat_matrix(compat, L)
    norm = NORMALIZATIONS[normalization]
    feats, weights = [], []
    if w_bilateral > 0:
        feats.append(pixel_features(image, H, W, theta_alpha, theta_beta))
        weights.append(float(w_bilateral))
    if w_gaussian > 0:
        feats.append(pixel_features(image, H, W, theta_gamma))
        weights.append(float(w_gaussian))
    history = [] if return_history else None
    if method == "lattice" and feats:
        engine = LatticeMeanField(Lattice.many(feats), weights, [norm] * len(feats))
        if mu is None:
            logp = np.clip(probs.reshape(L, H * W), PROB_CLIP, 1.0, dtype=np.float32)  # -U, label-major
            np.log(logp, out=logp)
            Q = engine.potts(logp, n_iter, history)  # (N, Lp): labels padded
        else:
            Q = engine.general(unary_from_probs(probs), n_iter, mu, history)
    else:
        kernels = [GaussianKernel(f, norm, method) for f in feats]
        Q = mean_field(unary_from_probs(probs), kernels, weights, n_iter, mu, history)
    out = _to_label_major(Q, L, H, W)
    if return_history:
        return out, [_to_label_major(q, L, H, W) for q in history]
    return out


def _to_label_major(Q, L, H, W):
    """(N, >= L) pixel-major beliefs -> (L, H, W), a new array."""
    out = np.empty((L, H * W), np.float32)
    transpose_into(np.ascontiguousarray(Q, dtype=np.float32), out)
    return out.reshape(L, H, W)
