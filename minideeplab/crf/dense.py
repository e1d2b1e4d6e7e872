"""The fully connected CRF of Krähenbühl & Koltun (NIPS 2011) with mean-field inference.

Energy over labellings x of the N pixels::

    E(x) = sum_i U_i(x_i) + sum_{i<j} mu(x_i, x_j) [ w1 exp(-|p_i-p_j|^2/2 theta_alpha^2 - |I_i-I_j|^2/2 theta_beta^2)
                                                  + w2 exp(-|p_i-p_j|^2/2 theta_gamma^2) ]

with U = -log P (the DCNN's probabilities) and Potts mu(l, l') = [l != l'] (or one learned mu per
kernel, as pydensecrf's per-pairwise ``compat`` and CRF-as-RNN's per-kernel matrices). Mean field
iterates, for every pixel at once::

    Q_i(l) ∝ exp( -U_i(l) - sum_m w_m sum_l' mu(l, l') sum_j k_m(f_i, f_j) Q_j(l') )

The sums over j are Gaussian filters, computed with the permutohedral lattice in
O(N) (``method="lattice"``) or exactly in O(N^2) (``method="exact"``, small images).
As in Krähenbühl's code (and pydensecrf, and DeepLab), the filters include j = i and
are normalised symmetrically by default.
"""
from __future__ import annotations

import numpy as np

from ._checks import (check_feature_range, check_image_probs, check_method, check_n_iter, check_positive, check_weight,
                      compat_matrix, label_bias)
from .lattice import Lattice
from .meanfield import LatticeMeanField, mean_field
from .pairwise import GaussianKernel, normalization_constant
from .softmax import PROB_CLIP, clipped_log, to_label_major


def pixel_features(image, H, W, theta_xy, theta_rgb=None):
    """(H*W, 2 [+ C]) features ``[x/theta_xy, y/theta_xy, I_c/theta_rgb...]`` in pixel order."""
    yy, xx = np.mgrid[0:H, 0:W]
    with np.errstate(over="ignore"):  # a tiny theta overflows to inf, which _scaled refuses by name
        cols = [xx.reshape(-1) / theta_xy, yy.reshape(-1) / theta_xy]
        if theta_rgb is not None:
            chans = image.reshape(H * W, -1).astype(np.float64) / theta_rgb
            return np.column_stack(cols + [chans])
    return np.column_stack(cols)


def _scaled(features, method, what):
    """The features, checked: within the lattice's range, or finite for the exact filter."""
    if method == "lattice":
        check_feature_range(features, what)
    elif not np.all(np.isfinite(features)):
        raise ValueError(f"{what} are not finite (a standard deviation too small?)")
    return features


def unary_from_probs(probs):
    """``-log(clip(probs, PROB_CLIP, 1))``, (L, H, W) -> (N, L) float32 in pixel order."""
    return np.ascontiguousarray(np.negative(clipped_log(probs)).T)


def _unary(probs, bias):
    """(N, L) unary of ``probs`` less the per-label ``bias`` (None or (L,))."""
    unary = unary_from_probs(probs)
    if bias is not None:
        unary -= bias
    return unary


def dense_crf(image, probs, *, n_iter=10, w_bilateral=4.0, theta_alpha=121.0, theta_beta=5.0,
              w_gaussian=3.0, theta_gamma=3.0, compat="potts", method="lattice",
              normalization="symmetric", bias=None, return_history=False):
    """Refine per-pixel label probabilities with the fully connected CRF.

    Parameters
    ----------
    image : (H, W, C) array, uint8 RGB or float, any C >= 1 (the bilateral kernel's range features)
    probs : (L, H, W) probabilities (summing to one over L); the unary is -log(max(probs, 1e-5));
        NumPy or CuPy arrays (CuPy ones are copied to the host: the CRF runs on the CPU)
    n_iter : mean-field iterations (0 returns softmax(-U), i.e. the clipped probs)
    w_bilateral, theta_alpha, theta_beta : appearance kernel weight w1 and its position
        (pixels) and colour (intensity units) standard deviations
    w_gaussian, theta_gamma : smoothness kernel weight w2 and position std
    compat : "potts", an (L, L) label compatibility mu shared by both kernels (Potts = ``1 - eye(L)``),
        or a (2, L, L) pair: mu of the bilateral kernel, then mu of the Gaussian one
    method : "lattice" (permutohedral, O(N)) or "exact" (O(N^2), at most 4096 pixels)
    normalization : "symmetric" (default), "before", "after" or "none" (see ``crf.pairwise``)
    bias : None or (L,) numbers b added to the log-probabilities, U_i(l) = -log P_i(l) - b_l: a
        per-label prior (the weight of the log-linear feature [x_i = l]; ``learn_crf(learn_bias=True)``
        learns it). Equal to scaling probs by exp(b) and renormalising, up to the clipping
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
    check_positive(theta_alpha=theta_alpha, theta_beta=theta_beta, theta_gamma=theta_gamma)
    check_weight(w_bilateral=w_bilateral, w_gaussian=w_gaussian)
    normalization = normalization_constant(normalization)
    check_method(method)
    L, H, W = probs.shape
    mu = compat_matrix(compat, L)
    b = label_bias(bias, L)
    features, weights, kinds = [], [], []  # kinds: 0 bilateral, 1 Gaussian (zero weights left out)
    if w_bilateral > 0:
        features.append(_scaled(pixel_features(image, H, W, theta_alpha, theta_beta), method,
                                "positions / theta_alpha and image / theta_beta"))
        weights.append(float(w_bilateral))
        kinds.append(0)
    if w_gaussian > 0:
        features.append(_scaled(pixel_features(image, H, W, theta_gamma), method, "positions / theta_gamma"))
        weights.append(float(w_gaussian))
        kinds.append(1)
    history = [] if return_history else None
    if method == "lattice" and features:
        engine = LatticeMeanField(Lattice.many(features), weights, [normalization] * len(features))
        if mu is None:
            logp = clipped_log(probs)
            Q = engine.potts(logp if b is None else logp + b[:, None], n_iter, history)  # (N, L padded)
        else:
            Q = engine.general(_unary(probs, b), n_iter, mu if mu.ndim == 2 else [mu[k] for k in kinds], history)
    else:
        kernels = [GaussianKernel(f, normalization, method) for f in features]
        mu = -np.eye(L) if mu is None else mu  # Potts = 1 - I = -I up to a per-pixel constant
        Q = mean_field(_unary(probs, b), kernels, [w * (mu if mu.ndim == 2 else mu[k]) for w, k in zip(weights, kinds)],
                       n_iter, history)
    out = to_label_major(Q, L, H, W)
    if return_history:
        return out, [to_label_major(q, L, H, W) for q in history]
    return out
