"""Input checks of the CRF package, in one place: clear errors that name the argument."""
from __future__ import annotations

import numpy as np

from ..backend import asnumpy
from .._validate import finite, is_array, real_number

METHODS = ("lattice", "exact")
MAX_WEIGHT = 1e12
"""Largest pairwise weight: energies stay finite in float32 (weight x message x labels)."""
MAX_IMAGE_MAGNITUDE = 1e100
"""Largest |image value| the grid CRF accepts: its squared colour differences stay finite."""


def max_feature_magnitude(d):
    """Largest |feature| the lattice accepts for d dimensions: its integer vertex keys
    (|key| <= 2 d max|f| scale_0 + 2 d + 2, Adams et al.'s embedding) stay below 2^30 in
    int32, so that no two vertices can alias."""
    scale0 = (d + 1) * np.sqrt(2.0 / 3.0) / np.sqrt(2.0)
    return float(2.0 ** 30 / (2.0 * d * scale0))


def check_image_probs(image, probs):
    """Validate ``image`` (H, W, C) and ``probs`` (L, H, W); returns them as NumPy arrays
    (CuPy arrays are copied to the host: the CRF runs on the CPU)."""
    if not is_array(image) or not is_array(probs):
        raise TypeError("image and probs must be arrays")
    image, probs = asnumpy(image), asnumpy(probs)
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
    if np.issubdtype(image.dtype, np.floating) and not (np.isfinite(image.min()) and np.isfinite(image.max())):
        raise ValueError("image contains NaN or infinite values")
    if lo < 0:
        raise ValueError(f"probs must be non-negative, found {lo}")
    sums = probs.sum(axis=0)
    if np.abs(sums - 1.0).max() > 1e-3:
        raise ValueError(f"probs must sum to one over labels (axis 0); sums range over [{sums.min():.4g}, {sums.max():.4g}]")
    return image, probs


def check_positive(**kw):
    for name, v in kw.items():
        try:
            real_number(v, name, 0.0, np.inf, low_open=True, high_open=True)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be a positive number, got {v!r}") from None


def check_weight(maximum=MAX_WEIGHT, **kw):
    for name, v in kw.items():
        try:
            real_number(v, name, 0.0, maximum)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be a number in [0, {maximum:g}], got {v!r}") from None


def check_n_iter(n_iter):
    if not isinstance(n_iter, (int, np.integer)) or isinstance(n_iter, bool):
        raise TypeError(f"n_iter must be an int, got {type(n_iter).__name__}")
    if n_iter < 0:
        raise ValueError(f"n_iter must be >= 0, got {n_iter}")
    return int(n_iter)


def compat_matrix(compat, L):
    """None for "potts"; else ``compat`` as a float64 (L, L) matrix mu shared by the kernels, or a
    (2, L, L) pair of them: mu for the bilateral kernel, then mu for the Gaussian one."""
    if isinstance(compat, str):
        if compat != "potts":
            raise ValueError(f"compat must be 'potts', an (L, L) array or a (2, L, L) pair, got {compat!r}")
        return None
    mu = asnumpy(compat) if is_array(compat) else np.asarray(compat)
    if not np.issubdtype(mu.dtype, np.number) or np.iscomplexobj(mu):
        raise TypeError(f"compat must be 'potts' or a real (L, L) or (2, L, L) array, got {compat!r:.80}")
    mu = mu.astype(np.float64)
    if mu.shape not in ((L, L), (2, L, L)):
        raise ValueError(f"compat must be 'potts', an ({L}, {L}) array or a (2, {L}, {L}) pair (bilateral, "
                         f"Gaussian) for L = {L} labels, got shape {mu.shape}")
    if not np.all(np.isfinite(mu)):
        raise ValueError("compat contains NaN or infinite values")
    return mu


MAX_BIAS = 1e3
"""Largest |bias| of a label: a log-prior, where the clipped unaries span log(1e5) ~ 11.5; beyond
this the energies of float32 mean field lose all precision (1e39 overflows it)."""


def label_bias(bias, L, dtype=np.float32):
    """None, or ``bias`` as an (L,) array of numbers in [-MAX_BIAS, MAX_BIAS] (NumPy or CuPy in)."""
    if bias is None:
        return None
    if isinstance(bias, str) or not (is_array(bias) or isinstance(bias, (list, tuple))):
        raise TypeError(f"bias must be None or a real array of shape ({L},), got {bias!r:.60}")
    b = asnumpy(bias) if is_array(bias) else np.asarray(bias)
    if not np.issubdtype(b.dtype, np.number) or np.iscomplexobj(b) or b.dtype == np.bool_:
        raise TypeError(f"bias must be None or a real array of shape ({L},), got dtype {b.dtype}")
    if b.shape != (L,):
        raise ValueError(f"bias must be None or an array of shape ({L},) for L = {L} labels, got shape {b.shape}")
    if not np.all(np.isfinite(b)):
        raise ValueError("bias contains NaN or infinite values")
    if np.abs(b).max() > MAX_BIAS:
        raise ValueError(f"bias values must lie in [-{MAX_BIAS:g}, {MAX_BIAS:g}], got {np.abs(b).max():g}")
    return b.astype(dtype)


def check_features(features):
    f = np.asarray(features)
    if f.ndim != 2:
        raise ValueError(f"features must have shape (N, d), got {f.shape}")
    if not np.issubdtype(f.dtype, np.floating) and not np.issubdtype(f.dtype, np.integer):
        raise TypeError(f"features must be a numeric array, got dtype {f.dtype}")
    if f.shape[0] == 0:
        raise ValueError("features is empty (N = 0)")
    if f.shape[1] < 1:
        raise ValueError(f"features must have d >= 1 dimensions, got d = {f.shape[1]}")
    f = np.ascontiguousarray(f, dtype=np.float64)
    finite(f, "features")
    check_feature_range(f, "features")
    return f


def check_feature_range(f, what):
    """ValueError unless every |f| <= :func:`max_feature_magnitude` (inf and NaN included)."""
    limit = max_feature_magnitude(f.shape[1])
    top = float(np.abs(f).max(initial=0.0))
    if not top <= limit:  # NaN fails too
        raise ValueError(f"{what} reach {top:.3g} in magnitude; the lattice needs them within {limit:.3g} "
                         f"for d = {f.shape[1]} dimensions (use larger standard deviations or rescale the data)")


def check_method(method):
    if method not in METHODS:
        raise ValueError(f"method must be 'lattice' or 'exact', got {method!r}")
    return method

