"""The permutohedral lattice as a reusable object, and a bilateral filter built on it.

``Lattice(features)`` embeds N points with d features once; ``lattice.filter(values)``
then approximates the Gaussian filter

    out_i = sum_j exp(-|f_i - f_j|^2 / 2) * values_j          (j = i included)

for any number of value channels in O(N d^2 + M d V) time, where M <= N (d+1) is the
number of lattice vertices touched. Scale the features first (divide positions by
theta_alpha, colours by theta_beta, ...). ``filter(values, transpose=True)`` applies the
transposed operator (the blur directions in reverse order); the approximation is not
exactly symmetric.
"""
from __future__ import annotations

import numpy as np

from .._validate import finite
from .._numba import get_num_threads
from ._kernels import build_lattices, mf_blur, mf_slice, mf_splat


def _check_features(features):
    f = np.asarray(features)
    if f.ndim != 2:
        raise ValueError(f"features must have shape (N, d), got {f.shape}")
    if not np.issubdtype(f.dtype, np.floating) and not np.issubdtype(f.dtype, np.integer):
        raise TypeError(f"features must be a numeric array, got dtype {f.dtype}")
    if f.shape[0] == 0:
        raise ValueError("features is empty (N = 0)")
    if f.shape[1] < 1 or f.shape[1] > 32:
        raise ValueError(f"features must have 1 <= d <= 32 dimensions, got d = {f.shape[1]}")
    f = np.ascontiguousarray(f, dtype=np.float64)
    finite(f, "features")
    return f


class Lattice:
    """A permutohedral lattice over ``features`` of shape ``(N, d)``.

    Parameters
    ----------
    features : (N, d) float array, already divided by the kernel's standard deviations

    Attributes
    ----------
    n_points, dim : N and d
    n_vertices : M, the number of lattice vertices in use
    """

    def __init__(self, features):
        f = _check_features(features)
        self._set(f, build_lattices([f])[0])

    def _set(self, f, built):
        self.n_points, self.dim = f.shape
        self._offset, self._weight, self._neighbors, self.n_vertices = built
        self._alpha = 1.0 / (1.0 + 2.0 ** (-self.dim))

    @classmethod
    def many(cls, features):
        """One lattice per ``(N, d_k)`` array of the list: the same as ``[Lattice(f) for f in
        features]``, faster with two or more threads (their serial parts run side by side)."""
        fs = [_check_features(f) for f in features]
        out = []
        for f, built in zip(fs, build_lattices(fs)):
            lat = cls.__new__(cls)
            lat._set(f, built)
            out.append(lat)
        return out

    def filter(self, values, transpose=False):
        """Gaussian-filter ``values`` (N,) or (N, V) over the features; float32 out, same shape."""
        v = np.asarray(values)
        squeeze = v.ndim == 1
        if squeeze:
            v = v[:, None]
        if v.ndim != 2 or v.shape[0] != self.n_points:
            raise ValueError(f"values must have shape ({self.n_points},) or ({self.n_points}, V), got {np.shape(values)}")
        if not np.issubdtype(v.dtype, np.number):
            raise TypeError(f"values must be numeric, got dtype {v.dtype}")
        v = np.ascontiguousarray(v, dtype=np.float32)
        finite(v, "values")
        V = v.shape[1]
        A = np.zeros((self.n_vertices + 1, V), np.float32)  # the last row stays zero
        B = np.zeros_like(A)
        mf_splat(v, self._offset, self._weight, A, np.empty((get_num_threads(),) + A.shape, np.float32))
        mf_blur(A, B, 0, self._neighbors, bool(transpose))
        out = np.empty((self.n_points, V), np.float32)
        mf_slice(A, self._offset, (self._weight * self._alpha).astype(np.float32), out)
        return out[:, 0] if squeeze else out

    __call__ = filter

    def __repr__(self):
        return f"Lattice(n_points={self.n_points}, dim={self.dim}, n_vertices={self.n_vertices})"


def bilateral_filter(image, theta_spatial=8.0, theta_range=20.0, normalize=True):
    """Edge-preserving smoothing of an image with the lattice.

    Parameters
    ----------
    image : (H, W) or (H, W, C) array (uint8 or float); the range features are its channels
    theta_spatial : spatial standard deviation in pixels
    theta_range : range standard deviation in intensity units
    normalize : divide by the filtered weights (a weighted average, as usual)

    Returns
    -------
    (H, W) or (H, W, C) float32
    """
    img = np.asarray(image)
    if img.ndim not in (2, 3) or img.shape[0] == 0 or img.shape[1] == 0:
        raise ValueError(f"image must be a non-empty (H, W) or (H, W, C) array, got {img.shape}")
    if theta_spatial <= 0 or theta_range <= 0:
        raise ValueError("theta_spatial and theta_range must be > 0")
    H, W = img.shape[:2]
    chans = img.reshape(H * W, -1).astype(np.float64)
    yy, xx = np.mgrid[0:H, 0:W]
    feats = np.column_stack([xx.ravel() / theta_spatial, yy.ravel() / theta_spatial, chans / theta_range])
    lat = Lattice(feats)
    vals = np.column_stack([chans, np.ones(H * W)])
    out = lat.filter(vals)
    res = out[:, :-1] / out[:, -1:] if normalize else out[:, :-1]
    return res.reshape(img.shape).astype(np.float32)
