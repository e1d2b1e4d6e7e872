"""The permutohedral lattice as a reusable object, and a bilateral filter built on it.

``Lattice(features)`` embeds N points with d features once; ``lattice.filter(values)``
then approximates the Gaussian filter

    out_i = sum_j exp(-|f_i - f_j|^2 / 2) * values_j          (j = i included)

for any number of value channels in O(N d^2 + M d V) time, where M <= N (d+1) is the
number of lattice vertices touched. Scale the features first (divide positions by
theta_alpha, colours by theta_beta, ...). ``filter(values, transpose=True)`` applies the
transposed operator (the blur directions in reverse order); the approximation is not
exactly symmetric.

The Numba kernels are in ``_lattice_kernels``; the functions here split their work over the
kernel threads (``minideeplab._numba``). Results do not depend on the number of threads.
"""
from __future__ import annotations

import numpy as np

from .._numba import in_threads, side_by_side
from .._validate import finite
from ._checks import check_features, check_positive
from ._lattice_kernels import blur, build_general, build_packed, embed, slice_rows, splat_rows

SPLAT_BLOCKS = 2
"""The scatter of :func:`splat` always sums this many partial splats (one per thread where
there are that many) in the same order, so its rounding is the same with any thread count."""


class Lattice:
    """A permutohedral lattice over ``features`` of shape ``(N, d)``.

    Parameters
    ----------
    features : (N, d) float array, already divided by the kernel's standard deviations

    Attributes
    ----------
    n_points, dim : N and d
    n_vertices : M, the number of lattice vertices in use
    vertices, barycentric, neighbors, alpha : the lattice itself (read-only properties below)
    """

    def __init__(self, features):
        f = check_features(features)
        self._set(f, build_lattices([f])[0])

    def _set(self, f, built):
        self.n_points, self.dim = f.shape
        self._offset, self._weight, self._neighbors, self.n_vertices = built
        self._alpha = 1.0 / (1.0 + 2.0 ** (-self.dim))

    @property
    def vertices(self):
        """(N, d+1) int32: the lattice vertex (row of the value array) of each of a point's d+1
        splats, the corners of its enclosing simplex."""
        return _read_only(self._offset)

    @property
    def barycentric(self):
        """(N, d+1) float32: each point's barycentric weights on those vertices (rows sum to 1)."""
        return _read_only(self._weight)

    @property
    def neighbors(self):
        """(d+1, M, 2) int32: the two neighbours of each vertex along each lattice direction
        (M, an always-zero row, where a neighbour is not in the lattice)."""
        return _read_only(self._neighbors)

    @property
    def alpha(self):
        """The scale 1 / (1 + 2^-d) that :meth:`filter` applies after slicing (Krähenbühl's code)."""
        return self._alpha

    @classmethod
    def many(cls, features):
        """One lattice per ``(N, d_k)`` array of the list: the same as ``[Lattice(f) for f in
        features]``, faster with two or more threads (their serial parts run side by side)."""
        fs = [check_features(f) for f in features]
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
        splat(v, self._offset, self._weight, A, splat_scratch(A.shape))
        blur(A, B, 0, self._neighbors, bool(transpose))
        out = np.empty((self.n_points, V), np.float32)
        slice_into(A, self._offset, (self._weight * self._alpha).astype(np.float32), out)
        return out[:, 0] if squeeze else out

    __call__ = filter

    def __repr__(self):
        return f"Lattice(n_points={self.n_points}, dim={self.dim}, n_vertices={self.n_vertices})"


def _read_only(a):
    view = a.view()
    view.flags.writeable = False
    return view


# ------------------------------------------------------------------ building a lattice
def _embed_points(f):
    """Keys (N, d+1, d) int32 of each point's d+1 simplex vertices, and their barycentric
    weights (N, d+1) float32; the points split over the threads."""
    N, d = f.shape
    d1 = d + 1
    scale = np.array([d1 * np.sqrt(2.0 / 3.0) / np.sqrt((i + 1.0) * (i + 2.0)) for i in range(d)])
    canonical = np.array([[i if j < d1 - i else i - d1 for j in range(d1)] for i in range(d1)], np.int64)
    keys = np.empty((N, d1, max(d, 1)), np.int32)
    weight = np.empty((N, d1), np.float32)
    in_threads(lambda a, b: embed(f[a:b], scale, canonical, keys[a:b], weight[a:b]), N)
    return keys, weight


def _hash_vertices(f, keys):
    """offset (N, d+1), neighbors (d+1, M, 2), M: the vertices' hash table (serial)."""
    N, d = f.shape
    # |key| <= |elevated| + d + 1 <= 2 d max|f| scale[0] + d + 1: pack when that fits
    # (at most 32 bits a coordinate: a shift by 64 would be undefined, as it was once for d = 1)
    bits = min(64 // d, 32) if d > 0 else 32
    scale0 = (d + 1) * np.sqrt(2.0 / 3.0) / np.sqrt(2.0)
    bound = 2.0 * d * float(np.abs(f).max(initial=0.0)) * scale0 + 2 * (d + 1) + 2
    if d > 0 and bits >= 8 and bound < 2.0 ** (bits - 2):
        return build_packed(keys, d, bits)
    return build_general(keys, d)


def build_lattices(features):
    """Embed each feature array (N, d_k) and build its lattice.

    The embeddings are split over the kernel threads; then the lattices' hash tables (serial
    work) are built side by side, one lattice per thread.

    Returns
    -------
    one tuple per feature array:
    offset : (N, d+1) int32, the lattice vertex of each of a point's d+1 splats
    weight : (N, d+1) float32, barycentric weights (each row sums to 1)
    neighbors : (d+1, M, 2) int32, the two neighbours of each vertex along each
        direction (M where absent: row M of the value array is kept at zero)
    M : number of lattice vertices
    """
    embedded = [_embed_points(f) for f in features]
    hashed = side_by_side([lambda f=f, e=e: _hash_vertices(f, e[0]) for f, e in zip(features, embedded)])
    return [(offset, e[1], nb, M) for (offset, nb, M), e in zip(hashed, embedded)]


# ------------------------------------------------------------------ splat and slice in threads
def splat_scratch(shape):
    """The partial splats that :func:`splat` needs for a value array of ``shape`` (R, V)."""
    return np.empty((SPLAT_BLOCKS,) + tuple(shape), np.float32)


def splat(values, offset, weight, A, scratch):
    """A[m] = sum over (point i, slot s) with offset[i, s] == m of weight[i, s] * values[i].

    A scatter: block b of the points is splatted into its own copy ``scratch[b]`` of A
    (which stays in cache), the blocks side by side in the threads; the copies are then summed.
    """
    N = values.shape[0]
    b = np.linspace(0, N, SPLAT_BLOCKS + 1).astype(np.int64)
    side_by_side([lambda t=t: splat_rows(values, offset, weight, scratch[t], b[t], b[t + 1])
                  for t in range(SPLAT_BLOCKS)])
    np.sum(scratch, axis=0, out=A)


def slice_into(A, offset, weight, out):
    """out_i = sum_s weight[i, s] * A[offset[i, s]], row blocks in the threads."""
    in_threads(lambda a, b: slice_rows(A, offset, weight, out, a, b), out.shape[0])


# ------------------------------------------------------------------ an application
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
    check_positive(theta_spatial=theta_spatial, theta_range=theta_range)
    if not (np.issubdtype(img.dtype, np.number) and not np.iscomplexobj(img)):
        raise TypeError(f"image must be a real numeric array, got dtype {img.dtype}")
    H, W = img.shape[:2]
    chans = img.reshape(H * W, -1).astype(np.float64)
    yy, xx = np.mgrid[0:H, 0:W]
    feats = np.column_stack([xx.ravel() / theta_spatial, yy.ravel() / theta_spatial, chans / theta_range])
    lat = Lattice(feats)
    vals = np.column_stack([chans, np.ones(H * W)])
    out = lat.filter(vals)
    res = out[:, :-1] / out[:, -1:] if normalize else out[:, :-1]
    return res.reshape(img.shape).astype(np.float32)
