"""CIE Lab and the 17-filter bank of TextonBoost (Winn et al., ICCV 2005; Shotton et al., IJCV 2009).

The bank, applied to an image in CIE Lab::

    Gaussians, sigma 1, 2, 4, on L, a and b          9 responses
    Laplacians of Gaussian, sigma 1, 2, 4, 8, on L   4
    x and y derivatives of Gaussian, sigma 2, 4, on L 4

Its responses, clustered over training pixels, are the textons (:mod:`.textons`).
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

# (kind, sigma, channel): channel 0 = L, 1 = a, 2 = b
FILTERS = tuple([("gaussian", s, c) for c in range(3) for s in (1.0, 2.0, 4.0)]
                + [("log", s, 0) for s in (1.0, 2.0, 4.0, 8.0)]
                + [("dx", s, 0) for s in (2.0, 4.0)] + [("dy", s, 0) for s in (2.0, 4.0)])

_WHITE_D65 = np.array([0.95047, 1.0, 1.08883])
_RGB_TO_XYZ = np.array([[0.4124564, 0.3575761, 0.1804375],
                        [0.2126729, 0.7151522, 0.0721750],
                        [0.0193339, 0.1191920, 0.9503041]])


def rgb_to_lab(image):
    """sRGB (H, W, 3) uint8 -> CIE L*a*b* (H, W, 3) float32 (D65 white; L in [0, 100]).

    sRGB is linearised (the IEC 61966-2-1 curve), taken to XYZ, divided by the white point and
    mapped by f(t) = t^(1/3) above (6/29)^3 (linear below), as the CIE defines it."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must have shape (H, W, 3), got {image.shape}")
    if image.dtype != np.uint8:
        raise TypeError(f"image must be uint8 RGB, got dtype {image.dtype}")
    c = image.astype(np.float64) / 255.0
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = linear @ _RGB_TO_XYZ.T / _WHITE_D65
    d = 6.0 / 29.0
    f = np.where(xyz > d ** 3, np.cbrt(xyz), xyz / (3 * d * d) + 4.0 / 29.0)
    L = 116.0 * f[..., 1] - 16.0
    a = 500.0 * (f[..., 0] - f[..., 1])
    b = 200.0 * (f[..., 1] - f[..., 2])
    return np.stack([L, a, b], axis=-1).astype(np.float32)


def filter_bank(image):
    """The 17 responses of :data:`FILTERS` per pixel.

    Parameters
    ----------
    image : (H, W, 3) uint8 RGB

    Returns
    -------
    (H, W, 17) float32, in the order of :data:`FILTERS` (borders: reflected, as scipy.ndimage)
    """
    lab = rgb_to_lab(image).astype(np.float64)
    out = np.empty(lab.shape[:2] + (len(FILTERS),), np.float32)
    for k, (kind, sigma, channel) in enumerate(FILTERS):
        x = lab[:, :, channel]
        if kind == "gaussian":
            out[:, :, k] = ndimage.gaussian_filter(x, sigma)
        elif kind == "log":
            out[:, :, k] = ndimage.gaussian_laplace(x, sigma)
        elif kind == "dx":
            out[:, :, k] = ndimage.gaussian_filter(x, sigma, order=(0, 1))
        else:
            out[:, :, k] = ndimage.gaussian_filter(x, sigma, order=(1, 0))
    return out
