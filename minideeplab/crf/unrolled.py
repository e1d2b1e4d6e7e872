"""Mean field unrolled as a network: the fully connected CRF's forward and backward pass.

Zheng et al. (ICCV 2015, CRF-as-RNN) showed that the mean-field iterations of the fully
connected CRF are differentiable, so its weights and label compatibilities can be learned
(and the DCNN below trained through it). With unary energies U (N, L), kernels K_m
(normalised Gaussian filters, :mod:`.pairwise`) of weight w_m and compatibility matrices mu_m
(L, L) (one matrix shared by the kernels, mu_m = mu, or one per kernel), T iterations are::

    Q_0 = softmax(-U)
    E_t = -U - sum_m w_m (K_m Q_{t-1}) mu_m^T        (N, L)
    Q_t = softmax(E_t),   t = 1..T

and the backward pass runs them in reverse, with dE = Q * (dQ - sum_l Q dQ) for each softmax::

    dU      -= dE_t                     (and -dE_0 for Q_0)
    dw_m    -= sum(dE_t * (K_m Q_{t-1}) mu_m^T)
    dmu_m   -= w_m dE_t^T (K_m Q_{t-1})          (a shared mu: the sum over m)
    dQ_{t-1} = -sum_m w_m K_m^T (dE_t mu_m)

K_m^T is the transposed filter: for the exact kernel the transposed matrix, for the lattice
the same splat / blur / slice with the normalisation on the other side (:class:`Lattice`
``filter(..., transpose=True)``), i.e. the exact adjoint of the lattice forward. The
standard deviations theta stay fixed: they define the features, not weights of the
log-linear model.
"""
from __future__ import annotations

import numpy as np

from ._checks import check_method, check_n_iter, check_positive, check_weight, compat_matrix
from .dense import _scaled, pixel_features
from .pairwise import GaussianKernel, normalization_constant


def _softmax(E):
    E = E - E.max(axis=1, keepdims=True)
    P = np.exp(E)
    return P / P.sum(axis=1, keepdims=True)


def _check_unary(image, unary):
    image, unary = np.asarray(image), np.asarray(unary)
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or 0 in image.shape:
        raise ValueError(f"image must have shape (H, W, C), got {image.shape}")
    if not (np.issubdtype(image.dtype, np.floating) or np.issubdtype(image.dtype, np.integer)):
        raise TypeError(f"image must be numeric, got dtype {image.dtype}")
    if unary.ndim != 3 or unary.shape[1:] != image.shape[:2] or unary.shape[0] < 1:
        raise ValueError(f"unary must be (L, H, W) with the image's (H, W) = {image.shape[:2]}, got {unary.shape}")
    if not np.issubdtype(unary.dtype, np.floating):
        raise TypeError(f"unary must be a floating-point array, got dtype {unary.dtype}")
    if not np.all(np.isfinite(unary)):
        raise ValueError("unary contains NaN or infinite values")
    if np.issubdtype(image.dtype, np.floating) and not np.all(np.isfinite(image)):
        raise ValueError("image contains NaN or infinite values")
    return image, unary


def dense_crf_forward(image, unary, *, n_iter=5, w_bilateral=4.0, theta_alpha=121.0, theta_beta=5.0,
                      w_gaussian=3.0, theta_gamma=3.0, compat="potts", method="lattice",
                      normalization="symmetric"):
    """Fully connected CRF mean field, keeping what the backward pass needs.

    Parameters
    ----------
    image : (H, W, C) array (uint8 RGB or float)
    unary : (L, H, W) energies U (-log P, or a network's negative scores); float64 computes in
        float64 (for gradient checks), float32 in float32
    n_iter, w_bilateral, theta_alpha, theta_beta, w_gaussian, theta_gamma, method,
    normalization : as :func:`minideeplab.crf.dense_crf` (the thetas are fixed features)
    compat : "potts" (mu = 1 - I), an (L, L) matrix mu shared by the kernels, or a (2, L, L) pair
        (mu of the bilateral kernel, then of the Gaussian one)

    Returns
    -------
    Q : (L, H, W) beliefs after ``n_iter`` iterations, the dtype of ``unary``; the same as
        ``dense_crf(image, probs)`` when ``unary = -log(max(probs, 1e-5))``
    cache : for :func:`dense_crf_backward`
    """
    image, unary = _check_unary(image, unary)
    n_iter = check_n_iter(n_iter)
    check_positive(theta_alpha=theta_alpha, theta_beta=theta_beta, theta_gamma=theta_gamma)
    check_weight(w_bilateral=w_bilateral, w_gaussian=w_gaussian)
    check_method(method)
    norm = normalization_constant(normalization)
    L, H, W = unary.shape
    mu = compat_matrix(compat, L)
    potts = mu is None
    mu = 1.0 - np.eye(L) if potts else mu
    mus = [mu, mu] if mu.ndim == 2 else [mu[0], mu[1]]  # bilateral, Gaussian
    dtype = np.float64 if unary.dtype == np.float64 else np.float32
    kernels = [  # bilateral, then Gaussian: both kept, a zero weight included, for its gradient
        GaussianKernel(_scaled(pixel_features(image, H, W, theta_alpha, theta_beta), method,
                               "positions / theta_alpha and image / theta_beta"), norm, method),
        GaussianKernel(_scaled(pixel_features(image, H, W, theta_gamma), method, "positions / theta_gamma"),
                       norm, method),
    ]
    weights = np.array([float(w_bilateral), float(w_gaussian)])
    U = unary.reshape(L, H * W).T.astype(dtype)  # (N, L)
    Qs = [_softmax(-U)]
    filtered = []  # K_m Q_{t-1}, per iteration and kernel
    for _ in range(n_iter):
        A = [np.asarray(k.apply(Qs[-1]), dtype=dtype) for k in kernels]
        E = -U - sum(w * (a @ m.T) for w, a, m in zip(weights, A, mus))
        Qs.append(_softmax(E.astype(dtype)))
        filtered.append(A)
    Q = np.ascontiguousarray(Qs[-1].T.reshape(L, H, W))
    cache = dict(Qs=Qs, filtered=filtered, kernels=kernels, weights=weights, mus=mus, shared=mu.ndim == 2,
                 potts=potts, shape=(L, H, W), dtype=dtype)
    return Q, cache


def dense_crf_backward(dQ, cache):
    """Gradients of :func:`dense_crf_forward`.

    Parameters
    ----------
    dQ : (L, H, W) gradient of a loss with respect to Q
    cache : from :func:`dense_crf_forward`

    Returns
    -------
    dict with ``"unary"`` (L, H, W), ``"w_bilateral"`` and ``"w_gaussian"`` (floats) and
    ``"compat"`` of the compatibility's shape, (L, L) or (2, L, L): for Potts, the gradient with
    respect to the full (L, L) matrix at 1 - I.
    """
    L, H, W = cache["shape"]
    dQ = np.asarray(dQ)
    if dQ.shape != (L, H, W) or not np.issubdtype(dQ.dtype, np.floating):
        raise ValueError(f"dQ must be a floating-point array of Q's shape {(L, H, W)}, got {dQ.shape}")
    dtype, mus, weights, kernels = cache["dtype"], cache["mus"], cache["weights"], cache["kernels"]
    Qs, filtered = cache["Qs"], cache["filtered"]
    g = dQ.reshape(L, H * W).T.astype(dtype)  # dL/dQ_t, going back
    dU = np.zeros_like(g)
    dw = np.zeros(2)
    dmu = np.zeros((2, L, L))
    for t in range(len(Qs) - 1, 0, -1):
        Q = Qs[t]
        dE = Q * (g - (Q * g).sum(axis=1, keepdims=True))
        dU -= dE
        g = np.zeros_like(g)
        for m, (kernel, A, mu) in enumerate(zip(kernels, filtered[t - 1], mus)):
            dw[m] -= float(np.sum(dE * (A @ mu.T)))
            dmu[m] -= weights[m] * (dE.T @ A)
            if weights[m]:  # dE_t mu_m, through the transposed filter
                g -= weights[m] * np.asarray(kernel.apply(dE @ mu, transpose=True), dtype=dtype)
    Q0 = Qs[0]
    dU -= Q0 * (g - (Q0 * g).sum(axis=1, keepdims=True))
    return {"unary": np.ascontiguousarray(dU.T.reshape(L, H, W)), "w_bilateral": float(dw[0]),
            "w_gaussian": float(dw[1]), "compat": dmu.sum(axis=0) if cache["shared"] else dmu}
